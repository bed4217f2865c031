"""Synthetic ETC2.0 probe deliveries for case 3, written in the delivery format (ZIP per 2次メッシュ).

There is no public probe data and no road network we can bundle, so this module builds:

1. a **synthetic road network inside the real city polygons**: radial arterials from the centre of
   the first area (a designated city's first ward, e.g. its 中央区), ring roads, and a local grid
   downtown, cut into links of ~400 m, in the city's plane CRS (:func:`ebpm_analysis.geo.plane_crs`).
   The network's dimensions (rings up to 8.5 km, a 7 km grid) shrink with the land part holding the
   centre when it is smaller than a disc of 9 km radius (:func:`network_scale`: 船橋市 0.57, an island
   such as 与那国町 0.33), so every city, island or not, gets a network inside it;
2. **trips** with a time-of-day demand (morning and evening peaks, lighter weekends) driving a
   stretch of one road, logging a 様式1-2 position about every 200 m (docs/sources.md#etc2-recording)
   with the link's speed for that hour; **planted congestion**: chosen link × weekday-hour pairs run at a mean
   speed drawn from 15–25 km/h per link-hour, each record with noise around it (:data:`CONGESTED_KMH`);
3. 様式1-4 **behaviour events**: background braking (−0.25 … −0.42 G, recorded from −0.25 G,
   docs/sources.md#etc2-braking) and lateral events everywhere, and **planted sudden-braking hazard spots** where a
   share of passing trips brakes at −0.30 … −0.60 G, so that the spot's mesh brakes 2–5 times as often as the
   background (:data:`HAZARD_RATIO`; per pass through a mesh of the mean chord).

Files: ``positions/OUT1-2_<mesh2>_<YYYYMM01>.zip`` and ``events/OUT1-4_<mesh2>_<YYYYMM01>.zip``
(inner headerless ``data.csv``, utf-8 or cp932, column map ``default`` or ``alternative``), a
``SYNTHETIC.txt`` marker, and the truth beside them in ``truth/`` (``truth.json``, ``hazards.csv``,
``congestion.csv``, ``links.parquet``). Deterministic for a seed.
"""

from __future__ import annotations

import json
import os
import zipfile
from itertools import pairwise
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from shapely.geometry import LineString, Point
from shapely.ops import linemerge, substring

from .. import geo, paths
from ..errors import ParameterError
from ..io import etc2
from ..io.common import build_dir_once
from ..jpcalendar import day_type
from . import set_key

RECORD_SPACING_M = 200.0
ROAD_CLASSES = {"arterial": 50.0, "ring": 45.0, "local": 30.0}   # free-flow speed km/h
CLASS_WEIGHT = {"arterial": 3.0, "ring": 2.0, "local": 1.0}      # demand weight per metre
#: Share of trips starting in each hour (weekday), peaks 7–9 and 17–19.
HOURLY_DEMAND = np.array([0.4, 0.25, 0.2, 0.2, 0.35, 0.9, 2.4, 5.5, 6.5, 4.6, 4.0, 4.1, 4.2, 4.1, 4.2, 4.6,
                          5.4, 6.4, 6.0, 4.2, 2.8, 2.0, 1.3, 0.8])
HOURLY_SPEED_FACTOR = np.array([1.1] * 6 + [0.95, 0.75, 0.72, 0.85] + [0.9] * 7 + [0.75, 0.72, 0.85] + [1.0] * 4)
#: Weekends/holidays: no commuter peaks, a mild midday slowdown (shopping traffic).
HOLIDAY_SPEED_FACTOR = np.array([1.1] * 7 + [1.0] * 3 + [0.9] * 7 + [0.92, 0.95, 0.98] + [1.05] * 4)
#: Bump when the generated data change, so cached sets in data/interim are regenerated.
GENERATOR_VERSION = 6
#: Planted hazard spots: the braking rate (≤ −0.3 G per pass) of the mesh holding a spot is this many times the
#: background, drawn uniformly per spot (docs/sources.md#etc2-hazard-size). Reasoning: a hazard spot in
#: probe data is a place where sudden braking is a few times as frequent as on the road around it, not an order
#: of magnitude: the analysis' own threshold for a braking hot spot is 2× the city rate, and the earlier planted
#: share (12 % of passing trips braking, ≈ 40× background) made every spot trivially visible.
HAZARD_RATIO = (2.0, 5.0)
#: Planted congestion (docs/sources.md#etc2-congestion-size): each congested link × weekday-hour gets a mean speed
#: drawn uniformly from this range (km/h) and each record a speed of that mean × lognormal noise (sd
#: :data:`CONGESTED_NOISE` on the log scale). Reasoning: a congested urban arterial at the peak crawls at around
#: the 20 km/h that Japanese traffic information shows as 混雑 on ordinary roads (docs/sources.md#congestion-speeds),
#: some link-hours a little below, some above, not at walking pace; records of one link-hour scatter as much as
#: the generator's free-flow speeds do (0.12) or a little more (stop-and-go). The earlier 5–17 km/h made every
#: record slow, so the analysis' "share of slow records ≥ 50 %" was 1 by construction.
CONGESTED_KMH = (15.0, 25.0)
CONGESTED_NOISE = 0.15
#: Share of background 前後 events at or below −0.3 G: accelerations are uniform on −0.42 … −0.25 G.
_BG_SHARE_BELOW_03 = (0.42 - 0.30) / (0.42 - 0.25)
#: Mean length (km) of a trip's path inside a level-6 mesh it crosses (≈ π·area/perimeter of a 116 × 146 m cell,
#: the mean chord of a convex cell), to turn the background rate per km into a rate per mesh pass.
MEAN_CHORD_KM = 0.10


# ----------------------------------------------------------------------------------- network
def _longest_piece(geom, near: Point | None = None):
    parts = [g for g in shapely.get_parts(geom) if g.length > 0]
    if not parts:
        return None
    if near is not None:
        touching = [g for g in parts if g.distance(near) < 1.0]
        if touching:
            return max(touching, key=lambda g: g.length)
    return max(parts, key=lambda g: g.length)


#: Radius (m) of the disc a city's central land part must match for the network at full size.
FULL_SIZE_RADIUS_M = 9000.0


def _centre_part(plane: gpd.GeoDataFrame):
    """(centre point, land part holding it): the centroid of the first area when it lies inside it,
    else the representative point of the first area's largest part (islands, multi-part areas)."""
    first = plane.geometry.iloc[0]
    if first.contains(first.centroid):
        centre = first.centroid
    else:
        parts = shapely.get_parts(first)
        centre = parts[int(np.argmax(shapely.area(parts)))].representative_point()
    union = shapely.union_all(plane.geometry.to_numpy())
    part = next((g for g in shapely.get_parts(union) if g.intersects(centre.buffer(1.0))), union)
    return centre, union, part


def network_scale(area_m2: float) -> float:
    """Size factor of the synthetic network (1 = full size) for a central land part of ``area_m2``:
    the radius of the disc of that area over :data:`FULL_SIZE_RADIUS_M`, at most 1."""
    return float(min(1.0, np.sqrt(max(area_m2, 0.0) / np.pi) / FULL_SIZE_RADIUS_M))


def build_network(city_code: str = "43100", seed: int = 0, *, n_radials: int = 8, ring_radii_m=(2500, 5000, 8500),
                  grid_spacing_m: float = 1000.0, grid_half_m: float = 3500.0, link_m: float = 400.0):
    """Roads and links (GeoDataFrames in the city's plane CRS) inside the city's polygons.

    ``roads.attrs``: ``centre`` (x, y), ``scale`` (:func:`network_scale`) and ``crs``.
    """
    rng = np.random.default_rng(seed)
    crs = geo.plane_crs(city_code)
    plane = geo.load_city(city_code).to_crs(crs)
    centre, union, part = _centre_part(plane)
    k = network_scale(part.area)
    cx, cy = centre.x, centre.y
    roads = []
    angles = np.arange(n_radials) * 2 * np.pi / n_radials + rng.uniform(-0.15, 0.15, n_radials) + 0.2
    for i, a in enumerate(angles):
        # A gently bending arterial: three segments with small heading changes.
        pts = [(cx, cy)]
        heading = a
        for _ in range(6):
            heading += rng.normal(0, 0.08)
            x, y = pts[-1]
            pts.append((x + 5000 * k * np.cos(heading), y + 5000 * k * np.sin(heading)))
        line = _longest_piece(shapely.intersection(LineString(pts), union), near=centre)
        if line is not None and line.length > 2000 * k:
            roads.append({"road_id": f"R{i + 1:02d}", "road_name": f"放射{i + 1}号線", "road_class": "arterial",
                          "geometry": line})
    for j, r in enumerate(ring_radii_m):
        ring = Point(cx, cy).buffer(r * k, quad_segs=32).exterior
        inter = shapely.intersection(ring, union)
        merged = linemerge(inter) if inter.geom_type == "MultiLineString" else inter
        for m, piece in enumerate(p for p in shapely.get_parts(merged) if p.length > 1500 * k):
            roads.append({"road_id": f"C{j + 1}{m + 1}", "road_name": f"環状{j + 1}号線", "road_class": "ring",
                          "geometry": piece})
    offsets = np.arange(-grid_half_m + grid_spacing_m / 2, grid_half_m, grid_spacing_m) * k
    g = 0
    half = grid_half_m * k
    for off in offsets:
        for line in (LineString([(cx + off, cy - half), (cx + off, cy + half)]),
                     LineString([(cx - half, cy + off), (cx + half, cy + off)])):
            piece = _longest_piece(shapely.intersection(line, union))
            if piece is not None and piece.length > 1000 * k:
                g += 1
                roads.append({"road_id": f"L{g:02d}", "road_name": f"市道{g}号", "road_class": "local",
                              "geometry": piece})
    if not roads:
        raise ParameterError("city_code", f"{geo.city_name(city_code)} ({city_code}): no synthetic road fits inside "
                             f"its central land part ({part.area / 1e6:.2f} km²)",
                             expected="a municipality with at least about 1 km² of land around its centre")
    roads = gpd.GeoDataFrame(roads, geometry="geometry", crs=crs)
    roads["length_m"] = roads.length
    links = []
    for r in roads.itertuples():
        n = max(1, int(np.ceil(r.length_m / link_m)))
        edges = np.linspace(0, r.length_m, n + 1)
        for q in range(n):
            links.append({"link_id": f"{r.road_id}-{q + 1:03d}", "road_id": r.road_id, "road_class": r.road_class,
                          "s_from": edges[q], "s_to": edges[q + 1],
                          "geometry": substring(r.geometry, edges[q], edges[q + 1])})
    links = gpd.GeoDataFrame(links, geometry="geometry", crs=crs)
    links["free_speed_kmh"] = links["road_class"].map(ROAD_CLASSES) * rng.uniform(0.9, 1.1, len(links))
    roads.attrs.update({"centre": (cx, cy), "scale": k, "crs": crs})
    return roads, links


# ----------------------------------------------------------------------------------- truth
def _plant(roads, links, rng, n_hazards: int, n_congested: int, centre, min_sep_m: float = 900.0, k: float = 1.0):
    """Hazard spots and congested link-hours; distances scale with the network (``k``)."""
    cx, cy = centre
    # Hazard spots: on roads within 9 km of the centre, well apart, away from road ends.
    hazards = []
    weights = roads["length_m"] * roads["road_class"].map(CLASS_WEIGHT)
    tries = 0
    while len(hazards) < n_hazards and tries < 5000:
        tries += 1
        r = roads.iloc[rng.choice(len(roads), p=(weights / weights.sum()).to_numpy())]
        if r.length_m < 1200 * k:
            continue
        s = rng.uniform(400 * k, r.length_m - 400 * k)
        p = r.geometry.interpolate(s)
        if np.hypot(p.x - cx, p.y - cy) > 9000 * k:
            continue
        if any(np.hypot(p.x - h["x"], p.y - h["y"]) < min_sep_m * k for h in hazards):
            continue
        hazards.append({"hazard_id": f"H{len(hazards) + 1:02d}", "road_id": r.road_id, "s_m": s, "x": p.x, "y": p.y})
    hazards = pd.DataFrame(hazards, columns=["hazard_id", "road_id", "s_m", "x", "y"])
    # Congested link-hours: arterial/ring links within 6 km, a 2-hour weekday peak window each.
    mid = links.geometry.interpolate(0.5, normalized=True)
    d = np.hypot(mid.x - cx, mid.y - cy)
    cand = links[(links["road_class"] != "local") & (d > 800 * k) & (d < 6000 * k)]
    chosen = cand.iloc[rng.choice(len(cand), size=min(n_congested, len(cand)), replace=False)]
    rows = []
    for lk in chosen.itertuples():
        start = int(rng.choice([7, 17]))
        for h in (start, start + 1):
            rows.append({"link_id": lk.link_id, "road_id": lk.road_id, "hour": h, "day_type": "weekday",
                         "speed_kmh": float(rng.uniform(*CONGESTED_KMH))})
    return hazards, pd.DataFrame(rows, columns=["link_id", "road_id", "hour", "day_type", "speed_kmh"])


def _link_meshes(links, crs) -> dict:
    """Level-6 mesh codes each link crosses (``;``-joined, points every 5 m along it), for matching flags."""
    from ..cases.probe import mesh_code

    to_geo = Transformer.from_crs(crs, geo.GEO_CRS, always_xy=True)
    out = {}
    for lk in links.itertuples():
        pts = shapely.line_interpolate_point(lk.geometry, np.append(np.arange(0, lk.geometry.length, 5.0),
                                                                    lk.geometry.length))
        lon, lat = to_geo.transform(shapely.get_x(pts), shapely.get_y(pts))
        out[lk.link_id] = ";".join(map(str, np.unique(mesh_code(lat, lon, 6))))
    return out


# ----------------------------------------------------------------------------------- trips
def _trip_chunk(rng, roads, link_tables, n_trips, month_days, weekday_mask, hazards_by_road, congested,
                trip_offset, bg_event_per_km):
    """Positions and events of ``n_trips`` trips (numpy arrays in road coordinates)."""
    road_len = roads["length_m"].to_numpy()
    w = road_len * roads["road_class"].map(CLASS_WEIGHT).to_numpy()
    road = rng.choice(len(roads), size=n_trips, p=w / w.sum())
    L = np.minimum(rng.uniform(1500, 8000, n_trips), road_len[road])
    direction = np.where(rng.random(n_trips) < 0.5, 1.0, -1.0)
    s0 = np.where(direction > 0, rng.uniform(0, 1, n_trips) * (road_len[road] - L),
                  L + rng.uniform(0, 1, n_trips) * (road_len[road] - L))
    # Day and start hour (weekends lighter and flatter).
    day_w = np.where(weekday_mask, 1.0, 0.7)
    day = rng.choice(len(month_days), size=n_trips, p=day_w / day_w.sum())
    wk = weekday_mask[day]
    hour_p = HOURLY_DEMAND / HOURLY_DEMAND.sum()
    flat = 0.5 * hour_p + 0.5 / 24
    hour = np.where(wk, rng.choice(24, size=n_trips, p=hour_p), rng.choice(24, size=n_trips, p=flat))
    start_sec = hour * 3600 + rng.integers(0, 3600, n_trips)
    m = (L // RECORD_SPACING_M).astype(np.int64) + 1
    trip = np.repeat(np.arange(n_trips), m)
    first = np.cumsum(m) - m
    k = np.arange(m.sum()) - first[trip]
    s = s0[trip] + direction[trip] * RECORD_SPACING_M * k
    r_of = road[trip]
    # Link and speed of each record.
    link_idx = np.empty(len(s), np.int64)
    free = np.empty(len(s))
    for ri in np.unique(r_of):
        sel = r_of == ri
        tab = link_tables[ri]
        li = np.clip(np.searchsorted(tab["s_to"], s[sel]), 0, len(tab["s_to"]) - 1)
        link_idx[sel] = tab["global"][li]
        free[sel] = tab["free"][li]
    h = hour[trip]
    v = free * np.where(wk[trip], HOURLY_SPEED_FACTOR[h], HOLIDAY_SPEED_FACTOR[h]) * rng.lognormal(0, 0.12, len(s))
    cmean = congested[link_idx, h]
    cong = ~np.isnan(cmean) & wk[trip]
    v = np.where(cong, np.nan_to_num(cmean) * rng.lognormal(0, CONGESTED_NOISE, len(s)), v)
    v = np.clip(v, 2, 95)
    dt = np.where(k == 0, 0.0, RECORD_SPACING_M / (v / 3.6))
    csum = np.cumsum(dt)
    t = csum - (csum[first] - dt[first])[trip]   # seconds since trip start
    dur = t[first + m - 1]
    start_sec = np.minimum(start_sec, 86399 - np.ceil(dur).astype(np.int64))
    sec = start_sec[trip] + np.floor(t).astype(np.int64)
    pos = {"trip": trip + trip_offset, "road": r_of, "s": s, "speed": np.round(v).astype(np.int64),
           "sec": sec, "day": day[trip], "link": link_idx}
    # Events: hazard braking for trips covering a spot, background braking and lateral events.
    s_lo = np.minimum(s0, s0 + direction * (m - 1) * RECORD_SPACING_M)
    s_hi = np.maximum(s0, s0 + direction * (m - 1) * RECORD_SPACING_M)
    ev = {"trip": [], "road": [], "s": [], "accel": [], "lat_g": [], "trigger": []}
    for ri, spots in hazards_by_road.items():
        on = np.flatnonzero(road == ri)
        for sh, p_brake in spots:
            cover = on[(s_lo[on] <= sh) & (s_hi[on] >= sh)]
            hit = cover[rng.random(len(cover)) < p_brake]
            ev["trip"].append(hit)
            ev["road"].append(np.full(len(hit), ri))
            ev["s"].append(sh + rng.normal(0, 12, len(hit)))
            ev["accel"].append(-rng.uniform(0.30, 0.60, len(hit)))
            ev["lat_g"].append(rng.normal(0, 0.05, len(hit)))
            ev["trigger"].append(np.full(len(hit), "前後"))
    nb = rng.poisson(bg_event_per_km * L / 1000.0)
    bt = np.repeat(np.arange(n_trips), nb)
    frac = rng.random(len(bt))
    ev["trip"].append(bt)
    ev["road"].append(road[bt])
    ev["s"].append(s_lo[bt] + frac * (s_hi[bt] - s_lo[bt]))
    lateral = rng.random(len(bt)) < 0.15
    ev["accel"].append(np.where(lateral, -rng.uniform(0.0, 0.1, len(bt)), -rng.uniform(0.25, 0.42, len(bt))))
    ev["lat_g"].append(np.where(lateral, rng.choice([-1, 1], len(bt)) * rng.uniform(0.3, 0.5, len(bt)),
                                rng.normal(0, 0.05, len(bt))))
    ev["trigger"].append(np.where(lateral, "左右", "前後"))
    ev = {k2: np.concatenate(v2) if len(v2) else np.array([]) for k2, v2 in ev.items()}
    et = ev["trip"].astype(np.int64)
    # Event time: interpolate along the trip by distance travelled.
    along = np.abs(ev["s"] - s0[et])
    ev["sec"] = np.minimum(start_sec[et] + np.floor(along / np.maximum(L[et], 1) * dur[et]).astype(np.int64), 86399)
    ev["day"] = day[et]
    ev["heading_dir"] = direction[et]
    ev["trip"] = et + trip_offset
    ev["s"] = np.clip(ev["s"], 0, road_len[ev["road"].astype(np.int64)])
    ev["road"] = ev["road"].astype(np.int64)
    ev["speed"] = np.round(np.clip(rng.normal(35, 10, len(et)), 5, 80)).astype(np.int64)
    return pos, ev


def _xy(roads_geom, road, s):
    x = np.empty(len(s))
    y = np.empty(len(s))
    for ri in np.unique(road):
        sel = road == ri
        pts = shapely.line_interpolate_point(roads_geom[ri], s[sel])
        x[sel], y[sel] = shapely.get_x(pts), shapely.get_y(pts)
    return x, y


def _heading_code(roads_geom, road, s, direction):
    """Heading as a 16-point code 0–15 (0 = north, clockwise), from the road tangent."""
    x1, y1 = _xy(roads_geom, road, np.maximum(s - 5, 0))
    x2, y2 = _xy(roads_geom, road, s + 5)
    ang = np.degrees(np.arctan2((x2 - x1) * direction, (y2 - y1) * direction)) % 360
    return (np.round(ang / 22.5).astype(np.int64)) % 16


class _ZipWriters:
    """One open ZIP (with one streaming data.csv) per 2次メッシュ."""

    def __init__(self, folder: Path, prefix: str, stamp: str, kind: str, column_map: str, encoding: str):
        self.folder, self.prefix, self.stamp = folder, prefix, stamp
        self.kind, self.column_map, self.encoding = kind, column_map, encoding
        self.open: dict[str, tuple] = {}

    def write(self, mesh2: np.ndarray, data: dict):
        order = np.argsort(mesh2, kind="stable")
        ms = mesh2[order]
        cuts = np.flatnonzero(np.r_[True, ms[1:] != ms[:-1], True])
        for a, b in pairwise(cuts):
            code = str(ms[a])
            sel = order[a:b]
            if code not in self.open:
                zf = zipfile.ZipFile(self.folder / f"{self.prefix}_{code}_{self.stamp}.zip", "w",
                                     compression=zipfile.ZIP_DEFLATED, compresslevel=1)
                self.open[code] = (zf, zf.open("data.csv", "w", force_zip64=True))
            table = etc2.delivery_table({k: v[sel] for k, v in data.items()}, self.kind, column_map=self.column_map)
            etc2.write_csv_table(table, self.open[code][1], self.encoding)

    def close(self):
        for zf, fh in self.open.values():
            fh.close()
            zf.close()


def generate(out_dir: str | os.PathLike, *, seed: int = 0, city_code: str = "43100", n_rows: int = 500_000,
             month: str = "2025-10", n_hazards: int = 8, n_congested: int = 6, hazard_ratio=HAZARD_RATIO,
             bg_event_per_km: float = 0.03, column_map: str = "default", encoding: str = "utf-8",
             chunk_rows: int = 4_000_000) -> dict:
    """Write a synthetic delivery of about ``n_rows`` 様式1-2 rows (and its 様式1-4 events) into ``out_dir``."""
    from ..cases.probe import mesh_code

    rng = np.random.default_rng(seed)
    out = Path(out_dir)
    (out / "positions").mkdir(parents=True, exist_ok=True)
    (out / "events").mkdir(parents=True, exist_ok=True)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    roads, links = build_network(city_code, seed)
    centre = roads.attrs["centre"]
    crs = roads.attrs["crs"]
    hazards, cong = _plant(roads, links, rng, n_hazards, n_congested, centre, k=roads.attrs["scale"])
    lo_r, hi_r = (float(x) for x in hazard_ratio)
    if not 1 <= lo_r <= hi_r:
        raise ParameterError("hazard_ratio", f"{hazard_ratio!r}", expected="a pair (low, high) with 1 ≤ low ≤ high")
    # background braking events (≤ −0.3 G) per km and per pass through a mesh (its mean chord); a spot adds
    # (ratio − 1) times the latter to each pass
    bg_km = bg_event_per_km * 0.85 * _BG_SHARE_BELOW_03
    bg_pass = bg_km * MEAN_CHORD_KM
    hazards["ratio"] = rng.uniform(lo_r, hi_r, len(hazards))
    hazards["p_brake"] = (hazards["ratio"] - 1) * bg_pass
    road_index = {rid: i for i, rid in enumerate(roads["road_id"])}
    links = links.reset_index(drop=True)
    link_tables = {}
    for rid, grp in links.groupby("road_id", sort=False):
        link_tables[road_index[rid]] = {"s_to": grp["s_to"].to_numpy(), "global": grp.index.to_numpy(),
                                        "free": grp["free_speed_kmh"].to_numpy()}
    congested = np.full((len(links), 24), np.nan)   # mean speed of a congested link-hour, NaN elsewhere
    link_pos = {lid: i for i, lid in enumerate(links["link_id"])}
    for row in cong.itertuples():
        congested[link_pos[row.link_id], row.hour] = row.speed_kmh
    hazards_by_road = {}
    for h in hazards.itertuples():
        hazards_by_road.setdefault(road_index[h.road_id], []).append((h.s_m, h.p_brake))
    days = pd.date_range(f"{month}-01", periods=pd.Period(month).days_in_month, freq="D")
    weekday_mask = day_type(days) == "weekday"
    date_int = days.strftime("%Y%m%d").astype(np.int64).to_numpy()
    to_geo = Transformer.from_crs(crs, geo.GEO_CRS, always_xy=True)
    geoms = roads.geometry.to_numpy()
    stamp = days[0].strftime("%Y%m%d")
    mean_records = np.mean(np.minimum(np.linspace(1500, 8000, 50), roads["length_m"].median()) // RECORD_SPACING_M + 1)
    pw = _ZipWriters(out / "positions", "OUT1-2", stamp, "1-2", column_map, encoding)
    ew = _ZipWriters(out / "events", "OUT1-4", stamp, "1-4", column_map, encoding)
    n_written = n_events = n_trips_total = 0
    try:
        while n_written < n_rows:
            want = min(chunk_rows, n_rows - n_written)
            n_trips = max(1, int(want / mean_records))
            pos, ev = _trip_chunk(rng, roads, link_tables, n_trips, days, weekday_mask, hazards_by_road, congested,
                                  n_trips_total, bg_event_per_km)
            if len(pos["s"]) > want:  # trim to the requested size at a trip boundary
                keep_trips = pos["trip"] <= pos["trip"][want - 1]
                pos = {k: v[keep_trips] for k, v in pos.items()}
                ek = ev["trip"] <= pos["trip"][-1]
                ev = {k: v[ek] for k, v in ev.items()}
            n_trips_total += n_trips
            x, y = _xy(geoms, pos["road"], pos["s"])
            x += rng.normal(0, 4, len(x))
            y += rng.normal(0, 4, len(y))
            lon, lat = to_geo.transform(x, y)
            sec = pos["sec"]
            t = date_int[pos["day"]] * 10**6 + (sec // 3600) * 10**4 + (sec // 60 % 60) * 100 + sec % 60
            # One 運行ID per trip (trip number 1): trips never overlap within a 運行ID.
            data = {"run_date": date_int[pos["day"]], "opid": np.char.zfill(pos["trip"].astype(str), 12),
                    "gps_time": t, "trip_no": np.ones(len(t), np.int64), "lon": np.round(lon, 6), "lat": np.round(lat,
                                                                                                                  6),
                    "speed_kmh": pos["speed"]}
            mesh2 = mesh_code(lat, lon, 2)
            pw.write(mesh2, data)
            n_written += len(sec)
            if len(ev["trip"]):
                ex, ey = _xy(geoms, ev["road"], ev["s"])
                elon, elat = to_geo.transform(ex, ey)
                es = ev["sec"]
                et = date_int[ev["day"]] * 10**6 + (es // 3600) * 10**4 + (es // 60 % 60) * 100 + es % 60
                order = np.lexsort((et, ev["trip"]))
                edata = {"opid": np.char.zfill(ev["trip"].astype(str), 12), "trip_no": np.ones(len(et), np.int64),
                         "event_time": et, "lon": np.round(elon, 6), "lat": np.round(elat, 6),
                         "heading": _heading_code(geoms, ev["road"], ev["s"], ev["heading_dir"]),
                         "speed_kmh": ev["speed"], "accel_long_g": np.round(ev["accel"], 3),
                         "accel_lat_g": np.round(ev["lat_g"], 3), "trigger": ev["trigger"]}
                edata = {k: np.asarray(v)[order] for k, v in edata.items()}
                emesh = mesh_code(edata["lat"], edata["lon"], 2)
                ew.write(emesh, edata)
                n_events += len(et)
    finally:
        pw.close()
        ew.close()
    for sub in ("positions", "events"):
        (out / sub / etc2.SYNTHETIC_MARKER).write_text(
            "合成データ（ebpm_analysis.synth.probe）: 実在の車両・走行を表しません。\n", encoding="utf-8")
    # Truth beside the data.
    hz = gpd.GeoDataFrame(hazards, geometry=gpd.points_from_xy(hazards["x"], hazards["y"]), crs=crs)
    hz_geo = hz.to_crs(geo.GEO_CRS)
    hazards["lon"], hazards["lat"] = hz_geo.geometry.x.to_numpy(), hz_geo.geometry.y.to_numpy()
    mid = links.set_index("link_id").geometry.interpolate(0.5, normalized=True)
    mid_geo = gpd.GeoSeries(mid, crs=crs).to_crs(geo.GEO_CRS)
    cong["lon"] = cong["link_id"].map(mid_geo.x)
    cong["lat"] = cong["link_id"].map(mid_geo.y)
    cong["mesh6"] = cong["link_id"].map(_link_meshes(links[links["link_id"].isin(cong["link_id"])], crs))
    hazards.to_csv(out / "truth" / "hazards.csv", index=False)
    cong.to_csv(out / "truth" / "congestion.csv", index=False)
    links.to_crs(geo.GEO_CRS).to_parquet(out / "truth" / "links.parquet")
    roads.drop(columns=[], errors="ignore").to_crs(geo.GEO_CRS).to_parquet(out / "truth" / "roads.parquet")
    meta = {"generator": "ebpm_analysis.synth.probe", "version": GENERATOR_VERSION, "seed": seed,
            "city_code": city_code, "month": month,
            "n_position_rows": int(n_written), "n_event_rows": int(n_events), "n_trips": int(n_trips_total),
            "n_hazards": int(len(hazards)), "n_congested_link_hours": int(len(cong)),
            "hazard_ratio": [float(x) for x in hazard_ratio], "bg_braking_per_pass": bg_pass,
            "bg_braking_per_km": bg_km, "congested_kmh": [float(x) for x in CONGESTED_KMH],
            "bg_event_per_km": bg_event_per_km, "column_map": column_map, "encoding": encoding,
            "n_roads": int(len(roads)), "n_links": int(len(links)), "crs": crs,
            "network_scale": float(roads.attrs["scale"]),
            "network_km": float(roads["length_m"].sum() / 1000)}
    (out / "truth" / "truth.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
    return meta


FILES = {"positions": "positions", "events": "events", "truth": "truth/truth.json"}


def ensure_probe(seed: int = 0, *, city_code: str = "43100", out_dir: str | os.PathLike | None = None,
                 n_rows: int = 500_000, month: str = "2025-10", column_map: str = "default", encoding: str = "utf-8",
                 **kw) -> Path:
    """Write the synthetic ETC2.0 delivery once and return its folder.

    Parameters
    ----------
    seed : int
        Seed of the generator (same seed, same files).
    city_code : str
        5-digit code of the city whose polygons carry the synthetic road network.
    out_dir : path, optional
        Folder under which the set goes, in a sub-folder named by the parameters
        (default ``data/interim/03_probe_slowdowns/synthetic``).
    n_rows : int
        Number of 様式1-2 position rows (about).
    month : str
        Month of the delivery, ``YYYY-MM``.
    column_map : {"default", "alternative"}
        Column order of the delivery.
    encoding : {"utf-8", "cp932"}
        Encoding of the inner CSVs.
    **kw
        Further :func:`generate` parameters.

    Returns
    -------
    Path
        The folder holding :data:`FILES`: ``positions/`` (様式1-2 ZIPs), ``events/`` (様式1-4 ZIPs) and
        ``truth/`` (``truth.json``, ``hazards.csv``, ``congestion.csv``, ``links.parquet``,
        ``roads.parquet``; read with :func:`ebpm_analysis.synth.read_truth`).
    """
    # The folder name covers every input of the output: parameters, generator version, the boundary file and
    # the source of this generator and of geo (synth.set_key).
    spec = {"seed": seed, "city_code": city_code, "n_rows": n_rows, "month": month, "column_map": column_map,
            "encoding": encoding, "version": GENERATOR_VERSION, **kw}
    key = set_key(f"{city_code}_{month}_n{n_rows}_s{seed}", spec, __name__, "ebpm_analysis.geo",
                  "ebpm_analysis.io.etc2")
    base = paths.resolve(out_dir) if out_dir else paths.interim("03_probe_slowdowns", "synthetic")
    return build_dir_once(base / key, [FILES["truth"]], lambda tmp: generate(
        tmp, seed=seed, city_code=city_code, n_rows=n_rows, month=month, column_map=column_map,
        encoding=encoding, **kw))
