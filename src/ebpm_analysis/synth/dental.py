"""Seeded generator of preschool dental checkup sheets (園児歯科健診票).

Figures and definitions: docs/sources.md#dental-notation, #dental-prevalence, #dental-sites.

What it plants (all written to ``truth.json`` / ``truth_facilities.csv`` beside the data):

- Facilities of three types (保育所, 幼稚園, 認定こども園) placed inside the real polygons of the
  city (every part, islands included; denser towards :func:`ebpm_analysis.geo.city_centre`), with
  synthetic names; a few are very small. Sizes scale to the city's population (:func:`sizes`).
- Children aged 3–5. Whether a child has caries experience (dmft > 0) follows a
  logistic model: age intercept (calibrated so the expected prevalence equals the targets,
  ≈10.2 % at age 3 as in the national FY2021 3歳児 figure, rising with age) + facility random
  effect + facility-type effect + behaviour effects (仕上げみがき, snacks per day, fluoride)
  + a **spatial cluster** (facilities within ``cluster_radius_km`` of a centre) + a handful of
  **planted high-risk facilities** of every size from 15 children, at odds ratios 1.5–2.5 (:data:`HIGH_RISK_OR`).
  The age mix varies by facility (some 幼稚園 examine only 4- and 5-year-olds), so crude and
  age-standardised facility rates differ.
- Given caries, the number of affected teeth is 1 + Poisson (mean dmft per affected child
  ≈3 at age 3, as in the national 0.326/0.102) and *which* teeth follows age-specific tooth
  weights: upper central incisors (51/61) dominate at age 3, lower second molars (75/85) by
  age 5, lower incisors rarely (docs/sources.md#dental-sites). Hazards are left–right symmetric, so the truth
  "top tooth" is a mirror pair (e.g. 51/61). A facility multiplier on the upper front teeth
  (and a planted set of "anterior-type" facilities with 2.5× weight) gives facilities different
  caries *patterns* for the clustering.
- Treated share rises with age and varies by facility (referral follow-up quality); a few
  teeth are CO (要観察) or × (要注意乳歯); lower incisors may already be exfoliated at 5.

Files are written in the real sheet format (:mod:`ebpm_analysis.io.dental_sheet`): cp932 CSV,
one row per child, tooth columns in FDI or Japanese naming.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.optimize import brentq
from scipy.special import expit

from .. import geo, paths
from ..errors import ParameterError
from ..io.common import build_dir_once
from ..io.dental_sheet import FDI_TEETH, tooth_label
from ..location import distance_matrix
from . import set_key

GENERATOR_VERSION = 7  # part of the cache key (with the boundary file and this module: synth.set_key)
AGES = (3, 4, 5)
# Expected prevalence of caries experience by age (docs/sources.md#dental-prevalence: 3歳 10.2 % nationally FY2021;
# 4–5 歳 between the national 5-year-old 17.6 % (2022) and Ibaraki 37.5 %/46.2 % (2015)).
TARGET_PREVALENCE = {3: 0.102, 4: 0.19, 5: 0.28}
# Mean dmft among children with caries (national 3歳: 0.326 / 0.102 ≈ 3.2).
MEAN_TEETH_IF_CARIES = {3: 3.2, 4: 3.5, 5: 3.8}
VISIT_P = {3: 0.30, 4: 0.40, 5: 0.50}  # P(child with caries has had treatment)

# Relative tooth susceptibility by tooth kind (1=A 乳中切歯 … 5=E 第二乳臼歯), upper/lower jaw.
# Same for left and right (mirror pairs).
TOOTH_WEIGHTS = {
    3: {"upper": [3.6, 2.2, 0.6, 1.2, 1.1], "lower": [0.08, 0.1, 0.3, 1.4, 2.2]},
    4: {"upper": [2.6, 1.6, 0.6, 1.5, 1.5], "lower": [0.08, 0.1, 0.35, 2.0, 3.1]},
    5: {"upper": [1.8, 1.1, 0.6, 1.9, 2.0], "lower": [0.08, 0.1, 0.4, 2.5, 3.8]},
}

TYPE_SHARE = {"保育所": 0.55, "幼稚園": 0.22, "認定こども園": 0.23}
TYPE_MEAN_SIZE = {"保育所": 70, "幼稚園": 160, "認定こども園": 130}  # children aged 3–5 examined
TYPE_EFFECT = {"保育所": 0.10, "幼稚園": 0.0, "認定こども園": -0.05}  # log-odds
BEHAVIOUR_EFFECTS = {"仕上げみがき_ときどき": 0.45, "仕上げみがき_していない": 0.85,
                     "間食回数_per_snack": 0.25, "フッ化物_あり": -0.30}
BRUSHING_P = {"毎日": 0.68, "ときどき": 0.22, "していない": 0.10}

# Planted high-risk facilities: odds ratio against a like facility drawn log-uniformly from this range
# (docs/sources.md#dental-facility-effect). Reasoning: an OR of 1.5–2.5 is the size of the child-level
# behaviour effects planted below (仕上げみがき していない e^0.85 = 2.3, 間食 +2/日 e^0.5 = 1.6), i.e. a facility
# where one such habit is the rule; the earlier OR 4.5 would put a high-risk 保育所's 3-year-olds near 34 %
# against the national 10.2 % (three times the national figure), which no facility-level study suggests.
HIGH_RISK_OR = (1.5, 2.5)
# Age mix of the children examined varies by facility (Dirichlet around equal thirds, concentration below:
# the share of any age is mostly 15–55 %), and some 幼稚園 examine only 4- and 5-year-olds (2年保育): an
# assumption (docs/sources.md#dental-facility-effect), made so that crude and age-standardised rates differ.
AGE_MIX_CONCENTRATION = 8.0
TWO_YEAR_KINDERGARTEN_SHARE = 0.25

#: children aged 3–5 examined per resident (≈ 2.7 %: 3–5-year-olds are ≈ 2.4 % of Japan's 2020 population,
#: most attend a facility; docs/sources.md#dental-children-share), and children per facility
CHILDREN_SHARE = 0.027
CHILDREN_PER_FACILITY = 118
MIN_FACILITIES = 20


def sizes(city_code: str, population: float | None = None, n_facilities: int | None = None,
          n_children: int | None = None) -> dict:
    """Sizes for a city: ``n_children`` (given, else :data:`CHILDREN_SHARE` × population),
    ``n_facilities`` (given, else ``n_children`` / :data:`CHILDREN_PER_FACILITY`, at least
    :data:`MIN_FACILITIES`; then at least 15 children per facility). ``population`` ``None``/0: the
    assumption of :func:`ebpm_analysis.lookups.city_population`, returned as ``population``; ``how``
    says in Japanese where each size comes from (for the report)."""
    from ..lookups import city_population
    pop = city_population(city_code, population)
    kids = int(n_children or round(CHILDREN_SHARE * pop.value))
    fac = int(n_facilities or max(MIN_FACILITIES, round(kids / CHILDREN_PER_FACILITY)))
    how_f = "指定値" if n_facilities else (f"受診児{CHILDREN_PER_FACILITY}人に1施設" if fac > MIN_FACILITIES
                                           else f"最少の{MIN_FACILITIES}施設")
    how_c = "指定値" if n_children else f"人口×{CHILDREN_SHARE:.1%}"
    if not n_children and kids < 30 * fac // 2:
        kids, how_c = 30 * fac // 2, "1施設15人の下限"
    return {"n_facilities": fac, "n_children": kids, "population": pop,
            "how": f"{fac}施設（{how_f}）・受診児 {kids:,}人（{how_c}）"}


def _tooth_weight(age: int, tooth: int) -> float:
    q, i = divmod(tooth, 10)
    jaw = "upper" if q in (5, 6) else "lower"
    return TOOTH_WEIGHTS[age][jaw][i - 1]


def tooth_weight_table() -> pd.DataFrame:
    """Truth: relative susceptibility of every tooth at every age (rows = age, columns = FDI)."""
    return pd.DataFrame({t: [_tooth_weight(a, t) for a in AGES] for t in FDI_TEETH}, index=list(AGES))


def true_top_teeth() -> dict[int, list[int]]:
    """Truth: the most caries-prone tooth (a mirror pair) at each age."""
    w = tooth_weight_table()
    return {a: sorted(int(t) for t in w.columns[np.isclose(w.loc[a], w.loc[a].max())]) for a in AGES}


def _place_facilities(city: gpd.GeoDataFrame, n: int, rng, centre, scale_km: float, crs: str) -> gpd.GeoDataFrame:
    """``n`` points inside the city's polygons (plane ``crs``), thinned with distance from ``centre``
    (lon, lat) so they are denser towards it; each with the ward (or the city) it lies in."""
    plane = city.to_crs(crs)
    union = shapely.union_all(plane.geometry.to_numpy())
    c = gpd.GeoSeries(gpd.points_from_xy([centre[0]], [centre[1]]), crs=geo.GEO_CRS).to_crs(crs)
    cx, cy = c.x.iloc[0], c.y.iloc[0]
    pts = np.empty((0, 2))
    while len(pts) < n:
        cand = geo.random_points_in(union, 4 * n, rng)
        d = np.hypot(cand[:, 0] - cx, cand[:, 1] - cy) / 1000
        keep = rng.uniform(size=len(cand)) < np.exp(-d / scale_km)
        pts = np.vstack([pts, cand[keep]])
    pts = pts[:n]
    g = gpd.GeoDataFrame(geometry=gpd.points_from_xy(pts[:, 0], pts[:, 1]), crs=crs)
    j = gpd.sjoin(g, plane[["code", "name", "geometry"]], how="left", predicate="within")
    j = j[~j.index.duplicated()]
    # points on a shared border: nearest ward
    if j["code"].isna().any():
        nn = gpd.sjoin_nearest(g[j["code"].isna()], plane[["code", "name", "geometry"]])
        j.loc[nn.index, ["code", "name"]] = nn[["code", "name"]].to_numpy()
    return gpd.GeoDataFrame({"ward_code": j["code"].astype(str).to_numpy(),
                             "ward_name": j["name"].astype(str).to_numpy()},
                            geometry=g.geometry.to_numpy(), crs=crs)


def generate(seed: int = 2026, city_code: str = "43100", n_facilities: int = 170, n_children: int = 20000,
             n_high_risk: int | None = None, high_risk_or: tuple = HIGH_RISK_OR, re_sd: float = 0.15,
             cluster_log_or: float = 0.5, cluster_radius_km: float = 2.5, n_small: int | None = None,
             centre_lonlat=None, scale_km: float = 7.0, fiscal_year: int = 2026,
             n_anterior_type: int | None = None, anterior_type_mult: float = 2.5) -> dict:
    """Generate facilities, children (wide sheet rows) and the truth. Deterministic for ``seed``.

    ``n_high_risk`` (default 8 per 170 facilities), ``n_small`` (facilities with 4–9 children,
    default 6 per 170) and ``n_anterior_type`` (default 14 per 170) scale with ``n_facilities``.
    High-risk facilities are drawn among all facilities of 15 children or more outside the cluster, each
    with an odds ratio log-uniform in ``high_risk_or`` (a pair low, high; :data:`HIGH_RISK_OR`).
    """
    n_high_risk = max(2, round(8 * n_facilities / 170)) if n_high_risk is None else n_high_risk
    n_small = max(1, round(6 * n_facilities / 170)) if n_small is None else n_small
    n_anterior_type = max(1, round(14 * n_facilities / 170)) if n_anterior_type is None else n_anterior_type
    if n_facilities < 20:
        raise ParameterError("n_facilities", f"{n_facilities} is too few", expected="at least 20")
    if n_children < 30 * n_facilities // 2:
        raise ParameterError("n_children", f"{n_children} for {n_facilities} facilities",
                             expected=f"at least {30 * n_facilities // 2} (≈15 per facility or more)")
    rng = np.random.default_rng(seed)
    city = geo.load_city(city_code)
    crs = geo.plane_crs(city_code)
    if centre_lonlat:
        centre = tuple(centre_lonlat)
    else:  # derived from the polygons (docs/sources.md#synthetic-centre)
        c = gpd.GeoSeries([geo.city_centre(city_code, crs)], crs=crs).to_crs(geo.GEO_CRS)
        centre = (round(float(c.x.iloc[0]), 6), round(float(c.y.iloc[0]), 6))

    # --- facilities --------------------------------------------------------------------------
    fac = _place_facilities(city, n_facilities, rng, centre, scale_km, crs)
    types = list(TYPE_SHARE)
    fac["facility_type"] = rng.choice(types, size=n_facilities, p=[TYPE_SHARE[t] for t in types])
    mean = fac["facility_type"].map(TYPE_MEAN_SIZE).to_numpy(float)
    size = mean * rng.lognormal(-0.1, 0.45, n_facilities)
    size = size / size.sum() * n_children
    small = rng.choice(np.flatnonzero(fac["facility_type"].to_numpy() == "保育所"),
                       size=min(n_small, int((fac["facility_type"] == "保育所").sum())), replace=False)
    size = np.clip(np.round(size), 15, 320).astype(int)
    size[small] = rng.integers(4, 10, len(small))
    # adjust the largest facilities so the total is exactly n_children
    diff = n_children - size.sum()
    order = np.argsort(-size)
    k = 0
    while diff != 0:
        step = 1 if diff > 0 else -1
        size[order[k % 20]] += step
        diff -= step
        k += 1
    fac["size"] = size
    # stable codes/names, numbered within ward from north-west to south-east
    fac["_y"] = -fac.geometry.y.round(-2)
    fac["_x"] = fac.geometry.x
    fac = fac.sort_values(["ward_code", "_y", "_x"]).reset_index(drop=True)
    fac["seq"] = fac.groupby("ward_code").cumcount() + 1
    fac["facility_code"] = fac["ward_code"] + "-" + fac["seq"].map("{:03d}".format)
    fac["facility_name"] = fac["ward_name"] + "・" + fac["facility_type"] + fac["seq"].map("{:03d}".format)
    fac = fac.drop(columns=["_y", "_x", "seq"])
    geo_pts = fac.to_crs(geo.GEO_CRS)
    fac["lon"] = geo_pts.geometry.x.round(6)
    fac["lat"] = geo_pts.geometry.y.round(6)

    # facility-level truth
    nF = len(fac)
    fac["re"] = rng.normal(0, re_sd, nF)
    xy = np.column_stack([fac.geometry.x, fac.geometry.y])
    assessable = fac["size"].to_numpy() >= 15   # small (4–9 children) facilities are reported in total only
    # cluster centre: a facility with many neighbours within the radius, away from the city centre
    dmat = distance_matrix(xy) / 1000
    neigh = (dmat < cluster_radius_km).sum(axis=1)
    eligible = np.flatnonzero((neigh >= 6) & (neigh <= max(12, np.quantile(neigh, 0.6))))
    if len(eligible) == 0:
        eligible = np.argsort(-neigh)[:10]
    c_idx = int(rng.choice(eligible))
    in_cluster = dmat[c_idx] < cluster_radius_km
    fac["cluster"] = in_cluster
    fac["cluster_effect"] = np.where(in_cluster, cluster_log_or, 0.0)
    lo_or, hi_or = (float(x) for x in high_risk_or)
    if not 1 <= lo_or <= hi_or:
        raise ParameterError("high_risk_or", f"{high_risk_or!r}", expected="a pair (low, high) with 1 ≤ low ≤ high")
    cand = np.flatnonzero(assessable & ~in_cluster)
    hr = rng.choice(cand, size=min(n_high_risk, len(cand)), replace=False)
    fac["high_risk"] = False
    fac.loc[hr, "high_risk"] = True
    fac["high_risk_effect"] = 0.0
    fac.loc[hr, "high_risk_effect"] = rng.uniform(np.log(lo_or), np.log(hi_or), len(hr))
    # age mix of each facility (see AGE_MIX_CONCENTRATION)
    mix = rng.dirichlet(np.full(len(AGES), AGE_MIX_CONCENTRATION), nF)
    two_year = (fac["facility_type"].to_numpy() == "幼稚園") & (rng.uniform(size=nF) < TWO_YEAR_KINDERGARTEN_SHARE)
    mix[two_year, 0] = 0.0
    mix /= mix.sum(axis=1, keepdims=True)
    fac["two_year"] = two_year
    fac["type_effect"] = fac["facility_type"].map(TYPE_EFFECT).astype(float)
    # facility behaviour climate: snack habits and brushing vary by facility
    fac["snack_mean"] = 1.5 * rng.lognormal(0, 0.18, nF)
    fac["brush_shift"] = rng.normal(0, 0.35, nF)
    fac["treat_logit"] = rng.normal(0, 0.6, nF)
    # caries pattern: some facilities have relatively more upper-front-tooth caries (e.g. prolonged
    # bottle/night feeding habits) — multiplies the weights of the upper incisors and canines
    fac["anterior_mult"] = np.exp(rng.normal(0, 0.2, nF))
    ant_type = rng.choice(nF, size=min(n_anterior_type, nF), replace=False)
    fac["anterior_type"] = False
    fac.loc[ant_type, "anterior_type"] = True
    fac.loc[ant_type, "anterior_mult"] *= anterior_type_mult
    fac["exam_date"] = pd.Timestamp(f"{fiscal_year}-05-11") + pd.to_timedelta(rng.integers(0, 60, nF), unit="D")
    wd = fac["exam_date"].dt.day_of_week
    fac["exam_date"] = fac["exam_date"] + pd.to_timedelta(np.where(wd >= 5, 7 - wd, 0), unit="D")

    # --- children ----------------------------------------------------------------------------
    fidx = np.repeat(np.arange(nF), fac["size"].to_numpy())
    n = len(fidx)
    age = np.array(AGES)[(rng.uniform(size=n)[:, None] > np.cumsum(mix, axis=1)[fidx][:, :-1]).sum(axis=1)]
    sex = rng.choice(["男", "女"], size=n)
    # brushing: multinomial logit shifted by facility climate
    base = np.log(np.array([BRUSHING_P[k] for k in BRUSHING_P]))
    shift = fac["brush_shift"].to_numpy()[fidx]
    logits = base[None, :] + np.column_stack([np.zeros(n), shift, 1.5 * shift]) + 0.15 * (age[:, None] - 4) * [0, 1, 1]
    pb = np.exp(logits)
    pb /= pb.sum(axis=1, keepdims=True)
    u = rng.uniform(size=n)[:, None]
    bidx = (u > np.cumsum(pb, axis=1)).sum(axis=1)
    brushing = np.array(list(BRUSHING_P))[bidx]
    snacks = np.minimum(rng.poisson(fac["snack_mean"].to_numpy()[fidx]), 6)
    fluoride = rng.uniform(size=n) < 0.5
    beh = (np.where(brushing == "ときどき", BEHAVIOUR_EFFECTS["仕上げみがき_ときどき"], 0.0)
           + np.where(brushing == "していない", BEHAVIOUR_EFFECTS["仕上げみがき_していない"], 0.0)
           + BEHAVIOUR_EFFECTS["間食回数_per_snack"] * (snacks - 1.5)
           + np.where(fluoride, BEHAVIOUR_EFFECTS["フッ化物_あり"], 0.0))
    fac_eff = (fac["re"] + fac["cluster_effect"] + fac["high_risk_effect"] + fac["type_effect"]).to_numpy()
    offset = fac_eff[fidx] + beh
    intercept = {}
    for a in AGES:
        m = age == a
        intercept[a] = brentq(lambda b, m=m, a=a: expit(b + offset[m]).mean() - TARGET_PREVALENCE[a], -12, 6)
    eta = np.array([intercept[a] for a in age]) + offset
    p_caries = expit(eta)
    caries = rng.uniform(size=n) < p_caries

    # presence of teeth (eruption / exfoliation)
    teeth = np.array(FDI_TEETH)
    present = np.ones((n, 20), bool)
    kind = teeth % 10
    lower = teeth // 10 >= 7
    late_molar = (kind == 5)
    present[:, late_molar] &= ~((age[:, None] == 3) & (rng.uniform(size=(n, late_molar.sum())) < 0.02))
    exf_a = lower & (kind == 1)
    exf_b = lower & (kind == 2)
    present[:, exf_a] &= ~((age[:, None] == 5) & (rng.uniform(size=(n, exf_a.sum())) < 0.06))
    present[:, exf_b] &= ~((age[:, None] == 5) & (rng.uniform(size=(n, exf_b.sum())) < 0.02))

    # number and location of carious teeth
    # more teeth for children at higher risk, scaled so the mean among children with caries hits the target
    lam = np.exp(0.4 * (offset - offset.mean()))
    for a in AGES:
        m = age == a
        lam[m] *= (MEAN_TEETH_IF_CARIES[a] - 1) / np.average(lam[m], weights=p_caries[m])
    k_teeth = np.where(caries, 1 + rng.poisson(lam), 0)
    k_teeth = np.minimum(k_teeth, present.sum(axis=1))
    w = np.vstack([tooth_weight_table().loc[a].to_numpy() for a in AGES])[age - 3]
    upper_front = (teeth // 10 <= 6) & (kind <= 3)
    w = w * np.where(upper_front[None, :], fac["anterior_mult"].to_numpy()[fidx][:, None], 1.0)
    keys = np.where(present, np.log(w) + rng.gumbel(size=(n, 20)), -np.inf)  # Gumbel-top-k sampling
    rank = np.argsort(np.argsort(-keys, axis=1), axis=1)
    carious = rank < k_teeth[:, None]
    # treatment: a child either has seen a dentist since the caries (most teeth then filled) or not;
    # the chance rises with age and varies by facility (quality of referral follow-up)
    p_visit = expit(np.log(np.array([VISIT_P[a] for a in age]) / (1 - np.array([VISIT_P[a] for a in age])))
                    + fac["treat_logit"].to_numpy()[fidx])
    visited = rng.uniform(size=n) < p_visit
    p_fill = np.where(visited, 0.85, 0.04)
    filled = carious & (rng.uniform(size=(n, 20)) < p_fill[:, None])
    observe = present & ~carious & (rng.uniform(size=(n, 20)) < 0.015 * np.exp(0.5 * (offset - offset.mean()))[:, None])
    caution = present & ~carious & ~observe & (age[:, None] == 5) & ~lower[None, :] & (kind[None, :] <= 2) \
        & (rng.uniform(size=(n, 20)) < 0.004)
    sym = np.full((n, 20), "", dtype=object)
    sym[present] = "/"
    sym[observe] = "CO"
    sym[caution] = "×"
    sym[carious] = "C"
    sym[filled] = "〇"

    child_ids = rng.permutation(np.arange(100000, 100000 + 3 * n))[:n]
    exams = pd.DataFrame({
        "施設コード": fac["facility_code"].to_numpy()[fidx],
        "児童番号": [f"K{c:07d}" for c in child_ids],
        "健診日": fac["exam_date"].dt.strftime("%Y/%m/%d").to_numpy()[fidx],
        "年齢": age.astype(str),
        "性別": sex,
        "仕上げみがき": brushing.astype(object),
        "間食回数": snacks.astype(str).astype(object),
        "フッ化物": np.where(fluoride, "あり", "なし").astype(object),
    })
    for col in ("仕上げみがき", "間食回数", "フッ化物"):  # ~4 % unanswered
        exams.loc[rng.uniform(size=n) < 0.04, col] = ""
    truth_children = pd.DataFrame({"facility_code": exams["施設コード"], "age": age, "p_caries": p_caries,
                                   "caries": caries})
    return {"facilities": fac, "exams": exams, "symbols": sym, "truth_children": truth_children,
            "intercept": intercept, "centre": centre, "cluster_centre_idx": c_idx,
            "params": dict(seed=seed, city_code=city_code, n_facilities=n_facilities, n_children=n_children,
                           n_high_risk=n_high_risk, high_risk_or=[lo_or, hi_or], re_sd=re_sd,
                           cluster_log_or=cluster_log_or, cluster_radius_km=cluster_radius_km, n_small=n_small,
                           centre_lonlat=list(centre) if centre else None, scale_km=scale_km,
                           fiscal_year=fiscal_year, n_anterior_type=n_anterior_type,
                           anterior_type_mult=anterior_type_mult)}


def write_sheets(gen: dict, out_dir: str | os.PathLike, *, naming: str = "fdi", encoding: str = "cp932") -> dict:
    """Write ``checkups.csv`` and ``facilities.csv`` in the real format, and the truth files."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sheet = gen["exams"].copy()
    tooth_cols = [tooth_label(t, naming) for t in FDI_TEETH]
    sheet = pd.concat([sheet, pd.DataFrame(gen["symbols"], columns=tooth_cols)], axis=1)
    sheet.to_csv(out / "checkups.csv", index=False, encoding=encoding, lineterminator="\r\n")
    fac = gen["facilities"]
    fac_out = pd.DataFrame({"施設コード": fac["facility_code"], "施設名": fac["facility_name"],
                            "施設種別": fac["facility_type"], "区コード": fac["ward_code"],
                            "区名": fac["ward_name"], "緯度": fac["lat"], "経度": fac["lon"]})
    fac_out.to_csv(out / "facilities.csv", index=False, encoding=encoding, lineterminator="\r\n")
    tf = fac[["facility_code", "facility_type", "ward_code", "size", "re", "cluster", "cluster_effect",
              "high_risk", "high_risk_effect", "type_effect", "snack_mean", "brush_shift", "treat_logit",
              "anterior_mult", "anterior_type"]]
    tc = gen["truth_children"]
    agg = tc.groupby("facility_code").agg(expected_prevalence=("p_caries", "mean")).reset_index()
    tf = tf.merge(agg, on="facility_code", how="left")
    tf.to_csv(out / "truth_facilities.csv", index=False, encoding="utf-8")
    fac_c = fac.iloc[gen["cluster_centre_idx"]]
    truth = {
        "generator": "ebpm_analysis.synth.dental",
        "synthetic": True,
        "params": gen["params"],
        "naming": naming,
        "encoding": encoding,
        "target_prevalence": {str(k): v for k, v in TARGET_PREVALENCE.items()},
        "expected_prevalence": {str(a): float(tc.loc[tc["age"] == a, "p_caries"].mean()) for a in AGES},
        "mean_teeth_if_caries": {str(k): v for k, v in MEAN_TEETH_IF_CARIES.items()},
        "intercept": {str(k): float(v) for k, v in gen["intercept"].items()},
        "behaviour_effects_log_odds": BEHAVIOUR_EFFECTS,
        "type_effects_log_odds": TYPE_EFFECT,
        "tooth_weights": {str(a): {str(t): _tooth_weight(a, t) for t in FDI_TEETH} for a in AGES},
        "top_teeth": {str(a): v for a, v in true_top_teeth().items()},
        "high_risk_facilities": sorted(fac.loc[fac["high_risk"], "facility_code"].tolist()),
        "high_risk_or": {c: round(float(np.exp(e)), 4) for c, e in
                         sorted(zip(fac.loc[fac["high_risk"], "facility_code"],
                                    fac.loc[fac["high_risk"], "high_risk_effect"], strict=True))},
        "two_year_kindergartens": sorted(fac.loc[fac["two_year"], "facility_code"].tolist()),
        "cluster": {"centre_facility": fac_c["facility_code"], "centre_lon": float(fac_c["lon"]),
                    "centre_lat": float(fac_c["lat"]), "radius_km": gen["params"]["cluster_radius_km"],
                    "log_or": gen["params"]["cluster_log_or"],
                    "members": sorted(fac.loc[fac["cluster"], "facility_code"].tolist())},
        "anterior_type_facilities": sorted(fac.loc[fac["anterior_type"], "facility_code"].tolist()),
        "small_facilities": sorted(fac.loc[fac["size"] < 10, "facility_code"].tolist()),
    }
    (out / "truth.json").write_text(json.dumps(truth, ensure_ascii=False, indent=1), encoding="utf-8")
    return {"checkups": out / "checkups.csv", "facilities": out / "facilities.csv",
            "truth": out / "truth.json", "truth_facilities": out / "truth_facilities.csv"}


FILES = {"checkups": "checkups.csv", "facilities": "facilities.csv", "truth": "truth.json",
         "truth_facilities": "truth_facilities.csv"}


def ensure_dental(seed: int = 2026, *, city_code: str = "43100", out_dir: str | os.PathLike | None = None,
                  population: float | None = None, n_facilities: int | None = None, n_children: int | None = None,
                  naming: str = "fdi", encoding: str = "cp932", **kwargs) -> Path:
    """Write the synthetic checkup sheets once and return their folder.

    Parameters
    ----------
    seed : int
        Seed of the generator (same seed, same files).
    city_code : str
        5-digit code of the city whose polygons host the facilities.
    out_dir : path, optional
        Folder under which the set goes, in a sub-folder named by the parameters
        (default ``data/interim/02_dental_checkups/synthetic``).
    population, n_facilities, n_children : optional
        Population of the city (``None``/0: see :func:`ebpm_analysis.lookups.city_population`) and the
        sizes; unset sizes come from the population through :func:`sizes`.
    naming : {"fdi", "japanese"}
        Tooth column names of the sheet.
    encoding : str
        Encoding of the written CSVs (``cp932`` like a city's system).
    **kwargs
        Further :func:`generate` parameters (planted effects).

    Returns
    -------
    Path
        The folder holding :data:`FILES` (``checkups.csv``, ``facilities.csv``, ``truth.json``,
        ``truth_facilities.csv``).
    """
    sz = sizes(city_code, population, n_facilities, n_children)
    spec = dict(seed=seed, city_code=city_code, n_facilities=sz["n_facilities"], n_children=sz["n_children"],
                naming=naming, encoding=encoding, version=GENERATOR_VERSION, **kwargs)
    label = f"{city_code}_s{seed}_n{sz['n_children']}_f{sz['n_facilities']}_{naming}"
    key = set_key(label, spec, __name__, geo.__name__, "ebpm_analysis.io.dental_sheet", "ebpm_analysis.location")
    base = paths.resolve(out_dir) if out_dir else paths.interim("02_dental_checkups", "synthetic")
    return build_dir_once(base / key, FILES.values(), lambda tmp: write_sheets(
        generate(seed=seed, city_code=city_code, n_facilities=sz["n_facilities"], n_children=sz["n_children"],
                 **kwargs), tmp, naming=naming, encoding=encoding))
