"""Counter congestion (case 6): when is the 免税軽油 permit counter busy, why, how many windows
does each kind of day need, and what would spreading permit expiry months change?

Pure functions over tidy frames (no file reading, no plotting):

- :func:`prepare_days` — the log joined to the office calendar and the weather (rain flag).
- :func:`month_weekday_means` — mean applications per open day by month × weekday (heat map).
- :func:`fit_count_model` — negative-binomial (or Poisson) regression with month, weekday, rain,
  holiday adjacency and year-end; :func:`effects_table` gives rate ratios with 95 % intervals.
- :class:`QueueSettings` — the counter's opening hours, service time and targets; windows needed for a
  day's count by Erlang C (steady state) or by simulating the opening hours, both from
  :mod:`ebpm_analysis.stats.queueing`.
- :func:`staffing_by_day_type`, :func:`plan_calendar` — windows needed per kind of day / per date.
- :func:`fit_expiry_link`, :func:`respread_register`, :func:`expiry_scenario` — how applications
  follow the permit register's expiry months, and the effect of re-spreading them.
- :func:`analyse_counter_log` — the entry point: all of the above in the report's order →
  :class:`CounterResult`.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from scipy import optimize, stats

from ..errors import ParameterError
from ..jpcalendar import WEEKDAY_JA, office_calendar
from ..stats.queueing import mean_wait_min, offered_load, simulate_session_waits, staff_needed, staff_needed_session

#: The counter's days: Monday–Friday (月–金).
OPEN_WEEKDAYS_JA = list(WEEKDAY_JA[:5])
FISCAL_MONTHS = [4, 5, 6, 7, 8, 9, 10, 11, 12, 1, 2, 3]
MONTH_JA = {m: f"{m}月" for m in range(1, 13)}

# --------------------------------------------------------------------------- data preparation


def prepare_days(log: pd.DataFrame, weather: pd.DataFrame | None, rain_threshold_mm: float = 1.0) -> pd.DataFrame:
    """One row per open day in ``log`` with ``month``, ``weekday`` (0=Mon), ``weekday_ja``,
    ``fiscal_year``, ``holiday_adjacent``, ``year_end``, ``precip_mm`` and ``rain`` (precip ≥ threshold;
    NA when the weather is missing)."""
    if log.empty:
        raise ParameterError("log", "no open days in the counter log", expected="at least a few months of days")
    cal = office_calendar(log["date"].min(), log["date"].max())
    d = log.merge(cal, on="date", how="left")
    d = d[d["open"]].copy()
    d["month"] = d["date"].dt.month
    d["weekday_ja"] = [OPEN_WEEKDAYS_JA[w] for w in d["weekday"]]
    d["fiscal_year"] = d["date"].dt.year - (d["month"] < 4)
    if weather is not None:
        w = weather[["date", "precip_mm"]].copy()
        d = d.merge(w, on="date", how="left")
    else:
        d["precip_mm"] = np.nan
    d["rain"] = (d["precip_mm"] >= rain_threshold_mm).astype(float).where(d["precip_mm"].notna())
    for c in ("holiday_adjacent", "year_end"):
        d[c] = d[c].astype(int)
    return d.drop(columns=["open"]).reset_index(drop=True)


def month_weekday_means(days: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(mean applications per open day, number of open days) by month (fiscal order) × weekday."""
    g = days.groupby(["month", "weekday_ja"])["count"]
    mean = g.mean().unstack().reindex(index=FISCAL_MONTHS, columns=OPEN_WEEKDAYS_JA)
    n = g.size().unstack().reindex(index=FISCAL_MONTHS, columns=OPEN_WEEKDAYS_JA).fillna(0).astype(int)
    mean.index = [MONTH_JA[m] for m in mean.index]
    n.index = mean.index
    return mean, n


# --------------------------------------------------------------------------- count regression


@dataclass
class DailyApplicationsModel:
    """Applications per open day at the counter: the fitted NB2/Poisson regression of :func:`fit_count_model`."""

    result: object
    family: str
    formula: str
    reference_month: int
    dispersion: float          # Pearson chi2 / df of the Poisson fit (1 = Poisson-like)
    alpha: float               # NB2 alpha (0 for Poisson)
    n_days: int
    months: tuple = tuple(range(1, 13))   # months seen in the fitted data

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        f = frame.copy()
        unseen = sorted(set(f["month"]) - set(self.months))
        if unseen:
            raise ParameterError("log", f"no data for month(s) {unseen} in the counter log",
                                 expected="a log covering every month that is predicted (at least one full year "
                                          "for a yearly staffing plan)")
        f["month"] = pd.Categorical(f["month"], categories=list(self.months))
        f["weekday_ja"] = pd.Categorical(f["weekday_ja"], categories=OPEN_WEEKDAYS_JA)
        return np.asarray(self.result.predict(f), dtype=float)

    def quantile(self, mu, q: float) -> np.ndarray:
        """q-quantile of the day's count under the fitted distribution."""
        mu = np.asarray(mu, dtype=float)
        if self.alpha <= 0:
            return stats.poisson.ppf(q, mu)
        n = 1.0 / self.alpha
        return stats.nbinom.ppf(q, n, n / (n + mu))


def fit_count_model(days: pd.DataFrame, family: str = "negbin", reference_month: int = 4,
                    year_end: bool = True) -> DailyApplicationsModel:
    """Fit ``count ~ month + weekday + rain + holiday_adjacent (+ year_end)``.

    ``family``: ``"negbin"`` (NB2, alpha by maximum likelihood), ``"poisson"`` or ``"auto"`` (NB when the
    Poisson fit is over-dispersed, Pearson χ²/df > 1.2). Reference levels: ``reference_month`` and 水曜.
    Days without weather are left out.
    """
    if family not in ("negbin", "poisson", "auto"):
        raise ParameterError("family", f"unknown value {family!r}", expected="'negbin', 'poisson' or 'auto'")
    d = days.dropna(subset=["rain"]).copy()
    if len(d) < 60:
        raise ParameterError("log", f"only {len(d)} open days with weather", expected="at least 60 days")
    months = tuple(sorted(int(m) for m in d["month"].unique()))
    if reference_month not in months:
        reference_month = months[0]
    d["month"] = pd.Categorical(d["month"], categories=list(months))
    d["weekday_ja"] = pd.Categorical(d["weekday_ja"], categories=OPEN_WEEKDAYS_JA)
    terms = [f"C(month, Treatment({reference_month}))", "C(weekday_ja, Treatment('水'))", "rain", "holiday_adjacent"]
    if year_end and d["year_end"].sum() > 0:
        terms.append("year_end")
    formula = "count ~ " + " + ".join(terms)
    import statsmodels.api as sm
    pois = smf.glm(formula, data=d, family=sm.families.Poisson()).fit()
    disp = float(pois.pearson_chi2 / pois.df_resid)
    use = family if family != "auto" else ("negbin" if disp > 1.2 else "poisson")
    if use == "poisson":
        return DailyApplicationsModel(pois, "poisson", formula, reference_month, disp, 0.0, len(d), months)
    nb = smf.negativebinomial(formula, data=d).fit(disp=0, maxiter=200, start_params=np.append(pois.params, 0.05))
    return DailyApplicationsModel(nb, "negbin", formula, reference_month, disp, float(nb.params["alpha"]), len(d),
                                  months)


def _term_label(term: str) -> tuple[str, str]:
    if term.startswith("C(weekday_ja"):
        w = term.split("[T.")[1].rstrip("]")
        return "曜日", f"{w}曜（水曜比）"
    if term.startswith("C(month"):
        m = int(term.split("[T.")[1].rstrip("]"))
        return "月", f"{m}月"
    return {"rain": ("天候", "雨の日（降水量が閾値以上）"), "holiday_adjacent": ("祝日前後",
                                                                  "祝日・年末年始休みの前後の日"),
            "year_end": ("年末", "年末（12/20–12/28）")}.get(term, ("その他", term))


def effects_table(model: DailyApplicationsModel) -> pd.DataFrame:
    """Rate ratios (倍率) with 95 % intervals for every term except the intercept (and alpha)."""
    res = model.result
    ci = res.conf_int()
    rows = []
    for term in res.params.index:
        if term in ("Intercept", "alpha"):
            continue
        group, label = _term_label(term)
        if group == "月":
            label = f"{label}（{model.reference_month}月比）"
        rows.append({"term": term, "group": group, "label": label, "coef": float(res.params[term]),
                     "rate_ratio": float(np.exp(res.params[term])), "lo": float(np.exp(ci.loc[term, 0])),
                     "hi": float(np.exp(ci.loc[term, 1])), "p_value": float(res.pvalues[term])})
    return pd.DataFrame(rows)


def weekday_rate_ratios(model: DailyApplicationsModel) -> dict[str, float]:
    """Rate ratio of each weekday relative to Wednesday (水 = 1)."""
    p = model.result.params
    out = {"水": 1.0}
    for w in OPEN_WEEKDAYS_JA:
        t = f"C(weekday_ja, Treatment('水'))[T.{w}]"
        if t in p.index:
            out[w] = float(np.exp(p[t]))
    return out


# --------------------------------------------------------------------------- staffing


@dataclass
class QueueSettings:
    open_hours: float = 5.0          # 9–11 and 13–16 (docs/sources.md#diesel-counter)
    service_min: float = 60.0        # one application ≈ 1 hour
    target_wait_min: float = 20.0    # mean wait target
    peak_hour_factor: float = 1.3    # busiest hour vs the day's average hour
    max_occupancy: float = 0.9
    plan_quantile: float = 0.9       # staff for a busy day of its type (share of such days covered)
    method: str = "erlang"           # "erlang" (steady-state Erlang C) or "session" (simulated opening hours)
    service_cv: float = 0.5          # coefficient of variation of the service time (session simulation)
    sessions: tuple = ((9.0, 11.0), (13.0, 16.0))
    sim_reps: int = 300
    seed: int = 0

    def staff(self, count: float, method: str | None = None) -> int:
        method = method or self.method
        if method == "erlang":
            return staff_needed(float(offered_load(count, self.open_hours, self.service_min, self.peak_hour_factor)),
                                self.service_min, self.target_wait_min, self.max_occupancy)
        if method == "session":
            return staff_needed_session(int(round(count)), target_wait_min=self.target_wait_min,
                                        **self.simulation())
        raise ParameterError("staffing_method", f"unknown value {method!r}", expected="'erlang' or 'session'")

    def simulation(self, reps: int | None = None, seed: int | None = None) -> dict:
        """Keyword arguments of :func:`~ebpm_analysis.stats.queueing.simulate_session_waits`."""
        return {"sessions": self.sessions, "service_min": self.service_min, "service_cv": self.service_cv,
                "peak_hour_factor": self.peak_hour_factor, "reps": reps or self.sim_reps,
                "seed": self.seed if seed is None else seed}

    def simulate(self, count: int, staff: int, reps: int | None = None, seed: int | None = None) -> np.ndarray:
        """Mean wait (minutes) of each simulated opening day (see :func:`simulate_session_waits`)."""
        return simulate_session_waits(count, staff, **self.simulation(reps, seed))


def month_effects(model: DailyApplicationsModel) -> pd.Series:
    """Fitted month rate ratio vs the reference month (months seen in the data)."""
    p = model.result.params
    out = {}
    for m in model.months:
        t = f"C(month, Treatment({model.reference_month}))[T.{m}]"
        out[m] = float(np.exp(p[t])) if t in p.index else 1.0
    return pd.Series(out)


def staffing_by_day_type(model: DailyApplicationsModel, q: QueueSettings,
                         months: dict[str, int]) -> pd.DataFrame:
    """Windows needed for each weekday × weather, in the named months (e.g. 通常月, 繁忙月).

    Columns: month_label, month, weekday_ja, weather, expected (mean count), busy_day (``plan_quantile``
    of the count), staff_session / staff_erlang (windows for a busy day by each method) and staff
    (by ``q.method``).
    """
    rows = []
    for mlabel, m in months.items():
        for w in OPEN_WEEKDAYS_JA:
            for rain, wl in ((0, "晴・曇"), (1, "雨")):
                rows.append({"month_label": mlabel, "month": m, "weekday_ja": w, "weather": wl, "rain": rain,
                             "holiday_adjacent": 0, "year_end": 0})
    f = pd.DataFrame(rows)
    f["expected"] = model.predict(f)
    f["busy_day"] = model.quantile(f["expected"], q.plan_quantile)
    f["staff_session"] = [q.staff(x, "session") for x in f["busy_day"]]
    f["staff_erlang"] = [q.staff(x, "erlang") for x in f["busy_day"]]
    f["staff"] = f["staff_session"] if q.method == "session" else f["staff_erlang"]
    return f.drop(columns=["rain", "holiday_adjacent", "year_end"])


def rain_share_by_month(days: pd.DataFrame) -> pd.Series:
    """Share of open days with rain, by month (1..12)."""
    return days.dropna(subset=["rain"]).groupby("month")["rain"].mean().reindex(range(1, 13))


def plan_calendar(model: DailyApplicationsModel, q: QueueSettings, fiscal_year: int, rain_share: pd.Series,
                  month_factor: pd.Series | None = None) -> pd.DataFrame:
    """Every open day of ``fiscal_year`` with expected count (dry, rainy and rain-weighted) and windows
    needed for a busy day of its kind, dry and rainy. ``month_factor`` (1..12) rescales month levels
    (scenario)."""
    cal = office_calendar(f"{fiscal_year}-04-01", f"{fiscal_year + 1}-03-31")
    cal = cal[cal["open"]].copy()
    cal["month"] = cal["date"].dt.month
    cal["weekday_ja"] = [OPEN_WEEKDAYS_JA[w] for w in cal["weekday"]]
    for c in ("holiday_adjacent", "year_end"):
        cal[c] = cal[c].astype(int)
    fac = np.ones(len(cal)) if month_factor is None else month_factor.reindex(cal["month"]).to_numpy()
    dry = model.predict(cal.assign(rain=0)) * fac
    wet = model.predict(cal.assign(rain=1)) * fac
    p = rain_share.reindex(cal["month"]).fillna(rain_share.mean()).to_numpy()
    cal["expected_dry"] = dry
    cal["expected_rain"] = wet
    cal["expected"] = (1 - p) * dry + p * wet
    cache: dict[float, int] = {}

    def staff(x):
        k = float(x)
        if k not in cache:
            cache[k] = q.staff(k)
        return cache[k]
    cal["staff_dry"] = [staff(x) for x in model.quantile(dry, q.plan_quantile)]
    cal["staff_rain"] = [staff(x) for x in model.quantile(wet, q.plan_quantile)]
    return cal.drop(columns=["open"]).reset_index(drop=True)


def plan_by_day(plan: pd.DataFrame) -> pd.DataFrame:
    """The day-by-day plan of :func:`plan_calendar` as the report shows it (a searchable table, and so a download):
    date, weekday, kind of day, expected applications and windows needed, dry and rainy. Values as planned
    (expected counts to 2 decimals, as in the export ``staff_plan_by_day.csv``)."""
    kind = np.select([plan["year_end"].astype(bool), plan["holiday_adjacent"].astype(bool)],
                     ["年末", "祝日・休みの前後"], "通常")
    return pd.DataFrame({"日付": plan["date"].dt.strftime("%Y-%m-%d").to_numpy(), "曜日": plan["weekday_ja"].to_numpy(),
                         "日の種類": kind,
                         "見込み件数：晴れ（件）": plan["expected_dry"].round(2).to_numpy(),
                         "見込み件数：雨（件）": plan["expected_rain"].round(2).to_numpy(),
                         "必要窓口数：晴れ": plan["staff_dry"].astype(int).to_numpy(),
                         "必要窓口数：雨": plan["staff_rain"].astype(int).to_numpy()})


# --------------------------------------------------------------------------- expiry-month scenario


@dataclass
class ExpiryLink:
    lead_months: int            # applications come this many months before expiry
    per_permit: float           # applications per permit on the register per year, in its renewal month
    other_per_open_day: float   # applications not tied to the expiry month
    r2: float
    fitted: pd.DataFrame        # month, observed, fitted (applications per year)


def _shifted(register: pd.Series, lead: int) -> pd.Series:
    """Permits expiring ``lead`` months after each application month m."""
    return pd.Series({m: float(register[(m - 1 + lead) % 12 + 1]) for m in range(1, 13)})


def monthly_per_year(days: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Applications and open days per year in each calendar month (1..12), by month occurrence.

    A log that does not cover whole years (e.g. from 15 January) would bias a "total / years of the
    span" average: the months it covers twice count double and a part-month counts as a whole one.
    Here each month's rate per open day (from the days logged in it) is multiplied by the open days that
    month has in an average year of the calendar years the log touches.
    """
    if days.empty:
        raise ParameterError("log", "no open days", expected="a daily log covering every calendar month")
    logged = days.groupby("month")
    missing = sorted(set(range(1, 13)) - set(logged.groups))
    if missing:
        raise ParameterError("log", f"no data for month(s) {missing}",
                             expected="a daily log covering every calendar month at least once "
                                      "(the expiry-month link compares the twelve months)")
    per_day = logged["count"].sum() / logged.size()
    y0, y1 = int(days["date"].min().year), int(days["date"].max().year)
    cal = office_calendar(f"{y0}-01-01", f"{y1}-12-31")
    open_days = cal[cal["open"]].groupby(cal["date"].dt.month).size().reindex(range(1, 13)) / (y1 - y0 + 1)
    open_days = open_days.astype(float)
    return (per_day.reindex(range(1, 13)) * open_days).rename("applications"), open_days.rename("open_days")


def fit_expiry_link(days: pd.DataFrame, register: pd.DataFrame, leads=(0, 1, 2, 3)) -> ExpiryLink:
    """Applications per year in month m ≈ per_permit · permits expiring in m + lead + other · open days in m.

    Non-negative least squares on the 12 monthly means; the lead with the smallest error is chosen.
    """
    reg = register.set_index("month")["permits"].reindex(range(1, 13)).astype(float)
    obs, bd = monthly_per_year(days)
    best = None
    for lead in leads:
        X = np.column_stack([_shifted(reg, lead).to_numpy(), bd.to_numpy()])
        coef, resid = optimize.nnls(X, obs.to_numpy())
        sse = float(np.sum((X @ coef - obs.to_numpy()) ** 2))
        if best is None or sse < best[0]:
            best = (sse, lead, coef, X @ coef)
    sse, lead, coef, fit = best
    sst = float(np.sum((obs - obs.mean()) ** 2))
    return ExpiryLink(lead, float(coef[0]), float(coef[1]), 1 - sse / sst if sst > 0 else float("nan"),
                      pd.DataFrame({"month": range(1, 13), "observed": obs.to_numpy(), "fitted": fit,
                                    "open_days": bd.to_numpy()}))


def respread_register(register: pd.DataFrame, link: ExpiryLink, share: float) -> pd.DataFrame:
    """Move ``share`` (0–1) of the way from today's expiry months to a register that gives every open
    day the same expected number of applications. Total permits are kept (whole numbers)."""
    if not 0 <= share <= 1:
        raise ParameterError("respread_share", f"{share}", expected="a share between 0 and 1")
    reg = register.set_index("month")["permits"].reindex(range(1, 13)).astype(float)
    total = reg.sum()
    bd = link.fitted.set_index("month")["open_days"]
    # Level: per_permit * E'(m+lead) + other * bd_m = lam * bd_m  →  E'(m+lead) ∝ bd_m when lam fixed.
    lam = (link.per_permit * total + link.other_per_open_day * bd.sum()) / bd.sum()
    target_app = np.clip((lam - link.other_per_open_day) * bd / max(link.per_permit, 1e-12), 0, None)
    level = pd.Series(0.0, index=range(1, 13))
    for m in range(1, 13):
        level[(m - 1 + link.lead_months) % 12 + 1] = target_app[m]
    level = level / level.sum() * total
    new = (1 - share) * reg + share * level
    # Round keeping the total (largest remainders).
    fl = np.floor(new)
    rest = int(round(total - fl.sum()))
    order = np.argsort(-(new - fl).to_numpy())
    fl.iloc[order[:rest]] += 1
    return pd.DataFrame({"month": range(1, 13), "permits": fl.astype(int).to_numpy()})


def expiry_scenario(link: ExpiryLink, before: pd.DataFrame, after: pd.DataFrame,
                    level: pd.Series | None = None) -> pd.DataFrame:
    """Per application month: expected applications per year and per open day, before and after, and the
    month factor (after / before) to rescale a plan calendar.

    Without ``level`` the levels are the expiry link's own fit. With ``level`` (expected applications
    per open day by month 1..12, e.g. the plan year's from the count model) "before" is that level and
    "after" is it times the month factor, so the scenario quotes the same numbers as the plan table.
    """
    b = before.set_index("month")["permits"].reindex(range(1, 13)).astype(float)
    a = after.set_index("month")["permits"].reindex(range(1, 13)).astype(float)
    bd = link.fitted.set_index("month")["open_days"]
    app_b = link.per_permit * _shifted(b, link.lead_months) + link.other_per_open_day * bd
    app_a = link.per_permit * _shifted(a, link.lead_months) + link.other_per_open_day * bd
    out = pd.DataFrame({"month": range(1, 13), "open_days": bd.to_numpy(),
                        "apps_before": app_b.to_numpy(), "apps_after": app_a.to_numpy()})
    out["month_factor"] = out["apps_after"] / out["apps_before"]
    if level is None:
        out["per_day_before"] = out["apps_before"] / out["open_days"]
    else:
        lv = level.reindex(range(1, 13))
        if lv.isna().any():
            raise ParameterError("level", f"no level for month(s) {[m for m in range(1, 13) if pd.isna(lv[m])]}",
                                 expected="expected applications per open day for all twelve months")
        out["per_day_before"] = lv.to_numpy(dtype=float)
        out["apps_before"] = out["per_day_before"] * out["open_days"]
        out["apps_after"] = out["apps_before"] * out["month_factor"]
    out["per_day_after"] = out["per_day_before"] * out["month_factor"]
    return out[["month", "open_days", "apps_before", "apps_after", "per_day_before", "per_day_after",
                "month_factor"]]


def application_month(expiry_month: int, lead_months: int) -> int:
    """The month in which holders of permits expiring in ``expiry_month`` apply."""
    return (expiry_month - 1 - lead_months) % 12 + 1


def expiry_timing_sentence(peak: int, register: pd.DataFrame, link: ExpiryLink) -> str:
    """One sentence on whether the busiest month is the application month of the commonest expiry month.

    Built from the numbers: the register's busiest expiry month, the fitted lead and its R², so the
    report never claims a link the data do not show.
    """
    reg = register.set_index("month")["permits"]
    top = int(reg.idxmax())
    share = float(reg.max() / reg.sum())
    lead = link.lead_months
    apply_in = application_month(top, lead)
    when = "同じ月" if lead == 0 else f"約{lead}か月前"
    fit = f"月別件数と有効期限月の対応から推定、決定係数{link.r2:.2f}"
    if peak == apply_in:
        where = "その月" if lead == 0 else f"{lead}か月前"
        return (f"{peak}月は、使用者証の有効期限が最も多い{top}月（全体の{share:.0%}）の{where}にあたります"
                f"（申請は有効期限の{when}に集中：{fit}）。")
    return (f"有効期限が最も多いのは{top}月（全体の{share:.0%}）で、その申請が来る{apply_in}月は最も混む{peak}月と"
            f"一致しません（申請は有効期限の{when}：{fit}）。{peak}月の混雑には有効期限以外の要因もあります。")


def peak_month(frame: pd.DataFrame, column: str) -> tuple[int, float]:
    i = frame[column].idxmax()
    return int(frame.loc[i, "month"]), float(frame.loc[i, column])


def erlang_check(days: pd.DataFrame, q: QueueSettings, bands=(0, 0.5, 0.7, 0.85, 1.0, np.inf)) -> pd.DataFrame:
    """Compare the log's observed mean waits with both queue models at the windows actually staffed.

    Days are grouped by busiest-hour occupancy (load / windows). Needs ``staff`` and ``wait_mean_min``.
    Columns: band, days, observed_mean_wait (mean of daily means), erlang_mean_wait (median over days;
    inf when load ≥ windows), session_mean_wait (session simulation, mean over days).
    """
    d = days.dropna(subset=["staff", "wait_mean_min"])
    d = d[d["staff"] > 0]
    if d.empty:
        return pd.DataFrame(columns=["band", "days", "observed_mean_wait", "erlang_mean_wait"])
    load = offered_load(d["count"], q.open_hours, q.service_min, q.peak_hour_factor)
    occ = load / d["staff"].to_numpy()
    pred = np.array([mean_wait_min(a, int(c), q.service_min) for a, c in zip(load, d["staff"], strict=True)])
    cache: dict = {}
    sim = []
    for n, c in zip(d["count"].astype(int), d["staff"].astype(int), strict=True):
        if (n, c) not in cache:
            cache[(n, c)] = float(q.simulate(n, c, reps=100).mean())
        sim.append(cache[(n, c)])
    labels = [f"{lo:.0%}–{hi:.0%}" if np.isfinite(hi) else f"{lo:.0%}以上" for lo, hi in pairwise(bands)]
    band = pd.cut(occ, bins=list(bands), labels=labels, right=False)
    out = pd.DataFrame({"band": band, "obs": d["wait_mean_min"].to_numpy(), "pred": pred, "sim": sim})
    g = out.groupby("band", observed=True)
    return pd.DataFrame({"band": list(g.groups.keys()), "days": g.size().to_numpy(),
                         "observed_mean_wait": g["obs"].mean().to_numpy(),
                         "erlang_mean_wait": g["pred"].median().to_numpy(),
                         "session_mean_wait": g["sim"].mean().to_numpy()})


# --------------------------------------------------------------------------- entry point


def parse_sessions(sessions) -> tuple:
    """``["09:00-11:00", "13:00-16:00"]`` → ``((9.0, 11.0), (13.0, 16.0))`` (hours)."""
    out = []
    for s in sessions:
        try:
            a, b = s.split("-")
            ha, ma = (int(x) for x in a.split(":"))
            hb, mb = (int(x) for x in b.split(":"))
        except ValueError:
            raise ParameterError("opening_sessions", f"cannot read {s!r}", expected='"HH:MM-HH:MM" strings') from None
        out.append((ha + ma / 60, hb + mb / 60))
    return tuple(out)


@dataclass(frozen=True)
class CounterResult:
    """Everything report 06 shows, from :func:`analyse_counter_log`.

    Attributes
    ----------
    queue : QueueSettings
        Opening hours, service time, wait target and staffing method used for every staffing figure.
    days : DataFrame
        :func:`prepare_days`: one row per open day (``count``, ``month``, ``weekday_ja``, ``rain`` …).
    n_days, n_applications, n_days_without_weather : int
        Open days, applications over the period, open days without weather (left out of the model).
    month_weekday_mean, month_weekday_days : DataFrame
        :func:`month_weekday_means`: mean applications per open day and open days, month × weekday.
    month_mean : Series
        Mean applications per open day by month (1..12).
    peak_month, low_month : int
        Months with the highest and lowest ``month_mean``.
    normal_month : int
        The month whose fitted month effect is closest to the median (a "usual" month).
    model : DailyApplicationsModel
        :func:`fit_count_model`.
    effects : DataFrame
        :func:`effects_table` (``term``, ``group``, ``label``, ``rate_ratio``, ``lo``, ``hi``, ``p_value``).
    weekday_rr : dict
        Weekday → rate ratio against Wednesday.
    monday_rr, rain_rr, holiday_adjacent_rr, year_end_rr : tuple of float
        (rate ratio, lower, upper) of Monday vs Wednesday, rain, days next to holidays and the year end
        (NaN when the model has no year-end term).
    by_day_type : DataFrame
        :func:`staffing_by_day_type` for the usual (通常月) and the peak (最繁忙月) month.
    rain_share : Series
        Share of rainy open days by month.
    plan, plan_after : DataFrame
        :func:`plan_calendar` of the plan year, today and after re-spreading the expiry months.
    link : ExpiryLink
        :func:`fit_expiry_link`: how applications follow the expiry months.
    register, register_after : DataFrame
        Permits by expiry month today and after :func:`respread_register`.
    scenario : DataFrame
        :func:`expiry_scenario` with the plan year's levels (``per_day_before`` equals the plan table's
        expected count per open day, ``per_day_after``, ``month_factor`` …).
    scenario_peak_before, scenario_peak_after : (int, float)
        (month, applications per open day) of the busiest month before and after.
    scenario_peak_month_after : float
        Applications per open day after the re-spread in the month that was busiest before.
    staff_by_month : DataFrame
        ``month``, ``before``, ``after``: windows needed on the busiest dry day of each month.
    has_waits : bool
        The log records waits and staff (the queue models can be checked).
    queue_check : DataFrame or None
        :func:`erlang_check` when ``has_waits``.
    over_target_share : float
        Share of open days whose recorded mean wait exceeded the target (NaN without waits).
    """

    queue: QueueSettings
    days: pd.DataFrame
    n_days: int
    n_applications: int
    n_days_without_weather: int
    month_weekday_mean: pd.DataFrame
    month_weekday_days: pd.DataFrame
    month_mean: pd.Series
    peak_month: int
    low_month: int
    normal_month: int
    model: DailyApplicationsModel
    effects: pd.DataFrame
    weekday_rr: dict
    monday_rr: tuple
    rain_rr: tuple
    holiday_adjacent_rr: tuple
    year_end_rr: tuple
    by_day_type: pd.DataFrame
    rain_share: pd.Series
    plan: pd.DataFrame
    plan_after: pd.DataFrame
    link: ExpiryLink
    register: pd.DataFrame
    register_after: pd.DataFrame
    scenario: pd.DataFrame
    scenario_peak_before: tuple
    scenario_peak_after: tuple
    scenario_peak_month_after: float
    staff_by_month: pd.DataFrame
    has_waits: bool
    queue_check: pd.DataFrame | None
    over_target_share: float

    def staffing_for(self, month_label: str, weekday_ja: str, weather: str) -> pd.Series:
        """The row of ``by_day_type`` for e.g. ("最繁忙月", "月", "雨")."""
        b = self.by_day_type
        sel = (b["month_label"] == month_label) & (b["weekday_ja"] == weekday_ja) & (b["weather"] == weather)
        return b[sel].iloc[0]

    @property
    def register_peak_share(self) -> tuple[float, float]:
        """Share of permits in the busiest expiry month, today and after the re-spread."""
        return (float(self.register["permits"].max() / self.register["permits"].sum()),
                float(self.register_after["permits"].max() / self.register_after["permits"].sum()))

    @property
    def max_staff(self) -> tuple[int, int]:
        """Most windows needed on any dry day of the plan year, today and after the re-spread."""
        return int(self.plan["staff_dry"].max()), int(self.plan_after["staff_dry"].max())


def _rate_ratio(eff: pd.DataFrame, term: str) -> tuple:
    if term not in set(eff["term"]):
        return (np.nan, np.nan, np.nan)
    r = eff.set_index("term").loc[term]
    return r["rate_ratio"], r["lo"], r["hi"]


def _max_staff_by_month(plan: pd.DataFrame, months) -> np.ndarray:
    """Largest dry-day staffing of each month of a plan calendar."""
    return plan.groupby("month")["staff_dry"].max().reindex(months).to_numpy()


def analyse_counter_log(log: pd.DataFrame, *, weather: pd.DataFrame | None, register: pd.DataFrame,
                        sessions=("09:00-11:00", "13:00-16:00"), rain_threshold_mm: float = 1.0,
                        model_family: str = "negbin", service_min: float = 60.0, target_wait_min: float = 30.0,
                        peak_hour_factor: float = 1.3, max_occupancy: float = 0.9, plan_quantile: float = 0.8,
                        staffing_method: str = "session", plan_fiscal_year: int = 2026,
                        respread_share: float = 0.6, seed: int = 7) -> CounterResult:
    """When the counter is busy and why, windows per kind of day, the plan year, and re-spread expiry months.

    Parameters
    ----------
    log : DataFrame
        :func:`ebpm_analysis.io.counter_log.read_counter_log` (``date``, ``count``, optional waits and staff).
    weather : DataFrame or None
        :func:`ebpm_analysis.io.jma.read_jma_daily` (``precip_mm``) covering the log.
    register : DataFrame
        :func:`ebpm_analysis.io.counter_log.read_expiry_register` (``month``, ``permits``).
    sessions : sequence of str
        Reception hours ``"HH:MM-HH:MM"`` on open days.
    rain_threshold_mm : float
        A day with at least this much precipitation is rainy.
    model_family : {"negbin", "poisson", "auto"}
        Count model (:func:`fit_count_model`).
    service_min, target_wait_min, peak_hour_factor, max_occupancy, plan_quantile : float
        Queue settings (:class:`QueueSettings`).
    staffing_method : {"session", "erlang"}
        Opening-hours simulation or steady-state Erlang C for the plan.
    plan_fiscal_year : int
        Fiscal year (April start) of the staffing plan.
    respread_share : float
        Share of the way to a levelled expiry-month register (0–1).
    seed : int
        Seed of the queue simulation.

    Returns
    -------
    CounterResult

    Raises
    ------
    ParameterError
        An unreadable session, an unknown method or family, a share outside 0–1, or a log too short to fit.
    """
    sess = parse_sessions(sessions)
    if staffing_method not in ("session", "erlang"):
        raise ParameterError("staffing_method", repr(staffing_method), expected="'session' or 'erlang'")
    q = QueueSettings(open_hours=sum(b - a for a, b in sess), service_min=service_min, target_wait_min=target_wait_min,
                      peak_hour_factor=peak_hour_factor, max_occupancy=max_occupancy, plan_quantile=plan_quantile,
                      method=staffing_method, sessions=sess, seed=seed)
    days = prepare_days(log, weather, rain_threshold_mm=rain_threshold_mm)
    mean_tab, n_tab = month_weekday_means(days)
    model = fit_count_model(days, family=model_family)
    eff = effects_table(model)
    month_mean = days.groupby("month")["count"].mean()
    peak_m = int(month_mean.idxmax())
    mfx = month_effects(model)
    normal_m = int((mfx - mfx.median()).abs().idxmin())
    rain_share = rain_share_by_month(days)
    plan = plan_calendar(model, q, plan_fiscal_year, rain_share)
    link = fit_expiry_link(days, register)
    new_register = respread_register(register, link, respread_share)
    sc = expiry_scenario(link, register, new_register)
    plan_after = plan_calendar(model, q, plan_fiscal_year, rain_share,
                               month_factor=sc.set_index("month")["month_factor"])
    # One number, one source: the scenario's levels per open day are the plan year's (count model), so the
    # KPI, the plan table and the scenario table quote the same expected count for every month.
    sc = expiry_scenario(link, register, new_register, level=plan.groupby("month")["expected"].mean())
    peak0 = peak_month(sc, "per_day_before")
    has_waits = bool(days["wait_mean_min"].notna().any() and days["staff"].notna().any())
    months = range(1, 13)
    return CounterResult(
        queue=q, days=days, n_days=len(days), n_applications=int(days["count"].sum()),
        n_days_without_weather=int(days["rain"].isna().sum()), month_weekday_mean=mean_tab, month_weekday_days=n_tab,
        month_mean=month_mean, peak_month=peak_m, low_month=int(month_mean.idxmin()), normal_month=normal_m,
        model=model, effects=eff, weekday_rr=weekday_rate_ratios(model),
        monday_rr=_rate_ratio(eff, "C(weekday_ja, Treatment('水'))[T.月]"), rain_rr=_rate_ratio(eff, "rain"),
        holiday_adjacent_rr=_rate_ratio(eff, "holiday_adjacent"), year_end_rr=_rate_ratio(eff, "year_end"),
        by_day_type=staffing_by_day_type(model, q, {"通常月": normal_m, "最繁忙月": peak_m}), rain_share=rain_share,
        plan=plan, plan_after=plan_after, link=link, register=register, register_after=new_register, scenario=sc,
        scenario_peak_before=peak0, scenario_peak_after=peak_month(sc, "per_day_after"),
        scenario_peak_month_after=float(sc.loc[sc["month"] == peak0[0], "per_day_after"].item()),
        staff_by_month=pd.DataFrame({"month": months,
                                     "before": _max_staff_by_month(plan, months),
                                     "after": _max_staff_by_month(plan_after, months)}),
        has_waits=has_waits, queue_check=erlang_check(days, q) if has_waits else None,
        over_target_share=float((days["wait_mean_min"] > target_wait_min).mean()) if has_waits else np.nan,
    )
