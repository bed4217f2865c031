"""School-route monitoring (富山市 「こどもを見守る地域連携事業」 → any city; docs/sources.md#toyama-monitoring).

Pure functions over tidy frames (no file reading, no plotting):

- :func:`prepare_fixes` — drop poor fixes, project to metres, add date / period / 5-minute bin.
- :func:`crossing_hits` — which child was seen within ``radius_m`` of which crossing in which bin.
- :func:`crossing_ranking` — crowded crossings ranked by the average (over school days) of the
  busiest 5-minute bin's count of unique children; :func:`heatmap_matrix` the crossing × bin table.
- :func:`off_route_by_segment` — each fix is attributed to the nearest designated-route segment of
  the child's school; share of fixes (and of trips) farther than ``off_route_m`` from it.
- :func:`place_volunteers` — maximal coverage of child-passes by N volunteers (MCLP or the greedy
  heuristic of :mod:`ebpm_analysis.location`).
- :func:`analyse_fixes` — the entry point: all of the above in the report's order →
  :class:`SchoolRoutesResult`.
- :func:`pedestrian_accidents` — the second entry point, on real police records (本票): pedestrian
  accidents (事故類型 人対車両) on school days in the commuting windows, by regional mesh →
  :class:`PedestrianAccidents` (the map a 通学路合同点検 starts from; docs/sources.md#honhyo-age-bands).

Person counts shown to readers go through :func:`ebpm_analysis.stats.disclosure.suppress_small`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from .. import geo
from ..errors import ParameterError
from ..location import distance_matrix, greedy_max_coverage, mclp
from ..stats import disclosure as D
from ..stats.disclosure import suppress_small
from ..stats.intervals import cluster_ratio_interval

PERIOD_LABELS = {"morning": "登校（朝）", "afternoon": "下校（午後）"}
DIRECTIONS = ["東", "北東", "北", "北西", "西", "南西", "南", "南東"]


def _minutes(hhmm: str, name: str = "window") -> int:
    try:
        h, m = str(hhmm).split(":")
        v = int(h) * 60 + int(m)
    except ValueError:
        raise ParameterError(name, f"{hhmm!r} is not a time", expected='"HH:MM", e.g. "07:00"') from None
    if not 0 <= v <= 24 * 60:
        raise ParameterError(name, f"{hhmm!r} is out of range", expected="a time of day 00:00–24:00")
    return v


def windows_from_params(morning=("07:00", "08:30"), afternoon=("14:00", "17:00")) -> dict:
    out = {}
    for key, (a, b) in (("morning", morning), ("afternoon", afternoon)):
        lo, hi = _minutes(a, f"{key}_window"), _minutes(b, f"{key}_window")
        if hi <= lo:
            raise ParameterError(f"{key}_window", f"end {b} is not after start {a}",
                                 expected="[start, end] with start < end")
        out[key] = (lo, hi)
    return out


def add_xy(df: pd.DataFrame, lon: str = "lon", lat: str = "lat", *, plane_crs: str) -> pd.DataFrame:
    """Copy of ``df`` with plane coordinates ``x``, ``y`` (metres) in ``plane_crs`` (the city's:
    :func:`ebpm_analysis.geo.plane_crs`)."""
    pts = geo.points_frame(df[[lon, lat]].copy(), lon=lon, lat=lat).to_crs(plane_crs)
    out = df.copy()
    out["x"] = pts.geometry.x.to_numpy()
    out["y"] = pts.geometry.y.to_numpy()
    return out


def prepare_fixes(fixes: pd.DataFrame, *, max_accuracy_m: float = 50.0, windows: dict | None = None,
                  bin_minutes: int = 5, plane_crs: str) -> tuple[pd.DataFrame, dict]:
    """Drop fixes with reported accuracy worse than ``max_accuracy_m``; add x/y, date, period and bin.

    ``period`` is ``morning``/``afternoon`` inside the windows, NA outside. ``bin`` is the start
    of the ``bin_minutes`` bin in minutes after midnight. Returns ``(frame, summary)``.
    """
    if bin_minutes <= 0 or 60 % bin_minutes:
        raise ParameterError("bin_minutes", f"{bin_minutes}", expected="a divisor of 60, e.g. 5")
    windows = windows or windows_from_params()
    n0 = len(fixes)
    keep = fixes["accuracy"] <= max_accuracy_m
    df = add_xy(fixes.loc[keep], plane_crs=plane_crs)
    ts = df["timestamp"]
    df["date"] = ts.dt.normalize()
    minute = ts.dt.hour * 60 + ts.dt.minute
    df["bin"] = (minute // bin_minutes) * bin_minutes
    period = pd.Series(pd.NA, index=df.index, dtype="string")
    for key, (lo, hi) in windows.items():
        period[(minute >= lo) & (minute < hi)] = key
    df["period"] = period
    df["trip"] = df["device_id"] + "|" + df["date"].dt.strftime("%Y-%m-%d") + "|" + (minute < 12 * 60).map(
        {True: "am", False: "pm"})
    summary = {"fixes_read": int(n0), "fixes_poor_accuracy": int((~keep).sum()), "fixes_used": int(len(df)),
               "fixes_in_windows": int(df["period"].notna().sum()), "children": int(df["device_id"].nunique()),
               "school_days": int(df["date"].nunique()), "schools": int(df["school_id"].nunique())}
    return df.reset_index(drop=True), summary


def crossing_hits(fixes_xy: pd.DataFrame, crossings_xy: pd.DataFrame, *, radius_m: float = 30.0) -> pd.DataFrame:
    """Unique (crossing, child, date, period, bin) rows: the child had a fix within ``radius_m`` of
    the crossing in that bin. Only fixes inside the analysis windows count."""
    f = fixes_xy[fixes_xy["period"].notna()]
    tree = cKDTree(crossings_xy[["x", "y"]].to_numpy())
    lists = tree.query_ball_point(f[["x", "y"]].to_numpy(), r=radius_m)
    lens = np.fromiter((len(v) for v in lists), dtype=int, count=len(lists))
    idx = np.repeat(np.arange(len(f)), lens)
    cidx = np.fromiter((c for v in lists for c in v), dtype=int, count=int(lens.sum()))
    hits = pd.DataFrame({
        "crossing_id": crossings_xy["crossing_id"].to_numpy()[cidx],
        "device_id": f["device_id"].to_numpy()[idx],
        "school_id": f["school_id"].to_numpy()[idx],
        "date": f["date"].to_numpy()[idx],
        "period": f["period"].to_numpy()[idx],
        "bin": f["bin"].to_numpy()[idx],
    })
    return hits.drop_duplicates(["crossing_id", "device_id", "date", "bin"]).reset_index(drop=True)


def bin_counts(hits: pd.DataFrame) -> pd.DataFrame:
    """Unique children per crossing per date per bin."""
    return (hits.groupby(["crossing_id", "date", "period", "bin"], observed=True)["device_id"].nunique()
            .rename("children").reset_index())


def crossing_ranking(hits: pd.DataFrame, n_days: int, *, min_cell: int = 10) -> pd.DataFrame:
    """Crowded crossings ranked.

    ``peak_mean``: average over school days of the day's busiest 5-minute count of unique children
    (days without any child count as 0). ``passes_per_day``: average child-passes per day (sum of
    bin counts). ``children_total``: distinct children seen there in the period (disclosure base).
    ``peak_period``/``peak_bin``: the bin with the highest average count.
    """
    bc = bin_counts(hits)
    daily = bc.groupby(["crossing_id", "date"])["children"].agg(["max", "sum"]).reset_index()
    per = daily.groupby("crossing_id").agg(peak_sum=("max", "sum"), passes_sum=("sum", "sum"),
                                           peak_max=("max", "max"))
    per["peak_mean"] = per["peak_sum"] / n_days
    per["passes_per_day"] = per["passes_sum"] / n_days
    mean_bin = bc.groupby(["crossing_id", "period", "bin"])["children"].sum().reset_index()
    top_bin = mean_bin.sort_values(["crossing_id", "children", "bin"], ascending=[True, False, True]) \
        .drop_duplicates("crossing_id").set_index("crossing_id")
    per["peak_period"] = top_bin["period"]
    per["peak_bin"] = top_bin["bin"]
    per["children_total"] = hits.groupby("crossing_id")["device_id"].nunique()
    per = per.drop(columns=["peak_sum", "passes_sum"]).reset_index()
    per = per.sort_values(["peak_mean", "passes_per_day", "crossing_id"], ascending=[False, False, True])
    per["rank"] = np.arange(1, len(per) + 1)
    per["suppressed"] = per["children_total"] < min_cell
    return per.reset_index(drop=True)


def bin_label(minute: int) -> str:
    return f"{int(minute) // 60:02d}:{int(minute) % 60:02d}"


def heatmap_matrix(hits: pd.DataFrame, crossing_ids, n_days: int, *, windows: dict | None = None,
                   bin_minutes: int = 5, min_cell: int = 10) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Crossing × bin table of the average number of unique children per school day.

    A cell is suppressed (NA) when fewer than ``min_cell`` distinct children were seen in it over
    the whole period (``suppress_small``); zeros stay zeros. Returns ``(values, suppressed_mask)``
    with columns = bin start minutes for both windows, in the order of ``crossing_ids``.
    """
    windows = windows or windows_from_params()
    bins = [b for lo, hi in windows.values() for b in range(lo, hi, bin_minutes)]
    crossing_ids = list(crossing_ids)
    h = hits[hits["crossing_id"].isin(crossing_ids)]
    total = h.groupby(["crossing_id", "bin"])["device_id"].nunique().unstack("bin")
    day = h.groupby(["crossing_id", "date", "bin"])["device_id"].nunique().groupby(["crossing_id", "bin"]).sum()
    mean = (day / n_days).unstack("bin")
    total = total.reindex(index=crossing_ids, columns=bins).fillna(0)
    mean = mean.reindex(index=crossing_ids, columns=bins).fillna(0.0)
    _, mask = suppress_small(total, min_cell)
    values = mean.mask(mask).astype("Float64")
    return values, mask


def label_locations(points_xy: pd.DataFrame, schools_xy: pd.DataFrame) -> pd.Series:
    """Human-readable location: nearest school, compass direction and distance ("A小学校の北東 450 m")."""
    s = schools_xy[["x", "y"]].to_numpy()
    p = points_xy[["x", "y"]].to_numpy()
    d = distance_matrix(p, s)
    k = d.argmin(axis=1)
    dist = d[np.arange(len(p)), k]
    ang = np.degrees(np.arctan2(p[:, 1] - s[k, 1], p[:, 0] - s[k, 0])) % 360
    sector = ((ang + 22.5) // 45).astype(int) % 8
    names = schools_xy["school_name"].to_numpy()
    labels = [f"{names[kk]}の{DIRECTIONS[sec]} {int(round(dd, -1)):,} m" for kk, sec, dd in zip(k, sector, dist,
                                                                                               strict=True)]
    return pd.Series(labels, index=points_xy.index)


# ----------------------------------------------------------------------------------- off-route
def off_route_by_segment(fixes_xy: pd.DataFrame, segments_plane, *, off_route_m: float = 40.0,
                         max_assign_m: float = 400.0, min_cell: int = 10, only_windows: bool = True,
                         max_accuracy_m: float | None = None, min_off_run: int = 2, seed: int = 0) -> pd.DataFrame:
    """Share of fixes off the designated route, by segment.

    Only fixes in the commuting windows count (``only_windows``): real devices log all day, and a child
    at the park after school is not off the route to school. Only fixes whose reported accuracy is at
    most ``max_accuracy_m`` (default half of ``off_route_m``) count, so that GPS error alone seldom
    puts a fix beyond the threshold. Each fix is attributed to the nearest designated-route segment *of
    the child's school*; fixes farther than ``max_assign_m`` from every such segment are left out (not
    on the way to school). A fix is off-route when it is more than ``off_route_m`` from that segment; a
    trip leaves the route on a segment when ``min_off_run`` consecutive fixes of the trip are off-route
    and one of them is attributed to that segment (one stray fix is not a detour).

    Returns per segment: fixes, off_fixes, share with a 95 % interval from resampling children
    (:func:`ebpm_analysis.stats.intervals.cluster_ratio_interval`: a child who takes a detour takes it
    most days, so fixes are not independent), trips (child-trips with a fix attributed), off_trips and
    trip_share, children (distinct) and ``suppressed`` (children < ``min_cell``: shares not to be shown).
    """
    if min_off_run < 1:
        raise ParameterError("min_off_run", f"{min_off_run}", expected="a whole number of at least 1")
    acc_max = off_route_m / 2 if max_accuracy_m is None else max_accuracy_m
    f = fixes_xy if not only_windows else fixes_xy[fixes_xy["period"].notna()]
    if "accuracy" in f.columns:
        f = f[f["accuracy"] <= acc_max]
    parts = []
    for sid, seg in segments_plane.groupby("school_id"):
        fs = f[f["school_id"] == sid]
        if fs.empty:
            continue
        geoms = seg.geometry.to_numpy()
        tree = shapely.STRtree(geoms)
        pts = shapely.points(fs["x"].to_numpy(), fs["y"].to_numpy())
        (ip, ig), dist = tree.query_nearest(pts, max_distance=max_assign_m, return_distance=True, all_matches=False)
        parts.append(pd.DataFrame({
            "segment_id": seg["segment_id"].to_numpy()[ig], "device_id": fs["device_id"].to_numpy()[ip],
            "trip": fs["trip"].to_numpy()[ip], "timestamp": fs["timestamp"].to_numpy()[ip], "dist": dist}))
    cols = ["segment_id", "school_id", "fixes", "off_fixes", "share", "share_lo", "share_hi", "trips", "off_trips",
            "trip_share", "children", "suppressed"]
    if not parts:
        return pd.DataFrame(columns=cols)
    a = pd.concat(parts, ignore_index=True).sort_values(["trip", "timestamp"], kind="stable").reset_index(drop=True)
    a["off"] = a["dist"] > off_route_m
    # Length of the run of consecutive off-route fixes each fix belongs to, within its trip.
    run_id = ((a["off"] != a["off"].shift()) | (a["trip"] != a["trip"].shift())).cumsum()
    a["run"] = a.groupby(run_id)["off"].transform("size")
    a["detour"] = a["off"] & (a["run"] >= min_off_run)
    g = a.groupby("segment_id")
    out = pd.DataFrame({"fixes": g.size(), "off_fixes": g["off"].sum(), "children": g["device_id"].nunique()})
    trips = a.groupby(["segment_id", "trip"])["detour"].any().groupby("segment_id")
    out["trips"] = trips.size()
    out["off_trips"] = trips.sum()
    by_child = a.groupby(["segment_id", "device_id"])["off"].agg(["sum", "size"])
    ci = {sid: cluster_ratio_interval(c["sum"].to_numpy(), c["size"].to_numpy(), seed=seed, share=True)
          for sid, c in by_child.groupby(level="segment_id")}
    out = segments_plane[["segment_id", "school_id"]].set_index("segment_id").join(out, how="left")
    for c in ("fixes", "off_fixes", "children", "trips", "off_trips"):
        out[c] = out[c].fillna(0).astype(int)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["share"] = np.where(out["fixes"] > 0, out["off_fixes"] / out["fixes"].clip(lower=1), np.nan)
        out["trip_share"] = np.where(out["trips"] > 0, out["off_trips"] / out["trips"].clip(lower=1), np.nan)
    out["share_lo"] = [ci.get(sid, (np.nan, np.nan))[0] for sid in out.index]
    out["share_hi"] = [ci.get(sid, (np.nan, np.nan))[1] for sid in out.index]
    out["suppressed"] = out["children"] < min_cell
    return out.reset_index()[cols].sort_values(["share", "segment_id"], ascending=[False, True]).reset_index(drop=True)


#: A segment is a candidate for review when its off-route share exceeds this multiple of the overall share.
HOT_SEGMENT_RATIO = 2.0


def hot_segment_flags(share, overall):
    """The review rule of report 05 (「外れが全体平均の2倍を超える区間」): share > ``HOT_SEGMENT_RATIO`` × the overall
    off-route share (arrays broadcast: segments on the last axis, ``overall`` with the leading shape)."""
    return np.asarray(share, dtype=float) > HOT_SEGMENT_RATIO * np.expand_dims(np.asarray(overall, dtype=float), -1)


# Planted detours for the power simulation (docs/sources.md#school-route-detour-size): the share of a segment's
# children who habitually leave it (a shortcut or a shop on a parallel street), each off the route on about half of
# the fixes there (e.g. on the way home only).
DETOUR_CHILD_SHARES = (0.05, 0.1, 0.25)
DETOUR_FIX_SHARE = 0.5


def offroute_power(off_route: pd.DataFrame, school_days: int, *, child_shares=DETOUR_CHILD_SHARES,
                   days=(5, 20, 60), n_planted: int = 4, replicates: int = 100, min_cell: int = 10,
                   detour_fix_share: float = DETOUR_FIX_SHARE, seed: int = 0) -> pd.DataFrame:
    """Power of the review rule (:func:`hot_segment_flags` on segments with at least ``min_cell`` children) against
    the share of children who take a detour and the school days observed, by simulation on the run's own segments.

    ``off_route``: :func:`off_route_by_segment` (``fixes``, ``children`` per segment); ``school_days``: the days
    behind it. Each segment keeps its children and its fixes per child and day (Poisson over ``days`` days). The
    background share of off-route fixes (GPS error, a stray fix) is the run's pooled share over the shown segments
    other than the ``n_planted`` with the highest share (the likeliest real detours), drawn independently for
    every fix. In ``n_planted`` random shown segments round(``child_share`` × children) of the children (at least
    one) detour habitually, off the route on ``detour_fix_share`` of their fixes there. Returns one row per
    (child_share, days):
    ``recall`` (planted segments flagged), ``false_flags`` (mean number of unplanted segments flagged),
    ``background`` (the share used), ``replicates``. Real children also differ in ordinary ways (the other
    sidewalk, a parallel street now and then), so real data give more false flags than this."""
    if school_days < 1:
        raise ParameterError("school_days", f"{school_days!r}", expected="a whole number of at least 1")
    seg = off_route[(off_route["fixes"] > 0) & (off_route["children"] >= min_cell)].reset_index(drop=True)
    if len(seg) <= n_planted:
        raise ParameterError("off_route", f"{len(seg)} segments with at least {min_cell} children",
                             expected=f"more than the {n_planted} planted")
    rest = seg.sort_values("share", ascending=False).iloc[n_planted:]
    background = float(rest["off_fixes"].sum() / rest["fixes"].sum())
    n_child = seg["children"].to_numpy(dtype=int)
    per_child_day = seg["fixes"].to_numpy(dtype=float) / n_child / school_days
    owner = np.repeat(np.arange(len(seg)), n_child)            # segment of each (child, segment) pair
    starts = np.concatenate([[0], np.cumsum(n_child)[:-1]])
    from ..stats.power import planted_mask
    rng = np.random.default_rng(seed)
    rows = []
    for cs in child_shares:
        for d in days:
            planted = planted_mask(rng, replicates, len(seg), n_planted)
            fixes = rng.poisson(np.broadcast_to(per_child_day[owner] * d, (replicates, len(owner))))
            # exactly round(child_share × children) detouring children (at least one) in each planted segment
            detours = np.zeros((replicates, len(owner)), bool)
            for j, (a, n) in enumerate(zip(starts, n_child, strict=True)):
                k = max(1, int(round(cs * n)))
                pick = rng.random((replicates, n)).argsort(axis=1).argsort(axis=1) < k
                detours[:, a:a + n] = pick & planted[:, [j]]
            p = np.where(detours, background + (1 - background) * detour_fix_share, background)
            off = rng.binomial(fixes, p)
            seg_fixes = np.add.reduceat(fixes, starts, axis=1)
            seg_off = np.add.reduceat(off, starts, axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                share = np.where(seg_fixes > 0, seg_off / np.maximum(seg_fixes, 1), np.nan)
            overall = seg_off.sum(axis=1) / np.maximum(seg_fixes.sum(axis=1), 1)
            hot = hot_segment_flags(share, overall)
            rows.append({"child_share": float(cs), "days": float(d), "recall": float(hot[planted].mean()),
                         "false_flags": float((hot & ~planted).sum(axis=1).mean()), "background": background,
                         "replicates": int(replicates)})
    return pd.DataFrame(rows)


def offroute_power_table(power: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """:func:`offroute_power` for the report: one row per share of detouring children, one column per school days
    observed, each cell 「検出率%（誤検出 x.x）」; and the column kinds (shares of simulated segments)."""
    from ..stats.power import recovery_grid
    t = recovery_grid(power.rename(columns={"days": "volume"}), effect="child_share", recall="recall",
                      false="false_flags", effect_label="区間を外れて歩く児童の割合",
                      effect_text=lambda r: f"{100 * r:.0f}%", volume_label="観測",
                      volume_text=lambda v: f"観測 {v:g}登校日")
    return t, {c: D.LABEL if c.startswith("区間") else D.OTHER for c in t.columns}


def _weakest(power: pd.DataFrame, days: float) -> str:
    """The smallest share of detouring children found 8 times in 10 at ``days`` days, in Japanese."""
    g = power[(power["days"] == days) & (power["recall"] >= 0.8)]
    if not len(g):
        return f"{days:g}日観測しても、どの割合でも8割は見つかりません。"
    small = power["child_share"].min()
    return (f"{days:g}日観測すれば、児童の{100 * g['child_share'].min():.0f}%以上が外れる区間の8割以上が見つかります"
            + ("。" if g["child_share"].min() <= small else f"が、{100 * small:.0f}%の区間は見落としが多くなります。"))


def offroute_power_sentence(power: pd.DataFrame, n_planted: int, school_days: int) -> str:
    """What :func:`offroute_power` says, in Japanese."""
    d0, d1 = power["days"].min(), power["days"].max()
    parts = []
    for cs, g in power.groupby("child_share"):
        g = g.set_index("days")
        parts.append(f"児童の{100 * cs:.0f}%が外れる区間は{d0:g}日で{100 * g.loc[d0, 'recall']:.0f}%、"
                     f"{d1:g}日で{100 * g.loc[d1, 'recall']:.0f}%")
    return (f"この測位記録の区間・児童数・測位の頻度のまま（観測{school_days}登校日）、"
            f"{n_planted}区間で一部の児童がいつも"
            f"通学路を外れ（その区間の測位の{100 * DETOUR_FIX_SHARE:.0f}%で外れる）、ほかの区間は測位誤差などによる外れ"
            f"（{100 * power['background'].iloc[0]:.1f}%）だけとした模擬実験で、"
            "「外れが全体平均の2倍を超える区間」として"
            "見つかる割合を調べました。" + "、".join(parts) + "が見つかりました（外れを仕込んでいない区間の誤検出は平均"
            f"{power['false_flags'].min():.1f}〜{power['false_flags'].max():.1f}区間）。" + _weakest(power, d1)
            + "実際の児童は歩道の反対側や並行する道を時々使うなど模擬実験より多様なため、"
            "誤検出は実際にはこれより多くなります。")


# ------------------------------------------------------------------------------- volunteers
def place_volunteers(weights: pd.DataFrame, n_volunteers: int, *, radius_m: float = 60.0, method: str = "mclp",
                     max_candidates: int = 80) -> tuple[pd.DataFrame, dict]:
    """Volunteer placement maximising covered child-passes.

    ``weights``: crossing_id, x, y, weight (child-passes per day). Candidates are the
    ``max_candidates`` heaviest crossings; demand is every crossing with weight > 0; a volunteer
    at a crossing covers the crossings within ``radius_m``. ``method``: ``"mclp"`` (spopt MCLP
    solved with CBC: optimal) or ``"greedy"``. Returns the chosen crossings ordered by marginal gain
    (``order``, ``gain``, ``cum_covered``, ``cum_share``) and a summary.
    """
    if n_volunteers < 1:
        raise ParameterError("n_volunteers", f"{n_volunteers}", expected="an integer ≥ 1")
    if method not in ("mclp", "greedy"):
        raise ParameterError("placement_method", f"{method!r}", expected='"mclp" or "greedy"')
    dem = weights[weights["weight"] > 0].reset_index(drop=True)
    cand = dem.sort_values(["weight", "crossing_id"], ascending=[False,
                                                                 True]).head(max_candidates).reset_index(drop=True)
    dxy, cxy = dem[["x", "y"]].to_numpy(), cand[["x", "y"]].to_numpy()
    dist = distance_matrix(dxy, cxy)
    cover = dist <= radius_m
    w = dem["weight"].to_numpy(dtype=float)
    n = min(n_volunteers, len(cand))
    if method == "mclp":
        sel = mclp(dist, w, radius_m, n).sites.tolist()
    else:
        sel = greedy_max_coverage(cover, w, n)
    # Order the chosen set by marginal gain for the list.
    order = greedy_max_coverage(cover[:, sel], w, len(sel))
    sel = [sel[k] for k in order] + [s for s in sel if s not in [sel[k] for k in order]]
    covered = np.zeros(len(dem), dtype=bool)
    rows = []
    for k, j in enumerate(sel, start=1):
        gain = float(w[cover[:, j] & ~covered].sum())
        covered |= cover[:, j]
        rows.append({"order": k, "crossing_id": cand.loc[j, "crossing_id"], "x": cand.loc[j, "x"],
                     "y": cand.loc[j, "y"], "weight": float(cand.loc[j, "weight"]), "gain": gain,
                     "cum_covered": float(w[covered].sum())})
    out = pd.DataFrame(rows)
    total = float(w.sum())
    if len(out):
        out["cum_share"] = out["cum_covered"] / total
    summary = {"method": method, "n_volunteers": n, "total_passes": total,
               "covered_passes": float(w[covered].sum()),
               "covered_share": float(w[covered].sum() / total) if total else np.nan,
               "candidates": len(cand), "demand_points": len(dem)}
    return out, summary


def passes_by_period(hits: pd.DataFrame, n_days: int) -> pd.DataFrame:
    """Average child-passes per school day by crossing and period (sum of 5-minute unique counts)."""
    bc = bin_counts(hits)
    out = bc.groupby(["crossing_id", "period"])["children"].sum().div(n_days).rename("weight").reset_index()
    return out


def top_list(ranking: pd.DataFrame, labels: pd.Series | None = None, *, top_n: int = 10,
             min_cell: int = 10) -> pd.DataFrame:
    """Reader-facing table of the ``top_n`` crowded crossings with small counts suppressed.

    Crossings seen with fewer than ``min_cell`` distinct children are not listed at all."""
    r = ranking[~ranking["suppressed"]].head(top_n).copy()
    peak_max, _ = suppress_small(r["peak_max"], min_cell)
    out = pd.DataFrame({
        "順位": np.arange(1, len(r) + 1),
        "交差点ID": r["crossing_id"].to_numpy(),
        "場所（最寄り校からの方角・距離）": (labels.reindex(r["crossing_id"]).to_numpy() if labels is not None
                                  else r["crossing_id"].to_numpy()),
        "最も混む5分間": [f"{'朝' if p == 'morning' else '午後'} {bin_label(b)}"
                     for p, b in zip(r["peak_period"], r["peak_bin"], strict=True)],
        "ピーク人数（日平均）": r["peak_mean"].round(1).to_numpy(),
        "ピーク人数（最大日）": peak_max.to_numpy(),
        "通過（延べ人/日）": r["passes_per_day"].round(1).to_numpy(),
    })
    return out


def busy_spans(hits: pd.DataFrame, n_days: int, *, bin_minutes: int = 5, share: float = 0.5) -> pd.DataFrame:
    """When to stand at a crossing: per crossing and period, the span from the first to the last
    ``bin_minutes`` bin whose average count (per school day) reaches ``share`` of that period's peak.

    Returns crossing_id, period, start, end (minutes after midnight), peak_mean (average count in the
    busiest bin) and span_share (share of the period's child-passes at that crossing inside the span).
    """
    bc = bin_counts(hits)
    m = bc.groupby(["crossing_id", "period", "bin"])["children"].sum().div(n_days).rename("mean").reset_index()
    rows = []
    for (cid, period), g in m.groupby(["crossing_id", "period"], sort=False):
        peak = g["mean"].max()
        busy = g.loc[g["mean"] >= share * peak, "bin"]
        start, end = int(busy.min()), int(busy.max()) + bin_minutes
        inside = g.loc[(g["bin"] >= start) & (g["bin"] < end), "mean"].sum()
        rows.append({"crossing_id": cid, "period": period, "start": start, "end": end, "peak_mean": float(peak),
                     "span_share": float(inside / g["mean"].sum()) if g["mean"].sum() else np.nan})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------- entry point
@dataclass(frozen=True)
class SchoolRoutesResult:
    """Everything report 05 shows, from :func:`analyse_fixes`.

    Attributes
    ----------
    fixes : DataFrame
        The fixes kept (:func:`prepare_fixes`: accurate enough, with ``x``/``y``, ``date``, ``period``,
        ``bin``, ``trip``).
    summary : dict
        Counts of the preparation: ``fixes_read``, ``fixes_poor_accuracy``, ``fixes_used``,
        ``fixes_in_windows``, ``children``, ``school_days``, ``schools``.
    school_days : int
        Days with fixes (the denominator of every per-day average).
    windows : dict
        Period (``morning``/``afternoon``) → (start, end) minutes after midnight.
    schools, crossings : DataFrame
        The inputs with plane coordinates ``x``, ``y`` (metres).
    routes : GeoDataFrame
        Designated-route segments in the plane CRS.
    hits : DataFrame
        :func:`crossing_hits`: unique (crossing, child, date, period, bin) sightings.
    ranking : DataFrame
        :func:`crossing_ranking` with the crossing's ``x``, ``y``.
    labels : Series
        Crossing id → location label (nearest school, direction, distance).
    top : DataFrame
        The ``top_n`` first rows of ``ranking`` that are not suppressed.
    top_table : DataFrame
        Reader-facing table of ``top`` (:func:`top_list`).
    heat, heat_mask : DataFrame
        :func:`heatmap_matrix` of ``top`` (mean children per bin and the suppressed cells).
    heat_labels : list of str
        Row labels of the heat map ("rank. place（id）").
    weights : DataFrame
        :func:`passes_by_period` with ``x``, ``y``: the demand of the volunteer placement.
    volunteers : dict of str to DataFrame
        Period → chosen crossings in order of marginal gain (:func:`place_volunteers`).
    volunteer_summary : dict of str to dict
        Period → placement summary (``n_volunteers``, ``total_passes``, ``covered_share``, ``candidates`` …).
    spans : DataFrame
        :func:`busy_spans` indexed by (``crossing_id``, ``period``).
    volunteer_table : DataFrame
        Reader-facing placement plan (time, order, place, when to stand, passes, cumulative coverage).
    off_route : DataFrame
        :func:`off_route_by_segment` (sorted by share, suppressed rows flagged).
    segments : GeoDataFrame
        ``routes`` joined to ``off_route`` (the off-route map).
    segment_labels : Series
        Segment id → location label of its midpoint.
    off_route_shown : DataFrame
        Rows of ``off_route`` that may be shown (not suppressed, with fixes).
    off_route_share : float
        Off-route fixes / all attributed fixes.
    min_cell : int
        Cells with fewer distinct children are suppressed.
    """

    fixes: pd.DataFrame
    summary: dict
    school_days: int
    windows: dict
    schools: pd.DataFrame
    crossings: pd.DataFrame
    routes: object
    hits: pd.DataFrame
    ranking: pd.DataFrame
    labels: pd.Series
    top: pd.DataFrame
    top_table: pd.DataFrame
    heat: pd.DataFrame
    heat_mask: pd.DataFrame
    heat_labels: list
    weights: pd.DataFrame
    volunteers: dict
    volunteer_summary: dict
    spans: pd.DataFrame
    volunteer_table: pd.DataFrame
    off_route: pd.DataFrame
    segments: object
    segment_labels: pd.Series
    off_route_shown: pd.DataFrame
    off_route_share: float
    min_cell: int

    def stand_time(self, crossing_id: str, period: str) -> str:
        """When to stand at a crossing in a period, e.g. ``"07:35–08:05"`` (:func:`busy_spans`)."""
        sp = self.spans.loc[(crossing_id, period)]
        return f"{bin_label(sp['start'])}–{bin_label(sp['end'])}"

    @property
    def top_watched_morning(self) -> int:
        """Crossings of ``top`` where a morning volunteer stands."""
        if "morning" not in self.volunteers:
            return 0
        return len(set(self.top["crossing_id"]) & set(self.volunteers["morning"]["crossing_id"]))

    @property
    def hot_segments(self) -> int:
        """Shown segments whose off-route share exceeds twice ``off_route_share`` (candidates for review,
        :func:`hot_segment_flags`)."""
        return int(hot_segment_flags(self.off_route_shown["share"].to_numpy(), self.off_route_share).sum())

    def recovery(self, truth) -> dict:
        """Planted truth against the findings: ``planted`` crossings, how many are in ``top`` (``hit``),
        and the off-route rank of each planted deviation segment (``deviation_ranks``, sorted)."""
        planted = set(truth["planted_crowded_crossings"])
        ids = self.off_route["segment_id"].tolist()
        ranks = sorted(ids.index(d["segment_id"]) + 1 for d in truth["deviations"])
        return {"planted": len(planted), "hit": len(planted & set(self.top["crossing_id"])), "deviation_ranks": ranks}

    def export_tables(self, *, suppress: bool = True) -> dict[str, pd.DataFrame]:
        """The published CSVs by file name: crowded crossings, the heat map of ``top``, off-route segments
        and the volunteer plan; person counts under ``min_cell`` suppressed with what reveals them
        (``suppress=False``: the off-route counts as counted, for an internal run)."""
        rk = self.ranking[~self.ranking["suppressed"]].copy()
        rk["location"] = self.labels.reindex(rk["crossing_id"]).to_numpy()
        rk["peak_max"] = suppress_small(rk["peak_max"], self.min_cell)[0]
        hm = self.heat.copy()
        hm.columns = [bin_label(c) for c in hm.columns]
        offo = self.off_route.drop(columns=["suppressed"])
        tables = {
            "crowded_crossings.csv": rk[["rank", "crossing_id", "location", "peak_period", "peak_bin", "peak_mean",
                                         "peak_max", "passes_per_day"]],
            "heatmap_top_crossings.csv": hm.reset_index().rename(columns={"index": "crossing_id"}),
            "offroute_segments.csv": offo,
            "volunteer_placement.csv": self.volunteer_table,
        }
        if not suppress:
            return tables
        kinds = self.export_kinds()
        return {name: D.suppress_table(df, kinds[name], self.min_cell) for name, df in tables.items()}

    def export_kinds(self) -> dict[str, dict]:
        """Column kinds of :meth:`export_tables`. Off-route fixes and trips are counts of children's
        positions and journeys (persons); means per day or per 5-minute bin are shown only where at least
        ``min_cell`` distinct children were seen (suppressed before, by distinct children)."""
        off = ["off_fixes", "fixes", "children"]
        hm = {c: D.OTHER for c in [bin_label(c) for c in self.heat.columns]}
        return {
            "crowded_crossings.csv": {"rank": D.OTHER, "crossing_id": D.LABEL, "location": D.LABEL,
                                      "peak_period": D.LABEL, "peak_bin": D.LABEL, "peak_mean": D.OTHER,
                                      "peak_max": D.PERSONS, "passes_per_day": D.OTHER},
            "heatmap_top_crossings.csv": {"crossing_id": D.LABEL, **hm},
            "offroute_segments.csv": {"segment_id": D.LABEL, "school_id": D.LABEL, "fixes": D.PERSONS,
                                      "off_fixes": D.PERSONS, "trips": D.PERSONS, "off_trips": D.PERSONS,
                                      "children": D.PERSONS, "share": D.rate(off), "share_lo": D.interval(off),
                                      "share_hi": D.interval(off),
                                      "trip_share": D.rate(["off_trips", "trips", "children"])},
            "volunteer_placement.csv": {"順": D.OTHER, **{c: D.OTHER for c in self.volunteer_table.columns
                                                          if c.startswith("見守れる")}},
        }


def volunteer_table(volunteers: dict, spans: pd.DataFrame, labels: pd.Series, *, min_cell: int = 10) -> pd.DataFrame:
    """Reader-facing volunteer plan: one row per volunteer and period with the place, when to stand
    (span of the busy bins and the share of passes inside it), passes watched (``None``, shown as —,
    under ``min_cell`` children a day) and cumulative coverage."""
    rows = []
    for period, vf in volunteers.items():
        for _, r in vf.iterrows():
            sp = spans.loc[(r["crossing_id"], period)]
            stand = f"{bin_label(sp['start'])}–{bin_label(sp['end'])}（通過の{sp['span_share']:.0%}）"
            rows.append({"時間帯": "朝" if period == "morning" else "午後", "順": int(r["order"]),
                         "場所（交差点ID）": f"{labels[r['crossing_id']]}（{r['crossing_id']}）",
                         "立つ時間（目安）": stand,
                         "見守れる通過（延べ人/日）": round(r["gain"], 1) if r["gain"] >= min_cell else None,
                         "累計の被覆率": f"{r['cum_share']:.0%}"})
    return pd.DataFrame(rows)


def analyse_fixes(fixes: pd.DataFrame, *, schools: pd.DataFrame, crossings: pd.DataFrame, routes,
                  morning_window=("07:00", "08:30"), afternoon_window=("14:00", "17:00"),
                  max_accuracy_m: float = 50.0, crossing_radius_m: float = 30.0, bin_minutes: int = 5,
                  off_route_m: float = 40.0, top_n: int = 10, n_volunteers: int = 6,
                  volunteer_radius_m: float = 60.0, placement_method: str = "mclp",
                  min_cell: int = 10, plane_crs: str) -> SchoolRoutesResult:
    """Crowded crossings, volunteer placement and off-route segments from children's position fixes.

    Parameters
    ----------
    fixes : DataFrame
        :func:`ebpm_analysis.io.school_fixes.read_fixes` (``device_id``, ``school_id``, ``timestamp``,
        ``lat``, ``lon``, ``accuracy``).
    schools, crossings : DataFrame
        :func:`~ebpm_analysis.io.school_fixes.read_schools` / :func:`~ebpm_analysis.io.school_fixes.read_crossings`.
    routes : GeoDataFrame
        :func:`~ebpm_analysis.io.school_fixes.read_designated_routes` (any CRS; projected here).
    morning_window, afternoon_window : (str, str)
        ``"HH:MM"`` start and end of the two analysis windows.
    max_accuracy_m : float
        Fixes with a worse reported accuracy are dropped.
    crossing_radius_m : float
        A child within this distance of a crossing is "at" it.
    bin_minutes : int
        Time bin (a divisor of 60).
    off_route_m : float
        A fix farther than this from its designated segment is off-route.
    top_n : int
        Crowded crossings listed.
    n_volunteers, volunteer_radius_m, placement_method : int, float, str
        Volunteers per period, the radius one volunteer watches, ``"mclp"`` or ``"greedy"``.
    min_cell : int
        Cells with fewer distinct children are suppressed.
    plane_crs : str
        The city's plane CRS (:func:`ebpm_analysis.geo.plane_crs`): every distance is measured in it.

    Returns
    -------
    SchoolRoutesResult

    Raises
    ------
    ParameterError
        A window that is not ``"HH:MM"`` or ends before it starts, a bin that does not divide 60, an
        unknown placement method or fewer than one volunteer.
    """
    windows = windows_from_params(tuple(morning_window), tuple(afternoon_window))
    schools, crossings = add_xy(schools, plane_crs=plane_crs), add_xy(crossings, plane_crs=plane_crs)
    routes = geo.to_plane(routes, plane_crs)
    fx, summary = prepare_fixes(fixes, max_accuracy_m=max_accuracy_m, windows=windows, bin_minutes=bin_minutes,
                                plane_crs=plane_crs)
    n_days = summary["school_days"]
    hits = crossing_hits(fx, crossings, radius_m=crossing_radius_m)
    xy = crossings[["crossing_id", "x", "y"]]
    ranking = crossing_ranking(hits, n_days, min_cell=min_cell).merge(xy, on="crossing_id")
    labels = pd.Series(label_locations(crossings, schools).to_numpy(), index=crossings["crossing_id"])
    top = ranking[~ranking["suppressed"]].head(top_n)
    heat, heat_mask = heatmap_matrix(hits, top["crossing_id"], n_days, windows=windows, bin_minutes=bin_minutes,
                                     min_cell=min_cell)
    weights = passes_by_period(hits, n_days).merge(xy, on="crossing_id")
    volunteers, vol_summary = {}, {}
    for period in windows:
        w = weights[weights["period"] == period]
        if len(w):
            volunteers[period], vol_summary[period] = place_volunteers(
                w, n_volunteers, radius_m=volunteer_radius_m, method=placement_method)
    spans = busy_spans(hits, n_days, bin_minutes=bin_minutes).set_index(["crossing_id", "period"])
    off = off_route_by_segment(fx, routes, off_route_m=off_route_m, min_cell=min_cell)
    segments = routes.merge(off.drop(columns="school_id"), on="segment_id")
    mid = segments.geometry.interpolate(0.5, normalized=True)
    return SchoolRoutesResult(
        fixes=fx, summary=summary, school_days=n_days, windows=windows, schools=schools, crossings=crossings,
        routes=routes, hits=hits, ranking=ranking, labels=labels, top=top,
        top_table=top_list(ranking, labels, top_n=top_n, min_cell=min_cell), heat=heat, heat_mask=heat_mask,
        heat_labels=[f"{r}. {labels[cid].replace('小学校（合成）', '小')}（{cid}）"
                     for r, cid in zip(top["rank"], top["crossing_id"], strict=True)],
        weights=weights, volunteers=volunteers, volunteer_summary=vol_summary, spans=spans,
        volunteer_table=volunteer_table(volunteers, spans, labels, min_cell=min_cell), off_route=off, segments=segments,
        segment_labels=pd.Series(label_locations(pd.DataFrame({"x": mid.x, "y": mid.y}), schools).to_numpy(),
                                 index=segments["segment_id"]),
        off_route_shown=off[~off["suppressed"] & (off["fixes"] > 0)],
        off_route_share=float(off["off_fixes"].sum() / max(off["fixes"].sum(), 1)), min_cell=min_cell,
    )


# ------------------------------------------------------------------- real police records (本票)
PEDESTRIAN_TYPE_CODE = "01"  # 事故類型 人対車両 (docs/sources.md#honhyo-age-bands)
#: Names of the JIS X 0410 mesh levels for report text.
MESH_LABELS = {3: "3次メッシュ（約1 km）", 4: "2分の1地域メッシュ（約500 m）", 5: "4分の1地域メッシュ（約250 m）",
               6: "8分の1地域メッシュ（約125 m）"}


@dataclass(frozen=True)
class PedestrianAccidents:
    """Pedestrian accidents on school days in the commuting windows, from :func:`pedestrian_accidents`.

    Attributes
    ----------
    records : DataFrame
        The selected 本票 rows (tidy frame of :mod:`ebpm_analysis.io.npa_accidents`) with ``period``
        (``morning``/``afternoon``) and ``mesh``.
    by_mesh : DataFrame
        One row per mesh with an accident: ``mesh``, ``n_accidents``, ``n_morning``, ``n_afternoon``,
        ``n_fatal``, ``police`` (the station of most of its records), ``lat``/``lon`` of the mesh centre;
        most accidents first.
    steps : DataFrame
        How the selection narrows: ``step`` (label) and ``n`` — accidents of the years, pedestrian, on
        school days, in the windows.
    years : list of int
    level : int
        Mesh level (3 = 1 km, 4 = 500 m, 5 = 250 m).
    windows : dict
        Period → (start, end) minutes after midnight.
    """

    records: pd.DataFrame
    by_mesh: pd.DataFrame
    steps: pd.DataFrame
    years: list
    level: int
    windows: dict

    @property
    def n(self) -> int:
        return len(self.records)

    def export_tables(self) -> dict[str, pd.DataFrame]:
        """The published CSV: accidents per mesh (counts of accidents from the public 本票, no persons)."""
        return {"pedestrian_accidents_by_mesh.csv": self.by_mesh}

    def export_kinds(self) -> dict[str, dict]:
        """Police records are public at source (警察庁 本票 open data): their counts need no threshold."""
        return {"pedestrian_accidents_by_mesh.csv": {
            "mesh": D.LABEL, "police": D.LABEL, "lat": D.OTHER, "lon": D.OTHER,
            **{c: D.PUBLIC for c in self.by_mesh.columns if c.startswith("n_")}}}


def pedestrian_accidents(accidents: pd.DataFrame, *, years=(2019, 2020, 2021), morning_window=("07:00", "08:30"),
                         afternoon_window=("14:00", "17:00"), level: int = 4,
                         is_school_day=None) -> PedestrianAccidents:
    """Pedestrian accidents (事故類型 01 人対車両) on school days within the commuting windows, by mesh.

    Parameters
    ----------
    accidents : DataFrame
        The city's police records (:func:`ebpm_analysis.io.npa_accidents.load_accidents`).
    years : sequence of int
        Occurrence years kept (late registrations of earlier years are left out).
    morning_window, afternoon_window : (str, str)
        ``"HH:MM"`` start (inclusive) and end (exclusive) of the commuting windows, as for the fixes.
    level : int
        JIS X 0410 mesh level 3–6.
    is_school_day : callable, optional
        Dates → boolean array (default :func:`ebpm_analysis.jpcalendar.is_school_day`: weekdays outside
        national holidays and the assumed long vacations, docs/sources.md#school-calendar).

    Raises
    ------
    ParameterError
        A bad window or a mesh level outside 3–6.
    """
    from ..jpcalendar import is_school_day as default_school_day
    from .probe import mesh_code

    if level not in (3, 4, 5, 6):
        raise ParameterError("accident_mesh_level", f"got {level!r}", expected="3 (1 km), 4 (500 m), 5 or 6")
    windows = windows_from_params(tuple(morning_window), tuple(afternoon_window))
    school_day = is_school_day or default_school_day
    years = [int(y) for y in years]
    acc = accidents[accidents["year"].isin(years)]
    ped = acc[acc["accident_type_code"] == PEDESTRIAN_TYPE_CODE]
    sd = ped[np.asarray(school_day(ped["occurred_at"]), dtype=bool)]
    minute = sd["hour"] * 60 + sd["minute"]
    period = pd.Series(pd.NA, index=sd.index, dtype="string")
    for key, (lo, hi) in windows.items():
        period[(minute >= lo) & (minute < hi)] = key
    rec = sd.assign(period=period).dropna(subset=["period"]).reset_index(drop=True)
    rec["mesh"] = mesh_code(rec["lat"].to_numpy(), rec["lon"].to_numpy(), level).astype(str)
    steps = pd.DataFrame({"step": [f"人身事故（{years[0]}〜{years[-1]}年）", "うち人対車両", "うち登校日",
                                   "うち登下校の時間帯"],
                          "n": [len(acc), len(ped), len(sd), len(rec)]})
    return PedestrianAccidents(rec, _accidents_by_mesh(rec, level), steps, years, level, windows)


def _accidents_by_mesh(rec: pd.DataFrame, level: int) -> pd.DataFrame:
    from .probe import mesh_polygons

    cols = ["mesh", "n_accidents", "n_morning", "n_afternoon", "n_fatal", "police", "lat", "lon"]
    if rec.empty:
        return pd.DataFrame({c: pd.Series(dtype=object if c in ("mesh", "police") else float) for c in cols})
    g = rec.groupby("mesh").agg(n_accidents=("period", "size"),
                                n_morning=("period", lambda p: int((p == "morning").sum())),
                                n_afternoon=("period", lambda p: int((p == "afternoon").sum())),
                                n_fatal=("severity_code", lambda c: int((c == "1").sum())),
                                police=("police_name", lambda s: s.value_counts().index[0])).reset_index()
    cells = pd.DataFrame(mesh_polygons(g["mesh"], level)).astype({"mesh": str}).set_index("mesh")
    g["lat"] = np.round(g["mesh"].map(cells["lat"]).to_numpy(float), 6)
    g["lon"] = np.round(g["mesh"].map(cells["lon"]).to_numpy(float), 6)
    return g.sort_values(["n_accidents", "mesh"], ascending=[False, True]).reset_index(drop=True)[cols]
