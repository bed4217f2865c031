"""Case 4: emergency dispatch demand (仙台市モデル, for any city). Pure functions over tidy frames.

Inputs are the frames returned by :mod:`ebpm_analysis.io.dispatch_log`, :mod:`~ebpm_analysis.io.stations`
and :mod:`~ebpm_analysis.io.jma`; nothing here reads files or plots.

- :mod:`.demand` — where, when, how fast: dispatches per 1,000 residents by district against the city
  average (and the power of that flag by simulation, :func:`district_power`); binned density; hourly and
  weekday profiles; the 08–20 h share with a Wilson interval;
  response time (覚知→現着) by district, its trend and a test for lengthening.
- :mod:`.forecast` — how many: daily count model (Poisson / negative binomial GLM with calendar,
  holiday, heat and cold terms) and a SARIMAX alternative, rolling-origin backtest against
  seasonal-naive (same weekday 52 weeks earlier), 12-month forecast, ageing scenario to 2030/2040.
- :mod:`.placement` — where to base crews: demand grid, candidate sites and response-time costs for the
  MCLP and p-median of :mod:`ebpm_analysis.location` (PySAL spopt).
- :mod:`.crew` — a discrete-event simulation of crew busy time for a weekday daytime-only crew.
- :mod:`.analysis` — the entry point :func:`analyse_dispatch_log` → :class:`EmergencyResult` (with
  :class:`DemandSummary`, :class:`ForecastSummary`, :class:`PlacementPlan`, :class:`CrewEffect`).

The public names of the submodules are re-exported here (``from ebpm_analysis.cases import emergency as ce``).
"""

from .analysis import (
    DemandSummary,
    EmergencyResult,
    ForecastSummary,
    PlacementPlan,
    analyse_dispatch_log,
    map_kinds,
    plan_placement,
    summarise_demand,
    summarise_forecast,
)
from .crew import CrewEffect, daytime_crew_effect, simulate_dispatch, weekday_daytime
from .demand import (
    DISTRICT_EXCESS,
    assign_districts,
    attach_xy,
    demand_trend,
    density_grid,
    district_power,
    district_power_sentence,
    district_power_table,
    district_rates,
    full_years,
    hourly_profile,
    rates_above_city,
    response_bands,
    response_by_district,
    response_trend,
    share_between,
    weekday_profile,
)
from .forecast import (
    DailyDispatchModel,
    SarimaxModel,
    age_rates,
    ageing_scenario,
    backtest,
    backtest_summary,
    calendar_features,
    choice_sentence,
    climatology,
    daily_series,
    forecast,
    seasonal_naive,
)
from .placement import candidate_sites, demand_points, response_cost, travel_model

__all__ = [
    "CrewEffect", "DemandSummary", "EmergencyResult", "ForecastSummary", "PlacementPlan", "analyse_dispatch_log",
    "map_kinds", "plan_placement", "summarise_demand", "summarise_forecast",
    "DailyDispatchModel", "SarimaxModel", "age_rates", "ageing_scenario", "assign_districts", "attach_xy", "backtest",
    "backtest_summary", "calendar_features", "candidate_sites", "choice_sentence", "climatology", "daily_series",
    "DISTRICT_EXCESS", "daytime_crew_effect", "demand_points", "demand_trend", "density_grid", "district_power",
    "district_power_sentence", "district_power_table", "district_rates", "forecast", "rates_above_city",
    "full_years", "hourly_profile", "response_bands",
    "response_by_district", "response_cost", "response_trend", "seasonal_naive", "share_between",
    "simulate_dispatch", "travel_model", "weekday_daytime", "weekday_profile",
]
