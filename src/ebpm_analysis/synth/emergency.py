"""Synthetic emergency dispatches for a city's fire bureau (case 4), in the command-system format.

Everything here is **synthetic** and labelled so. It works for any municipality, ward, designated city
or prefecture (:func:`ebpm_analysis.geo.resolve_city`): districts, stations and calls lie inside the
city's area, distances are computed in the city's plane zone (:func:`ebpm_analysis.geo.plane_crs`).
Calibration (docs/sources.md#fdma-national, #kumamoto-ems, #ems-assumed-population):

- Volume and population. 熊本市 (43100, the default): the IPSS 2013 projection
  (data/raw/ipss-projection-kumamoto-city) and 熊本市消防局's 46,580 dispatches in 2024 for 熊本市・益城町・
  西原村, scaled to the city's share of the bureau's population (益城町＋西原村 ≈ 40,000 people: an
  assumption, docs/sources.md#ems-bureau-population). Any other city: ``population_total`` (the city
  profile's census figure) or, without it, the population assumed by :func:`ebpm_analysis.lookups.city_population`
  (docs/sources.md#population-by-kind), the national 65+ share and the national dispatch rate per
  person (:func:`city_volume` says which were used; the report states them).
- Ageing: the 65+ population is spread over synthetic districts from :func:`geo.partition_into_districts`;
  the elderly rate is 3.9× the under-65 rate (national: 61.6 % of patients are elderly).
- Time: an hourly profile whose 08–20 h share is ≈ two-thirds (仙台市モデル, docs/sources.md#sendai-daytime-crew),
  higher daytime demand in the central ward, weekday and month factors, holidays and the New-Year
  period, heat above 30 °C and cold below 8 °C from the shared synthetic JMA weather of the observatory
  nearest to the city (written in the JMA layout and read back with :func:`io.jma.read_jma_daily`).
- Response: each call is served by the nearest *available* crew (a discrete-event simulation of
  crew busy time); the effective road speed is calibrated so that the mean 覚知→現着 time lands near
  the national 10.0 min (docs/sources.md#fdma-national), with its spread coming from distances and travel noise.
- Planted truth: ``n_growth`` ageing districts whose demand grows by ``growth_rate`` a year and
  whose response time drifts by ``rt_drift_min_per_year`` (e.g. new housing on the fringe).
- Stations: a clearly labelled synthetic set: one 消防署 per ward (or municipality of a prefecture;
  for 熊本市 also 益城西原 in 益城町) and 出張所 placed on the synthetic demand (about one site per
  32,000 people) — not the real station locations.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from .. import geo, paths
from ..errors import ParameterError
from ..io.common import build_dir_once
from ..io.jma import read_jma_daily
from ..jpcalendar import is_holiday, is_year_end_closure
from ..location import distance_matrix
from ..lookups import city_population, nearest_station
from ..provenance import suspended
from .weather import generate_daily_weather, station_normals, write_jma_daily_csv

GENERATOR_VERSION = 6                # part of the cache key: bump when the generated data change
DEFAULT_CITY = "43100"               # 熊本市: the only city with a bundled population projection
BUREAU_TOTAL_2024 = 46_580           # data/raw/kumamoto-fire-ems (熊本市消防局, 熊本市 only)
BUREAU_OTHER_POP = 40_000            # 益城町 + 西原村, approximate [U]
# National figures for any other city (docs/sources.md#fdma-national, #ems-assumed-population).
NATIONAL_DISPATCHES_2023 = 7_638_558
NATIONAL_POPULATION_2020 = 126_146_099   # 国勢調査 2020
NATIONAL_SHARE65_2020 = 0.286            # 国勢調査 2020: 65歳以上人口の割合
PEOPLE_PER_SITE = 32_000             # one ambulance site (署・出張所) per this many people (熊本市: 23 sites)
MIN_DISTRICT_POP = 50                # no synthetic district is empty
ELDERLY_RATE_RATIO = 3.9
# Hourly weights (0..23 h). Their 08–20 h share is ≈ 0.665 before the district daytime factor.
HOURLY = np.array([2.6, 2.2, 2.0, 1.8, 1.7, 1.8, 2.3, 3.0, 4.6, 5.6, 6.2, 6.1,
                   5.6, 5.4, 5.3, 5.2, 5.1, 5.0, 4.9, 4.6, 4.2, 3.8, 3.4, 3.0])
WEEKDAY = np.array([1.07, 1.00, 0.98, 0.98, 1.00, 0.99, 1.02])   # Mon..Sun
MONTH = np.array([1.08, 1.02, 0.98, 0.96, 0.97, 0.96, 1.00, 1.00, 0.97, 0.96, 0.98, 1.06])
HOLIDAY_FACTOR = 1.06
NEW_YEAR_FACTOR = 1.15               # 12/29–1/3: clinics closed
HEAT_BETA, HEAT_KNOT = 0.045, 30.0   # per °C of daily max above 30 °C
COLD_BETA, COLD_KNOT = 0.025, 8.0    # per °C of daily mean below 8 °C
CITY_TREND = 0.015                   # city-wide growth a year (ageing)
DAY_FRAILTY_CV = 0.04
ACCIDENT_P = {"急病": 0.66, "一般負傷": 0.16, "交通事故": 0.055, "転院搬送": 0.075, "その他": 0.02,
              "自損行為": 0.01, "労働災害": 0.007, "加害": 0.004, "運動競技": 0.004, "火災": 0.002,
              "水難": 0.002, "自然災害": 0.001}
SEVERITY_P = {"死亡": 0.012, "重症": 0.08, "中等症": 0.42, "軽症": 0.485, "その他": 0.003}
YOUNG_AGE_P = {"新生児": 0.006, "乳幼児": 0.11, "少年": 0.09, "成人": 0.794}
TRANSPORT_P = 0.87
# 性別 of the patient (docs/sources.md#ems-patient-sex, an assumption): near even, 不明 rare (a person who
# left before the crew arrived). Drawn from a stream of its own so that adding it changed no other value.
SEX_P = {"男": 0.51, "女": 0.489, "不明": 0.001}
SEX_STREAM = 1                       # spawn key of the 性別 stream under the generator's seed
TURNOUT_MIN = 2.0                    # fixed part of 出場→現着 (leaving, access)
TRAVEL_NOISE_SIGMA = 0.35            # log-normal noise of the road part
# The road part is NOT the analysis' straight-line model (a + b·km), so that fitting it and simulating with
# it is a test, not a tautology (issue 13): road time grows slower than distance (short trips on streets,
# long ones on arterials: time ∝ km^0.8) and weekday rush hours are slower. Real road-network times differ
# again (rivers, one-way streets, hills); the report says what the straight-line model cannot see.
ROAD_DISTANCE_EXPONENT = 0.8
RUSH_HOURS = (7, 8, 17, 18)          # weekday hours with slower traffic
RUSH_TRAVEL_FACTOR = 1.25            # road time in those hours, relative to other daytime hours
NIGHT_TRAVEL_FACTOR = 0.9            # 0–5 h: empty roads
KUMAMOTO_STATIONS = {"43101": "中央", "43102": "東", "43103": "西", "43104": "南", "43105": "北"}
MASHIKI_CODE = "43443"


def _anchor_points(districts, city_plane) -> np.ndarray:
    """One point per district for stations and distances: the centroid where it lies inside the city,
    else a point inside the district (centroids of islands or crescent-shaped areas fall outside)."""
    cent = districts.geometry.centroid
    inside = shapely.covers(city_plane, cent.to_numpy())
    rep_pt = districts.geometry.representative_point()
    return np.column_stack([np.where(inside, cent.x, rep_pt.x), np.where(inside, cent.y, rep_pt.y)])


def ipss_population(year: float) -> tuple[float, float]:
    """熊本市 total population and 65+ share for ``year`` (linear interpolation of the IPSS file)."""
    from ..io.dispatch_log import projection_path_for, read_population_projection
    df = read_population_projection(projection_path_for(DEFAULT_CITY))
    total = float(np.interp(year, df["year"], df["total"]))
    old = df.dropna(subset=["age65plus"])
    share = np.interp(year, old["year"], old["age65plus"] / old["total"])
    return total, float(share)


def _station_set(city, districts, pop, rng, city_code: str, n_branches: int | None):
    """Synthetic stations: one 消防署 per ward near its demand centre (+ 益城西原 for 熊本市) and
    ``n_branches`` 出張所 (default: one site per :data:`PEOPLE_PER_SITE` people, at most one per
    district) placed greedily where demand is far from existing stations. Every site but 益城西原
    lies inside the city."""
    crs = districts.crs
    city_plane = city.to_crs(crs).union_all()
    cent = _anchor_points(districts, city_plane)
    rows = []
    for k, (wcode, grp) in enumerate(districts.groupby("ward_code", sort=True)):
        idx = grp.index.to_numpy()
        w = pop[idx] / pop[idx].sum()
        c = (cent[idx] * w[:, None]).sum(0)
        # snap to the most populous district centroid near the weighted centre
        j = idx[np.argmin(np.linalg.norm(cent[idx] - c, axis=1) / np.sqrt(w))]
        wname = grp["ward_name"].iloc[0]
        if city_code == DEFAULT_CITY:
            label = KUMAMOTO_STATIONS.get(wcode, wname.replace("区", ""))
        else:   # 青葉区 → 青葉消防署 in a designated city; 八代市消防署, 大津市消防署 elsewhere
            label = wname.removesuffix("区") if city.attrs.get("has_wards") else wname
        rows.append({"署所コード": f"S{k + 1:02d}", "署所名": f"{label}消防署", "区分": "消防署",
                     "救急隊数_24時間": 2, "救急隊数_日勤": 0, "x": cent[j, 0], "y": cent[j, 1]})
    if city_code == DEFAULT_CITY:
        areas = geo.to_plane(geo.load_areas(), crs)
        mash = areas[areas["code"] == MASHIKI_CODE]
        if len(mash):
            city_u = city_plane
            g = mash.geometry.iloc[0]
            # a point in 益城町 close to the city boundary
            cand = geo.random_points_in(g, 400, rng)
            d = shapely.distance(shapely.points(cand), city_u)
            p = cand[np.argmin(np.abs(d - 1500))]
            rows.append({"署所コード": f"S{len(rows) + 1:02d}", "署所名": "益城西原消防署", "区分": "消防署",
                         "救急隊数_24時間": 2, "救急隊数_日勤": 0, "x": p[0], "y": p[1]})
    st = np.array([[r["x"], r["y"]] for r in rows])
    if n_branches is None:
        n_branches = int(np.clip(round(pop.sum() / PEOPLE_PER_SITE) - len(rows), 0, len(districts) - len(rows)))
    for b in range(n_branches):
        d = np.min(np.linalg.norm(cent[:, None, :] - st[None, :, :], axis=2), axis=1)
        j = int(np.argmax(pop * d ** 1.5))
        p = cent[j]
        rows.append({"署所コード": f"B{b + 1:02d}", "署所名": f"{districts['district_name'].iloc[j]}出張所",
                     "区分": "出張所", "救急隊数_24時間": 1, "救急隊数_日勤": 0, "x": p[0], "y": p[1]})
        st = np.vstack([st, p])
    df = pd.DataFrame(rows)
    pts = geo.points_frame(df, lon="x", lat="y", crs=crs).to_crs(geo.GEO_CRS)
    df["緯度"] = np.round(pts.geometry.y.to_numpy(), 6)
    df["経度"] = np.round(pts.geometry.x.to_numpy(), 6)
    return df


def simulate_crews(call_min, travel, crew_station, busy_extra, proc_min):
    """Nearest-available-crew discrete-event simulation.

    ``call_min`` (n,) sorted call times in minutes; ``travel`` (n, n_stations) travel minutes;
    ``crew_station`` (n_crews,) station index of each crew; ``busy_extra`` (n,) minutes a crew stays
    busy after reaching the scene (on scene, transport, handover, return); ``proc_min`` (n,) 覚知→出場.
    Returns (crew index, dispatch minute, travel minute) arrays.
    """
    n = len(call_min)
    n_crews = len(crew_station)
    busy_until = np.zeros(n_crews)
    ct = travel[:, crew_station]                       # (n, n_crews)
    order = np.argsort(ct, axis=1, kind="stable")
    crew = np.empty(n, dtype=np.int64)
    t_disp = np.empty(n)
    trav = np.empty(n)
    bu = busy_until.tolist()
    for k in range(n):
        t0 = call_min[k] + proc_min[k]
        chosen = -1
        for c in order[k]:
            if bu[c] <= t0:
                chosen = c
                break
        if chosen < 0:                                 # all busy: first crew to come free
            chosen = min(range(n_crews), key=lambda c: (bu[c], ct[k, c]))
            t0 = max(t0, bu[chosen])
        tr = ct[k, chosen]
        crew[k], t_disp[k], trav[k] = chosen, t0, tr
        bu[chosen] = t0 + tr + busy_extra[k]
    return crew, t_disp, trav


def city_volume(city_code: str, start_ts: pd.Timestamp, population_total: float | None,
                annual_dispatches: float | None) -> dict:
    """Population, 65+ share and dispatches in the final year of the synthetic city, and where each
    comes from (``population_source``, ``share65_source``, ``volume_source``: Japanese phrases for the report).

    熊本市 (43100): the IPSS projection and its fire bureau's 2024 total. Any other city: the given
    ``population_total`` or :func:`ebpm_analysis.lookups.city_population` (the one definition of an
    assumed population), the national 65+ share (census 2020) and the national dispatches per person
    (2023 dispatches / 2020 census population).
    """
    if city_code == DEFAULT_CITY:
        if population_total is None:
            population_total, share65 = ipss_population(start_ts.year + 0.5)
            pop_src = f"社人研 平成25年推計（{start_ts.year}年央）"
        else:
            share65 = ipss_population(2020)[1]
            pop_src = "指定値（市区町村の設定）"
        share_src = "社人研 平成25年推計"
        vol_src = "熊本市消防局の2024年の出動件数を人口比で按分" if annual_dispatches is None else "指定値"
        if annual_dispatches is None:
            annual_dispatches = BUREAU_TOTAL_2024 * population_total / (population_total + BUREAU_OTHER_POP)
    else:
        pop = city_population(city_code, population_total)
        population_total = float(pop.value)
        pop_src = f"仮定値：{pop.how}" if pop.assumed else "指定値（市区町村の設定）"
        share65 = NATIONAL_SHARE65_2020
        share_src = "全国値（2020年国勢調査）"
        vol_src = (f"全国の出動率（2023年 {NATIONAL_DISPATCHES_2023:,}件 ÷ 2020年国勢調査人口、"
                   f"{NATIONAL_DISPATCHES_2023 / NATIONAL_POPULATION_2020 * 1000:.1f}件/千人）"
                   if annual_dispatches is None else "指定値")
        if annual_dispatches is None:
            annual_dispatches = NATIONAL_DISPATCHES_2023 / NATIONAL_POPULATION_2020 * population_total
    return {"population_total": float(population_total), "share65": float(share65),
            "annual_dispatches": float(annual_dispatches), "population_source": pop_src,
            "share65_source": share_src, "volume_source": vol_src}


def _district_population(districts, wards, population_total: float, share65: float, rng):
    """Population and 65+ population of each district: denser and younger near the centre (the
    smallest ward; a point of its largest part where its centroid falls outside it, as on islands),
    older on the fringe; the city's 65+ share is kept. Density halves every ~5 km (decay length
    7 km), or over half the median distance to the centre in a city spread wider (a prefecture,
    an archipelago)."""
    n_d = len(districts)
    cx, cy = districts.geometry.centroid.x.to_numpy(), districts.geometry.centroid.y.to_numpy()
    centre = wards.iloc[int(np.argmin(wards.geometry.area))].geometry   # smallest ward = centre
    if centre.covers(centre.centroid):
        core = centre.centroid
    else:
        parts = shapely.get_parts(centre)
        core = parts[int(np.argmax(shapely.area(parts)))].representative_point()
    dist_c = np.hypot(cx - core.x, cy - core.y)
    area = districts.geometry.area.to_numpy()
    decay_m = max(7000.0, 0.5 * float(np.median(dist_c)))
    w = area ** 0.35 * np.exp(-dist_c / decay_m) * rng.lognormal(0, 0.3, n_d)
    pop = np.maximum(np.round(population_total * w / w.sum()).astype(int), MIN_DISTRICT_POP)
    z = (dist_c - dist_c.mean()) / dist_c.std()
    a = np.clip(share65 + 0.05 * z + rng.normal(0, 0.03, n_d), 0.12, 0.50)
    a = np.clip(a + (share65 - (a * pop).sum() / pop.sum()), 0.10, 0.55)
    pop65 = np.round(pop * a).astype(int)
    return pop, pop65


def _planted_growth(pop: np.ndarray, share: np.ndarray, n_growth: int, rng) -> np.ndarray:
    """Indices of the planted growth districts: among the more aged districts with at least the median
    population (so that a district-level trend is detectable)."""
    aged = np.flatnonzero((share >= np.quantile(share, 0.5)) & (pop >= np.median(pop)))
    return np.sort(rng.choice(aged, size=min(n_growth, len(aged)), replace=False))


def _hourly_by_district(districts, wards) -> tuple[np.ndarray, str]:
    """Hourly weights (n_districts, 24) summing to 1, with more daytime demand in the central ward."""
    central_ward = wards.iloc[int(np.argmin(wards.geometry.area))]["code"]
    day_factor = np.where(districts["ward_code"].to_numpy() == central_ward, 1.25, 1.0)
    hourly = np.array([HOURLY * np.where((np.arange(24) >= 8) & (np.arange(24) < 20), f, 1.0) for f in day_factor])
    return hourly / hourly.sum(1, keepdims=True), central_ward


def _weather(start: str, end: str, seed: int, weather_path, city_code: str) -> tuple[pd.DataFrame, bytes]:
    """Shared weather generator (normals of the observatory nearest to the city) → JMA CSV → shared
    loader; returns the frame and the CSV bytes."""
    tmpdir = None
    if weather_path is None:
        tmpdir = Path(tempfile.mkdtemp(prefix="ebpm-wx-"))
        weather_path = tmpdir / "weather.csv"
    try:
        weather_path = Path(weather_path)
        if not weather_path.exists():
            station, normals = station_normals(city_code)
            write_jma_daily_csv(generate_daily_weather(start, end, seed + 1, normals), weather_path,
                                station=station.name)
        return read_jma_daily(weather_path, nature="synthetic"), weather_path.read_bytes()
    finally:
        if tmpdir is not None:
            shutil.rmtree(tmpdir, ignore_errors=True)


def _day_multiplier(dates: pd.DatetimeIndex, weather: pd.DataFrame, start_ts: pd.Timestamp):
    """Relative demand of each day (weekday, month, holiday, New Year, heat, cold, city trend) and the
    day's maximum temperature."""
    t_years = ((dates - start_ts).days / 365.25).to_numpy()
    dow = dates.day_of_week.to_numpy()
    hol = is_holiday(dates)
    ny = is_year_end_closure(dates)
    wx = weather.set_index("date").reindex(dates)
    tmax = wx["temp_max"].interpolate().bfill().ffill().to_numpy()
    tmean = wx["temp_mean"].interpolate().bfill().ffill().to_numpy()
    day_mult = (WEEKDAY[dow] * MONTH[dates.month.to_numpy() - 1]
                * np.where(hol & (dow < 6), HOLIDAY_FACTOR, 1.0) * np.where(ny, NEW_YEAR_FACTOR, 1.0)
                * np.exp(HEAT_BETA * np.maximum(0, tmax - HEAT_KNOT) + COLD_BETA * np.maximum(0, COLD_KNOT - tmean))
                * (1 + CITY_TREND) ** t_years)
    return day_mult, tmax, t_years


def _points_in(geom, n: int, rng) -> np.ndarray:
    """Uniform random points in a district. :func:`geo.random_points_in` samples its bounding box; a
    district of islands far apart (小笠原村) fills a tiny share of its box, so there each part is
    sampled in turn, with a number of points drawn in proportion to its area."""
    if geom.area >= 0.05 * shapely.area(shapely.box(*geom.bounds)):
        return geo.random_points_in(geom, n, rng)
    parts = shapely.get_parts(geom)
    share = shapely.area(parts) / shapely.area(parts).sum()
    k = rng.multinomial(n, share)
    xy = np.vstack([geo.random_points_in(p, int(c), rng) for p, c in zip(parts, k, strict=True) if c] or
                   [np.empty((0, 2))])
    return xy[rng.permutation(len(xy))]


def _expand_calls(counts: np.ndarray, dates: pd.DatetimeIndex, hourly: np.ndarray, districts, rng):
    """One call per unit of the (day, district) counts: hour from the district's profile, a random
    second, a random point in the district; sorted by call time."""
    day_i, dist_i = np.nonzero(counts)
    reps = counts[day_i, dist_i]
    day_i = np.repeat(day_i, reps)
    dist_i = np.repeat(dist_i, reps)
    n = len(day_i)
    cum = hourly.cumsum(1)
    u = rng.random(n)
    hour = (u[:, None] > cum[dist_i]).sum(1)
    sec = rng.integers(0, 3600, n)
    call = dates[day_i] + pd.to_timedelta(hour * 3600 + sec, unit="s")
    xy = np.empty((n, 2))
    for j in range(len(districts)):
        m = dist_i == j
        if m.any():
            xy[m] = _points_in(districts.geometry.iloc[j], int(m.sum()), rng)
    order = np.argsort(call.to_numpy(), kind="stable")
    return call[order], day_i[order], dist_i[order], xy[order]


def _respond(call, dist_i, xy, stations, growth_idx, start_ts, target_mean_response_min: float,
             rt_drift_min_per_year: float, rng) -> dict:
    """Times of each call: processing, nearest-available-crew dispatch and travel (effective road speed
    calibrated to ``target_mean_response_min``), scene and hospital; crew assignment."""
    n = len(call)
    st_xy = stations[["x", "y"]].to_numpy()
    crew_station = np.repeat(np.arange(len(stations)), stations["救急隊数_24時間"].to_numpy())
    dkm = distance_matrix(xy, st_xy) / 1000
    proc = rng.lognormal(np.log(1.5), 0.35, n)
    noise = rng.lognormal(0, TRAVEL_NOISE_SIGMA, n)
    hour, weekday = call.hour.to_numpy(), call.day_of_week.to_numpy()
    hour_factor = np.where((weekday < 5) & np.isin(hour, RUSH_HOURS), RUSH_TRAVEL_FACTOR,
                           np.where(hour < 6, NIGHT_TRAVEL_FACTOR, 1.0)) * noise
    road_km = (1.3 * dkm) ** ROAD_DISTANCE_EXPONENT        # "effective km": see ROAD_DISTANCE_EXPONENT
    # calibrate effective speed on the nearest-station distance (busy crews add a little more)
    mean_proc = proc.mean()
    near = road_km.min(1)
    minutes_per_km = (target_mean_response_min * 0.97 - mean_proc - TURNOUT_MIN) / (near * hour_factor).mean()
    minutes_per_km = float(np.clip(minutes_per_km, 60 / 45, 60 / 8))
    t_years_call = ((call - start_ts).total_seconds() / (365.25 * 86400)).to_numpy()
    drift = np.where(np.isin(dist_i, growth_idx), rt_drift_min_per_year * t_years_call, 0.0)
    transported = rng.random(n) < TRANSPORT_P
    on_scene = rng.lognormal(np.log(17), 0.3, n)
    to_hosp = rng.lognormal(np.log(13), 0.45, n)
    handover_return = rng.lognormal(np.log(28), 0.3, n)
    busy_extra = np.where(transported, on_scene + to_hosp + handover_return, on_scene + 12)
    call_min = ((call - start_ts).total_seconds() / 60).to_numpy()
    for pass_ in range(2):   # second pass corrects for busy crews (calls served from farther away)
        travel = TURNOUT_MIN + road_km * minutes_per_km * hour_factor[:, None] + drift[:, None]
        crew, t_disp, trav = simulate_crews(call_min, travel, crew_station, busy_extra, proc)
        if pass_ == 1:
            break
        mean_resp = (t_disp + trav - call_min).mean()
        road = (trav - TURNOUT_MIN - drift).mean()
        minutes_per_km *= float(np.clip(1 + (target_mean_response_min - mean_resp) / road, 0.5, 1.5))
    t_scene = t_disp + trav
    return {"call_min": call_min, "t_disp": t_disp, "t_scene": t_scene,
            "t_hosp": np.where(transported, t_scene + on_scene + to_hosp, np.nan), "transported": transported,
            "crew": crew, "crew_station": crew_station, "minutes_per_km": minutes_per_km}


def _call_attributes(tmax_call: np.ndarray, share_call: np.ndarray, transported: np.ndarray, rng):
    """事故種別 (more 急病 on hot days), 年齢区分 (elderly by the district's 65+ share) and 傷病程度."""
    n = len(tmax_call)
    heat = np.maximum(0, tmax_call - HEAT_KNOT)
    acc_names = list(ACCIDENT_P)
    acc_p = np.array(list(ACCIDENT_P.values()))
    acc = np.array(acc_names)[rng.choice(len(acc_names), n, p=acc_p / acc_p.sum())]
    acc = np.where((heat > 0) & (rng.random(n) < 0.04 * heat), "急病", acc)
    p_old = ELDERLY_RATE_RATIO * share_call / (1 - share_call + ELDERLY_RATE_RATIO * share_call)
    old = rng.random(n) < p_old
    yp = np.array(list(YOUNG_AGE_P.values()))
    age = np.where(old, "高齢者", np.array(list(YOUNG_AGE_P))[rng.choice(len(yp), n, p=yp / yp.sum())])
    sp = np.array(list(SEVERITY_P.values()))
    sev = np.array(list(SEVERITY_P))[rng.choice(len(sp), n, p=sp / sp.sum())]
    return acc, age, np.where(transported, sev, "")


def _patient_sex(seed: int, n: int) -> np.ndarray:
    """性別 of each dispatch from its own seeded stream (a child of ``SeedSequence(seed)``): the main generator's
    draws, and so every other generated value, stay what they were before the column existed."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(SEX_STREAM,)))
    p = np.array(list(SEX_P.values()))
    return np.array(list(SEX_P))[rng.choice(len(p), n, p=p / p.sum())]


def _crew_names(stations: pd.DataFrame, crew_station: np.ndarray) -> np.ndarray:
    """Crew labels such as 中央救急1, numbered within each station."""
    crew_names = []
    st_names = stations["署所名"].str.replace("消防署", "").str.replace("出張所", "").tolist()
    counter: dict[int, int] = {}
    for s in crew_station:
        counter[s] = counter.get(s, 0) + 1
        crew_names.append(f"{st_names[s]}救急{counter[s]}")
    return np.array(crew_names)


def _log_frame(call, dist_i, xy, districts, stations, r: dict, attrs, start_ts, sex) -> pd.DataFrame:
    """The dispatch log in the command-system layout (Japanese headers, ``YYYY/MM/DD HH:MM:SS``)."""
    acc, age, sev = attrs
    lonlat = geo.points_frame(pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1]}), lon="x", lat="y",
                              crs=districts.crs).to_crs(geo.GEO_CRS)
    crew_names = _crew_names(stations, r["crew_station"])

    def fmt(m):
        ts = start_ts + pd.to_timedelta(np.round(m * 60), unit="s")
        return pd.Series(ts).dt.strftime("%Y/%m/%d %H:%M:%S").fillna("").to_numpy()

    years = call.year.to_numpy()
    seq = pd.Series(years).groupby(years).cumcount().to_numpy() + 1
    crew = r["crew"]
    return pd.DataFrame({
        "事案番号": [f"R{y}-{s:06d}" for y, s in zip(years, seq, strict=True)],
        "覚知日時": fmt(r["call_min"]), "出場日時": fmt(r["t_disp"]), "現着日時": fmt(r["t_scene"]),
        "病院着日時": fmt(r["t_hosp"]),
        "出場隊": crew_names[crew], "出場署所": stations["署所コード"].to_numpy()[r["crew_station"][crew]],
        "事故種別": acc, "傷病程度": sev, "年齢区分": age, "性別": sex,
        "緯度": np.round(lonlat.geometry.y.to_numpy(), 6), "経度": np.round(lonlat.geometry.x.to_numpy(), 6),
        "町丁コード": districts["district_code"].to_numpy()[dist_i],
    })


def district_count(city_code: str, n_districts: int) -> int:
    """Districts actually generated: ``n_districts``, raised to two per ward (designated city) or per
    municipality (prefecture) where that is more (:func:`geo.partition_into_districts` needs them)."""
    return max(int(n_districts), 2 * len(geo.resolve_city(city_code).member_codes))


def generate_emergency(seed: int, *, city_code: str = DEFAULT_CITY, start: str = "2020-01-01",
                       end: str = "2024-12-31", n_districts: int = 40, annual_dispatches: float | None = None,
                       population_total: float | None = None, n_growth: int = 4, growth_rate: float = 0.08,
                       rt_drift_min_per_year: float = 0.6, n_branches: int | None = None,
                       target_mean_response_min: float = 10.0, weather_path=None) -> dict:
    """Generate frames (not files): dispatches, districts, district population, stations, weather, truth.

    ``city_code``: any municipality, ward, designated city or prefecture (code or name).
    ``population_total``: the city's population (default: see :func:`city_volume`).
    ``n_branches``: 出張所 (default: one site per :data:`PEOPLE_PER_SITE` people)."""
    rng = np.random.default_rng(seed)
    city_code = geo.resolve_city(city_code).code
    city = geo.load_city(city_code)
    crs = geo.plane_crs(city_code)
    districts = geo.partition_into_districts(city, district_count(city_code, n_districts), seed, plane_crs=crs)
    start_ts, end_ts = pd.Timestamp(start), pd.Timestamp(end)
    if end_ts <= start_ts + pd.Timedelta(days=364):
        raise ParameterError("end", "period shorter than a year", expected="at least one full year of dispatches")
    vol = city_volume(city_code, start_ts, population_total, annual_dispatches)
    population_total, share65, annual_dispatches = vol["population_total"], vol["share65"], vol["annual_dispatches"]
    wards = city.to_crs(crs)
    pop, pop65 = _district_population(districts, wards, population_total, share65, rng)
    share = pop65 / pop
    growth_idx = _planted_growth(pop, share, n_growth, rng)
    growth = np.zeros(len(districts))
    growth[growth_idx] = growth_rate
    hourly, central_ward = _hourly_by_district(districts, wards)
    weather, weather_bytes = _weather(start, end, seed, weather_path, city_code)

    # daily intensity by district, scaled so that the final year has ``annual_dispatches``
    dates = pd.date_range(start_ts, end_ts, freq="D")
    day_mult, tmax, t_years = _day_multiplier(dates, weather, start_ts)
    frailty = rng.gamma(1 / DAY_FRAILTY_CV ** 2, DAY_FRAILTY_CV ** 2, len(dates))
    base = pop * (1 - share) + ELDERLY_RATE_RATIO * pop * share              # relative need per district
    lam_shape = day_mult[:, None] * base[None, :] * (1 + growth[None, :]) ** t_years[:, None]   # (days, districts)
    last = dates.year == end_ts.year
    scale = annual_dispatches * last.sum() / 365.0 / lam_shape[last].sum()
    counts = rng.poisson(lam_shape * scale * frailty[:, None])
    expected = lam_shape * scale

    call, day_i, dist_i, xy = _expand_calls(counts, dates, hourly, districts, rng)
    stations = _station_set(city, districts, pop, rng, city_code, n_branches)
    with suspended():
        station = nearest_station(city_code)
    r = _respond(call, dist_i, xy, stations, growth_idx, start_ts, target_mean_response_min,
                 rt_drift_min_per_year, rng)
    attrs = _call_attributes(tmax[day_i], share[dist_i], r["transported"], rng)
    log = _log_frame(call, dist_i, xy, districts, stations, r, attrs, start_ts, _patient_sex(seed, len(call)))
    dpop = pd.DataFrame({"地区コード": districts["district_code"], "地区名": districts["district_name"],
                         "区コード": districts["ward_code"], "人口": pop, "65歳以上人口": pop65})
    n = len(call)
    resp = r["t_scene"] - r["call_min"]
    truth = {
        "nature": "synthetic", "seed": seed, "city_code": city_code, "start": start, "end": end,
        "n_dispatches": int(n), "annual_target_last_year": float(annual_dispatches),
        "population_total": float(pop.sum()), "share65": float(pop65.sum() / pop.sum()),
        "population_given": float(population_total), "population_source": vol["population_source"],
        "share65_source": vol["share65_source"], "volume_source": vol["volume_source"],
        "n_districts": int(len(districts)), "n_stations": int(len(stations)), "plane_crs": crs,
        "weather_station": {"number": station.number, "name": station.name,
                            "distance_km": round(station.distance_km, 1)},
        "share_08_20_truth": float(expected.sum(0) @ hourly[:, 8:20].sum(1) / expected.sum()),
        "share_08_20_realised": float(((call.hour >= 8) & (call.hour < 20)).mean()),
        "hourly_profile_city": (expected.sum(0) @ hourly / expected.sum()).tolist(),
        "weekday_factors_mon_sun": WEEKDAY.tolist(), "month_factors": MONTH.tolist(),
        "holiday_factor": HOLIDAY_FACTOR, "new_year_factor": NEW_YEAR_FACTOR,
        "heat": {"beta_per_c": HEAT_BETA, "knot_c_tmax": HEAT_KNOT},
        "cold": {"beta_per_c": COLD_BETA, "knot_c_tmean": COLD_KNOT},
        "city_trend_per_year": CITY_TREND, "elderly_rate_ratio": ELDERLY_RATE_RATIO,
        "growth_districts": districts["district_code"].to_numpy()[growth_idx].tolist(),
        "growth_rate_per_year": growth_rate, "rt_drift_min_per_year": rt_drift_min_per_year,
        "central_ward_daytime_factor": {"ward_code": central_ward, "factor": 1.25},
        "effective_minutes_per_km": r["minutes_per_km"], "detour_factor": 1.3,
        "road_time": {"form": "turnout + minutes_per_km * (detour * km) ** exponent * hour_factor * noise",
                      "exponent": ROAD_DISTANCE_EXPONENT, "rush_hours": list(RUSH_HOURS),
                      "rush_factor": RUSH_TRAVEL_FACTOR, "night_factor": NIGHT_TRAVEL_FACTOR},
        "mean_response_min": float(resp.mean()),
        "response_bands": {k: float(v) for k, v in zip(
            ["<5", "5-10", "10-20", ">=20"],
            np.histogram(resp, [0, 5, 10, 20, np.inf])[0] / n, strict=True)},
        "transport_share": TRANSPORT_P,
        "sex_p": SEX_P,
    }
    return {"log": log, "districts": districts, "district_population": dpop, "stations": stations,
            "weather_csv": weather_bytes, "truth": truth}


def hourly_table(log: pd.DataFrame, start: str, end: str) -> pd.DataFrame:
    """Yokohama open-data layout: 覚知年,覚知月,覚知日,覚知時,件数 for every hour (zeros included)."""
    t = pd.to_datetime(log["覚知日時"], format="%Y/%m/%d %H:%M:%S").dt.floor("h")
    hours = pd.date_range(pd.Timestamp(start), pd.Timestamp(end) + pd.Timedelta(hours=23), freq="h")
    c = t.value_counts().reindex(hours, fill_value=0)
    return pd.DataFrame({"覚知年": hours.year, "覚知月": hours.month, "覚知日": hours.day, "覚知時": hours.hour,
                         "件数": c.to_numpy()})


FILES = {"log": "dispatch_log.csv", "hourly": "hourly_counts.csv", "stations": "stations.csv",
         "population": "district_population.csv", "districts": "districts.geojson",
         "weather": "weather_jma_daily.csv", "truth": "truth.json"}


def ensure_emergency(seed: int = 42, *, city_code: str = DEFAULT_CITY, out_dir: str | os.PathLike | None = None,
                     start: str = "2020-01-01", end: str = "2024-12-31", n_districts: int = 40, **kwargs) -> Path:
    """Write the synthetic set once (atomic directory rename) and return its folder.

    Parameters
    ----------
    seed : int
        Seed of the generator (same seed and parameters, same files).
    city_code : str
        Code (or name) of the municipality, ward, designated city or prefecture: its boundaries, plane
        zone and nearest JMA observatory; 熊本市 (43100) also its IPSS population.
    out_dir : path, optional
        Folder under which the set goes, in a sub-folder named by the parameters
        (default ``data/interim/04_emergency_demand/synthetic``).
    start, end : str
        First and last day of the log (ISO dates, at least one year apart).
    n_districts : int
        Synthetic districts (at least two per ward of a designated city or municipality of a prefecture).
    **kwargs
        Further :func:`generate_emergency` parameters (``population_total``, planted effects).

    Returns
    -------
    Path
        The folder holding :data:`FILES`: dispatch_log.csv (cp932), hourly_counts.csv (cp932, Yokohama
        layout), stations.csv (cp932), district_population.csv (cp932), districts.geojson,
        weather_jma_daily.csv (JMA layout, cp932), truth.json (planted truth).
    """
    city_code = geo.resolve_city(city_code).code
    with suspended():
        station = nearest_station(city_code).number
    # Everything that changes the files: the parameters, the generator version, the boundary file (its
    # size), the plane zone and the weather station derived from it.
    spec = json.dumps({"seed": seed, "city": city_code, "start": start, "end": end, "n": n_districts,
                       "version": GENERATOR_VERSION, "boundaries": geo.BOUNDARIES_FILE.stat().st_size,
                       "crs": geo.plane_crs(city_code), "station": station, **kwargs},
                      sort_keys=True, default=str)
    key = f"{city_code}_s{seed}_{start[:4]}-{end[:4]}_d{n_districts}_{hashlib.sha1(spec.encode()).hexdigest()[:8]}"
    base = paths.resolve(out_dir) if out_dir else paths.interim("04_emergency_demand", "synthetic")
    out = base / key
    if all((out / f).exists() for f in FILES.values()):
        return out
    base.mkdir(parents=True, exist_ok=True)
    wx = base / "_weather" / f"jma_daily_{station}_s{seed + 1}_{start}_{end}.csv"
    wx.parent.mkdir(exist_ok=True)

    def build(tmp: Path) -> None:
        g = generate_emergency(seed, city_code=city_code, start=start, end=end, n_districts=n_districts,
                               weather_path=wx, **kwargs)
        g["log"].to_csv(tmp / FILES["log"], index=False, encoding="cp932", lineterminator="\r\n")
        hourly_table(g["log"], start, end).to_csv(tmp / FILES["hourly"], index=False, encoding="cp932",
                                                  lineterminator="\r\n")
        st = g["stations"][["署所コード", "署所名", "区分", "救急隊数_24時間", "救急隊数_日勤", "緯度", "経度"]]
        st.to_csv(tmp / FILES["stations"], index=False, encoding="cp932", lineterminator="\r\n")
        g["district_population"].to_csv(tmp / FILES["population"], index=False, encoding="cp932",
                                        lineterminator="\r\n")
        g["districts"].to_crs(geo.GEO_CRS).to_file(tmp / FILES["districts"], driver="GeoJSON")
        (tmp / FILES["weather"]).write_bytes(g["weather_csv"])
        (tmp / FILES["truth"]).write_text(json.dumps(g["truth"], ensure_ascii=False, indent=1), encoding="utf-8")

    return build_dir_once(out, FILES.values(), build)
