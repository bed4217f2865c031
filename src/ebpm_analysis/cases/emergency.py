"""Case 4: emergency dispatch demand (Sendai → Kumamoto). Pure functions over tidy frames.

Inputs are the frames returned by :mod:`ebpm_analysis.io.dispatch_log`, :mod:`~ebpm_analysis.io.stations`
and :mod:`~ebpm_analysis.io.jma`; nothing here reads files or plots.

- Where: dispatches per 1,000 residents by district against the city average; binned density.
- When: hourly and weekday profiles; the 08–20 h share with a Wilson interval.
- How fast: response time (覚知→現着) by district, its trend and a test for lengthening.
- How many: daily count model (Poisson / negative binomial GLM with calendar, holiday, heat and cold
  terms) and a SARIMAX alternative, rolling-origin backtest against seasonal-naive (same weekday
  52 weeks earlier), 12-month forecast, ageing scenario to 2030/2040.
- Where to base crews: MCLP and p-median (PySAL spopt) on a demand grid; day/night layers; a
  discrete-event simulation of crew busy time for a weekday daytime-only crew.
"""

from __future__ import annotations

import contextlib
import itertools
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from ..stats.intervals import poisson_ci, wilson_ci

# ---------------------------------------------------------------- where


def attach_xy(log: pd.DataFrame, crs: str = "EPSG:6670") -> pd.DataFrame:
    """Add plane coordinates ``x``, ``y`` (metres) from lat/lon."""
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
    lo, hi = poisson_ci(df["dispatches"].to_numpy(), alpha)
    df["rate_per_1000"] = df["per_year"] / df["population"] * 1000
    df["rate_lo"] = lo / n_years / df["population"] * 1000
    df["rate_hi"] = hi / n_years / df["population"] * 1000
    city_rate = df["per_year"].sum() / df["population"].sum() * 1000
    df["city_rate"] = city_rate
    df["ratio_to_city"] = df["rate_per_1000"] / city_rate
    df["above"] = df["rate_per_1000"] > city_rate
    df["sig_above"] = df["rate_lo"] > city_rate
    df["share65"] = df["pop65"] / df["population"]
    return df.reset_index()


def density_grid(x: np.ndarray, y: np.ndarray, cell_m: float = 1000.0, n_years: float = 1.0, min_cell: int = 10,
                 crs: str = "EPSG:6670"):
    """Binned density: dispatches a year per square grid cell (no points); cells with fewer than
    ``min_cell`` dispatches in the period are suppressed (NaN). Returns a GeoDataFrame of cells."""
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

WEEKDAY_JA = ["月", "火", "水", "木", "金", "土", "日"]


_HOLIDAY_YEARS: dict[int, set] = {}


def is_holiday(dates) -> np.ndarray:
    """True for Japanese public holidays (jpholiday; looked up once per calendar year)."""
    import jpholiday
    d = pd.DatetimeIndex(dates).normalize()
    for y in pd.unique(d.year):
        if y not in _HOLIDAY_YEARS:
            _HOLIDAY_YEARS[int(y)] = {pd.Timestamp(h[0]) for h in jpholiday.year_holidays(int(y))}
    hol = set().union(*(_HOLIDAY_YEARS[int(y)] for y in pd.unique(d.year))) if len(d) else set()
    return np.asarray(d.isin(list(hol)))


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
    lab = np.where(hol, "祝日", np.array(WEEKDAY_JA)[all_days.day_of_week])
    g = pd.DataFrame({"label": lab, "n": daily.to_numpy()}).groupby("label")["n"].agg(["mean", "count"])
    order = WEEKDAY_JA + ["祝日"]
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
    df = pd.DataFrame(rows)
    df["excess_min_per_year"] = df["slope_min_per_year"] - b_city
    df["z"] = df["excess_min_per_year"] / df["se"]
    df["p"] = stats.norm.sf(df["z"])
    df["p_adj"] = _bh(df["p"].to_numpy())
    df["city_slope_min_per_year"] = b_city
    df["flagged"] = (df["p_adj"] < q) & (df["excess_min_per_year"] > min_effect_min)
    return df.sort_values("z", ascending=False).reset_index(drop=True)


def demand_trend(log: pd.DataFrame, q: float = 0.05, min_effect: float = 0.02, years: list[int] | None = None) -> pd.DataFrame:
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


# ---------------------------------------------------------------- how many


def daily_series(log: pd.DataFrame, weather: pd.DataFrame) -> pd.DataFrame:
    """Daily counts joined to weather (temp_mean, temp_max) for the days the log covers."""
    d = log["t_call"].dt.normalize().value_counts().sort_index()
    days = pd.date_range(d.index.min(), d.index.max(), freq="D")
    out = pd.DataFrame({"date": days, "count": d.reindex(days, fill_value=0).to_numpy()})
    w = weather.set_index("date")[["temp_mean", "temp_max"]]
    out = out.join(w, on="date")
    out[["temp_mean", "temp_max"]] = out[["temp_mean", "temp_max"]].interpolate(limit_direction="both")
    return out


def climatology(daily: pd.DataFrame, dates, window: int = 31) -> pd.DataFrame:
    """Expected temperatures for ``dates``: mean by day of year over the given history, smoothed with a
    circular ``window``-day moving average (an ex-ante forecast uses this, not the observed weather)."""
    doy = np.minimum(daily["date"].dt.day_of_year.to_numpy(), 365)
    out = {}
    for col in ("temp_mean", "temp_max"):
        m = pd.Series(daily[col].to_numpy()).groupby(doy).mean().reindex(range(1, 366)).interpolate(limit_direction="both")
        v = m.to_numpy()
        k = window // 2
        ext = np.concatenate([v[-k:], v, v[:k]])
        out[col] = np.convolve(ext, np.ones(window) / window, mode="valid")
    d = pd.DatetimeIndex(dates)
    idx = np.minimum(d.day_of_year.to_numpy(), 365) - 1
    return pd.DataFrame({"date": d, "temp_mean": out["temp_mean"][idx], "temp_max": out["temp_max"][idx]})


def calendar_features(df: pd.DataFrame, t0: pd.Timestamp, heat_knot: float = 30.0, cold_knot: float = 8.0,
                      month_dummies: bool = True) -> pd.DataFrame:
    """Design matrix: weekday, (month or annual Fourier), holiday, New-Year period, heat/cold hinges, trend."""
    d = pd.DatetimeIndex(df["date"])
    X = pd.DataFrame(index=range(len(d)))
    for k in range(1, 7):
        X[f"dow{k}"] = (d.day_of_week == k).astype(float)
    if month_dummies:
        for m in range(2, 13):
            X[f"m{m}"] = (d.month == m).astype(float)
    else:
        w = 2 * np.pi * d.day_of_year.to_numpy() / 365.25
        for k in (1, 2):
            X[f"sin{k}"], X[f"cos{k}"] = np.sin(k * w), np.cos(k * w)
    hol = is_holiday(d)
    X["holiday"] = (hol & (d.day_of_week < 6)).astype(float)
    X["new_year"] = (((d.month == 12) & (d.day >= 29)) | ((d.month == 1) & (d.day <= 3))).astype(float)
    X["heat"] = np.maximum(0, df["temp_max"].to_numpy() - heat_knot)
    X["cold"] = np.maximum(0, cold_knot - df["temp_mean"].to_numpy())
    X["trend"] = ((d - t0).days / 365.25).to_numpy()
    return X


class CountModel:
    """Poisson GLM, refitted as negative binomial when the data are over-dispersed (α by moments)."""

    def __init__(self, heat_knot: float = 30.0, cold_knot: float = 8.0):
        self.heat_knot, self.cold_knot = heat_knot, cold_knot

    def fit(self, train: pd.DataFrame) -> "CountModel":
        import statsmodels.api as sm
        self.t0 = train["date"].min()
        X = sm.add_constant(calendar_features(train, self.t0, self.heat_knot, self.cold_knot), has_constant="add")
        y = train["count"].to_numpy(dtype=float)
        pois = sm.GLM(y, X, family=sm.families.Poisson()).fit()
        mu = pois.fittedvalues
        alpha = max(0.0, float((((y - mu) ** 2 - y) / mu ** 2).sum() / (len(y) - X.shape[1])))
        self.alpha = alpha
        if alpha > 1e-4:
            self.res = sm.GLM(y, X, family=sm.families.NegativeBinomial(alpha=alpha)).fit()
            self.family = "負の二項"
        else:
            self.res, self.family = pois, "ポアソン"
        self.columns = X.columns
        return self

    def predict(self, future: pd.DataFrame) -> np.ndarray:
        import statsmodels.api as sm
        X = sm.add_constant(calendar_features(future, self.t0, self.heat_knot, self.cold_knot), has_constant="add")
        return np.asarray(self.res.predict(X[self.columns]))

    def interval(self, mu: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        a = (1 - level) / 2
        if self.alpha > 1e-4:
            n = 1 / self.alpha
            p = n / (n + mu)
            return stats.nbinom.ppf(a, n, p), stats.nbinom.ppf(1 - a, n, p)
        return stats.poisson.ppf(a, mu), stats.poisson.ppf(1 - a, mu)

    def effects(self) -> pd.DataFrame:
        """Rate ratios with 95 % intervals for the named terms."""
        ci = self.res.conf_int()
        return pd.DataFrame({"term": self.res.params.index, "rate_ratio": np.exp(self.res.params.to_numpy()),
                             "lo": np.exp(ci.iloc[:, 0].to_numpy()), "hi": np.exp(ci.iloc[:, 1].to_numpy()),
                             "p": self.res.pvalues.to_numpy()})


class SarimaxModel:
    """Regression with ARMA(1,1) errors on daily counts, in two steps for speed: OLS on weekday,
    annual Fourier, holiday, New-Year, heat/cold, trend and constant; then statsmodels SARIMAX
    (1,0,1) on the residuals. Forecast = regression part + ARMA forecast of the residual."""

    def __init__(self, heat_knot: float = 30.0, cold_knot: float = 8.0, maxiter: int = 50):
        self.heat_knot, self.cold_knot, self.maxiter = heat_knot, cold_knot, maxiter

    def _X(self, df):
        return calendar_features(df, self.t0, self.heat_knot, self.cold_knot, month_dummies=False).assign(const=1.0)

    def fit(self, train: pd.DataFrame) -> "SarimaxModel":
        import warnings

        from statsmodels.tsa.statespace.sarimax import SARIMAX
        self.t0 = train["date"].min()
        X = self._X(train).to_numpy()
        y = train["count"].to_numpy(dtype=float)
        self.beta, *_ = np.linalg.lstsq(X, y, rcond=None)
        resid = y - X @ self.beta
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.res = SARIMAX(resid, order=(1, 0, 1), trend="n").fit(disp=False, maxiter=self.maxiter,
                                                                       cov_type="none")
        return self

    def predict(self, future: pd.DataFrame) -> np.ndarray:
        return self._X(future).to_numpy() @ self.beta + np.asarray(self.res.forecast(steps=len(future)))


def seasonal_naive(daily: pd.DataFrame, future_dates, lag_days: int = 364) -> np.ndarray:
    """Same weekday 52 weeks earlier."""
    s = daily.set_index("date")["count"]
    return s.reindex(pd.DatetimeIndex(future_dates) - pd.Timedelta(days=lag_days)).to_numpy(dtype=float)


def _mae_mape(y, f):
    y, f = np.asarray(y, float), np.asarray(f, float)
    return float(np.mean(np.abs(y - f))), float(np.mean(np.abs(y - f) / np.maximum(y, 1)) * 100)


def backtest(daily: pd.DataFrame, origins: list[str], horizon_days: int = 364, heat_knot: float = 30.0,
             cold_knot: float = 8.0, sarimax: bool = True, sarimax_maxiter: int = 50) -> pd.DataFrame:
    """Rolling-origin backtest (expanding window). At each origin the models see data before it and
    forecast ``horizon_days`` ahead with *expected* (climatological) temperatures from the training
    years — the same information a real forecast has. Returns MAE/MAPE by origin and model."""
    rows = []
    for o in origins:
        o = pd.Timestamp(o)
        train = daily[daily["date"] < o]
        test = daily[(daily["date"] >= o) & (daily["date"] < o + pd.Timedelta(days=horizon_days))]
        if len(train) < 730 or len(test) < horizon_days:
            continue
        clim = climatology(train, test["date"])
        fut = test[["date"]].reset_index(drop=True).assign(temp_mean=clim["temp_mean"].to_numpy(),
                                                           temp_max=clim["temp_max"].to_numpy())
        preds = {"季節ナイーブ": seasonal_naive(daily, test["date"]),
                 "GLM": CountModel(heat_knot, cold_knot).fit(train).predict(fut)}
        if sarimax:
            preds["SARIMAX"] = SarimaxModel(heat_knot, cold_knot, sarimax_maxiter).fit(train).predict(fut)
        for name, f in preds.items():
            mae, mape = _mae_mape(test["count"], f)
            rows.append({"origin": o.date().isoformat(), "model": name, "mae": mae, "mape": mape,
                         "days": len(test)})
    return pd.DataFrame(rows)


def backtest_summary(bt: pd.DataFrame) -> pd.DataFrame:
    """Mean MAE/MAPE per model, improvement over seasonal-naive, and the chosen (lowest-MAE) model."""
    s = bt.groupby("model")[["mae", "mape"]].mean()
    naive = s.loc["季節ナイーブ", "mae"]
    s["mae_vs_naive"] = 1 - s["mae"] / naive
    cand = s.drop(index="季節ナイーブ")
    s["chosen"] = False
    s.loc[cand["mae"].idxmin(), "chosen"] = True
    return s.reset_index().sort_values("mae")


def forecast(daily: pd.DataFrame, model: str = "GLM", horizon_days: int = 365, heat_knot: float = 30.0,
             cold_knot: float = 8.0, level: float = 0.95, n_sims: int = 500, seed: int = 0):
    """Daily forecast for the next ``horizon_days`` with climatological temperatures, plus monthly totals
    with simulation intervals (count noise only; weather and parameter uncertainty are not included).

    ``model`` is "GLM" or "SARIMAX"; the intervals always use the GLM's count distribution (negative
    binomial with the fitted α, or Poisson) around the chosen model's expected values."""
    start = daily["date"].max() + pd.Timedelta(days=1)
    dates = pd.date_range(start, periods=horizon_days, freq="D")
    clim = climatology(daily, dates)
    fut = pd.DataFrame({"date": dates, "temp_mean": clim["temp_mean"], "temp_max": clim["temp_max"]})
    glm = CountModel(heat_knot, cold_knot).fit(daily)
    if model == "SARIMAX":
        mu = np.maximum(SarimaxModel(heat_knot, cold_knot).fit(daily).predict(fut), 0.1)
    else:
        mu = glm.predict(fut)
    lo, hi = glm.interval(mu, level)
    out = fut.assign(forecast=mu, lo=lo, hi=hi)
    rng = np.random.default_rng(seed)
    if glm.alpha > 1e-4:
        n = 1 / glm.alpha
        sims = rng.negative_binomial(n, n / (n + mu), size=(n_sims, len(mu)))
    else:
        sims = rng.poisson(mu, size=(n_sims, len(mu)))
    months = out["date"].dt.to_period("M").to_numpy()
    monthly = []
    for m in pd.unique(months):
        k = months == m
        tot = sims[:, k].sum(1)
        monthly.append({"month": str(m), "forecast": float(mu[k].sum()),
                        "lo": float(np.quantile(tot, (1 - level) / 2)),
                        "hi": float(np.quantile(tot, 1 - (1 - level) / 2))})
    return out, pd.DataFrame(monthly), glm


def ageing_scenario(log: pd.DataFrame, population: pd.DataFrame, projection: pd.DataFrame, base_year: int,
                    target_years=(2030, 2040)) -> pd.DataFrame:
    """Dispatches a year if today's age-specific rates (65+ and under 65, from the log's 年齢区分)
    met the projected population of ``target_years`` (IPSS totals; 65+ share interpolated where the
    projection gives none). Rates are held constant: a demographic scenario, not a forecast."""
    sel = log[log["t_call"].dt.year == base_year]
    n_old = int((sel["age_group"] == "高齢者").sum())
    n_young = len(sel) - n_old
    pop, pop65 = population["population"].sum(), population["pop65"].sum()
    r_old, r_young = n_old / pop65, n_young / (pop - pop65)
    proj = projection.set_index("year")
    have = proj["age65plus"].dropna()
    def ipss(year):
        total = np.interp(year, proj.index, proj["total"])
        share = np.interp(year, have.index, have / proj.loc[have.index, "total"])
        return total, share
    tot_b, sh_b = ipss(base_year)
    rows = [{"year": base_year, "population": pop, "share65": pop65 / pop, "dispatches": float(len(sel)),
             "kind": "実績（基準年）"}]
    for y in target_years:
        tot, sh = ipss(y)
        p = pop * tot / tot_b
        s = pop65 / pop + (sh - sh_b)
        rows.append({"year": y, "population": p, "share65": s,
                     "dispatches": r_young * p * (1 - s) + r_old * p * s, "kind": "シナリオ"})
    df = pd.DataFrame(rows)
    df["vs_base"] = df["dispatches"] / df["dispatches"].iloc[0] - 1
    df.attrs.update(rate_old_per_1000=r_old * 1000, rate_young_per_1000=r_young * 1000)
    return df


# ---------------------------------------------------------------- where to base crews


def travel_model(log: pd.DataFrame, stations: pd.DataFrame) -> dict:
    """Fit travel minutes (出場→現着) = a + b·km (straight-line distance from the responding station),
    and the median call-processing time (覚知→出場)."""
    st = attach_xy(stations).set_index("station_code")
    lx = attach_xy(log)
    sx = st.loc[lx["station_code"], "x"].to_numpy()
    sy = st.loc[lx["station_code"], "y"].to_numpy()
    d = np.hypot(lx["x"].to_numpy() - sx, lx["y"].to_numpy() - sy) / 1000
    tr = lx["travel_min"].to_numpy()
    b, a = np.polyfit(d, tr, 1)
    proc = float(((log["t_dispatch"] - log["t_call"]).dt.total_seconds() / 60).median())
    return {"a": float(a), "b": float(b), "proc_min": proc, "r2": float(np.corrcoef(d, tr)[0, 1] ** 2)}


def response_cost(dem_xy: np.ndarray, site_xy: np.ndarray, tm: dict) -> np.ndarray:
    """Modelled response minutes (覚知→現着) from each site to each demand point."""
    d = np.hypot(dem_xy[:, None, 0] - site_xy[None, :, 0], dem_xy[:, None, 1] - site_xy[None, :, 1]) / 1000
    return tm["proc_min"] + tm["a"] + tm["b"] * d


def demand_points(x, y, cell_m: float = 1500.0, weights=None) -> pd.DataFrame:
    """Aggregate dispatches to grid-cell centres (the demand points of the location models)."""
    ix = np.floor(np.asarray(x) / cell_m).astype(np.int64)
    iy = np.floor(np.asarray(y) / cell_m).astype(np.int64)
    w = np.ones(len(ix)) if weights is None else np.asarray(weights, float)
    g = pd.DataFrame({"ix": ix, "iy": iy, "w": w}).groupby(["ix", "iy"], as_index=False)["w"].sum()
    g["x"] = (g["ix"] + 0.5) * cell_m
    g["y"] = (g["iy"] + 0.5) * cell_m
    return g


def candidate_sites(demand: pd.DataFrame, existing_xy: np.ndarray, n: int = 20, min_gap_m: float = 2000.0) -> np.ndarray:
    """Candidate sites: centres of the busiest cells at least ``min_gap_m`` from existing and chosen sites."""
    chosen = [tuple(p) for p in existing_xy]
    out = []
    for r in demand.sort_values("w", ascending=False).itertuples():
        p = (r.x, r.y)
        if min(np.hypot(p[0] - q[0], p[1] - q[1]) for q in chosen) >= min_gap_m:
            chosen.append(p)
            out.append(p)
        if len(out) >= n:
            break
    return np.array(out).reshape(-1, 2)


def coverage(cost: np.ndarray, weights: np.ndarray, open_sites, radius: float) -> float:
    """Share of demand within ``radius`` of at least one open site."""
    open_sites = np.asarray(open_sites)
    if len(open_sites) == 0:
        return 0.0
    cov = (cost[:, open_sites] <= radius).any(1)
    return float((weights * cov).sum() / weights.sum())


def mean_nearest(cost: np.ndarray, weights: np.ndarray, open_sites) -> float:
    return float((weights * cost[:, np.asarray(open_sites)].min(1)).sum() / weights.sum())


@contextlib.contextmanager
def _quiet():
    """PuLP 3.3 warns that spopt's API goes away in PuLP 4 (pinned pulp<4): keep reports clean."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def _solver():
    import pulp
    return pulp.PULP_CBC_CMD(msg=False)


def solve_mclp(cost: np.ndarray, weights: np.ndarray, radius: float, p: int, fixed=None) -> dict:
    """Maximal covering location (Church & ReVelle) with spopt: ``p`` sites, optionally keeping the
    ``fixed`` site indices open. Returns selected indices and the covered share."""
    from spopt.locate import MCLP
    pre = None
    if fixed is not None and len(fixed):
        pre = np.zeros(cost.shape[1], dtype=int)
        pre[np.asarray(fixed)] = 1
    with _quiet():
        m = MCLP.from_cost_matrix(cost, np.asarray(weights, float), service_radius=radius, p_facilities=p,
                                  predefined_facilities_arr=pre)
    with _quiet():
        m = m.solve(_solver())
    sel = np.array([j for j, v in enumerate(m.fac_vars) if v.value() and v.value() > 0.5])
    return {"sites": sel, "coverage": coverage(cost, weights, sel, radius)}


def solve_pmedian(cost: np.ndarray, weights: np.ndarray, p: int, fixed=None) -> dict:
    """p-median (Hakimi) with spopt: minimise demand-weighted response minutes."""
    from spopt.locate import PMedian
    pre = None
    if fixed is not None and len(fixed):
        pre = np.zeros(cost.shape[1], dtype=int)
        pre[np.asarray(fixed)] = 1
    with _quiet():
        m = PMedian.from_cost_matrix(cost, np.asarray(weights, float), p_facilities=p, predefined_facilities_arr=pre)
    with _quiet():
        m = m.solve(_solver())
    sel = np.array([j for j, v in enumerate(m.fac_vars) if v.value() and v.value() > 0.5])
    return {"sites": sel, "mean_min": mean_nearest(cost, weights, sel)}


def mclp_bruteforce(cost: np.ndarray, weights: np.ndarray, radius: float, p: int) -> tuple[float, tuple]:
    """Exhaustive MCLP for small instances (for checking the solver)."""
    best = (-1.0, ())
    for combo in itertools.combinations(range(cost.shape[1]), p):
        c = coverage(cost, weights, combo, radius)
        if c > best[0] + 1e-12:
            best = (c, combo)
    return best


# ---------------------------------------------------------------- daytime crew: discrete-event simulation


def weekday_daytime(times: pd.Series, start: str = "08:30", end: str = "17:00") -> np.ndarray:
    """True on weekdays that are not public holidays, between ``start`` and ``end``."""
    t = pd.DatetimeIndex(times)
    mins = t.hour * 60 + t.minute
    s = int(start[:2]) * 60 + int(start[3:])
    e = int(end[:2]) * 60 + int(end[3:])
    return np.asarray((t.day_of_week < 5) & ~is_holiday(t) & (mins >= s) & (mins < e))


def simulate_dispatch(call_min: np.ndarray, travel: np.ndarray, crew_station: np.ndarray, crew_day: np.ndarray,
                      day_ok: np.ndarray, busy_after_scene: np.ndarray, proc_min: float) -> np.ndarray:
    """Nearest-available-crew discrete-event simulation; returns modelled response minutes (覚知→現着).

    Crews with ``crew_day`` True only take calls where ``day_ok`` (weekday 08:30–17:00). When every
    eligible crew is busy the call waits for the first to come free.
    """
    n = len(call_min)
    ct = travel[:, crew_station]
    order = np.argsort(ct, axis=1, kind="stable")
    bu = [0.0] * len(crew_station)
    day = crew_day.tolist()
    resp = np.empty(n)
    for k in range(n):
        t0 = call_min[k] + proc_min
        ok_day = bool(day_ok[k])
        chosen = -1
        for c in order[k]:
            if bu[c] <= t0 and (ok_day or not day[c]):
                chosen = c
                break
        if chosen < 0:
            elig = [c for c in range(len(bu)) if ok_day or not day[c]]
            chosen = min(elig, key=lambda c: (bu[c], ct[k, c]))
            t0 = max(t0, bu[chosen])
        tr = ct[k, chosen]
        resp[k] = t0 + tr - call_min[k]
        bu[chosen] = t0 + tr + busy_after_scene[k]
    return resp


def daytime_crew_effect(log: pd.DataFrame, stations: pd.DataFrame, tm: dict, *, last_days: int = 365,
                        shift_start: str = "08:30", shift_end: str = "17:00", handover_return_min: float = 28.0,
                        nontransport_min: float = 29.0, station_code: str | None = None) -> dict:
    """How much would a weekday daytime-only crew shorten response times in the busiest area?

    The busiest area is the first-due area (calls whose nearest station is it) of the station with
    the most weekday-daytime calls per crew, unless ``station_code`` is given. Busy time per call =
    modelled travel + observed scene→hospital time + ``handover_return_min`` (transported), or
    ``nontransport_min`` after arrival (not transported). Both scenarios use the same calls and the
    fitted travel model, so the difference isolates the extra crew.
    """
    end = log["t_call"].max()
    sel = log[log["t_call"] > end - pd.Timedelta(days=last_days)].reset_index(drop=True)
    st = attach_xy(stations).reset_index(drop=True)
    lx = attach_xy(sel)
    xy = lx[["x", "y"]].to_numpy()
    sxy = st[["x", "y"]].to_numpy()
    travel = tm["a"] + tm["b"] * np.hypot(xy[:, None, 0] - sxy[None, :, 0], xy[:, None, 1] - sxy[None, :, 1]) / 1000
    first_due = np.argmin(travel, axis=1)
    day_ok = weekday_daytime(sel["t_call"], shift_start, shift_end)
    crews = st["crews_24h"].to_numpy()
    load = pd.Series(first_due[day_ok]).value_counts().reindex(range(len(st)), fill_value=0).to_numpy()
    per_crew = load / np.maximum(crews, 1)
    s_idx = int(np.argmax(per_crew)) if station_code is None else int(np.flatnonzero(st["station_code"] == station_code)[0])
    scene_to_hosp = ((sel["t_hospital"] - sel["t_scene"]).dt.total_seconds() / 60).to_numpy()
    busy = np.where(sel["transported"].to_numpy(), scene_to_hosp + handover_return_min, nontransport_min)
    call_min = ((sel["t_call"] - sel["t_call"].min()).dt.total_seconds() / 60).to_numpy()
    base_station = np.repeat(np.arange(len(st)), crews)
    base_day = np.zeros(len(base_station), dtype=bool)
    r0 = simulate_dispatch(call_min, travel, base_station, base_day, day_ok, busy, tm["proc_min"])
    r1 = simulate_dispatch(call_min, travel, np.append(base_station, s_idx), np.append(base_day, True), day_ok,
                           busy, tm["proc_min"])
    area = first_due == s_idx
    m = area & day_ok
    diff = r0[m] - r1[m]
    se = diff.std(ddof=1) / np.sqrt(m.sum()) if m.sum() > 1 else np.nan
    return {
        "station_code": st.loc[s_idx, "station_code"], "station_name": st.loc[s_idx, "station_name"],
        "calls_area_daytime": int(m.sum()), "daytime_calls_per_crew": float(per_crew[s_idx]),
        "mean_base": float(r0[m].mean()), "mean_with_crew": float(r1[m].mean()),
        "saving_min": float(diff.mean()), "saving_se": float(se),
        "within8_base": float((r0[m] <= 8).mean()), "within8_with_crew": float((r1[m] <= 8).mean()),
        "city_daytime_saving_min": float((r0[day_ok] - r1[day_ok]).mean()),
        "sim_mean_all": float(r0.mean()), "observed_mean_all": float(sel["response_min"].mean()),
        "per_station_load": pd.DataFrame({"station_code": st["station_code"], "station_name": st["station_name"],
                                          "crews": crews, "daytime_calls": load, "per_crew": per_crew}),
    }
