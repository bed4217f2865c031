"""Synthetic census commuting data (Case 1) with a planted spatial pattern.

No real census microdata or small-area table of any city is available to this project, so this
seeded generator writes, for one city and seed:

- ``microdata.csv`` — one row per employed resident (cp932), the layout read by
  :func:`ebpm_analysis.io.census_microdata.read_census_microdata`;
- ``estat_api_commuting.csv`` — the same counts aggregated to city/ward level in the e-Stat API
  CSV layout (header block, ``"VALUE"`` line, ``cat01_code`` 従業上の地位, ``cat02_code`` 従業地);
- ``estat_gis_commuting.csv`` — district (small-area) counts in the 統計GIS layout (cp932, code row
  + label row, ``KEY_CODE/HYOSYO/HTKSYORI/HTKSAKI/GASSAN``; tiny districts merged into a neighbour
  and shown as ``*``; zeros shown as ``-``);
- ``districts.gpkg`` — the synthetic small-area boundaries (e-Stat 境界データ attribute names
  ``KEY_CODE``, ``PREF``, ``CITY``, ``S_NAME``, ``CITY_NAME``);
- truth beside the data: ``truth.json``, ``truth_districts.csv`` (planted rates per district),
  ``truth_ward_crosstab.csv`` (generator counts ward × 従業上の地位 × 従業地, columns ``ward_code,
  status_code, workplace_code, count``, computed from the generator's own arrays); read them with
  :func:`ebpm_analysis.synth.read_truth`.

Planted pattern: each district's probability that an employee works inside the city falls with
closeness to the neighbouring municipalities (:func:`ebpm_analysis.geo.neighbours`: those adjoining
the city in the national boundary file, or the nearest ones across the sea for an island), plus
district noise; self-employed and family workers mostly work at home (自宅) and are commoner in
outlying districts (far from :func:`ebpm_analysis.geo.city_centre`); 従業地「不詳」 is present (higher in
the ward holding the centre and for status 不詳). All figures are assumptions for illustration (only
the categories are published: docs/sources.md#census-workplace).

Sizes: ``n_employed`` is :data:`EMPLOYED_SHARE` of the city's population (docs/sources.md#census-employed-share),
``n_districts`` one district per :data:`PERSONS_PER_DISTRICT` residents (see :func:`sizes`).
Everything is in the city's plane zone (:func:`ebpm_analysis.geo.plane_crs`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .. import geo, paths
from ..errors import ParameterError
from ..io.census_microdata import AGE_LABELS, INDUSTRY_LABELS, STATUS_LABELS, WORKPLACE_LABELS
from ..io.common import build_dir_once
from . import set_key

STATUS_CODES = list(STATUS_LABELS)        # "1".."9"
WORKPLACE_CODES = list(WORKPLACE_LABELS)  # "1","2","3","4","5","9"

#: 15歳以上就業者 / 総人口 (2020 国勢調査, national ≈ 0.46; docs/sources.md#census-employed-share)
EMPLOYED_SHARE = 0.46
#: residents per synthetic district (a school-district-like area); at least MIN_DISTRICTS, at most MAX_DISTRICTS
PERSONS_PER_DISTRICT = 10_000
MIN_DISTRICTS, MAX_DISTRICTS = 8, 100
#: a district gets at least this many employed residents where the size allows (tiny ones are planted apart)
MIN_EMPLOYED_PER_DISTRICT = 300

# Status mix (national-style shares; assumptions [U]).
BASE_STATUS_P = np.array([0.53, 0.025, 0.25, 0.05, 0.02, 0.065, 0.025, 0.002, 0.018])
HOME_P = np.array([0.01, 0.01, 0.012, 0.08, 0.45, 0.65, 0.80, 0.97, 0.10])   # P(自宅 | status)
OTHER_PREF_P = 0.04                       # P(他県 | works outside the city)
TINY_LIMIT = 100                          # districts with fewer employed are merged in the GIS table
API_STATUS = [("000", "総数", None), ("100", "雇用者", ("1", "2", "3"))] + \
    [(f"1{i}0", STATUS_LABELS[str(i)], (str(i),)) for i in (1, 2, 3)] + \
    [(f"{i - 2}00", STATUS_LABELS[str(i)], (str(i),)) for i in (4, 5, 6, 7, 8)] + [("900", STATUS_LABELS["9"], ("9",))]
API_WORKPLACE = [("00", "総数", None)] + [(f"0{c}", WORKPLACE_LABELS[c], (c,)) for c in WORKPLACE_CODES]
GIS_TABLE = "T000901"
GENERATOR_VERSION = 3  # part of the cache key (with the boundary file and this module: synth.set_key)
GIS_GROUPS = [("就業者", None), ("雇用者", ("1", "2", "3"))]


def sizes(city_code: str, population: float | None = None, n_employed: int | None = None,
          n_districts: int | None = None) -> dict:
    """The generator's sizes for a city: ``n_employed`` (given, else :data:`EMPLOYED_SHARE` × population)
    and ``n_districts`` (given, else population / :data:`PERSONS_PER_DISTRICT` within
    [:data:`MIN_DISTRICTS`, :data:`MAX_DISTRICTS`], and no more than ``n_employed`` /
    :data:`MIN_EMPLOYED_PER_DISTRICT`), never fewer than 2 per ward. ``population`` ``None``/0: the
    assumption of :func:`ebpm_analysis.lookups.city_population`, returned as ``population``; ``how``
    says in Japanese where each size comes from (for the report)."""
    from ..lookups import city_population
    pop = city_population(city_code, population)
    n_emp = int(n_employed or round(EMPLOYED_SHARE * pop.value))
    if n_emp < 100:
        raise ParameterError("n_employed", f"got {n_emp}",
                             expected="at least 100 employed residents (0: from the population)")
    n_wards = len(geo.load_city(city_code))
    if n_districts:
        k, how_d = int(n_districts), "指定値"
    else:
        k = int(np.clip(round(pop.value / PERSONS_PER_DISTRICT), MIN_DISTRICTS, MAX_DISTRICTS))
        k = max(2 * n_wards, min(k, n_emp // MIN_EMPLOYED_PER_DISTRICT))
        how_d = (f"人口{PERSONS_PER_DISTRICT:,}人に1地区、{MIN_DISTRICTS}～{MAX_DISTRICTS}地区、"
                 f"1地区の就業者はおおむね{MIN_EMPLOYED_PER_DISTRICT}人以上"
                 + ("、1区に2地区以上" if n_wards > 1 else ""))
    how_e = "指定値" if n_employed else f"人口×{EMPLOYED_SHARE}"
    return {"n_employed": n_emp, "n_districts": k, "population": pop,
            "how": f"就業者 {n_emp:,}人（{how_e}）・{k}地区（{how_d}）"}


def synthetic_districts(city_code: str = "43100", n_districts: int | None = None, seed: int = 2026) -> gpd.GeoDataFrame:
    """School-district-like synthetic areas (in the city's plane zone) with 9-digit ``district_code``
    (ward code + 4 digits)."""
    n = n_districts or sizes(city_code)["n_districts"]
    city = geo.load_city(city_code)
    d = geo.partition_into_districts(city, n, seed, plane_crs=geo.plane_crs(city_code))
    num = d["district_code"].str.extract(r"(\d+)$")[0].astype(int)
    d["district_code"] = d["ward_code"] + num.map("{:04d}".format)
    d.attrs["city_name"] = city.attrs["city_name"]
    d.attrs["has_wards"] = city.attrs["has_wards"]
    return d


def _expit(x):
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p):
    return np.log(p / (1 - p))


def generate_census(city_code: str = "43100", n_employed: int | None = None, n_districts: int | None = None,
                    seed: int = 2026) -> dict:
    """Generate person records and the planted truth (in memory). See the module docstring."""
    sz = sizes(city_code, None, n_employed, n_districts)
    n_employed = sz["n_employed"]
    rng = np.random.default_rng(seed)
    dist = synthetic_districts(city_code, sz["n_districts"], seed)
    has_wards = bool(dist.attrs["has_wards"])
    k = len(dist)
    cent = dist.geometry.centroid
    xy = np.column_stack([cent.x, cent.y])
    # Distance to the city centre (km), a point derived from the polygons.
    hall = geo.city_centre(city_code, dist.crs)
    r_km = np.hypot(xy[:, 0] - hall.x, xy[:, 1] - hall.y) / 1000
    # Distance to the nearest neighbouring municipality (km): where jobs outside the city are.
    centres = geo.neighbours(city_code)
    cgeom = shapely.union_all(centres.geometry.to_crs(dist.crs).to_numpy())
    d_emp_km = np.asarray(shapely.distance(shapely.points(xy), cgeom)) / 1000
    pull = np.exp(-d_emp_km / 4.0)
    rural = 1 - np.exp(-r_km / 10.0)

    # Employed residents per district; a few tiny districts (mountain/new-town style) are planted.
    w = np.sqrt(dist.geometry.area.to_numpy() / 1e6) * np.exp(-r_km / 10.0) * rng.lognormal(0, 0.3, k)
    n_tiny = min(max(1, k // 35), max(0, k - 4), n_employed // 200)
    tiny_idx = rng.choice(np.arange(k), size=n_tiny, replace=False) if n_tiny else np.array([], int)
    tiny = np.zeros(k, bool)
    tiny[tiny_idx] = True
    n_d = np.zeros(k, int)
    n_d[tiny] = rng.integers(25, 70, tiny.sum())
    rest = n_employed - n_d.sum()
    share = np.where(tiny, 0, w) / np.where(tiny, 0, w).sum()
    floor = min(MIN_EMPLOYED_PER_DISTRICT, rest // (2 * (~tiny).sum()))
    n_d[~tiny] = rng.multinomial(rest - floor * (~tiny).sum(), share[~tiny]) + floor

    # Planted district parameters.
    eps = rng.normal(0, 0.25, k)
    p_emp = _expit(_logit(0.86) - 2.0 * pull + 0.3 * (1 - rural) + eps)       # employee in-city (non-home)
    p_other = _expit(_logit(p_emp) + 0.4)                                         # other statuses (non-home)
    centre_ward = dist["ward_code"].to_numpy()[int(np.argmin(dist.geometry.distance(hall).to_numpy()))]
    central = dist["ward_code"].to_numpy() == centre_ward
    h_own = np.where(has_wards, np.where(central, 0.72, 0.42) + rng.normal(0, 0.05, k), 1.0).clip(0.05, 1.0)
    status_p = np.tile(BASE_STATUS_P, (k, 1))
    status_p[:, 4] *= 1 + 0.8 * rural
    status_p[:, 5] *= 1 + 1.0 * rural
    status_p[:, 6] *= 1 + 3.0 * rural
    status_p /= status_p.sum(axis=1, keepdims=True)
    unk = np.where(central, 0.06, 0.04)[:, None] * np.exp(rng.normal(0, 0.15, k))[:, None] * np.ones((1, 9))
    unk[:, 8] = 0.35

    # Persons.
    d_idx = np.repeat(np.arange(k), n_d)
    n = len(d_idx)
    cum = np.cumsum(status_p, axis=1)
    s_idx = (rng.random(n)[:, None] > cum[d_idx]).sum(axis=1).clip(0, 8)
    is_emp = s_idx <= 2
    p_in = np.where(is_emp, p_emp[d_idx], p_other[d_idx])
    u1, u2, u3, u4 = rng.random((4, n))
    w_idx = np.empty(n, dtype=np.int8)  # index into WORKPLACE_CODES
    home = u1 < HOME_P[s_idx]
    incity = ~home & (u2 < p_in)
    own_ward = incity & (u3 < h_own[d_idx])
    w_idx[home] = 0
    w_idx[own_ward] = 1
    w_idx[incity & ~own_ward] = 2
    out = ~home & ~incity
    w_idx[out & (u3 < OTHER_PREF_P)] = 4
    w_idx[out & ~(u3 < OTHER_PREF_P)] = 3
    w_idx[u4 < unk[d_idx, s_idx]] = 5
    # Sex, age, industry (plausible, not calibrated).
    sex = np.where(rng.random(n) < np.where(is_emp, 0.52, 0.62), "1", "2")
    age_p = np.array([1, 5, 9, 10, 11, 12, 13, 12, 11, 9, 5, 3, 1.5, 0.7, 0.3])
    age_p /= age_p.sum()
    age_codes = np.array(list(AGE_LABELS))
    age = age_codes[rng.choice(len(age_p), n, p=age_p)]
    ind_codes = np.array(list(INDUSTRY_LABELS))
    base_ind = np.array([2, .1, .05, 8, 10, .6, 2.5, 5, 16, 2.5, 2, 3, 6, 3.5, 5, 17, .8, 6, 4.5, 4])
    farm_ind = base_ind.copy()
    farm_ind[0] = 60
    industry = np.empty(n, dtype=object)
    for s in range(9):
        m = s_idx == s
        p = farm_ind if s in (4, 5, 6) else base_ind
        industry[m] = ind_codes[rng.choice(len(p), m.sum(), p=p / p.sum())]

    status_codes = np.array(STATUS_CODES)
    wp_codes = np.array(WORKPLACE_CODES)
    dcode = dist["district_code"].to_numpy()
    wcode = dist["ward_code"].to_numpy()
    persons = pd.DataFrame({
        "常住地コード": dcode[d_idx], "常住市区町村コード": wcode[d_idx], "男女": sex, "年齢階級": age,
        "従業上の地位": status_codes[s_idx], "従業地": wp_codes[w_idx], "産業大分類": industry.astype(str),
    })

    # Truth: planted expected rates (among 従業地 known) and generator totals.
    r_s = np.where(np.arange(9)[None, :] <= 2, p_emp[:, None], p_other[:, None])
    r_s = HOME_P[None, :] + (1 - HOME_P[None, :]) * r_s
    wt = status_p * (1 - unk)
    true_all = (wt * r_s).sum(1) / wt.sum(1)
    true_emp = (wt[:, :3] * r_s[:, :3]).sum(1) / wt[:, :3].sum(1)
    truth_d = pd.DataFrame({
        "district_code": dcode, "district_name": dist["district_name"].to_numpy(), "ward_code": wcode,
        "ward_name": dist["ward_name"].to_numpy(), "n_employed": n_d, "tiny": tiny,
        "dist_to_employment_centre_km": d_emp_km.round(3), "dist_to_centre_km": r_km.round(3),
        "planted_rate": true_all, "planted_rate_employees": true_emp,
    })
    ward_of = pd.factorize(wcode)
    key = ward_of[0][d_idx] * 54 + s_idx * 6 + w_idx
    cnt = np.bincount(key, minlength=len(ward_of[1]) * 54).reshape(len(ward_of[1]), 9, 6)
    wi, si, wpi = np.meshgrid(np.arange(len(ward_of[1])), np.arange(9), np.arange(6), indexing="ij")
    truth_w = pd.DataFrame({"ward_code": np.asarray(ward_of[1])[wi.ravel()], "status_code": status_codes[si.ravel()],
                            "workplace_code": wp_codes[wpi.ravel()], "count": cnt.ravel()})
    truth = {
        "generator": "ebpm_analysis.synth.census", "seed": seed, "city_code": city_code,
        "city_name": dist.attrs["city_name"], "has_wards": has_wards, "n_employed": int(n),
        "n_districts": int(k), "tiny_districts": dcode[tiny].tolist(),
        "employment_centres": centres["code"].tolist(), "centre_xy": [float(hall.x), float(hall.y)],
        "crs": str(dist.crs),
        "pattern": ("P(employee works in the city | not at home) = expit(logit(0.86) - 2.0*exp(-d/4km) "
                    "+ 0.3*exp(-r/10km) + N(0, 0.25)); d = distance to the nearest neighbouring employment "
                    "municipality, r = distance to the city centre (geo.city_centre)"),
        "planted_high": truth_d.loc[~truth_d.tiny].nlargest(5, "planted_rate")["district_code"].tolist(),
        "planted_low": truth_d.loc[~truth_d.tiny].nsmallest(5, "planted_rate")["district_code"].tolist(),
        "city_totals": {"employed": int(n), "workplace": {c: int((w_idx == i).sum()) for i, c in enumerate(wp_codes)}},
    }
    cube = np.bincount(d_idx * 54 + s_idx * 6 + w_idx, minlength=k * 54).reshape(k, 9, 6)
    return {"persons": persons, "districts": dist, "truth_districts": truth_d, "truth_ward_crosstab": truth_w,
            "truth": truth, "cube": cube}


def _cell(cube: np.ndarray, dmask, sset, wset) -> int:
    """Sum of the district × status × workplace cube over the selected codes (None = all)."""
    si = slice(None) if sset is None else [STATUS_CODES.index(c) for c in sset]
    wi = slice(None) if wset is None else [WORKPLACE_CODES.index(c) for c in wset]
    sub = cube[dmask]
    sub = sub[:, si, :]
    return int(sub[:, :, wi].sum())


# --- writers in the real layouts ------------------------------------------------------------

def _fmt(v) -> str:
    return "-" if v == 0 else str(int(v))


def _q(s) -> str:
    return '"' + str(s).replace('"', '""') + '"'


def write_estat_api_csv(gen: dict, path: Path) -> Path:
    """City/ward table in the e-Stat API (getSimpleStatsData) CSV layout, UTF-8."""
    cube = gen["cube"]
    dist = gen["districts"]
    wards = dist[["ward_code", "ward_name"]].drop_duplicates().sort_values("ward_code")
    city_code = gen["truth"]["city_code"]
    city_name = gen["truth"]["city_name"]
    ward_of = dist["ward_code"].to_numpy()
    areas = [(city_code, city_name, np.ones(len(dist), bool))]
    if gen["truth"]["has_wards"]:
        areas += [(c, f"{city_name}{nm}", ward_of == c) for c, nm in wards.itertuples(index=False)]
    rows = []
    for a_code, a_name, am in areas:
        for c1, l1, sset in API_STATUS:
            for c2, l2, wset in API_WORKPLACE:
                v = _cell(cube, am, sset, wset)
                if not gen["truth"]["has_wards"] and c2 == "03":
                    v = 0
                rows.append(["020", "15歳以上就業者数", c1, l1, c2, l2, a_code, a_name, "2020000000", "2020年", "人",
                             _fmt(v), ""])
    header = [
        ['RESULT'], ['STATUS', '0'], ['ERROR_MSG', '正常に終了しました。'], ['DATE', '2026-11-27T09:00:00.000+09:00'],
        ['TABLE_INF', '0009999001'], ['STAT_NAME', '00200521', '国勢調査'], ['GOV_ORG', '00200', '総務省'],
        ['STATISTICS_NAME', '令和２年国勢調査 従業地・通学地による人口・就業状態等集計（合成データ）'],
        ['TITLE', '001', '従業上の地位・従業地別15歳以上就業者数（合成データ）'], ['CYCLE', '-'],
        ['SURVEY_DATE', '202010'], ['OPEN_DATE', '2022-07-22'], ['SMALL_AREA', '0'],
        ['TOTAL_NUMBER', str(len(rows))], ['FROM_NUMBER', '1'], ['TO_NUMBER', str(len(rows))], [],
        ['VALUE'],
        ['tab_code', '表章項目', 'cat01_code', '従業上の地位', 'cat02_code', '従業地・通学地', 'area_code',
         '地域（2020）', 'time_code', '時間軸（年次）', 'unit', 'value', 'annotation'],
    ]
    lines = [",".join(_q(x) for x in r) for r in header + rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_estat_gis_csv(gen: dict, path: Path) -> Path:
    """District table in the 統計GIS small-area layout (cp932, code row + label row, merged tiny areas)."""
    cube = gen["cube"]
    dist = gen["districts"].reset_index(drop=True)
    city_name = gen["truth"]["city_name"]
    has_wards = gen["truth"]["has_wards"]
    items = []
    for g, sset in GIS_GROUPS:
        for _c2, l2, wset in API_WORKPLACE:
            items.append((f"{g}_{l2}", sset, wset))
    codes = [f"{GIS_TABLE}{i:03d}" for i in range(1, len(items) + 1)]

    def values(mask):
        return [_cell(cube, mask, sset, wset) for _, sset, wset in items]

    n_d = cube.sum(axis=(1, 2))
    cent = dist.geometry.centroid
    merged_into = {}
    for i in np.where(n_d < TINY_LIMIT)[0]:
        same = np.where((dist["ward_code"] == dist.loc[i, "ward_code"]).to_numpy() & (n_d >= TINY_LIMIT))[0]
        if len(same):
            j = same[np.argmin(cent.iloc[same].distance(cent.iloc[i]).to_numpy())]
            merged_into[i] = j
    rows = []
    ward_list = dist[["ward_code", "ward_name"]].drop_duplicates().sort_values("ward_code")
    for wc, wn in ward_list.itertuples(index=False):
        wname = f"{city_name}{wn}" if has_wards else city_name
        rows.append([wc, "1", wname, "", "0", "", ""] + [_fmt(v) for v in values(dist["ward_code"].to_numpy() == wc)])
        for i in np.where(dist["ward_code"].to_numpy() == wc)[0]:
            code, name = dist.loc[i, "district_code"], dist.loc[i, "district_name"]
            if i in merged_into:
                rows.append([code, "2", wname, name, "2", dist.loc[merged_into[i], "district_code"],
                             ""] + ["*"] * len(items))
                continue
            sources = [s for s, t in merged_into.items() if t == i]
            mask = np.isin(np.arange(len(dist)), [i] + sources)
            gassan = ";".join(dist.loc[s, "district_code"] for s in sources)
            rows.append([code, "2", wname, name, "1" if sources else "0", "", gassan] + [_fmt(v) for v in values(mask)])
    head1 = ["KEY_CODE", "HYOSYO", "CITYNAME", "NAME", "HTKSYORI", "HTKSAKI", "GASSAN"] + codes
    head2 = ["", "", "", "", "", "", ""] + [lab for lab, _, _ in items]
    text = "\r\n".join(",".join(r) for r in [head1, head2] + rows) + "\r\n"
    path.write_bytes(text.encode("cp932"))
    gen["truth"]["merged_areas"] = {dist.loc[s, "district_code"]: dist.loc[t, "district_code"] for s,
                                    t in merged_into.items()}
    return path


def write_boundaries(gen: dict, path: Path) -> Path:
    d = gen["districts"]
    out = gpd.GeoDataFrame({
        "KEY_CODE": d["district_code"], "PREF": d["ward_code"].str[:2], "CITY": d["ward_code"].str[2:5],
        "S_NAME": d["district_name"], "CITY_NAME": d["ward_name"],
    }, geometry=d.geometry.to_crs(geo.GEO_CRS), crs=geo.GEO_CRS)
    out.to_file(path, driver="GPKG", layer="districts")
    return path


FILES = {
    "microdata": "microdata.csv", "estat_api": "estat_api_commuting.csv", "estat_gis": "estat_gis_commuting.csv",
    "boundaries": "districts.gpkg", "truth": "truth.json", "truth_districts": "truth_districts.csv",
    "truth_ward_crosstab": "truth_ward_crosstab.csv",
}


def write_census(gen: dict, out_dir: str | os.PathLike) -> dict[str, Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    p = {k: out_dir / v for k, v in FILES.items()}
    gen["persons"].to_csv(p["microdata"], index=False, encoding="cp932", lineterminator="\r\n")
    write_estat_api_csv(gen, p["estat_api"])
    write_estat_gis_csv(gen, p["estat_gis"])
    write_boundaries(gen, p["boundaries"])
    gen["truth_districts"].to_csv(p["truth_districts"], index=False, encoding="utf-8")
    gen["truth_ward_crosstab"].to_csv(p["truth_ward_crosstab"], index=False, encoding="utf-8")
    p["truth"].write_text(json.dumps(gen["truth"], ensure_ascii=False, indent=1), encoding="utf-8")
    return p


def ensure_census(seed: int = 2026, *, city_code: str = "43100", out_dir: str | os.PathLike | None = None,
                  population: float | None = None, n_employed: int | None = None,
                  n_districts: int | None = None) -> Path:
    """Write the synthetic census set once and return its folder.

    Parameters
    ----------
    seed : int
        Seed of the generator (same seed, same files).
    city_code : str
        5-digit code of the city.
    out_dir : path, optional
        Folder under which the set goes, in a sub-folder named by the parameters
        (default ``data/interim/01_census_commuting/synthetic``).
    population, n_employed, n_districts : optional
        The city's population and the sizes derived from it by :func:`sizes` (``None`` or 0: derived).

    Returns
    -------
    Path
        The folder holding :data:`FILES` (``microdata.csv``, ``estat_api_commuting.csv``,
        ``estat_gis_commuting.csv``, ``districts.gpkg`` and the truth).
    """
    sz = sizes(city_code, population, n_employed, n_districts)
    spec = {"city_code": city_code, "seed": seed, "n_employed": sz["n_employed"], "n_districts": sz["n_districts"],
            "version": GENERATOR_VERSION}
    label = f"{city_code}_n{sz['n_employed']}_d{sz['n_districts']}_s{seed}"
    key = set_key(label, spec, __name__, geo.__name__, "ebpm_analysis.io.census_microdata")
    base = paths.resolve(out_dir) if out_dir else paths.interim("01_census_commuting", "synthetic")
    return build_dir_once(base / key, FILES.values(), lambda tmp: write_census(
        generate_census(city_code, sz["n_employed"], sz["n_districts"], seed), tmp))
