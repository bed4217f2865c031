"""Case 4 entry point: one call from the loaded inputs to every number the report shows.

:func:`analyse_dispatch_log` runs the steps of :mod:`.demand`, :mod:`.forecast`, :mod:`.placement`
and :mod:`.crew` in the report's order and returns an :class:`EmergencyResult`; the notebook only
displays its attributes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ...errors import ParameterError
from ...location import Solution, coverage, mclp, mean_nearest, p_median
from ...stats import disclosure as D
from .crew import CrewEffect, daytime_crew_effect, weekday_daytime
from .demand import (
    assign_districts,
    attach_xy,
    demand_trend,
    density_grid,
    district_rates,
    full_years,
    hourly_profile,
    response_bands,
    response_by_district,
    response_trend,
    share_between,
    weekday_profile,
)
from .forecast import (
    DailyDispatchModel,
    age_rates,
    ageing_scenario,
    backtest,
    backtest_summary,
    daily_series,
    forecast,
)
from .placement import candidate_sites, demand_points, response_cost, travel_model

__all__ = ["DemandSummary", "EmergencyResult", "ForecastSummary", "PlacementPlan", "analyse_dispatch_log"]


@dataclass(frozen=True)
class DemandSummary:
    """Where, when and how fast: rates by district, profiles, response times and their trends.

    Attributes
    ----------
    years : list of int
        Calendar years fully covered by the log (rates and trends use these).
    first_year, last_year : int
        First and last of ``years``.
    n_last_year : int
        Dispatches with 覚知 in ``last_year``.
    share : dict
        Share of dispatches with 覚知 in the daytime window (:func:`.demand.share_between`): ``share``,
        ``lo``/``hi`` (Wilson), ``month_lo``/``month_hi`` (from the monthly shares), ``k``, ``n``, ``months``.
    share_hourly_table : float or None
        The same share from the hourly count table (Yokohama layout), ``None`` without a table.
    hourly : DataFrame
        :func:`.demand.hourly_profile`: ``hour``, ``dispatches``, ``share``.
    weekday : DataFrame
        :func:`.demand.weekday_profile`: ``day`` (月…日, 祝日), ``mean_per_day``, ``days``, ``index_vs_mean``.
    rates : DataFrame
        :func:`.demand.district_rates` over ``years`` (one row per district; ``rate_per_1000``,
        ``rate_lo``/``rate_hi``, ``city_rate``, ``ratio_to_city``, ``above``, ``sig_above``, ``share65`` …).
    rates_map : GeoDataFrame
        District polygons joined to ``rates``.
    density : GeoDataFrame
        :func:`.demand.density_grid` of all dispatches (per year; cells under ``min_cell`` are NaN).
    response_by_district : DataFrame
        :func:`.demand.response_by_district` in ``last_year`` (``mean_min``, ``within_threshold`` …).
    response_bands : DataFrame
        Share of ``last_year``'s response times in the FDMA bands (``band``, ``share``).
    response_by_ward : DataFrame
        Response times in ``last_year`` by ward: ``ward``, ``dispatches``, ``mean_min``, ``median_min``,
        ``p90_min``, ``within_threshold`` (share). Counts are not suppressed here.
    response_trend : DataFrame
        :func:`.demand.response_trend` (sorted by z; ``flagged`` = lengthening faster than the city).
    demand_trend : DataFrame
        :func:`.demand.demand_trend` (``flagged`` = share of the city's dispatches growing).
    flagged_response, flagged_demand : list of str
        District codes flagged by the two trend tests.
    mean_response_first, mean_response_last : float
        Mean response time (覚知→現着, minutes) in ``first_year`` and ``last_year``.
    """

    years: list
    first_year: int
    last_year: int
    n_last_year: int
    share: dict
    share_hourly_table: float | None
    hourly: pd.DataFrame
    weekday: pd.DataFrame
    rates: pd.DataFrame
    rates_map: object
    density: object
    response_by_district: pd.DataFrame
    response_bands: pd.DataFrame
    response_by_ward: pd.DataFrame
    response_trend: pd.DataFrame
    demand_trend: pd.DataFrame
    flagged_response: list
    flagged_demand: list
    mean_response_first: float
    mean_response_last: float


@dataclass(frozen=True)
class ForecastSummary:
    """How many: the daily count model, its backtest, the 12-month forecast and the ageing scenario.

    Attributes
    ----------
    daily : DataFrame
        :func:`.forecast.daily_series`: ``date``, ``count``, ``temp_mean``, ``temp_max``.
    backtest : DataFrame
        :func:`.forecast.backtest`: MAE/MAPE by ``origin`` and ``model``.
    backtest_summary : DataFrame
        :func:`.forecast.backtest_summary`: mean ``mae``/``mape`` by model, ``mae_vs_naive``, ``chosen``.
    chosen : str
        The model with the lowest backtest MAE (``"GLM"`` or ``"SARIMAX"``), used for the forecast.
    chosen_mae : float
        Its mean MAE (dispatches a day).
    gain_vs_naive : float
        Its MAE improvement over seasonal-naive (share, 0.3 = 30 % smaller).
    daily_forecast : DataFrame
        ``date``, ``temp_mean``, ``temp_max``, ``forecast``, ``lo``, ``hi`` for the next 365 days.
    monthly_forecast : DataFrame
        ``month``, ``forecast``, ``lo``, ``hi`` (simulation intervals of the monthly totals).
    total : float
        Sum of ``daily_forecast["forecast"]`` (next 12 months).
    glm : DailyDispatchModel
        The GLM fitted on the whole history (its ``family``; its intervals are used for both models).
    effects : DataFrame
        Rate ratios of the GLM indexed by ``term`` (``heat``, ``cold``, ``holiday``, ``new_year`` …).
    scenario : DataFrame or None
        :func:`.forecast.ageing_scenario` rows: ``year``, ``population``, ``share65``, ``dispatches``,
        ``kind``, ``vs_base``; None without a population projection (or without scenario years).
    rate_old_per_1000, rate_young_per_1000 : float
        The base year's dispatches per 1,000 residents aged 65+ and under 65 (held in the scenario).
    """

    daily: pd.DataFrame
    backtest: pd.DataFrame
    backtest_summary: pd.DataFrame
    chosen: str
    chosen_mae: float
    gain_vs_naive: float
    daily_forecast: pd.DataFrame
    monthly_forecast: pd.DataFrame
    total: float
    glm: DailyDispatchModel
    effects: pd.DataFrame
    scenario: pd.DataFrame | None
    rate_old_per_1000: float
    rate_young_per_1000: float


@dataclass(frozen=True)
class PlacementPlan:
    """Where to base crews: MCLP and p-median on ``last_year``'s demand grid.

    Attributes
    ----------
    travel : dict
        :func:`.placement.travel_model`: ``a``, ``b`` (travel minutes = a + b·km), ``proc_min``
        (median 覚知→出場), ``r2``, ``crs`` (the plane CRS of every coordinate here).
    demand : DataFrame
        Demand points (grid-cell centres): ``ix``, ``iy``, ``w`` (dispatches), ``x``, ``y``.
    sites : ndarray
        (n_sites, 2) plane coordinates: the existing stations first, then the candidates.
    n_existing : int
        Number of existing stations (the first rows of ``sites``).
    n_candidates : int
        Number of candidate sites found (may be fewer than asked for).
    cost : ndarray
        Modelled response minutes (demand point × site).
    weights : ndarray
        Demand weight of each point (``demand["w"]``).
    radius : float
        The coverage threshold (minutes).
    current_coverage, current_mean_min : float
        Share of demand within ``radius`` and demand-weighted mean minutes with the existing stations.
    mclp_add : Solution
        MCLP keeping every station and adding sites (:class:`ebpm_analysis.location.Solution`: ``sites``
        as indices into ``sites``, ``coverage``, ``mean_cost`` in minutes).
    mclp_relocate : Solution
        MCLP with as many sites as stations, chosen freely among stations and candidates.
    pmedian_add, pmedian_relocate : Solution
        p-median for the same two cases (``mean_cost``: demand-weighted mean minutes).
    n_added : int
        Sites of ``mclp_add`` that are new (candidates).
    layers : DataFrame
        MCLP with the stations + 1 site by demand layer: ``layer`` (平日日中 / 夜間・休日), ``calls``,
        ``current`` (coverage now), ``plus1`` (coverage with one more site), ``site`` (its index or NA).
    """

    travel: dict
    demand: pd.DataFrame
    sites: np.ndarray
    n_existing: int
    n_candidates: int
    cost: np.ndarray
    weights: np.ndarray
    radius: float
    current_coverage: float
    current_mean_min: float
    mclp_add: Solution
    mclp_relocate: Solution
    pmedian_add: Solution
    pmedian_relocate: Solution
    n_added: int
    layers: pd.DataFrame

    @property
    def existing(self) -> np.ndarray:
        """Indices of the existing stations in ``sites``."""
        return np.arange(self.n_existing)

    def covered(self, open_sites) -> np.ndarray:
        """1.0 for demand points within ``radius`` of an open site, else 0.0."""
        return (self.cost[:, np.asarray(open_sites)] <= self.radius).any(1).astype(float)

    def coverage_at(self, radius: float, open_sites=None) -> float:
        """Share of demand within ``radius`` minutes of ``open_sites`` (default: the existing stations)."""
        return coverage(self.cost, self.weights, self.existing if open_sites is None else open_sites, radius)


@dataclass(frozen=True)
class EmergencyResult:
    """Everything report 04 shows, from :func:`analyse_dispatch_log`.

    Attributes
    ----------
    log : DataFrame
        The validated dispatch log with ``district_code`` added.
    district_names : dict
        District code → name.
    demand : DemandSummary
    forecast : ForecastSummary
    placement : PlacementPlan
    crew : CrewEffect
        Weekday daytime-only crew simulation (:func:`.crew.daytime_crew_effect`).
    """

    log: pd.DataFrame
    district_names: dict
    demand: DemandSummary
    forecast: ForecastSummary
    placement: PlacementPlan
    crew: CrewEffect

    def export_kinds(self) -> dict[str, dict]:
        """Column kinds of :meth:`exports` (stored beside each file for ``ebpm audit``)."""
        out = {
            "district_rates.csv": {"district_code": D.LABEL, "district_name": D.LABEL, "ward_code": D.LABEL,
                                   "population": D.PUBLIC, "dispatches": D.PERSONS,
                                   "rate_per_1000": D.rate("dispatches"), "rate_lo": D.interval("dispatches"),
                                   "rate_hi": D.interval("dispatches"), "above": D.OTHER, "sig_above": D.OTHER},
            "hourly_profile.csv": {"hour": D.LABEL, "dispatches": D.PERSONS, "share": D.share("dispatches")},
            "response_trend.csv": {"district_code": D.LABEL, "n": D.PERSONS},
            "backtest.csv": {"origin": D.LABEL, "model": D.LABEL, "days": D.COUNT},
            "forecast_monthly.csv": {"month": D.LABEL, "forecast": D.OTHER, "lo": D.OTHER, "hi": D.OTHER},
        }
        if self.forecast.scenario is not None:
            out["ageing_scenario.csv"] = {"year": D.LABEL, "population": D.PUBLIC, "dispatches": D.OTHER}
        return out

    def exports(self, min_cell: int = 10, *, suppress: bool = True) -> dict[str, pd.DataFrame]:
        """The aggregated tables a run writes (file name → frame; write each with ``kinds=`` :meth:`export_kinds`):
        dispatch counts under ``min_cell`` hidden with the rates and intervals computed from them
        (``suppress=False``: as counted, for an internal run)."""
        dm, fc = self.demand, self.forecast
        kinds = self.export_kinds()
        tables = {"district_rates.csv": dm.rates[list(kinds["district_rates.csv"])], "hourly_profile.csv": dm.hourly,
                  "response_trend.csv": dm.response_trend.drop(columns=["se"]), "backtest.csv": fc.backtest,
                  "forecast_monthly.csv": fc.monthly_forecast}
        if fc.scenario is not None:
            tables["ageing_scenario.csv"] = fc.scenario
        if not suppress:
            return tables
        return {name: D.suppress_table(df, kinds[name], min_cell) for name, df in tables.items()}


def map_kinds(columns, *, shown_as: dict | None = None) -> dict:
    """Disclosure kinds of the district layers of 04's interactive map (``webmap.shown``): district names are
    labels; the rest are rates per 1,000 residents, ratios, shares and minutes of whole districts (the map draws
    every district, as it did before its data was offered), no count of persons."""
    out = {str(c): (D.LABEL if str(c) in ("district_code", "district_name") else D.OTHER) for c in columns}
    return D.renamed(out, shown_as) if shown_as else out


def _check(day_hours, coverage_min) -> None:
    start, end = day_hours
    if not (0 <= start < end <= 24):
        raise ParameterError("day_start_hour/day_end_hour", f"{start}–{end}", expected="0 ≤ start < end ≤ 24")
    if coverage_min <= 0:
        raise ParameterError("coverage_min", repr(coverage_min), expected="minutes > 0")


def _ward_response(log: pd.DataFrame, districts, year: int, threshold_min: float) -> pd.DataFrame:
    """Response times of ``year`` by ward (the ward of each dispatch's district)."""
    ward_of = dict(zip(districts["district_code"], districts["ward_name"], strict=True))
    lw = log[log["t_call"].dt.year == year].assign(ward=lambda d: d["district_code"].map(ward_of))
    g = lw.groupby("ward")["response_min"]
    return pd.DataFrame({"ward": g.size().index, "dispatches": g.size().to_numpy(), "mean_min": g.mean().to_numpy(),
                         "median_min": g.median().to_numpy(), "p90_min": g.quantile(0.9).to_numpy(),
                         "within_threshold": (lw["response_min"] <= threshold_min).groupby(lw["ward"]).mean()
                         .to_numpy()})


def summarise_demand(log: pd.DataFrame, districts, population: pd.DataFrame, hourly_counts: pd.DataFrame | None = None,
                     *, day_hours=(8, 20), coverage_min: float = 8.0, trend_q: float = 0.05,
                     response_trend_min_effect: float = 0.2, demand_trend_min_effect: float = 0.02,
                     density_cell_m: float = 1000.0, min_cell: int = 10) -> DemandSummary:
    """Rates, profiles, response times and trends (``log`` must carry ``district_code``)."""
    years = full_years(log)
    if not years:
        raise ParameterError("dispatch_log_path", "the log covers no full calendar year",
                             expected="dispatches from early January to the end of December of at least one year")
    first, last = years[0], years[-1]
    in_last = log["t_call"].dt.year == last
    start, end = day_hours
    share_tab = None
    if hourly_counts is not None:
        h = hourly_counts["time"].dt.hour
        share_tab = float(((h >= start) & (h < end)) @ hourly_counts["count"] / hourly_counts["count"].sum())
    rates = district_rates(log, population, years)
    rt = response_trend(log, q=trend_q, min_effect_min=response_trend_min_effect)
    dtr = demand_trend(log, q=trend_q, min_effect=demand_trend_min_effect, years=years)
    lx = attach_xy(log, districts.crs)
    return DemandSummary(
        years=years, first_year=first, last_year=last, n_last_year=int(in_last.sum()),
        share=share_between(log["t_call"], start, end), share_hourly_table=share_tab,
        hourly=hourly_profile(log["t_call"]), weekday=weekday_profile(log["t_call"]), rates=rates,
        rates_map=districts.merge(rates.drop(columns=["district_name", "ward_code"]), on="district_code"),
        density=density_grid(lx["x"], lx["y"], density_cell_m, n_years=len(years), min_cell=min_cell,
                             crs=districts.crs),
        response_by_district=response_by_district(log, coverage_min, [last]),
        response_bands=response_bands(log.loc[in_last, "response_min"]),
        response_by_ward=_ward_response(log, districts, last, coverage_min),
        response_trend=rt, demand_trend=dtr,
        flagged_response=rt.loc[rt["flagged"], "district_code"].tolist(),
        flagged_demand=dtr.loc[dtr["flagged"], "district_code"].tolist(),
        mean_response_first=float(log.loc[log["t_call"].dt.year == first, "response_min"].mean()),
        mean_response_last=float(log.loc[in_last, "response_min"].mean()),
    )


def summarise_forecast(log: pd.DataFrame, weather: pd.DataFrame, population: pd.DataFrame,
                       projection: pd.DataFrame | None, base_year: int, *, heat_knot_c: float = 30.0,
                       cold_knot_c: float = 8.0, backtest_origins=("2023-07-01", "2024-01-01"),
                       use_sarimax: bool = True, scenario_years=(2030, 2040), seed: int = 42) -> ForecastSummary:
    """Backtest, choose the model with the lowest MAE, forecast 12 months and run the ageing scenario."""
    daily = daily_series(log, weather)
    bt = backtest(daily, list(backtest_origins), heat_knot=heat_knot_c, cold_knot=cold_knot_c, sarimax=use_sarimax)
    if bt.empty:
        raise ParameterError("backtest_origins",
                             f"{list(backtest_origins)} leave no origin with 2 years of training and 52 weeks of "
                             "test data", expected="dates at least 2 years after the first and 52 weeks before "
                                                   "the last day of the log")
    bts = backtest_summary(bt)
    best = bts.loc[bts["chosen"]].iloc[0]
    fc, fc_month, glm = forecast(daily, model=best["model"], heat_knot=heat_knot_c, cold_knot=cold_knot_c, seed=seed)
    scen = (ageing_scenario(log, population, projection, base_year, tuple(scenario_years))
            if projection is not None and len(scenario_years) else None)
    r_old, r_young = age_rates(log, population, base_year)
    return ForecastSummary(
        daily=daily, backtest=bt, backtest_summary=bts, chosen=str(best["model"]), chosen_mae=float(best["mae"]),
        gain_vs_naive=float(best["mae_vs_naive"]), daily_forecast=fc, monthly_forecast=fc_month,
        total=float(fc["forecast"].sum()), glm=glm, effects=glm.effects().set_index("term"), scenario=scen,
        rate_old_per_1000=float(r_old * 1000), rate_young_per_1000=float(r_young * 1000),
    )


def _layer(xy: pd.DataFrame, sites: np.ndarray, tm: dict, cell_m: float, radius: float, n_existing: int) -> dict:
    """Coverage now and with one more site for one demand layer."""
    d = demand_points(xy["x"], xy["y"], cell_m)
    c = response_cost(d[["x", "y"]].to_numpy(), sites, tm)
    w = d["w"].to_numpy()
    existing = np.arange(n_existing)
    sol = mclp(c, w, radius, n_existing + 1, fixed=existing)
    new = sol.sites[sol.sites >= n_existing]
    return {"calls": len(xy), "current": coverage(c, w, existing, radius), "plus1": sol.coverage,
            "site": int(new[0]) if len(new) else None}


def plan_placement(log: pd.DataFrame, stations: pd.DataFrame, year: int, *, crs, coverage_min: float = 8.0,
                   placement_cell_m: float = 1500.0, n_candidates: int = 20, add_sites: int = 2,
                   daytime_shift=("08:30", "17:00")) -> PlacementPlan:
    """MCLP / p-median on ``year``'s demand (plane coordinates in ``crs``): current stations, stations
    + ``add_sites``, and a free relocation with as many sites as stations; coverage by day/night demand layer."""
    tm = travel_model(log, stations, crs)
    ly = attach_xy(log[log["t_call"].dt.year == year], crs)
    st_xy = attach_xy(stations, crs)[["x", "y"]].to_numpy()
    dem = demand_points(ly["x"], ly["y"], placement_cell_m)
    cand = candidate_sites(dem, st_xy, n_candidates)
    sites = np.vstack([st_xy, cand])
    ne = len(st_xy)
    cost = response_cost(dem[["x", "y"]].to_numpy(), sites, tm)
    w = dem["w"].to_numpy()
    existing = np.arange(ne)
    m_add = mclp(cost, w, coverage_min, ne + add_sites, fixed=existing)
    day = weekday_daytime(ly["t_call"], *daytime_shift)
    layers = [{"layer": lab, **_layer(ly.loc[mask], sites, tm, placement_cell_m, coverage_min, ne)}
              for lab, mask in (("平日日中", day), ("夜間・休日", ~day))]
    return PlacementPlan(
        travel=tm, demand=dem, sites=sites, n_existing=ne, n_candidates=len(cand), cost=cost, weights=w,
        radius=coverage_min, current_coverage=coverage(cost, w, existing, coverage_min),
        current_mean_min=mean_nearest(cost, w, existing), mclp_add=m_add,
        mclp_relocate=mclp(cost, w, coverage_min, ne),
        pmedian_add=p_median(cost, w, ne + add_sites, fixed=existing, radius=coverage_min),
        pmedian_relocate=p_median(cost, w, ne, radius=coverage_min), n_added=int((m_add.sites >= ne).sum()),
        layers=pd.DataFrame(layers),
    )


def analyse_dispatch_log(log: pd.DataFrame, *, districts, population: pd.DataFrame, stations: pd.DataFrame,
                         weather: pd.DataFrame, projection: pd.DataFrame | None,
                         hourly_counts: pd.DataFrame | None = None,
                         day_hours=(8, 20), coverage_min: float = 8.0, trend_q: float = 0.05,
                         response_trend_min_effect: float = 0.2, demand_trend_min_effect: float = 0.02,
                         heat_knot_c: float = 30.0, cold_knot_c: float = 8.0,
                         backtest_origins=("2023-07-01", "2024-01-01"), use_sarimax: bool = True,
                         scenario_years=(2030, 2040), placement_cell_m: float = 1500.0, n_candidates: int = 20,
                         add_sites: int = 2, density_cell_m: float = 1000.0, daytime_shift=("08:30", "17:00"),
                         des_days: int = 365, handover_return_min: float = 28.0, nontransport_min: float = 29.0,
                         min_cell: int = 10, seed: int = 42) -> EmergencyResult:
    """Analyse a fire bureau's dispatch log: demand, forecast, crew placement and a daytime crew.

    Parameters
    ----------
    log : DataFrame
        :func:`ebpm_analysis.io.dispatch_log.read_dispatch_log`.
    districts : GeoDataFrame
        :func:`~ebpm_analysis.io.dispatch_log.read_districts` (``district_code``, ``district_name``,
        ``ward_name``, polygons) in the city's plane zone: every distance, grid and map uses its CRS.
    population : DataFrame
        :func:`~ebpm_analysis.io.dispatch_log.read_district_population`.
    stations : DataFrame
        :func:`ebpm_analysis.io.stations.read_stations`.
    weather : DataFrame
        :func:`ebpm_analysis.io.jma.read_jma_daily` covering the log.
    projection : DataFrame or None
        :func:`~ebpm_analysis.io.dispatch_log.read_population_projection` (IPSS) of the city; None:
        no ageing scenario (``forecast.scenario`` is None).
    hourly_counts : DataFrame, optional
        :func:`~ebpm_analysis.io.dispatch_log.read_hourly_counts`; gives a second daytime share.
    day_hours : (int, int)
        Daytime window [start, end) in hours for the share.
    coverage_min : float
        Response-time threshold (minutes) for coverage and the "within" shares.
    trend_q, response_trend_min_effect, demand_trend_min_effect : float
        False discovery rate and minimum effects of the two district trend tests.
    heat_knot_c, cold_knot_c : float
        Temperature knots of the count model (°C).
    backtest_origins : sequence of str
        Rolling-origin forecast starts (ISO dates).
    use_sarimax : bool
        Also backtest the SARIMAX alternative.
    scenario_years : sequence of int
        Years of the ageing scenario.
    placement_cell_m, n_candidates, add_sites : float, int, int
        Demand grid (m), candidate sites, sites added to the stations.
    density_cell_m : float
        Grid cell of the density map (m).
    daytime_shift : (str, str)
        Weekday shift ``"HH:MM"`` of the daytime-only crew (also splits the demand layers).
    des_days, handover_return_min, nontransport_min : int, float, float
        Crew simulation: days simulated, minutes from hospital arrival until free, minutes on scene
        when nobody is transported.
    min_cell : int
        Density cells with fewer dispatches are suppressed.
    seed : int
        Seed of the forecast-interval simulation.

    Returns
    -------
    EmergencyResult

    Raises
    ------
    ParameterError
        A parameter out of range, or backtest origins that leave nothing to test.
    """
    _check(day_hours, coverage_min)
    log = log.assign(district_code=assign_districts(log, districts))
    dem = summarise_demand(log, districts, population, hourly_counts, day_hours=day_hours, coverage_min=coverage_min,
                           trend_q=trend_q, response_trend_min_effect=response_trend_min_effect,
                           demand_trend_min_effect=demand_trend_min_effect, density_cell_m=density_cell_m,
                           min_cell=min_cell)
    fc = summarise_forecast(log, weather, population, projection, dem.last_year, heat_knot_c=heat_knot_c,
                            cold_knot_c=cold_knot_c, backtest_origins=backtest_origins, use_sarimax=use_sarimax,
                            scenario_years=scenario_years, seed=seed)
    plan = plan_placement(log, stations, dem.last_year, crs=districts.crs, coverage_min=coverage_min,
                          placement_cell_m=placement_cell_m,
                          n_candidates=n_candidates, add_sites=add_sites, daytime_shift=daytime_shift)
    crew = daytime_crew_effect(log, stations, plan.travel, last_days=des_days, shift_start=daytime_shift[0],
                               shift_end=daytime_shift[1], handover_return_min=handover_return_min,
                               nontransport_min=nontransport_min, threshold_min=coverage_min)
    names = dict(zip(districts["district_code"], districts["district_name"], strict=True))
    return EmergencyResult(log=log, district_names=names, demand=dem, forecast=fc, placement=plan, crew=crew)
