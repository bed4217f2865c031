"""Case 4, demand: where, when and how fast (rates by district, density, hourly/weekday profiles,
the daytime share, response times and their trends). Pure functions over tidy frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ...errors import ParameterError
from ...jpcalendar import HOLIDAY_JA, WEEKDAY_JA, is_holiday
from ...stats.intervals import poisson_ci, wilson_ci

# ---------------------------------------------------------------- where


def attach_xy(log: pd.DataFrame, crs) -> pd.DataFrame:
    """Add plane coordinates ``x``, ``y`` (metres) from lat/lon, in ``crs`` (the city's plane zone,
    :func:`ebpm_analysis.geo.plane_crs`; the districts' CRS in :func:`analyse_dispatch_log`)."""
    from pyproj import Transformer
    tr = Transformer.from_crs("EPSG:6668", crs, always_xy=True)
    x, y = tr.transform(log["lon"].to_numpy(), log["lat"].to_numpy())
    return log.assign(x=x, y=y)


def assign_districts(log: pd.DataFrame, districts) -> pd.Series:
    """District of each dispatch: the area code where it is a district code, else a point-in-polygon join."""
    import geopandas as gpd
    codes = set(districts["district_code"])
    out = log["area_code"].where(log["area_code"].isin(codes))
    need = out.isna() & log["lat"].notna()
    if need.any():
        pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(log.loc[need, "lon"], log.loc[need, "lat"]),
                               crs="EPSG:6668", index=log.index[need]).to_crs(districts.crs)
        j = gpd.sjoin(pts, districts[["district_code", "geometry"]], how="left", predicate="within")
        j = j[~j.index.duplicated()]
        out.loc[need] = j["district_code"]
    return out


def full_years(log: pd.DataFrame) -> list[int]:
    """Calendar years fully covered by the log (first call in the first days of January to December's end)."""
    t = log["t_call"]
    years = []
    for y in sorted(t.dt.year.unique()):
        sel = t[t.dt.year == y]
        if sel.min() < pd.Timestamp(y, 1, 2) and sel.max() >= pd.Timestamp(y, 12, 31):
            years.append(int(y))
    return years


def district_rates(log: pd.DataFrame, population: pd.DataFrame, years: list[int] | None = None,
                   alpha: float = 0.05) -> pd.DataFrame:
    """Dispatches per 1,000 residents a year by district, with exact Poisson intervals, against the city rate.

    ``above`` = rate above the city average; ``sig_above`` = the interval lies above it.
    """
    years = years or full_years(log)
    sel = log[log["t_call"].dt.year.isin(years)]
    n_years = len(years)
    c = sel.groupby("district_code").size()
    df = population.set_index("district_code").copy()
    df["dispatches"] = c.reindex(df.index, fill_value=0)
    df["per_year"] = df["dispatches"] / n_years
    lo, hi, city_rate, sig = rates_above_city(df["dispatches"].to_numpy(), df["population"].to_numpy(), n_years,
                                              alpha)
    df["rate_per_1000"] = df["per_year"] / df["population"] * 1000
    df["rate_lo"], df["rate_hi"] = lo, hi
    df["city_rate"] = float(city_rate)
    df["ratio_to_city"] = df["rate_per_1000"] / city_rate
    df["above"] = df["rate_per_1000"] > city_rate
    df["sig_above"] = sig
    df["share65"] = df["pop65"] / df["population"]
    return df.reset_index()


def rates_above_city(dispatches, population, n_years: float, alpha: float = 0.05):
    """The rule of :func:`district_rates` on arrays (the last axis = districts; leading axes, e.g. simulation
    replicates, are kept): exact Poisson interval of each district's rate per 1,000 residents a year, the city
    rate (all dispatches over all residents) and ``sig_above`` = the interval's lower end above the city rate.
    Returns ``(rate_lo, rate_hi, city_rate, sig_above)``; ``city_rate`` has the leading shape."""
    c = np.asarray(dispatches, dtype=float)
    pop = np.asarray(population, dtype=float)
    lo, hi = poisson_ci(c, alpha)
    rate_lo = lo / n_years / pop * 1000
    rate_hi = hi / n_years / pop * 1000
    city = c.sum(axis=-1) / n_years / pop.sum() * 1000
    return rate_lo, rate_hi, city, rate_lo > np.expand_dims(city, -1)


# Planted excess demand of a district for the power simulation (docs/sources.md#ems-district-excess): with the 65+
# call rate about 3.9× the younger one (61.6 % of patients are 65+ while 28.6 % of residents are), a district whose
# 65+ share is 3 / 6 / 13 points above the city's has about +5 / +10 / +20 % calls per resident.
DISTRICT_EXCESS = (0.05, 0.1, 0.2)


def district_power(rates: pd.DataFrame, *, increases=DISTRICT_EXCESS, years=(1, 3, 5), n_planted: int = 4,
                   replicates: int = 200, alpha: float = 0.05, seed: int = 0) -> pd.DataFrame:
    """Power of the report's district flag (「人口あたり出動が平均を有意に上回る地区」: the exact Poisson interval
    of the district's rate lies above the city rate, :func:`rates_above_city`) against the planted excess and the
    years of calls, by simulation on the run's own districts.

    ``rates``: :func:`district_rates` (``population``, ``city_rate``). Each replicate gives every district the
    city's rate per resident, raises it by ``increase`` (e.g. 0.2 = +20 %) in ``n_planted`` random districts,
    draws Poisson counts for ``years`` years and applies the rule. Other districts sit exactly at the city rate:
    a flag among them is a false flag of chance alone (real districts also differ by age mix and daytime
    population; such districts are truly above the average and the rule is right to flag them). Returns one row
    per (increase, years): ``recall`` (share of planted districts flagged), ``false_flags`` (mean number of
    unplanted districts flagged), ``calls_median`` (median calls a year of a planted district), ``replicates``.
    """
    pop = rates["population"].to_numpy(dtype=float)
    if len(pop) <= n_planted:
        raise ParameterError("rates", f"{len(pop)} districts", expected=f"more than the {n_planted} planted")
    base = float(rates["city_rate"].iloc[0]) / 1000
    from ...stats.power import planted_mask
    rng = np.random.default_rng(seed)
    rows = []
    for inc in increases:
        for y in years:
            planted = planted_mask(rng, replicates, len(pop), n_planted)
            lam = base * pop * np.where(planted, 1 + inc, 1.0)
            counts = rng.poisson(lam * y)
            sig = rates_above_city(counts, pop, y, alpha)[3]
            rows.append({"increase": float(inc), "years": float(y), "recall": float(sig[planted].mean()),
                         "false_flags": float((sig & ~planted).sum(axis=1).mean()),
                         "calls_median": float(np.median(lam[planted])), "replicates": int(replicates)})
    return pd.DataFrame(rows)


def district_power_table(power: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """:func:`district_power` for the report: one row per planted excess, one column per years of calls, each cell
    「検出率%（誤検出 x.x）」; and the column kinds (shares of simulated districts, no counts of people)."""
    from ...stats import disclosure as D
    from ...stats.power import recovery_grid
    t = recovery_grid(power.rename(columns={"years": "volume"}), effect="increase", recall="recall",
                      false="false_flags", effect_label="地区の出動率（市の平均との差）",
                      effect_text=lambda r: f"+{100 * r:.0f}%", volume_label="出動記録",
                      volume_text=lambda v: f"出動記録 {v:g}年分")
    return t, {c: D.LABEL if c.startswith("地区") else D.OTHER for c in t.columns}


def district_power_sentence(power: pd.DataFrame, n_planted: int, rates: pd.DataFrame, old_young_ratio: float) -> str:
    """What :func:`district_power` says, in Japanese: per planted excess, the recall at the fewest and the most
    years, the false flags, and how many points of 65+ share make the smallest excess (``old_young_ratio``: the
    run's 65+ call rate over the younger one; ``rates``: :func:`district_rates`)."""
    y0, y1 = power["years"].min(), power["years"].max()
    parts = []
    for inc, g in power.groupby("increase"):
        g = g.set_index("years")
        parts.append(f"+{100 * inc:.0f}%の地区は{y0:g}年分で{100 * g.loc[y0, 'recall']:.0f}%、"
                     f"{y1:g}年分で{100 * g.loc[y1, 'recall']:.0f}%")
    share65 = rates["pop65"].sum() / rates["population"].sum()
    small = power["increase"].min()
    points = 100 * small * (1 + (old_young_ratio - 1) * share65) / (old_young_ratio - 1)
    return (f"この市の{len(rates)}地区の人口のまま、{n_planted}地区の人口あたり出動を市の平均より多くし、ほかの地区は"
            "平均どおりとした模擬実験で、「平均を有意に上回る地区」（95%区間の下限が市の平均を上回る地区）として"
            "見つかる割合を調べました。" + "、".join(parts) + "が見つかりました（平均どおりの地区が偶然に"
            f"該当するのは平均{power['false_flags'].min():.1f}〜{power['false_flags'].max():.1f}地区。地区の出動は年に"
            f"中央値{power['calls_median'].median():,.0f}件）。実際の地区は高齢者の割合や昼間人口でも違い、その違いで平均を"
            f"上回る地区も該当します：65歳以上の出動率が65歳未満の{old_young_ratio:.1f}倍なので、65歳以上の割合が"
            f"市全体（{100 * share65:.0f}%）より{points:.0f}ポイント高い地区は、"
            f"それだけで+{100 * small:.0f}%になります。")


def density_grid(x: np.ndarray, y: np.ndarray, cell_m: float = 1000.0, n_years: float = 1.0, min_cell: int = 10,
                 *, crs):
    """Binned density: dispatches a year per square grid cell (no points); cells with fewer than
    ``min_cell`` dispatches in the period are suppressed (NaN). Returns a GeoDataFrame of cells in
    ``crs`` (the plane CRS of ``x``, ``y``)."""
    import geopandas as gpd
    import shapely
    ix = np.floor(np.asarray(x) / cell_m).astype(np.int64)
    iy = np.floor(np.asarray(y) / cell_m).astype(np.int64)
    g = pd.DataFrame({"ix": ix, "iy": iy}).value_counts().rename("count").reset_index()
    g["per_year"] = (g["count"] / n_years).where(g["count"] >= min_cell)
    g["per_km2_year"] = g["per_year"] / (cell_m / 1000) ** 2
    geom = shapely.box(g["ix"] * cell_m, g["iy"] * cell_m, (g["ix"] + 1) * cell_m, (g["iy"] + 1) * cell_m)
    return gpd.GeoDataFrame(g.drop(columns="count"), geometry=geom, crs=crs)


# ---------------------------------------------------------------- when

def hourly_profile(times: pd.Series) -> pd.DataFrame:
    """Dispatches by hour of 覚知 (0–23) and their share."""
    c = times.dt.hour.value_counts().reindex(range(24), fill_value=0)
    return pd.DataFrame({"hour": range(24), "dispatches": c.to_numpy(), "share": (c / c.sum()).to_numpy()})


def weekday_profile(times: pd.Series) -> pd.DataFrame:
    """Mean dispatches a day by weekday, holidays as their own row (祝日)."""
    d = times.dt.normalize()
    daily = d.value_counts().sort_index()
    all_days = pd.date_range(daily.index.min(), daily.index.max(), freq="D")
    daily = daily.reindex(all_days, fill_value=0)
    hol = is_holiday(all_days)
    lab = np.where(hol, HOLIDAY_JA, np.array(WEEKDAY_JA)[all_days.day_of_week])
    g = pd.DataFrame({"label": lab, "n": daily.to_numpy()}).groupby("label")["n"].agg(["mean", "count"])
    order = [*WEEKDAY_JA, HOLIDAY_JA]
    g = g.reindex([o for o in order if o in g.index])
    city = daily.mean()
    return pd.DataFrame({"day": g.index, "mean_per_day": g["mean"].to_numpy(), "days": g["count"].to_numpy(),
                         "index_vs_mean": (g["mean"] / city).to_numpy()})


def share_between(times: pd.Series, start_hour: int = 8, end_hour: int = 20, alpha: float = 0.05) -> dict:
    """Share of dispatches with 覚知 in [start_hour, end_hour) and its Wilson interval.

    ``month_lo``/``month_hi`` give a second interval from the spread of the monthly shares, which
    also reflects variation between periods that the binomial (Wilson) interval ignores.
    """
    h = times.dt.hour
    inside = (h >= start_hour) & (h < end_hour)
    k, n = int(inside.sum()), int(len(h))
    lo, hi = wilson_ci(k, n, alpha)
    monthly = inside.groupby(times.dt.to_period("M")).mean()
    m = len(monthly)
    se = monthly.std(ddof=1) / np.sqrt(m) if m > 1 else np.nan
    z = stats.norm.ppf(1 - alpha / 2)
    return {"share": k / n, "lo": float(lo), "hi": float(hi), "k": k, "n": n,
            "month_lo": float(k / n - z * se), "month_hi": float(k / n + z * se), "months": m}


# ---------------------------------------------------------------- how fast


def response_by_district(log: pd.DataFrame, threshold_min: float = 8.0, years: list[int] | None = None) -> pd.DataFrame:
    sel = log if years is None else log[log["t_call"].dt.year.isin(years)]
    g = sel.groupby("district_code")["response_min"]
    out = pd.DataFrame({"dispatches": g.size(), "mean_min": g.mean(), "median_min": g.median(),
                        "p90_min": g.quantile(0.9),
                        "within_threshold": sel.assign(w=sel["response_min"] <= threshold_min)
                        .groupby("district_code")["w"].mean()})
    return out.reset_index()


def response_bands(resp: pd.Series) -> pd.DataFrame:
    """Distribution over the FDMA bands (< 3, 3–5, 5–10, 10–20, ≥ 20 min)."""
    edges = [0, 3, 5, 10, 20, np.inf]
    labels = ["3分未満", "3〜5分", "5〜10分", "10〜20分", "20分以上"]
    c = pd.cut(resp, edges, right=False, labels=labels).value_counts().reindex(labels)
    return pd.DataFrame({"band": labels, "share": (c / c.sum()).to_numpy()})


def _bh(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values."""
    p = np.asarray(p, dtype=float)
    n = len(p)
    order = np.argsort(p)
    adj = np.empty(n)
    adj[order] = np.minimum.accumulate((p[order] * n / np.arange(1, n + 1))[::-1])[::-1]
    return np.minimum(adj, 1.0)


def response_trend(log: pd.DataFrame, q: float = 0.05, min_effect_min: float = 0.2, min_n: int = 200) -> pd.DataFrame:
    """Is the response time lengthening in a district faster than in the city as a whole?

    Per district, OLS of the response time (minutes) on time in years gives the change a year; the
    city-wide slope is subtracted, a one-sided z test (district slope > city slope) is corrected for
    multiple districts (Benjamini–Hochberg, ``q``), and a district is flagged when it is significant
    *and* lengthens at least ``min_effect_min`` minutes a year faster than the city.
    """
    t0 = log["t_call"].min()
    t = ((log["t_call"] - t0).dt.total_seconds() / (365.25 * 86400)).to_numpy()
    y = log["response_min"].to_numpy(dtype=float)

    def slope(tt, yy):
        tc = tt - tt.mean()
        sxx = (tc ** 2).sum()
        b = (tc * (yy - yy.mean())).sum() / sxx
        resid = yy - yy.mean() - b * tc
        se = np.sqrt((resid ** 2).sum() / (len(yy) - 2) / sxx)
        return b, se

    b_city, _ = slope(t, y)
    rows = []
    codes = log["district_code"].to_numpy()
    t_end = t.max()
    for code in pd.unique(codes):
        m = codes == code
        if m.sum() < min_n:
            continue
        b, se = slope(t[m], y[m])
        first, last = m & (t < 1), m & (t >= t_end - 1)
        rows.append({"district_code": code, "n": int(m.sum()), "slope_min_per_year": b, "se": se,
                     "mean_first_year": float(y[first].mean()) if first.any() else np.nan,
                     "mean_last_year": float(y[last].mean()) if last.any() else np.nan})
    # no district with ``min_n`` calls (a small town): an empty table with the same columns
    df = pd.DataFrame(rows, columns=["district_code", "n", "slope_min_per_year", "se", "mean_first_year",
                                     "mean_last_year"]).astype({"slope_min_per_year": float, "se": float})
    df["excess_min_per_year"] = df["slope_min_per_year"] - b_city
    df["z"] = df["excess_min_per_year"] / df["se"]
    df["p"] = stats.norm.sf(df["z"])
    df["p_adj"] = _bh(df["p"].to_numpy())
    df["city_slope_min_per_year"] = b_city
    df["flagged"] = (df["p_adj"] < q) & (df["excess_min_per_year"] > min_effect_min)
    return df.sort_values("z", ascending=False).reset_index(drop=True)


def demand_trend(log: pd.DataFrame, q: float = 0.05, min_effect: float = 0.02,
                 years: list[int] | None = None) -> pd.DataFrame:
    """Districts whose share of the city's dispatches grows: Poisson GLM of monthly counts with the
    city's monthly total as offset and time in years as regressor (over-dispersion by Pearson χ²,
    never below 1); one-sided test, Benjamini–Hochberg; flagged when the growth relative to the city
    is at least ``min_effect`` a year."""
    import statsmodels.api as sm
    years = years or full_years(log)
    sel = log[log["t_call"].dt.year.isin(years)]
    per = sel["t_call"].dt.to_period("M")
    tab = sel.groupby([sel["district_code"], per]).size().unstack(fill_value=0)
    total = tab.sum(axis=0).to_numpy(dtype=float)
    tt = np.arange(tab.shape[1], dtype=float) / 12.0
    x = sm.add_constant(tt)
    yearly = sel.groupby([sel["district_code"], sel["t_call"].dt.year]).size().unstack(fill_value=0)
    rows = []
    for code, r in tab.iterrows():
        y = r.to_numpy(dtype=float)
        if y.sum() < 50:
            continue
        fit = sm.GLM(y, x, family=sm.families.Poisson(), offset=np.log(total)).fit()
        b, se = fit.params[1], fit.bse[1]
        phi = max(1.0, fit.pearson_chi2 / max(1, len(y) - 2))
        rows.append({"district_code": code, "first_year": int(yearly.loc[code, years[0]]),
                     "last_year": int(yearly.loc[code, years[-1]]),
                     "growth_vs_city": float(np.expm1(b)), "z": b / (se * np.sqrt(phi))})
    df = pd.DataFrame(rows)
    df["p"] = stats.norm.sf(df["z"])
    df["p_adj"] = _bh(df["p"].to_numpy())
    df["flagged"] = (df["p_adj"] < q) & (df["growth_vs_city"] > min_effect)
    return df.sort_values("z", ascending=False).reset_index(drop=True)
