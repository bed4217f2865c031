"""Synthetic school-route position fixes (GPS over LPWA, a fix every few minutes; docs/sources.md#toyama-monitoring).

The world (everything here is SYNTHETIC — fictional schools, children and streets):

- A few primary schools ("A小学校", "B小学校", …) placed next to each other inside the real
  polygon(s) of the city (bundled N03 boundaries; :func:`school_area_codes`: the wards given, else a
  designated city's first two wards, else the whole municipality), on a synthetic street grid of
  ``block_m`` metre blocks in the city's plane CRS (:func:`ebpm_analysis.geo.plane_crs`) clipped to the
  polygon. Where the land is too small for ``n_schools`` schools ``catchment_m`` apart (an island), the
  spacing shrinks, then fewer schools are placed (``truth.json`` says how many). A school occupies a
  block; children arrive at one of two gate corners.
- Each school has ``n_gathering`` gathering points (集合場所) 350 m – ``catchment_m`` away. The
  designated school route (指定通学路) from a gathering point first runs along a feeder street
  to the school's trunk street, then along the trunk to the gate, so routes converge like real
  ones. The union of the routes is cut into segments (between junctions, at most
  ``max_segment_edges`` blocks each); the city's route file lists these segments.
- Children live along the first blocks of their group's route. Mornings: 集団登校 — the group
  leaves the gathering point between 07:15 and 07:50 and picks the children up on the way.
  Each group has its own departure time (± ~2 min from day to day).
  Afternoons: children leave school by grade (14:30 / 15:15 / 16:00 ± 10 min) and walk home alone.
- **Planted crowded crossings**: ``planted_per_school`` crossings per school on busy stretches of
  the designated network where children wait 2.5–5 min (a long signal / an arterial road), so
  many of them are seen there in the same 5 minutes. Elsewhere children wait 0–40 s sometimes.
- **Planted deviations**: ``deviations_per_school`` straight route segments per school that
  some children bypass on their way home via a parallel non-designated street (a share drawn in
  0.25–0.5 of the children using it, each such child doing so on ~85 % of afternoons).
- Observation days are school days (:func:`ebpm_analysis.jpcalendar.is_school_day`) from ``start_date``.
- Devices send a fix every ``fix_interval_s`` seconds (random phase) while the child is on the
  way; positions carry GPS error consistent with the reported accuracy, ~3 % of fixes are poor
  (accuracy 60–150 m). A fix whose error would put it outside the city (on a coast) is reported at
  the child's true position, so every fix lies inside the city.

Files written (the layout a city would deliver): ``fixes.csv`` (cp932), ``schools.csv``,
``crossings.csv`` and ``designated_routes.geojson``; truth beside them: ``truth.json``
(planted crossings and deviations, with the true share of passes that left the route) and
``truth_segments.csv`` (true passes and deviating passes for every segment).
"""

from __future__ import annotations

import hashlib
import json
import os
from itertools import pairwise
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .. import geo, paths
from ..errors import ParameterError
from ..io.common import atomic_path, build_dir_once
from ..jpcalendar import is_school_day
from . import set_key

FIXES_COLUMNS = ["device_id", "school_id", "school_name", "grade", "timestamp", "lat", "lon", "accuracy", "battery"]
SCHOOL_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
MORNING_WINDOW = ("07:15", "07:50")       # group departures
DISMISSAL = {1: "14:30", 2: "14:30", 3: "15:15", 4: "15:15", 5: "16:00", 6: "16:00"}
WALK_SPEED = (0.9, 1.3)                     # m/s, children
GENERATOR_VERSION = 6                       # part of the cache key: bump when the output changes


# ----------------------------------------------------------------------------------- world
class _Grid:
    """Street grid: node (i, j) at (x0 + i*b, y0 + j*b) in the plane CRS."""

    def __init__(self, x0: float, y0: float, block: float, poly):
        self.x0, self.y0, self.b = x0, y0, block
        self.poly = poly
        shapely.prepare(poly)
        self._inside: dict[tuple[int, int], bool] = {}

    def xy(self, node):
        return (self.x0 + node[0] * self.b, self.y0 + node[1] * self.b)

    def inside(self, node) -> bool:
        v = self._inside.get(node)
        if v is None:
            x, y = self.xy(node)
            v = bool(shapely.contains_xy(self.poly, x, y))
            self._inside[node] = v
        return v

    def node_of(self, x, y):
        return (int(round((x - self.x0) / self.b)), int(round((y - self.y0) / self.b)))


def _edge(a, b):
    return (a, b) if a <= b else (b, a)


def _walk(a, b):
    """Nodes from a to b moving along one axis (a and b share a row or column)."""
    (i0, j0), (i1, j1) = a, b
    if i0 == i1:
        step = 1 if j1 >= j0 else -1
        return [(i0, j) for j in range(j0, j1 + step, step)]
    step = 1 if i1 >= i0 else -1
    return [(i, j0) for i in range(i0, i1 + step, step)]


def _designated_path(g, school_block, grid):
    """Feeder then trunk: move along the minor axis to the school's trunk street, then to the gate."""
    ci, cj = school_block                     # block (ci..ci+1, cj..cj+1)
    gi, gj = g
    dx, dy = gi - (ci + 0.5), gj - (cj + 0.5)
    if abs(dy) >= abs(dx):                    # north or south: trunk is a N-S street
        if dy > 0:
            gate, trunk_i = (ci + 1, cj + 1), ci + 1
        else:
            gate, trunk_i = (ci, cj), ci
        corner = (trunk_i, gj)
    else:                                     # east or west: trunk is an E-W street
        if dx > 0:
            gate, trunk_j = (ci + 1, cj + 1), cj + 1
        else:
            gate, trunk_j = (ci, cj), cj
        corner = (gi, trunk_j)
    path = _walk(g, corner) + _walk(corner, gate)[1:]
    if not all(grid.inside(n) for n in path):
        return None
    return path


def _segments(edges: set, gather_nodes: set, gates: set, max_edges: int):
    """Cut a set of grid edges into chains between junctions/ends (at most ``max_edges`` long)."""
    adj: dict = {}
    for a, b in edges:
        adj.setdefault(a, []).append(b)
        adj.setdefault(b, []).append(a)
    breaks = {n for n, nb in adj.items() if len(nb) != 2} | gather_nodes | gates
    for n, nb in adj.items():   # corners (a turn) also end a segment so segments are straight
        if len(nb) == 2:
            (a, b) = nb
            if not (a[0] == b[0] == n[0] or a[1] == b[1] == n[1]):
                breaks.add(n)
    seen, chains = set(), []
    for start in sorted(breaks):
        for nxt in sorted(adj.get(start, [])):
            e = _edge(start, nxt)
            if e in seen:
                continue
            chain = [start, nxt]
            seen.add(e)
            while chain[-1] not in breaks:
                cur = chain[-1]
                cand = [n for n in adj[cur] if _edge(cur, n) not in seen]
                if not cand:
                    break
                seen.add(_edge(cur, cand[0]))
                chain.append(cand[0])
            for k in range(0, len(chain) - 1, max_edges):
                chains.append(chain[k:k + max_edges + 1])
    return chains


def _pick_schools(area, n, rng, catchment, block):
    """Up to ``n`` school sites near the centre of ``area``, ``1.7 × catchment`` apart; on land too small
    for that the spacing shrinks (down to 3 blocks) before fewer schools are placed."""
    inner = area.buffer(-600)
    if inner.is_empty or inner.area < 1e6:
        inner = area.buffer(-200)
    if inner.is_empty or inner.area < 4 * block * block:  # a small island: the land itself
        inner = area
    cand = geo.random_points_in(inner, 4000, rng)
    centre = np.array(inner.representative_point().coords[0])
    order = np.argsort(np.linalg.norm(cand - centre, axis=1))
    spacing = 1.7 * catchment
    while True:
        chosen = []
        for k in order:
            p = cand[k]
            if all(np.linalg.norm(p - q) >= spacing for q in chosen):
                chosen.append(p)
            if len(chosen) == n:
                break
        if len(chosen) == n or spacing <= 3 * block:
            return np.array(chosen)
        spacing = max(3 * block, spacing * 0.7)


def school_area_codes(city_code: str, ward_codes=()) -> list[str]:
    """The areas (codes of :func:`ebpm_analysis.geo.load_city`'s parts) that host the synthetic schools:
    ``ward_codes`` when given (each must be a part of the city), else the first two wards of a designated
    city by code (the first is its central ward: 熊本市 中央区・東区, 札幌市 中央区・北区), else the city itself."""
    city = geo.load_city(city_code)
    codes = list(city["code"])
    if ward_codes:
        wanted = [str(c) for c in ward_codes]
        bad = [c for c in wanted if c not in codes]
        if bad:
            raise ParameterError("ward_codes", f"{bad} {'is' if len(bad) == 1 else 'are'} not an area of "
                                 f"{city.attrs['city_name']} ({city.attrs['city_code']})",
                                 expected=f"codes among {', '.join(codes)}, or [] (derived from the city)")
        return wanted
    return sorted(codes)[:2] if city.attrs["has_wards"] else codes


def _build_world(city_code, ward_codes, seed, n_schools, n_gathering, catchment_m, block_m, max_segment_edges):
    rng = np.random.default_rng(seed)
    crs = geo.plane_crs(city_code)
    plane = geo.load_city(city_code).to_crs(crs)
    sel = plane[plane["code"].isin(school_area_codes(city_code, ward_codes))]
    area = sel.union_all()
    city_poly = plane.union_all()
    sites = _pick_schools(area, n_schools, rng, catchment_m, block_m)
    x0, y0 = float(np.floor(sites[0][0])), float(np.floor(sites[0][1]))
    grid = _Grid(x0, y0, block_m, city_poly)

    schools, routes = [], []
    for sx, sy in sites:
        ci = int(np.floor((sx - x0) / block_m))
        cj = int(np.floor((sy - y0) / block_m))
        s = len(schools)
        sid = f"S{s + 1:02d}"
        schools.append({"school_id": sid, "school_name": f"{SCHOOL_LETTERS[s]}小学校（合成）",
                        "block": (ci, cj), "x": x0 + (ci + 0.5) * block_m, "y": y0 + (cj + 0.5) * block_m})
        angles = np.linspace(0, 2 * np.pi, n_gathering, endpoint=False) + rng.uniform(0, 2 * np.pi / n_gathering)
        g_routes = []
        for a in angles:
            for _ in range(30):
                r = rng.uniform(350, catchment_m)
                aa = a + rng.normal(0, 0.15)
                g = grid.node_of(schools[-1]["x"] + r * np.cos(aa), schools[-1]["y"] + r * np.sin(aa))
                path = _designated_path(g, (ci, cj), grid)
                if path is not None and len(path) >= 4 and all(p[1] != g for p in g_routes):
                    g_routes.append((path, g))
                    break
        if not g_routes:  # no designated route fits on the land around this site (a small island)
            schools.pop()
            continue
        for k, (path, _gate) in enumerate(g_routes):
            routes.append({"school_id": sid, "group": f"{sid}-G{k + 1:02d}", "path": path})
    if not schools:
        raise ParameterError("city_code", f"{geo.city_name(city_code)} ({city_code}): no synthetic school route "
                             f"of 4 blocks ({4 * block_m:g} m) fits inside the chosen areas",
                             expected="a municipality (or ward_codes) with a few km² of land")
    # Segments per school.
    segments, edge_to_segment = [], {}
    for sch in schools:
        sid = sch["school_id"]
        rs = [r for r in routes if r["school_id"] == sid]
        edges = {_edge(p[k], p[k + 1]) for r in rs for p in [r["path"]] for k in range(len(p) - 1)}
        gathers = {r["path"][0] for r in rs}
        gates = {r["path"][-1] for r in rs}
        chains = _segments(edges, gathers, gates, max_segment_edges)
        chains.sort(key=lambda c: (-max(n[1] for n in c), min(n[0] for n in c)))
        for k, chain in enumerate(chains):
            seg_id = f"{sid}-R{k + 1:03d}"
            segments.append({"segment_id": seg_id, "school_id": sid, "nodes": chain})
            for a, b in pairwise(chain):
                edge_to_segment[(sid, _edge(a, b))] = seg_id
    return {"rng": rng, "grid": grid, "schools": schools, "routes": routes, "segments": segments,
            "edge_to_segment": edge_to_segment, "city_poly": city_poly, "crs": crs}


def _plant(world, planted_per_school, deviations_per_school, rng, group_size):
    grid, routes, segments = world["grid"], world["routes"], world["segments"]
    planted, deviations = {}, []
    for sch in world["schools"]:
        sid = sch["school_id"]
        rs = [r for r in routes if r["school_id"] == sid]
        gates = {r["path"][-1] for r in rs}
        flow: dict = {}
        for r in rs:
            for n in r["path"][3:-1]:   # every child of the group has joined by the 3rd crossing
                flow[n] = flow.get(n, 0) + group_size[r["group"]]
        def far_from(n, others, k):
            return all(abs(n[0] - o[0]) + abs(n[1] - o[1]) >= k for o in others)
        # The busiest crossings away from the gate (ties broken at random).
        cand = [n for n in flow if far_from(n, gates, 3)] or [n for n in flow if far_from(n, gates, 2)]
        rng.shuffle(cand)
        cand.sort(key=lambda n: -flow[n])
        chosen = []
        for n in cand:
            if far_from(n, chosen + list(planted), 3):
                chosen.append(n)
            if len(chosen) == planted_per_school:
                break
        for n in chosen:
            planted[n] = sid
        # Deviations: straight segments with a free parallel street (offsets 1 and 2 not designated).
        designated = {e for (s2, e) in world["edge_to_segment"] if s2 == sid}
        designated_nodes = {n for e in designated for n in e}
        # Segments every child of a group walks in full (past the homes) and used by ≥ 15 children.
        def seg_flow(nodes, rs=rs):
            return sum(group_size[r["group"]] for r in rs
                       if all(n in r["path"][3:] for n in nodes))
        segs = [s for s in segments if s["school_id"] == sid and len(s["nodes"]) >= 3
                and seg_flow(s["nodes"]) >= 15]
        order = rng.permutation(len(segs))
        made = 0
        for k in order:
            seg = segs[k]
            nodes = seg["nodes"]
            horiz = nodes[0][1] == nodes[-1][1]
            first = int(rng.choice([-1, 1]))
            ok = False
            for sd in (first, -first):          # the parallel street on one side, else the other
                off = (0, sd) if horiz else (sd, 0)
                par = [(n[0] + off[0], n[1] + off[1]) for n in nodes]
                par2 = [(n[0] + 2 * off[0], n[1] + 2 * off[1]) for n in nodes]
                ok = all(grid.inside(n) for n in par) and not any(n in designated_nodes for n in par + par2)
                if ok:
                    break
            if not ok:
                continue
            share = float(rng.uniform(0.25, 0.5))
            deviations.append({"segment_id": seg["segment_id"], "school_id": sid, "nodes": nodes,
                               "detour": [nodes[0]] + par + [nodes[-1]], "child_share": share})
            made += 1
            if made == deviations_per_school:
                break
    return planted, deviations


# ------------------------------------------------------------------------------ trajectories
def _profile(points, waits, speed, t0):
    """Knot times and positions for walking ``points`` (with a wait in seconds at each) from ``t0``."""
    pts = np.asarray(points, dtype=float)
    ts, xs = [], []
    t = t0
    for k in range(len(pts)):
        if k:
            t += float(np.hypot(*(pts[k] - pts[k - 1]))) / speed
        ts.append(t)
        xs.append(pts[k])
        if waits[k] > 0:
            t += waits[k]
            ts.append(t)
            xs.append(pts[k])
    return np.array(ts), np.array(xs)


def _sample(ts, xs, t_start, t_end, interval, phase):
    t = np.arange(t_start + phase, t_end, interval)
    if len(t) == 0:
        return t, np.empty((0, 2))
    return t, np.column_stack([np.interp(t, ts, xs[:, 0]), np.interp(t, ts, xs[:, 1])])


def generate(city_code: str = "43100", seed: int = 7, *, ward_codes=(), n_schools: int = 4,
             children_per_school: int = 120, n_days: int = 5, start_date: str = "2026-10-05",
             n_gathering: int = 8, catchment_m: float = 1300.0, block_m: float = 120.0,
             fix_interval_s: float = 180.0, planted_per_school: int = 2, deviations_per_school: int = 1,
             max_segment_edges: int = 4) -> dict:
    """Generate the synthetic world, fixes and truth (frames, nothing written)."""
    for name, v in (("n_schools", n_schools), ("children_per_school", children_per_school), ("n_days", n_days)):
        if int(v) < 1:
            raise ParameterError(name, f"got {v!r}", expected="at least 1")
    world = _build_world(city_code, list(ward_codes or []), seed, n_schools, n_gathering, catchment_m, block_m,
                         max_segment_edges)
    rng = world["rng"]
    grid = world["grid"]
    # Group sizes first: crowding is planted where many children pass.
    group_size = {}
    for sch in world["schools"]:
        rs = [r for r in world["routes"] if r["school_id"] == sch["school_id"]]
        counts = rng.multinomial(children_per_school, rng.dirichlet(np.full(len(rs), 4.0)))
        group_size.update({r["group"]: int(c) for r, c in zip(rs, counts, strict=True)})
    planted, deviations = _plant(world, planted_per_school, deviations_per_school, rng, group_size)
    dev_by_seg = {d["segment_id"]: d for d in deviations}
    e2s = world["edge_to_segment"]

    # Children: groups along their route, homes on the first blocks of the route.
    children = []
    for sch in world["schools"]:
        sid = sch["school_id"]
        rs = [r for r in world["routes"] if r["school_id"] == sid]
        for r in rs:
            c = group_size[r["group"]]
            path = r["path"]
            cum = np.concatenate([[0], np.cumsum(np.full(len(path) - 1, block_m))])
            for _ in range(int(c)):
                s_home = float(rng.uniform(0, min(cum[-1] * 0.4, 2.5 * block_m)))
                grade = int(rng.integers(1, 7))
                did = hashlib.sha256(f"{seed}-{len(children)}".encode()).hexdigest()[:10].upper()
                devs = {}
                for a, b in pairwise(path):
                    sg = e2s.get((sid, _edge(a, b)))
                    if sg in dev_by_seg and sg not in devs:
                        devs[sg] = rng.random() < dev_by_seg[sg]["child_share"]
                children.append({"device_id": f"D{did}", "school_id": sid, "school_name": sch["school_name"],
                                 "grade": grade, "group": r["group"], "path": path, "s_home": s_home,
                                 "speed": float(rng.uniform(*WALK_SPEED)), "deviates": devs,
                                 "phase": float(rng.uniform(0, fix_interval_s)),
                                 "battery": float(rng.uniform(60, 100))})

    dates = school_days(start_date, n_days)
    rows, pass_rows = [], []
    node_xy = {}
    def xy(n):
        v = node_xy.get(n)
        if v is None:
            v = node_xy[n] = grid.xy(n)
        return v
    planted_wait = {n: float(rng.uniform(150, 300)) for n in planted}

    def waits_for(nodes, rng_):
        out = np.zeros(len(nodes))
        for k, n in enumerate(nodes):
            if n in planted_wait:
                out[k] = planted_wait[n] * rng_.uniform(0.7, 1.3)
            elif rng_.random() < 0.3:
                out[k] = rng_.uniform(0, 40)
        return out

    lo, hi = (pd.Timedelta(f"{MORNING_WINDOW[0]}:00"), pd.Timedelta(f"{MORNING_WINDOW[1]}:00"))
    group_base = {r["group"]: float(rng.uniform(lo.total_seconds(), hi.total_seconds())) for r in world["routes"]}
    for d in dates:
        day0 = pd.Timestamp(d)
        # Morning: groups.
        # Each group leaves at its fixed time (a couple of minutes' jitter from day to day).
        group_t0 = {g: t + float(rng.normal(0, 90)) for g, t in group_base.items()}
        group_waits = {r["group"]: waits_for(r["path"], rng) for r in world["routes"]}
        group_speed = {r["group"]: float(rng.uniform(0.8, 1.0)) for r in world["routes"]}
        for ch in children:
            path = ch["path"]
            pts = [xy(n) for n in path]
            ts, xs = _profile(pts, group_waits[ch["group"]], group_speed[ch["group"]], group_t0[ch["group"]])
            # The child joins when the group passes their home.
            t_home = _time_at(ts, xs, pts, ch["s_home"])
            t, p = _sample(ts, xs, t_home, ts[-1], fix_interval_s, ch["phase"])
            rows.append((ch, day0, t, p))
            _count_passes(pass_rows, ch, d, "morning", path, False, e2s)
        # Afternoon: alone, by grade, reverse route, maybe a detour.
        for ch in children:
            path = ch["path"][::-1]
            nodes = list(path)
            took = set()
            for sg, yes in ch["deviates"].items():
                if yes and rng.random() < 0.85:
                    dv = dev_by_seg[sg]
                    seg_nodes = dv["nodes"]
                    a, b = seg_nodes[0], seg_nodes[-1]
                    if a in nodes and b in nodes:
                        ia, ib = nodes.index(a), nodes.index(b)
                        detour = dv["detour"] if ia < ib else dv["detour"][::-1]
                        lo, hi = min(ia, ib), max(ia, ib)
                        nodes = nodes[:lo] + detour + nodes[hi + 1:]
                        took.add(sg)
            t_leave = pd.Timedelta(f"{DISMISSAL[ch['grade']]}:00").total_seconds() + rng.uniform(0, 600)
            pts = [xy(n) for n in nodes]
            ts, xs = _profile(pts, waits_for(nodes, rng), ch["speed"], t_leave)
            cum_d = np.concatenate([[0], np.cumsum(np.hypot(*np.diff(np.asarray(pts), axis=0).T))])
            s_stop = cum_d[-1] - ch["s_home"]
            t_end = _time_at(ts, xs, pts, s_stop)
            t, p = _sample(ts, xs, t_leave, t_end, fix_interval_s, (ch["phase"] * 1.7) % fix_interval_s)
            rows.append((ch, day0, t, p))
            _count_passes(pass_rows, ch, d, "afternoon", ch["path"], took, e2s)

    fixes = _fix_frame(rows, rng, world["city_poly"], world["crs"])
    truth_segments = _truth_segments(pass_rows, world["segments"], dev_by_seg)
    return {"world": world, "planted": planted, "deviations": deviations, "fixes": fixes,
            "truth_segments": truth_segments, "children": len(children), "dates": dates}


def _time_at(ts, xs, pts, s):
    """Time the walker reaches distance ``s`` along the polyline (first arrival)."""
    pts = np.asarray(pts, dtype=float)
    seg = np.hypot(*np.diff(xs, axis=0).T)
    cum = np.concatenate([[0], np.cumsum(seg)])
    # cum is non-decreasing; waits add zero distance. First index reaching s:
    k = int(np.searchsorted(cum, s, side="left"))
    if k == 0:
        return float(ts[0])
    if k >= len(cum):
        return float(ts[-1])
    frac = (s - cum[k - 1]) / max(cum[k] - cum[k - 1], 1e-9)
    return float(ts[k - 1] + frac * (ts[k] - ts[k - 1]))


def _count_passes(pass_rows, ch, d, period, path, took, e2s):
    sid = ch["school_id"]
    segs = []
    for a, b in pairwise(path):
        sg = e2s.get((sid, _edge(a, b)))
        if sg and sg not in segs:
            segs.append(sg)
    for sg in segs:
        dev = bool(took) and sg in took
        pass_rows.append((sg, period, dev))


def _truth_segments(pass_rows, segments, dev_by_seg):
    df = pd.DataFrame(pass_rows, columns=["segment_id", "period", "deviated"])
    g = df.groupby("segment_id").agg(passes=("deviated", "size"), deviating_passes=("deviated", "sum"))
    out = pd.DataFrame({"segment_id": [s["segment_id"] for s in segments],
                        "school_id": [s["school_id"] for s in segments]}).set_index("segment_id")
    out = out.join(g).fillna(0)
    out["passes"] = out["passes"].astype(int)
    out["deviating_passes"] = out["deviating_passes"].astype(int)
    out["true_share"] = np.where(out["passes"] > 0, out["deviating_passes"] / out["passes"].clip(lower=1), 0.0)
    out["planted"] = out.index.isin(list(dev_by_seg))
    return out.reset_index()


def school_days(start_date: str, n_days: int) -> pd.DatetimeIndex:
    """The first ``n_days`` school days (:func:`ebpm_analysis.jpcalendar.is_school_day`) from ``start_date``."""
    days = pd.date_range(start_date, periods=max(1, n_days) * 3 + 120, freq="D")
    return days[is_school_day(days)][:n_days]


def _fix_frame(rows, rng, city_poly, crs):
    """One frame from the per-trip samples (built from arrays: thousands of trips)."""
    rows = [r for r in rows if len(r[2])]
    lens = np.array([len(r[2]) for r in rows])
    ch_list = [r[0] for r in rows]
    rep = np.repeat(np.arange(len(rows)), lens)
    day0 = np.array([r[1].value for r in rows], dtype="int64")
    secs = np.round(np.concatenate([r[2] for r in rows])).astype("int64")
    xy = np.vstack([r[3] for r in rows])
    pick = lambda key: np.array([c[key] for c in ch_list], dtype=object)[rep]  # noqa: E731
    df = pd.DataFrame({"device_id": pick("device_id"), "school_id": pick("school_id"),
                       "school_name": pick("school_name"),
                       "grade": np.array([c["grade"] for c in ch_list])[rep],
                       "t": pd.to_datetime(day0[rep] + secs * 1_000_000_000),
                       "x": xy[:, 0], "y": xy[:, 1],
                       "battery": np.array([c["battery"] for c in ch_list])[rep]})
    n = len(df)
    acc = np.clip(rng.lognormal(np.log(10), 0.4, n), 3, 45)
    poor = rng.random(n) < 0.03
    acc[poor] = rng.uniform(60, 150, poor.sum())
    err = rng.normal(0, 1, (n, 2)) * (acc / 2.0)[:, None]
    # GPS error, except where it would put the fix outside the city (coasts, borders): there the true position.
    inside = shapely.contains_xy(city_poly, df["x"].to_numpy() + err[:, 0], df["y"].to_numpy() + err[:, 1])
    df["x"] += np.where(inside, err[:, 0], 0.0)
    df["y"] += np.where(inside, err[:, 1], 0.0)
    df["accuracy"] = np.round(acc).astype(int)
    pts = gpd.GeoSeries(gpd.points_from_xy(df["x"], df["y"]), crs=crs).to_crs(geo.GEO_CRS)
    df["lat"] = np.round(pts.y.to_numpy(), 6)
    df["lon"] = np.round(pts.x.to_numpy(), 6)
    df = df.sort_values(["t", "device_id"], kind="stable").reset_index(drop=True)
    # Battery drains slowly over the days.
    day_idx = (df["t"].dt.normalize() - df["t"].dt.normalize().min()).dt.days
    df["battery"] = np.clip(df["battery"] - 3 * day_idx, 5, 100).round().astype(int)
    df["timestamp"] = df["t"].dt.strftime("%Y-%m-%d %H:%M:%S")
    return df[FIXES_COLUMNS]


# ------------------------------------------------------------------------------------ files
def _geo_frames(gen):
    world = gen["world"]
    grid, crs = world["grid"], world["crs"]
    sch = pd.DataFrame([{k: s[k] for k in ("school_id", "school_name", "x", "y")} for s in world["schools"]])
    pts = gpd.GeoSeries(gpd.points_from_xy(sch["x"], sch["y"]), crs=crs).to_crs(geo.GEO_CRS)
    schools = pd.DataFrame({"school_id": sch["school_id"], "school_name": sch["school_name"],
                            "lat": np.round(pts.y, 6), "lon": np.round(pts.x, 6)})
    # Crossings: every street-grid intersection within the catchments (inside the city).
    nodes = set()
    r_blocks = int(np.ceil(1600 / grid.b))
    for s in world["schools"]:
        ci, cj = s["block"]
        for i in range(ci - r_blocks, ci + r_blocks + 2):
            for j in range(cj - r_blocks, cj + r_blocks + 2):
                if (i - ci - 0.5) ** 2 + (j - cj - 0.5) ** 2 <= (r_blocks + 0.5) ** 2 and grid.inside((i, j)):
                    nodes.add((i, j))
    nodes = sorted(nodes, key=lambda n: (-n[1], n[0]))
    xy = np.array([grid.xy(n) for n in nodes])
    cp = gpd.GeoSeries(gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=crs).to_crs(geo.GEO_CRS)
    node_id = {n: f"X{k + 1:05d}" for k, n in enumerate(nodes)}
    crossings = pd.DataFrame({"crossing_id": [node_id[n] for n in nodes],
                              "lat": np.round(cp.y.to_numpy(), 6), "lon": np.round(cp.x.to_numpy(), 6)})
    segs = gpd.GeoDataFrame(
        {"segment_id": [s["segment_id"] for s in world["segments"]],
         "school_id": [s["school_id"] for s in world["segments"]]},
        geometry=[shapely.LineString([grid.xy(n) for n in s["nodes"]]) for s in world["segments"]],
        crs=crs).to_crs("EPSG:4326")
    return schools, crossings, segs, node_id


def write_fixes_csv(df: pd.DataFrame, path, encoding: str = "cp932") -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, encoding=encoding, lineterminator="\r\n")
    return path


def write_dataset(gen: dict, out_dir, *, encoding: str = "cp932", params: dict | None = None) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    schools, crossings, segs, node_id = _geo_frames(gen)
    p = {"fixes": out_dir / "fixes.csv", "schools": out_dir / "schools.csv", "crossings": out_dir / "crossings.csv",
         "routes": out_dir / "designated_routes.geojson", "truth": out_dir / "truth.json",
         "truth_segments": out_dir / "truth_segments.csv"}
    write_fixes_csv(gen["fixes"], p["fixes"], encoding=encoding)
    schools.to_csv(p["schools"], index=False, encoding=encoding, lineterminator="\r\n")
    crossings.to_csv(p["crossings"], index=False, encoding="utf-8", lineterminator="\r\n")
    segs.to_file(p["routes"], driver="GeoJSON")
    gen["truth_segments"].to_csv(p["truth_segments"], index=False, encoding="utf-8")
    truth = {
        "synthetic": True,
        "generator": "ebpm_analysis.synth.school_routes",
        "params": params or {},
        "n_children": gen["children"],
        "n_schools": len(gen["world"]["schools"]),
        "dates": [d.strftime("%Y-%m-%d") for d in gen["dates"]],
        "planted_crowded_crossings": sorted(node_id[n] for n in gen["planted"]),
        "deviations": [
            {"segment_id": d["segment_id"], "school_id": d["school_id"], "child_share": round(d["child_share"], 3),
             "true_share": float(gen["truth_segments"].set_index("segment_id").loc[d["segment_id"], "true_share"])}
            for d in gen["deviations"]],
    }
    p["truth"].write_text(json.dumps(truth, ensure_ascii=False, indent=1), encoding="utf-8")
    return p


FILES = {"fixes": "fixes.csv", "schools": "schools.csv", "crossings": "crossings.csv",
         "routes": "designated_routes.geojson", "truth": "truth.json", "truth_segments": "truth_segments.csv"}


def ensure_school_routes(seed: int = 7, *, city_code: str = "43100", out_dir: str | os.PathLike | None = None,
                         encoding: str = "cp932", **kwargs) -> Path:
    """Write the synthetic data set once and return its folder.

    The folder name encodes every parameter, so a changed parameter produces a new set. Written to a
    temporary directory and renamed, so a half-written set is never reused.

    Parameters
    ----------
    seed : int
        Seed of the generator.
    city_code : str
        5-digit code of the city whose wards host the synthetic schools.
    out_dir : path, optional
        Folder under which the set goes (default ``data/interim/05_school_routes/synthetic``).
    encoding : str
        Encoding of the written CSVs (``cp932`` like a city's export).
    **kwargs
        Further :func:`generate` parameters (``ward_codes``, ``n_schools``, ``children_per_school`` …).

    Returns
    -------
    Path
        The folder holding :data:`FILES` (fixes, schools, crossings, designated routes, truth.json and
        truth_segments.csv).
    """
    params = {"seed": int(seed), "city_code": str(city_code), "encoding": encoding, **kwargs,
              "generator_version": GENERATOR_VERSION}
    if "ward_codes" in params:
        params["ward_codes"] = [str(c) for c in (params["ward_codes"] or [])]
    # The folder name covers every input of the output: parameters, generator version, the boundary file and
    # the source of this generator and of geo (synth.set_key).
    key = set_key(f"{city_code}-s{seed}", params, __name__, "ebpm_analysis.geo", "ebpm_analysis.jpcalendar")
    base = paths.resolve(out_dir) if out_dir else paths.interim("05_school_routes", "synthetic")
    return build_dir_once(base / key, FILES.values(), lambda tmp: write_dataset(
        generate(city_code, int(seed), **kwargs), tmp, encoding=encoding, params=params))
