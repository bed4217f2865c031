"""Case 4, daytime-only crew: a discrete-event simulation of crew busy time (nearest available crew)
and the effect of one weekday daytime crew on response times in the busiest area."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ...jpcalendar import is_holiday
from ...location import distance_matrix
from ...stats.intervals import cluster_ratio_interval
from .demand import attach_xy


@dataclass(frozen=True)
class CrewEffect:
    """Effect of one weekday daytime-only crew, from :func:`daytime_crew_effect`.

    Attributes
    ----------
    station_code, station_name : str
        The station the crew is added to (the busiest first-due area unless chosen).
    calls_area_daytime : int
        Weekday-daytime calls in that station's first-due area (simulated period).
    daytime_calls_per_crew : float
        Its weekday-daytime first-due calls per 24 h crew.
    mean_base, mean_with_crew : float
        Mean modelled response minutes of those calls without and with the extra crew.
    saving_min : float
        Mean saving (minutes) in the simulation.
    saving_lo, saving_hi : float
        95 % interval of the mean saving from resampling whole days
        (:func:`ebpm_analysis.stats.intervals.cluster_ratio_interval`): calls of one day share crews, so they
        are not independent. It reflects which calls happened, not the
        travel model or the simulation's rules (both fixed); NaN with fewer than two days.
    threshold_min : float
        Response-time threshold of the two shares below (minutes).
    within_base, within_with_crew : float
        Share of those calls reached within ``threshold_min``, without and with the crew.
    city_daytime_saving_min : float
        Mean saving over every weekday-daytime call of the city.
    sim_mean_all, observed_mean_all : float
        Simulated and recorded mean response minutes of all calls (a check of the simulation).
    per_station_load : DataFrame
        ``station_code``, ``station_name``, ``crews``, ``daytime_calls``, ``per_crew``.
    """

    station_code: str
    station_name: str
    calls_area_daytime: int
    daytime_calls_per_crew: float
    mean_base: float
    mean_with_crew: float
    saving_min: float
    saving_lo: float
    saving_hi: float
    threshold_min: float
    within_base: float
    within_with_crew: float
    city_daytime_saving_min: float
    sim_mean_all: float
    observed_mean_all: float
    per_station_load: pd.DataFrame


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
                        nontransport_min: float = 29.0, station_code: str | None = None,
                        threshold_min: float = 8.0) -> CrewEffect:
    """How much would a weekday daytime-only crew shorten response times in the busiest area?

    The busiest area is the first-due area (calls whose nearest station is it) of the station with
    the most weekday-daytime calls per crew, unless ``station_code`` is given. Busy time per call =
    modelled travel + observed scene→hospital time + ``handover_return_min`` (transported), or
    ``nontransport_min`` after arrival (not transported). Both scenarios use the same calls and the
    fitted travel model, so the difference isolates the extra crew. ``threshold_min`` is the
    response-time threshold of the "within" shares.
    """
    end = log["t_call"].max()
    sel = log[log["t_call"] > end - pd.Timedelta(days=last_days)].reset_index(drop=True)
    st = attach_xy(stations, tm["crs"]).reset_index(drop=True)
    lx = attach_xy(sel, tm["crs"])
    xy = lx[["x", "y"]].to_numpy()
    sxy = st[["x", "y"]].to_numpy()
    travel = tm["a"] + tm["b"] * distance_matrix(xy, sxy) / 1000
    first_due = np.argmin(travel, axis=1)
    day_ok = weekday_daytime(sel["t_call"], shift_start, shift_end)
    crews = st["crews_24h"].to_numpy()
    load = pd.Series(first_due[day_ok]).value_counts().reindex(range(len(st)), fill_value=0).to_numpy()
    per_crew = load / np.maximum(crews, 1)
    if station_code is None:
        s_idx = int(np.argmax(per_crew))
    else:
        s_idx = int(np.flatnonzero(st["station_code"] == station_code)[0])
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
    day = pd.Series(diff).groupby(sel["t_call"].dt.normalize().to_numpy()[m])
    lo, hi = cluster_ratio_interval(day.sum().to_numpy(), day.size().to_numpy())   # calls of a day share crews
    return CrewEffect(
        station_code=st.loc[s_idx, "station_code"], station_name=st.loc[s_idx, "station_name"],
        calls_area_daytime=int(m.sum()), daytime_calls_per_crew=float(per_crew[s_idx]),
        mean_base=float(r0[m].mean()), mean_with_crew=float(r1[m].mean()),
        saving_min=float(diff.mean()), saving_lo=lo, saving_hi=hi, threshold_min=float(threshold_min),
        within_base=float((r0[m] <= threshold_min).mean()), within_with_crew=float((r1[m] <= threshold_min).mean()),
        city_daytime_saving_min=float((r0[day_ok] - r1[day_ok]).mean()),
        sim_mean_all=float(r0.mean()), observed_mean_all=float(sel["response_min"].mean()),
        per_station_load=pd.DataFrame({"station_code": st["station_code"], "station_name": st["station_name"],
                                       "crews": crews, "daytime_calls": load, "per_crew": per_crew}),
    )
