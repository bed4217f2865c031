"""Case 7: did the measure work? Policy evaluation (効果検証) of 人身事故 counts.

The outcome is the KPI 「人身事故件数」 of notebook 03's logic model, with the same definition: police
本票 records (every 本票 row is an injury or fatal accident), counted by date of occurrence, in the
city of the run. Three designs, each with an interval:

- **Interrupted time series (ITS)** on the city's weekly counts: segmented regression of log counts with
  Fourier seasonality, holiday/年末年始/お盆 days and the event periods (2020 school closures, state of
  emergency, the level after it), AR(1) errors for serial correlation and overdispersion (SARIMAX).
- **Difference-in-differences with staggered adoption** on 500 m mesh × month counts: the Poisson
  imputation estimator (:mod:`ebpm_analysis.stats.did`), an event study by months since the start,
  and a pre-trend check (placebo effects in the months before the start, held out of the fit).
  For comparison, two estimators from pyfixest: two-way fixed-effects Poisson with one treatment dummy
  (not robust to staggered adoption with changing effects) and Gardner's two-stage DiD (linear).
- **Synthetic control** for one area (a 2 km mesh, 2倍地域メッシュ) with placebo-in-space inference
  (:mod:`ebpm_analysis.stats.scm`).

Pure functions over tidy frames; nothing here reads files (the notebook passes loaded records).
"""

from __future__ import annotations

import datetime as dt
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from threadpoolctl import threadpool_limits

from .. import jpcalendar
from ..errors import ParameterError
from ..stats import did
from .probe import mesh_code, mesh_polygons  # noqa: F401  (mesh_polygons: maps of the notebook)

#: Sources of the event dates: docs/sources.md#covid-2020-emergency and #covid-2020-school-closure.
SCHOOL_CLOSURE_START = dt.date(2020, 3, 2)
#: First state of emergency (新型インフルエンザ等対策特別措置法 第32条), by JIS prefecture code:
#: 7 prefectures from 2020-04-07, all others from 2020-04-16; lifted for 39 prefectures on 2020-05-14,
#: for 京都・大阪・兵庫 on 05-21 and for 北海道・埼玉・千葉・東京・神奈川 on 05-25 (the lifting day counts
#: as the last day: the lifting was declared that evening).
_SOE_FIRST = {"11", "12", "13", "14", "27", "28", "40"}
_SOE_LIFT_0521 = {"26", "27", "28"}
_SOE_LIFT_0525 = {"01", "11", "12", "13", "14"}


def emergency_period(pref_code: str) -> tuple[dt.date, dt.date]:
    """First and last day of the 2020 state of emergency in a prefecture (JIS code, e.g. "43")."""
    if not (isinstance(pref_code, str) and len(pref_code) == 2 and pref_code.isdigit() and 1 <= int(pref_code) <= 47):
        raise ParameterError("pref_code", f"got {pref_code!r}", expected='a 2-digit JIS prefecture code, e.g. "43"')
    start = dt.date(2020, 4, 7) if pref_code in _SOE_FIRST else dt.date(2020, 4, 16)
    lifted = (dt.date(2020, 5, 21) if pref_code in _SOE_LIFT_0521 else
              dt.date(2020, 5, 25) if pref_code in _SOE_LIFT_0525 else dt.date(2020, 5, 14))
    return start, lifted


def covid_events(pref_code: str) -> pd.DataFrame:
    """The 2020 event periods used by the ITS: school closures up to the emergency, the emergency itself."""
    start, end = emergency_period(pref_code)
    return pd.DataFrame({"term": ["school_closure", "emergency"],
                         "label": ["一斉臨時休校の要請〜宣言前", "緊急事態宣言の期間"],
                         "start": [SCHOOL_CLOSURE_START, start], "end": [start - dt.timedelta(days=1), end]})


def late_registrations(acc: pd.DataFrame, first_year: int) -> pd.Series:
    """Records of accidents that occurred in the year before ``first_year`` but are in the files from
    ``first_year`` on (registered late), by month of occurrence. The same share of the last months of the
    data is missing until the next year's file: a guide to where the analysis period should end
    (docs/sources.md#npa-late-registration)."""
    late = acc[acc["year"] == first_year - 1]
    return late.groupby("month").size().reindex(range(1, 13), fill_value=0).rename("n_late")


# ----------------------------------------------------------------------------------- panels
@dataclass
class CountPanel:
    """Counts of units × months (``y[i, t]``)."""

    y: np.ndarray
    units: np.ndarray                 # unit codes (int64 mesh codes)
    months: pd.PeriodIndex

    def index_of(self, codes) -> np.ndarray:
        """Row of each unit code (−1 when the unit is not in the panel)."""
        pos = pd.Index(self.units).get_indexer(np.asarray(codes, dtype=np.int64))
        return pos

    def month_of(self, periods) -> np.ndarray:
        """Column of each month (``Period`` or "YYYY-MM"), −1 outside the panel."""
        return self.months.get_indexer(pd.PeriodIndex(periods, freq="M"))

    def subset(self, rows) -> "CountPanel":
        rows = np.asarray(rows)
        return CountPanel(self.y[rows], self.units[rows], self.months)

    def frame(self) -> pd.DataFrame:
        n, t = self.y.shape
        return pd.DataFrame({"unit": np.repeat(self.units, t), "month": np.tile(self.months.astype(str), n),
                             "t": np.tile(np.arange(t), n), "y": self.y.ravel()})


def months_between(start: str, end: str) -> pd.PeriodIndex:
    try:
        months = pd.period_range(pd.Period(start, freq="M"), pd.Period(end, freq="M"), freq="M")
    except (ValueError, TypeError):
        raise ParameterError("start/end", f"got {start!r}..{end!r}", expected='months as "YYYY-MM"') from None
    if len(months) < 6:
        raise ParameterError("start/end", f"{start}..{end} is {len(months)} months", expected="at least 6 months")
    return months


def _located(acc: pd.DataFrame, months: pd.PeriodIndex) -> tuple[pd.DataFrame, np.ndarray]:
    t = months.get_indexer(pd.PeriodIndex(acc["occurred_at"], freq="M"))
    ok = (t >= 0) & acc["lat"].notna().to_numpy() & acc["lon"].notna().to_numpy()
    return acc.loc[ok], t[ok]


def count_panel(acc: pd.DataFrame, *, start: str, end: str, level: int = 4, units=None) -> CountPanel:
    """Accidents per JIS mesh (``level``, default 4 = 500 m) × month. ``units`` fixes the rows (mesh codes);
    by default every mesh with at least one accident. Records without coordinates are not counted."""
    months = months_between(start, end)
    a, t = _located(acc, months)
    code = mesh_code(a["lat"], a["lon"], level)
    codes = np.unique(code) if units is None else np.asarray(units, dtype=np.int64)
    row = pd.Index(codes).get_indexer(code)
    y = np.zeros((len(codes), len(months)))
    np.add.at(y, (row[row >= 0], t[row >= 0]), 1)
    return CountPanel(y, codes, months)


# ----------------------------------------------------------------------------------- ITS
def weekly_counts(acc: pd.DataFrame, *, start: str, end: str) -> pd.DataFrame:
    """Accidents per calendar week (Monday–Sunday), full weeks between ``start`` and ``end`` (dates)."""
    first = pd.Timestamp(start)
    first += pd.Timedelta(days=(7 - first.day_of_week) % 7)          # first Monday on/after start
    last = pd.Timestamp(end) - pd.Timedelta(days=(pd.Timestamp(end).day_of_week + 1) % 7)  # last Sunday
    if last - first < pd.Timedelta(days=7 * 52):
        raise ParameterError("start/end", f"{start}..{end} holds fewer than 52 full weeks", expected="at least a year")
    weeks = pd.date_range(first, last, freq="7D")
    day = acc["occurred_at"].dt.normalize()
    day = day[(day >= first) & (day <= last)]
    w = ((day - first).dt.days // 7).to_numpy()
    return pd.DataFrame({"week": weeks, "y": np.bincount(w, minlength=len(weeks)).astype(float)})


def its_frame(weekly: pd.DataFrame, events: pd.DataFrame, *, fourier: int = 2) -> pd.DataFrame:
    """Regressors per week: Fourier terms of the day of year, national holidays, 年末年始
    (12/29–1/3) and お盆 (8/13–16) days, the share of days in each event period, and ``after`` (weeks
    after the last event ended)."""
    out = weekly.copy()
    days = pd.DataFrame({"day": pd.date_range(out["week"].iloc[0], out["week"].iloc[-1] + pd.Timedelta(days=6))})
    days["w"] = np.arange(len(days)) // 7
    d = days["day"]
    days["holiday"] = jpcalendar.is_holiday(d)
    days["year_end"] = jpcalendar.is_year_end_closure(d)
    days["obon"] = (d.dt.month == 8) & d.dt.day.between(13, 16)
    for ev in events.itertuples():
        days[ev.term] = (d >= pd.Timestamp(ev.start)) & (d <= pd.Timestamp(ev.end))
    per_week = days.groupby("w")[["holiday", "year_end", "obon", *events["term"]]].agg(
        {"holiday": "sum", "year_end": "sum", "obon": "sum", **{t: "mean" for t in events["term"]}})
    out = pd.concat([out.reset_index(drop=True), per_week.reset_index(drop=True).astype(float)], axis=1)
    mid = out["week"] + pd.Timedelta(days=3)
    doy = 2 * np.pi * mid.dt.day_of_year / 365.25
    for k in range(1, fourier + 1):
        out[f"sin{k}"], out[f"cos{k}"] = np.sin(k * doy), np.cos(k * doy)
    out["after"] = (out["week"] > pd.Timestamp(events["end"].max())).astype(float)
    return out


ITS_LABELS = {"school_closure": "一斉臨時休校の要請〜宣言前", "emergency": "緊急事態宣言の期間",
              "after": "解除後の水準", "holiday": "祝日（1日あたり）",
              "year_end": "年末年始（1日あたり）", "obon": "お盆（1日あたり）"}
#: Added to weekly counts before the log (a week with no accident stays finite).
LOG_OFFSET = 0.5


def fit_its(frame: pd.DataFrame, terms, *, level: float = 0.95):
    """Segmented regression of log weekly counts with AR(1) errors (statsmodels SARIMAX, exact MLE).

    ``log(y + 0.5) = X b + u_t``, ``u_t = phi u_{t-1} + e_t``: X holds a constant, Fourier seasonality,
    holiday/年末年始/お盆 days and the event ``terms`` (e.g. ``["school_closure", "emergency", "after"]``);
    ``exp(b)`` is the rate ratio of a term. No linear trend: with one year before the events it could
    not be told apart from the lasting change after them, which ``after`` measures (so ``after`` holds any
    secular change too). The error variance absorbs overdispersion and the
    AR(1) term the serial correlation of weekly counts. (A negative-binomial GLM with Newey–West errors
    gave intervals far too narrow for a 4-week event in simulations: about 75 % coverage for a nominal
    95 %; this model covered 96 %.)

    Returns ``(table, result)``: rate ratio with interval for every non-seasonal term, and the result.
    """
    import statsmodels.api as sm

    cols = [*[c for c in frame.columns if c[:3] in ("sin", "cos")], "holiday", "year_end", "obon", *terms]
    X = sm.add_constant(frame[cols].astype(float), has_constant="add")
    model = sm.tsa.SARIMAX(np.log(frame["y"].to_numpy(float) + LOG_OFFSET), exog=X, order=(1, 0, 0),
                           trend="n", concentrate_scale=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # optimiser chatter; convergence is checked below
        res = model.fit(disp=0, maxiter=200)
    if not res.mle_retvals.get("converged", True):
        raise RuntimeError("the ITS model did not converge")
    z = stats.norm.ppf(0.5 + level / 2)
    keep = [c for c in cols if c[:3] not in ("sin", "cos")]
    b, se = res.params[keep].to_numpy(), res.bse[keep].to_numpy()
    table = pd.DataFrame({"term": keep, "label": [ITS_LABELS.get(c, c) for c in keep], "ratio": np.exp(b),
                          "lo": np.exp(b - z * se), "hi": np.exp(b + z * se), "p": 2 * stats.norm.sf(np.abs(b / se))})
    table["pct"] = (table["ratio"] - 1) * 100
    table.attrs.update({"ar1": float(res.params["ar.L1"]), "n_weeks": int(len(frame))})
    return table, res


def its_counterfactual(frame: pd.DataFrame, res, terms) -> pd.DataFrame:
    """Weekly counts, the model's regression part (fitted) and the same with the event terms set to zero
    (the counterfactual without the events), back on the count scale."""
    exog = res.model.exog.copy()
    names = list(res.model.exog_names)
    beta = res.params[names].to_numpy()
    fitted = np.exp(exog @ beta) - LOG_OFFSET
    for t in terms:
        exog[:, names.index(t)] = 0.0
    return pd.DataFrame({"week": frame["week"], "y": frame["y"], "fitted": fitted,
                         "counterfactual": np.exp(exog @ beta) - LOG_OFFSET})


def its_placebo_dates(weekly: pd.DataFrame, events: pd.DataFrame, years=(2019, 2021), **kw) -> pd.DataFrame:
    """The ITS with the event periods copied to the same calendar dates of other years (the real events
    stay in the model): the placebo rate ratios should be ~1."""
    rows = []
    for y in years:
        shifted = events.assign(term="placebo_" + events["term"], start=[d.replace(year=y) for d in events["start"]],
                                end=[d.replace(year=y) for d in events["end"]])
        both = pd.concat([events, shifted], ignore_index=True)
        frame = its_frame(weekly, both, **kw)
        frame["after"] = (frame["week"] > pd.Timestamp(events["end"].max())).astype(float)
        if frame[shifted["term"]].sum().min() == 0:
            continue
        table, _ = fit_its(frame, [*events["term"], "after", *shifted["term"]])
        t = table[table["term"].isin(shifted["term"])].assign(year=y)
        t["label"] = [f"{y}年の同じ時期（{ITS_LABELS[x[8:]]}）" for x in t["term"]]
        rows.append(t)
    return pd.concat(rows, ignore_index=True)


# ----------------------------------------------------------------------------------- SC
def municipality_series(acc: pd.DataFrame, *, city_code: str, city_parts, start: str, end: str) -> pd.DataFrame:
    """Accidents per month (rows) and municipality (columns, 5-digit codes) of a prefecture's records; the
    city's parts (the wards of a designated city) are summed under ``city_code``."""
    months = months_between(start, end)
    t = months.get_indexer(pd.PeriodIndex(acc["occurred_at"], freq="M"))
    code = acc["city_code"].where(~acc["city_code"].isin(list(city_parts)), city_code)
    Y = pd.crosstab(t[t >= 0], code[t >= 0].to_numpy()).reindex(range(len(months)), fill_value=0)
    Y.index = months.astype(str)
    Y.columns.name = None
    return Y.astype(float)


def donor_pool(Y: pd.DataFrame, treated: str, n_pre: int, min_monthly: float) -> pd.DataFrame:
    """The treated column and the donors with at least ``min_monthly`` accidents a month before the start."""
    mean = Y.iloc[:n_pre].mean()
    keep = (mean >= min_monthly) | (Y.columns == treated)
    if keep.sum() < 6:
        raise ParameterError("min_donor_monthly", f"{int(keep.sum()) - 1} donor municipalities with ≥ {min_monthly} "
                             "accidents a month", expected="a lower threshold (at least 5 donors are needed)")
    return Y.loc[:, keep]


# ----------------------------------------------------------------------------------- DiD
def start_index(panel: CountPanel, measures: pd.DataFrame) -> np.ndarray:
    """Per panel row: the month index the measure started (``>= 0``), −1 for a comparison unit (候補、未実施),
    −2 for a unit in neither list (left out). ``measures``: ``unit`` (code), ``start`` ("YYYY-MM" or empty)."""
    out = np.full(len(panel.units), -2)
    pos = panel.index_of(measures["unit"])
    started = measures["start"].fillna("").astype(str).str.len() > 0
    tidx = np.full(len(measures), -1)
    if started.any():
        tidx[started.to_numpy()] = panel.month_of(measures.loc[started, "start"])
    ok = pos >= 0
    out[pos[ok]] = tidx[ok]
    if ((tidx == -1) & started.to_numpy()).any():
        bad = measures.loc[started.to_numpy() & (tidx == -1), "start"].tolist()
        raise ParameterError("measures", f"start month(s) {bad[:3]} outside the panel "
                             f"{panel.months[0]}–{panel.months[-1]}", expected="starts within the analysis months")
    return out


def _event_time(panel: CountPanel, g: np.ndarray) -> np.ndarray:
    t = np.arange(panel.y.shape[1])
    return np.where(g[:, None] >= 0, t[None, :] - g[:, None], np.iinfo(np.int64).min // 2)


def did_overall(panel: CountPanel, g: np.ndarray, *, level: float = 0.95) -> did.ImputationResult:
    """One rate ratio over all treated cells (observed ÷ expected without the measure)."""
    e = _event_time(panel, g)
    groups = np.where(g[:, None] == -2, did.EXCLUDED, np.where((g[:, None] >= 0) & (e >= 0), 0, did.UNTREATED))
    return did.poisson_imputation(panel.y, groups, ["対策後の全期間"], level=level)


def event_study(panel: CountPanel, g: np.ndarray, *, bin_months: int = 3, max_lead: int = 12,
                max_lag: int = 12, level: float = 0.95) -> dict:
    """Effects by months since the start (post bins from the main fit; months ≥ ``max_lag`` in one bin)
    and placebo effects before it.

    Pre-trend check: the treated units' last ``max_lead`` months before their start are held out of the
    first stage (their post cells left out) and get their own rate ratios by bin, which are 1 under
    parallel trends; the joint test is a Wald test on the log ratios referred to F(q, G−1), G the
    number of treated units with such months (cluster count).
    """
    if max_lead % bin_months or max_lead <= 0 or max_lag % bin_months:
        raise ParameterError("max_lead", f"got {max_lead} / max_lag {max_lag}",
                             expected=f"positive multiples of bin_months={bin_months}")
    e = _event_time(panel, g)
    treated = g[:, None] >= 0
    post_bin = np.where(treated & (e >= 0), np.minimum(e // bin_months, max_lag // bin_months), -1)
    n_post = int(post_bin.max()) + 1
    groups = np.where(g[:, None] == -2, did.EXCLUDED, np.where(post_bin >= 0, post_bin, did.UNTREATED))
    post = did.poisson_imputation(panel.y, groups, [b * bin_months for b in range(n_post)], level=level).table
    post.insert(1, "phase", "post")
    post["to_month"] = [int(e[post_bin == b].max()) for b in range(n_post)]
    lead = treated & (e < 0) & (e >= -max_lead)
    lead_bin = np.where(lead, (e + max_lead) // bin_months, -1)
    # a unit whose every pre-start month is a lead has nothing left to fit: its leads are left out
    no_ref = (g >= 0) & ~((treated & (e < -max_lead)).any(axis=1))
    lead_bin[no_ref] = -1
    pre_groups = np.where((g[:, None] == -2) | (treated & (e >= 0)) | (lead & (lead_bin < 0)), did.EXCLUDED,
                          np.where(lead_bin >= 0, lead_bin, did.UNTREATED))
    pre_res = did.poisson_imputation(panel.y, pre_groups, [-max_lead + b * bin_months
                                                           for b in range(max_lead // bin_months)], level=level)
    pre = pre_res.table
    pre.insert(1, "phase", "pre")
    pre["to_month"] = pre["group"] + bin_months - 1
    w = pre_res.wald()
    n_cl = int((lead_bin >= 0).any(axis=1).sum())
    f_p = float(stats.f.sf(w["chi2"] / w["df"], w["df"], max(n_cl - 1, 1)))
    table = pd.concat([pre, post], ignore_index=True).rename(columns={"group": "from_month"})
    table["pct"] = (table["ratio"] - 1) * 100
    return {"table": table, "pretrend": {"chi2": w["chi2"], "df": w["df"], "n_units": n_cl, "p": f_p,
                                         "units_without_reference": int(no_ref.sum())}}


def did_by_cohort(panel: CountPanel, g: np.ndarray, *, level: float = 0.95) -> pd.DataFrame:
    """Rate ratio per start month (cohort)."""
    starts = np.unique(g[g >= 0])
    e = _event_time(panel, g)
    cohort = np.searchsorted(starts, g)
    groups = np.where(g[:, None] == -2, did.EXCLUDED,
                      np.where((g[:, None] >= 0) & (e >= 0), cohort[:, None], did.UNTREATED))
    t = did.poisson_imputation(panel.y, groups, [str(panel.months[s]) for s in starts], level=level).table
    return t.rename(columns={"group": "start"})


def placebo_units(panel: CountPanel, g: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Start months moved to comparison units drawn at random; the real treated units are left out. As
    many placebo units as treated ones, at most half the comparison units (the rest stay comparison),
    start months drawn from the real ones. Under no effect among comparison units the estimate is ~1."""
    out = np.where(g >= 0, -2, g)
    pool = np.flatnonzero(g == -1)
    starts = g[g >= 0]
    n = min(len(starts), len(pool) // 2)
    if n < 2:
        raise ParameterError("measures", f"{len(pool)} comparison units", expected="at least 4 for a placebo run")
    out[rng.choice(pool, n, replace=False)] = rng.choice(starts, n, replace=False)
    return out


def placebo_dates(panel: CountPanel, g: np.ndarray, shift_months: int = 12) -> tuple[CountPanel, np.ndarray]:
    """Starts moved ``shift_months`` earlier and the panel cut at the earliest real start: only months
    before any measure remain, so a placebo estimate away from 1 signals a design problem. Treated units
    whose placebo start falls before the panel are left out."""
    first = int(g[g >= 0].min())
    sub = CountPanel(panel.y[:, :first], panel.units, panel.months[:first])
    pg = np.where(g >= 0, g - shift_months, g)
    pg = np.where((g >= 0) & ((pg < 1) | (pg >= first)), -2, pg)
    return sub, pg


def compare_estimators(panel: CountPanel, g: np.ndarray, main: did.ImputationResult) -> pd.DataFrame:
    """The main estimate beside two pyfixest estimators on the same cells (treated + comparison units).

    - two-way fixed-effects Poisson with one treatment dummy (``fepois``): uses already-treated cells as
      controls, biased when effects change over time under staggered starts;
    - Gardner's two-stage DiD (``did2s``): valid under staggered adoption, but linear (accidents per
      mesh-month), so its percentage is the ATT divided by the imputed untreated mean.
    """
    import pyfixest as pf  # imported here (a few seconds): only this comparison needs it

    rows = np.flatnonzero(g != -2)
    d = panel.subset(rows).frame()
    gg = g[rows]
    d["g"] = np.repeat(np.where(gg >= 0, gg + 1, 0), panel.y.shape[1])     # did2s: 0 = never treated
    d["t1"] = d["t"] + 1
    d["treat"] = ((d["g"] > 0) & (d["t1"] >= d["g"])).astype(int)
    out = [_row("ポアソン代入法（本報告の主推定）", main.table.iloc[0])]
    with threadpool_limits(1):
        fit = pf.fepois("y ~ treat | unit + t", data=d, vcov={"CRV1": "unit"})
        fit2 = pf.did2s(d, yname="y", first_stage="~ 0 | unit + t1", second_stage="~ i(treat, ref=0)",
                        treatment="treat", cluster="unit")
    b, (lo, hi) = float(fit.coef()["treat"]), fit.confint().loc["treat"].to_numpy(float)
    out.append({"method": "二方向固定効果ポアソン（処置ダミー1つ）", "pct": (np.exp(b) - 1) * 100,
                "lo": (np.exp(lo) - 1) * 100, "hi": (np.exp(hi) - 1) * 100})
    att, (lo2, hi2) = float(fit2.coef().iloc[0]), fit2.confint().iloc[0].to_numpy(float)
    base = float(d.loc[d["treat"] == 1, "y"].mean()) - att   # imputed untreated mean of the treated cells
    out.append({"method": "二段階DiD（Gardner、線形）", "pct": att / base * 100,
                "lo": lo2 / base * 100, "hi": hi2 / base * 100})
    return pd.DataFrame(out)


def _row(name: str, r) -> dict:
    return {"method": name, "pct": (r["ratio"] - 1) * 100, "lo": (r["lo"] - 1) * 100, "hi": (r["hi"] - 1) * 100}


# ----------------------------------------------------------------------------------- results
@dataclass
class ItsResult:
    """The interrupted time series of the city's weekly counts around the 2020 events.

    Attributes
    ----------
    weekly : DataFrame
        ``week`` (Monday) and ``y`` (accidents), full weeks only (:func:`weekly_counts`).
    events : DataFrame
        :func:`covid_events` of the prefecture (``term``, ``label``, ``start``, ``end``).
    table : DataFrame
        :func:`fit_its`: rate ratio, interval, p and % per non-seasonal term; ``attrs['ar1']``.
    result : statsmodels result
        The SARIMAX fit.
    placebo : DataFrame
        :func:`its_placebo_dates` (the same calendar periods in other years).
    counterfactual : DataFrame
        :func:`its_counterfactual`: observed, fitted and no-event weekly counts.
    """

    weekly: pd.DataFrame
    events: pd.DataFrame
    table: pd.DataFrame
    result: object
    placebo: pd.DataFrame
    counterfactual: pd.DataFrame

    def term(self, name: str) -> pd.Series:
        """One row of ``table`` (``"emergency"``, ``"after"``, …)."""
        return self.table.set_index("term").loc[name]


@dataclass
class DidResult:
    """The staggered difference-in-differences on 500 m mesh × month counts.

    Attributes
    ----------
    panel : CountPanel
        Counts of the register's meshes (treated and comparison).
    g : ndarray
        Start month index per panel row (−1 comparison mesh).
    overall : ImputationResult
        :func:`did_overall` (one rate ratio over all treated cells).
    event : dict
        :func:`event_study`: ``table`` (pre/post bins) and ``pretrend`` (test).
    cohorts : DataFrame
        :func:`did_by_cohort`.
    placebo_units, placebo_dates : DataFrame
        :func:`did_overall` tables of :func:`placebo_units` and :func:`placebo_dates`.
    estimators : DataFrame
        :func:`compare_estimators` (main estimate beside pyfixest's fepois and did2s).
    """

    panel: CountPanel
    g: np.ndarray
    overall: did.ImputationResult
    event: dict
    cohorts: pd.DataFrame
    placebo_units: pd.DataFrame
    placebo_dates: pd.DataFrame
    estimators: pd.DataFrame

    @property
    def n_treated(self) -> int:
        return int((self.g >= 0).sum())

    @property
    def n_comparison(self) -> int:
        return int((self.g == -1).sum())

    @property
    def main(self) -> pd.Series:
        """The overall row (``observed``, ``expected``, ``ratio``, ``lo``, ``hi``, ``p``)."""
        return self.overall.table.iloc[0]


@dataclass
class ScResult:
    """Synthetic control of the city against the prefecture's other municipalities (index series).

    Attributes
    ----------
    start : str
        Month the city-wide measure started (``YYYY-MM``).
    n_pre : int
        Months before it.
    counts : DataFrame
        Monthly accidents (rows) of the city and its donors (columns, 5-digit codes).
    weights : Series
        Donor weights (≥ 0, sum 1).
    observed, synthetic : Series
        The city's index and its synthetic control.
    gaps : DataFrame
        Observed − synthetic for the city and every donor treated as a placebo.
    placebos : DataFrame
        Pre/post RMSPE, their ratio and the effect per unit, by ratio.
    effect : float
        Post-period observed ÷ synthetic − 1.
    pre_rmspe : float
        Pre-period fit (index points).
    rank, n_units : int
        The city's rank in the RMSPE ratio among ``n_units`` units; ``p`` = rank / n_units.
    """

    start: str
    n_pre: int
    counts: pd.DataFrame
    weights: pd.Series
    observed: pd.Series
    synthetic: pd.Series
    gaps: pd.DataFrame
    placebos: pd.DataFrame
    effect: float
    pre_rmspe: float
    rank: int
    n_units: int
    p: float


@dataclass
class PowerResult:
    """Planning numbers at the city's accident level (:mod:`ebpm_analysis.stats.power`).

    Attributes
    ----------
    rate : float
        Accidents per candidate mesh and month.
    phi : float
        Extra variance of real meshes (placebo designs on the real counts; 1 = Poisson).
    n_candidates : int
        Candidate meshes (at least ``min_accidents`` accidents in the period).
    months_pre : int
        Months before the start assumed.
    grid : DataFrame
        ``n_treated``, ``months_post``, ``mde`` (smallest reduction detected with 80 % power).
    needed : DataFrame
        ``reduction``, ``months_post``, ``n_treated`` (fewest treated meshes; NA if half the candidates
        are not enough).
    """

    rate: float
    phi: float
    n_candidates: int
    months_pre: int
    grid: pd.DataFrame
    needed: pd.DataFrame

    def needed_for(self, reduction: float, months_post: int):
        """Treated meshes needed for ``reduction`` over ``months_post`` months (``pd.NA`` if not reachable)."""
        t = self.needed[(self.needed["reduction"] == reduction) & (self.needed["months_post"] == months_post)]
        return t["n_treated"].iloc[0] if len(t) else pd.NA


@dataclass
class EvaluationResult:
    """Everything the policy-evaluation report shows, from one call of :func:`analyse_evaluation`.

    Attributes
    ----------
    city_code : str
        The city of the run.
    kpi_year, kpi_count : int
        The KPI 人身事故件数 (as in 03's logic model): real records of the city occurring in ``kpi_year``, the
        year of the last analysis month (the whole year, not only its analysis months: :func:`kpi_accidents`).
    late : Series
        :func:`late_registrations` (previous year's accidents in the first year's file, by month).
    its : ItsResult
        Real data: the 2020 events.
    did : DidResult
        Measure data: staggered mesh measures.
    violation : dict
        :func:`violated_design`: the same DiD on a design that breaks parallel trends (synthetic).
    sc : ScResult or None
        Measure data: the city-wide measure (None if the register has none).
    power : PowerResult
        Real data: treated meshes × months needed.
    """

    city_code: str
    kpi_year: int
    kpi_count: int
    late: pd.Series
    its: ItsResult
    did: DidResult
    violation: dict
    sc: ScResult | None
    power: PowerResult

    def exports(self) -> dict[str, pd.DataFrame]:
        """Tables written to the report's output folder (aggregates only)."""
        out = {"its_effects": self.its.table.drop(columns="label"),
               "its_placebo_dates": self.its.placebo.drop(columns="label"),
               "its_weekly": self.its.counterfactual,
               "did_event_study": self.did.event["table"],
               "did_effects": pd.concat([self.did.overall.table,
                                         self.did.cohorts.rename(columns={"start": "group"})]),
               "did_estimators": self.did.estimators,
               "power_mde": self.power.grid, "power_needed": self.power.needed}
        if self.sc is not None:
            out["sc_weights"] = self.sc.weights.rename("weight").rename_axis("municipality").reset_index()
            out["sc_placebos"] = self.sc.placebos
        return out


# ----------------------------------------------------------------------------------- one call per section
def its_analysis(acc: pd.DataFrame, *, pref_code: str, start: str, end: str) -> ItsResult:
    """The real-data section: weekly counts, the ITS fit with the 2020 events, the counterfactual and the
    placebo years."""
    weekly = weekly_counts(acc, start=start, end=end)
    events = covid_events(pref_code)
    terms = [*events["term"], "after"]
    frame = its_frame(weekly, events)
    with threadpool_limits(1):   # small state-space fits: BLAS threads only add overhead
        table, res = fit_its(frame, terms)
        placebo = its_placebo_dates(weekly, events, years=[y for y in (2019, 2021)
                                                          if pd.Timestamp(start).year <= y <= pd.Timestamp(end).year])
    return ItsResult(weekly, events, table, res, placebo, its_counterfactual(frame, res, terms))


def did_analysis(acc: pd.DataFrame, register: pd.DataFrame, *, start: str, end: str, level: int = 4,
                 placebo_seed: int = 1, compare: bool = True) -> DidResult:
    """The staggered DiD section on mesh × month counts: overall effect, event study with pre-trend check,
    effects by start month, a placebo-units and a placebo-dates run, and (``compare``) the pyfixest
    estimators. ``register``: :func:`ebpm_analysis.io.measures.read_measures` (its 500 m mesh rows)."""
    meshes = register[register["area_type"] == "mesh500"]
    if not meshes["implemented"].any() or meshes["implemented"].all():
        raise ParameterError("measures_path", "the register needs implemented (実施) and candidate (候補) meshes",
                             expected="both, so that untreated candidates form the comparison group")
    panel = count_panel(acc, start=start, end=end, level=level,
                        units=np.unique(meshes["area_code"].astype(np.int64)))
    g = start_index(panel, pd.DataFrame({"unit": meshes["area_code"].astype(np.int64), "start": meshes["start"]}))
    pp, pg = placebo_dates(panel, g)
    with threadpool_limits(1):   # small dense solves: one thread is faster and bit-for-bit repeatable
        overall = did_overall(panel, g)
        return DidResult(panel, g, overall, event_study(panel, g), did_by_cohort(panel, g),
                         did_overall(panel, placebo_units(panel, g, np.random.default_rng(placebo_seed))).table,
                         did_overall(pp, pg).table,
                         compare_estimators(panel, g, overall) if compare else pd.DataFrame())


def sc_analysis(acc_pref: pd.DataFrame, *, city_code: str, city_parts, start_month: str, start: str, end: str,
                min_donor_monthly: float = 2.0) -> ScResult:
    """The synthetic-control section: the city against the other municipalities of the prefecture."""
    from ..stats import scm

    Y = municipality_series(acc_pref, city_code=city_code, city_parts=city_parts, start=start, end=end)
    if start_month not in Y.index:
        raise ParameterError("start", f"{start_month} is outside {start}..{end}", expected="a month inside the period")
    n_pre = list(Y.index).index(start_month)
    Y = donor_pool(Y, city_code, n_pre, min_donor_monthly)
    with threadpool_limits(1):   # many tiny quadratic programmes: BLAS threads only add overhead
        r = scm.placebo_in_space(scm.index_series(Y, n_pre), city_code, n_pre)
    return ScResult(start_month, n_pre, Y, r["weights"], r["observed"], r["synthetic"], r["gaps"], r["placebos"],
                    r["effect"], r["pre_rmspe"], r["rank"], r["n_units"], r["p"])


def power_analysis(acc: pd.DataFrame, *, start: str, end: str, level: int = 4, min_accidents: int = 8,
                   months_pre: int = 24, months_post=(6, 12, 24, 36), n_grid=(10, 20, 40, 60, 80, 100),
                   targets=(0.1, 0.2), n_placebo: int = 500, seed: int = 0) -> PowerResult:
    """Planning numbers at the city's accident level: the candidate meshes' monthly rate, the extra
    variance ``phi`` from placebo designs on the real counts, the MDE grid and the treated meshes needed."""
    from ..stats import power as pw

    panel = count_panel(acc, start=start, end=end, level=level)
    cand = panel.y[panel.y.sum(axis=1) >= min_accidents]
    n_cand = len(cand)
    rate = float(cand.mean())
    fit_post = min(12, cand.shape[1] - months_pre)
    with threadpool_limits(1):
        phi = pw.dispersion_from_placebos(cand, n_treated=min(40, n_cand // 4), start=cand.shape[1] - fit_post,
                                          months_pre=min(months_pre, cand.shape[1] - fit_post),
                                          months_post=fit_post, reps=n_placebo, seed=seed)
    grid = pd.DataFrame([{"n_treated": n, "months_post": m,
                          "mde": pw.mde(n, max(n_cand - n, n), months_pre, m, rate, phi)}
                         for m in months_post for n in n_grid])
    needed = pd.DataFrame([{"reduction": t, "months_post": m,
                            "n_treated": pw.units_needed(t, max(n_cand, 2 * max(n_grid)), months_pre, m, rate, phi)}
                           for t in targets for m in months_post])
    needed["n_treated"] = needed["n_treated"].astype("Int64")
    return PowerResult(rate, phi, n_cand, months_pre, grid, needed)


def violated_design(acc: pd.DataFrame, *, start: str, end: str, start_months, n_treated: int = 40,
                    min_accidents: int = 8, effect: float = -0.2, violation: str = "selection",
                    violation_size: float = 1.0, seed: int = 0, level: int = 4) -> dict:
    """The DiD of a design that breaks parallel trends (synthetic, in memory): the real counts of the
    candidate meshes with a planted effect on meshes chosen after a bad spell (or already improving).
    Returns ``overall`` (table), ``event`` (:func:`event_study`), ``truth`` and the violation settings."""
    from ..synth import evaluation as se

    panel = count_panel(acc, start=start, end=end, level=level)
    cand = panel.subset(se.candidates(panel, min_accidents))
    rng = np.random.default_rng(seed)
    g = se.assign_measures(len(cand.units), n_treated, cand.month_of(list(start_months)), rng)
    p = se.keep_probability(g, len(cand.months), effect=effect, violation=violation, violation_size=violation_size)
    planted = CountPanel(se.plant_counts(cand.y, p, rng), cand.units, cand.months)
    with threadpool_limits(1):
        return {"overall": did_overall(planted, g).table, "event": event_study(planted, g), "truth": effect,
                "violation": violation, "violation_size": violation_size}


def kpi_accidents(real: pd.DataFrame, end: str) -> tuple[int, int]:
    """The KPI 人身事故件数 of the year of ``end`` (``YYYY-MM``): every record of the city occurring in that year,
    as 03's logic model counts it (:func:`ebpm_analysis.cases.probe.accident_trend`), whatever month the
    analysis period ends in. (Counting only the analysis months gave 熊本市 2021 as 1,293 件 while 03 said
    1,463 件 for the same KPI, year and city: issue 13, one number one source.)"""
    year = int(pd.Period(end, freq="M").year)
    return year, int((real["year"] == year).sum())


def analyse_evaluation(real: pd.DataFrame, measured: pd.DataFrame, register: pd.DataFrame, *, city_code: str,
                       city_parts, start: str, end: str, min_accidents: int = 8, start_months=(),
                       n_treated: int = 40, effect: float = -0.2, violation: str = "selection",
                       violation_size: float = 1.0, seed: int = 0, min_donor_monthly: float = 2.0,
                       months_pre: int = 24, months_post=(6, 12, 24, 36),
                       n_grid=(10, 20, 40, 60, 80, 100)) -> EvaluationResult:
    """The whole report in one call.

    Parameters
    ----------
    real : DataFrame
        The city's real 本票 records (all years in the files; tidy frame of
        :mod:`ebpm_analysis.io.npa_accidents`): ITS, power, the violated-design example and the KPI.
    measured : DataFrame
        The prefecture's records the measures are evaluated on (the planted set, or real records):
        DiD on the city's part, synthetic control on all municipalities.
    register : DataFrame
        :func:`ebpm_analysis.io.measures.read_measures`.
    city_code, city_parts
        The city and the 5-digit codes of its parts in the records (its wards, or itself).
    start, end : str
        Analysis months (``YYYY-MM``).
    start_months, n_treated, effect, violation, violation_size, seed
        The violated-design example (:func:`violated_design`).
    min_accidents, months_pre, months_post, n_grid
        Candidate meshes and the power grid (:func:`power_analysis`).
    min_donor_monthly : float
        Donor municipalities of the synthetic control (:func:`donor_pool`).
    """
    months = months_between(start, end)
    first, last = months[0].start_time, months[-1].end_time
    late = late_registrations(real, months[0].year)
    kpi_year, kpi_count = kpi_accidents(real, end)
    real = real[(real["occurred_at"] >= first) & (real["occurred_at"] <= last)]
    city = measured[measured["city_code"].isin(list(city_parts))]
    city_row = register[register["area_type"] == "municipality"]
    return EvaluationResult(
        city_code=city_code, kpi_year=kpi_year, kpi_count=kpi_count,
        late=late,
        its=its_analysis(real, pref_code=city_code[:2], start=str(first.date()), end=str(last.date())),
        did=did_analysis(city, register, start=start, end=end),
        violation=violated_design(real, start=start, end=end,
                                  start_months=start_months or [str(months[len(months) // 2])], n_treated=n_treated,
                                  min_accidents=min_accidents, effect=effect,
                                  violation=violation, violation_size=violation_size, seed=seed),
        sc=(sc_analysis(measured, city_code=city_code, city_parts=city_parts, start_month=city_row["start"].iloc[0],
                        start=start, end=end, min_donor_monthly=min_donor_monthly) if len(city_row) else None),
        power=power_analysis(real, start=start, end=end, min_accidents=min_accidents, months_pre=months_pre,
                             months_post=months_post, n_grid=n_grid))
