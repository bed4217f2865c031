"""Lookups derived from a city's code, never typed by hand.

- :func:`police_area` — the police prefecture code (警察の都道府県コード, e.g. 富山 JIS 16 → 50, 東京 13 → 30,
  北海道 → one of 10–14 by 方面) and the 3-digit 市区町村コード the police accident records (本票) use for
  the city (the last three digits of its JIS code; a designated city's wards). From the NPA code tables
  bundled in ``data/raw/npa-accident-codebook``.
- :func:`check_police_records` — how many of a police file's selected records lie inside the city
  (point in polygon), to verify the codes on a prefecture not seen before.
- :func:`nearest_station` — the nearest JMA observatory (5-digit station number) with 1991–2020 normals,
  with its distance, for report text (「気象庁 富山（47607）、市域内」).
- :func:`city_population` — the population a generator scales its sizes to: the figure given (a city
  profile's ``population_total``), else an assumption by kind of municipality that reports state.

Every function takes the city by code or name (see :func:`ebpm_analysis.geo.resolve_city`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from . import geo
from .errors import ParameterError


# ----------------------------------------------------------------------------------- police codes
@dataclass(frozen=True)
class PoliceArea:
    """Where a city's records are in the police accident data (本票)."""
    pref_code: str                   # 警察の都道府県コード, 2 digits ("50" 富山, "93" 熊本)
    pref_label: str                  # as in the code table (富山, 北海道（札幌方面）)
    municipality_codes: tuple[str, ...]  # 本票 市区町村コード, 3 digits; () = every municipality (a prefecture)
    how: str                         # how the police code was derived (for the report's method section)


def _codebook(file: str) -> pd.DataFrame:
    from .io import npa_accidents as na
    return na._code_table(file, str(na.CODEBOOK_DIR))


def _pref_labels() -> dict[str, str]:
    """{police pref code: label} from pref.csv."""
    from .io import npa_accidents as na
    return na.code_table("pref.csv")


@lru_cache(maxsize=1)
def hokkaido_areas() -> dict[str, str]:
    """{JIS code of a Hokkaido municipality/ward: police code 10–14} where the bundled data decide it.

    Hokkaido's police is organised in five 方面本部 (札幌 10, 函館 11, 旭川 12, 釧路 13, 北見 14), whose
    areas follow 振興局 boundaries with exceptions. The police station table (police.csv) names each
    方面's stations; most stations bear the name of the municipality they sit in (旭川東 → 旭川市, 中央 →
    札幌市中央区). A municipality takes the 方面 of the station bearing its name; otherwise the 方面 shared
    by every such station of its 振興局. Where a 振興局's named stations belong to two 方面 (空知: 深川 is
    旭川方面; 後志: 寿都 is 函館方面), its other municipalities are left undecided (not in the result).
    """
    labels = _pref_labels()
    police = _codebook("police.csv")
    hk = [c for c, v in labels.items() if v.startswith("北海道")]
    areas = geo.load_areas()
    areas = areas[areas["pref_code"] == "01"]
    stem = areas["name"].str.replace(r"(市|町|村|区)$", "", regex=True)
    direct: dict[str, str] = {}
    for pref_code, station in zip(police["都道府県コード"].str.strip(), police["value"].str.strip(), strict=True):
        if pref_code not in hk or not station:
            continue
        base = re.sub(r"(中央|東|西|南|北)$", "", station) if len(station) > 2 else station
        hit = areas.loc[(stem == station) | (stem == base), "code"]
        for code in hit:
            direct[code] = pref_code
    out = {}
    for _, grp in areas.groupby("subpref"):
        votes = {direct[c] for c in grp["code"] if c in direct}
        for code in grp["code"]:
            if code in direct:
                out[code] = direct[code]
            elif len(votes) == 1:
                out[code] = next(iter(votes))
    return out


def police_pref_codes(jis_pref_code: str) -> list[str]:
    """Police prefecture code(s) of a JIS prefecture (``"16"`` → ``["50"]``; ``"01"`` → ``["10", …, "14"]``)."""
    name = geo.PREFECTURES[int(jis_pref_code) - 1]
    short = name if name == "北海道" else name[:-1]
    return [c for c, v in _pref_labels().items() if re.sub(r"（.*）$", "", v) == short]


def police_area(city: str, *, pref_code: str | None = None) -> PoliceArea:
    """The police prefecture code and 本票 市区町村コード of ``city`` (code or name).

    ``pref_code`` overrides the police prefecture code (needed for the 北海道 municipalities whose
    方面 the bundled tables do not decide; the error says which).
    """
    ref = geo.resolve_city(city)
    labels = _pref_labels()
    munis = () if ref.kind == "prefecture" else tuple(c[2:] for c in ref.member_codes)
    if pref_code not in (None, ""):
        if pref_code not in labels:
            raise ParameterError("accident_pref_code", f"{pref_code!r} is not a police prefecture code",
                                 expected=f"a code of pref.csv, e.g. {', '.join(police_pref_codes(ref.pref_code))}")
        return PoliceArea(pref_code, labels[pref_code], munis, "指定（パラメータ）")
    codes = police_pref_codes(ref.pref_code)
    if len(codes) == 1:
        return PoliceArea(codes[0], labels[codes[0]], munis,
                          f"警察庁コード表（都道府県コード：{ref.pref_name} → {codes[0]}）")
    # 北海道: the 方面 of every member must be known and the same.
    known = hokkaido_areas()
    found = {c: known.get(c) for c in ref.member_codes}
    undecided = [c for c, v in found.items() if v is None]
    if ref.kind == "prefecture" or undecided or len(set(found.values())) != 1:
        what = ("北海道 as a whole spans the five police areas 10–14" if ref.kind == "prefecture" else
                f"the police area (方面) of {ref.name} ({ref.code}) cannot be derived from the bundled code tables"
                if undecided else f"{ref.name} spans several police areas {sorted(set(found.values()))}")
        raise ParameterError("accident_pref_code", what,
                             expected="the police prefecture code of the file's 方面: 10 札幌, 11 函館, 12 旭川, "
                                      "13 釧路, 14 北見 (-p accident_pref_code=NN, or in the city profile)")
    code = next(iter(found.values()))
    return PoliceArea(code, labels[code], munis, f"警察庁コード表（警察署名と振興局から {labels[code]}）")


@dataclass(frozen=True)
class RecordCheck:
    n: int               # records with coordinates
    n_inside: int        # inside the city (within the tolerance)
    tolerance_m: float
    outside_rows: tuple  # source rows of the records outside

    @property
    def share_inside(self) -> float:
        return self.n_inside / self.n if self.n else float("nan")


def check_police_records(accidents: pd.DataFrame, city: str, *, tolerance_m: float = 500.0) -> RecordCheck:
    """How many records (tidy frame of :mod:`ebpm_analysis.io.npa_accidents`, already selected by
    :func:`police_area`'s codes) lie inside ``city``. The bundled borders are simplified (~100–500 m),
    hence the tolerance; a wrong municipality code puts most records outside."""
    lon = accidents["lon"].to_numpy(float)
    lat = accidents["lat"].to_numpy(float)
    ok = np.isfinite(lon) & np.isfinite(lat)
    inside = geo.inside_city(lon[ok], lat[ok], city, tolerance_m=tolerance_m)
    rows = accidents.loc[ok, "source_row"].to_numpy()[~inside] if "source_row" in accidents else ()
    return RecordCheck(int(ok.sum()), int(inside.sum()), float(tolerance_m), tuple(int(r) for r in rows))


# ----------------------------------------------------------------------------------- weather station
@dataclass(frozen=True)
class Station:
    """A JMA station with 1991–2020 normals."""
    number: str          # 5-digit block number (47607)
    name: str            # 富山
    lat: float
    lon: float
    distance_km: float   # from the city's area (0 = inside the city)
    centre_km: float     # from the centroid of the city's area
    inside: bool

    @property
    def label(self) -> str:
        """For report text: 気象庁 富山（47607、市域内） / 気象庁 彦根（47761、市域から12.3 km）."""
        where = "市域内" if self.inside else f"市域から{self.distance_km:.1f} km"
        return f"気象庁 {self.name}（{self.number}、{where}）"


def nearest_station(city: str, *, observatory_only: bool = True) -> Station:
    """The JMA station with normals nearest to ``city``: the one inside or closest to the city's area;
    among several inside, the one nearest its centroid. ``observatory_only`` (default) keeps the
    observatories (5-digit numbers: full element set); ``False`` also admits AMeDAS points."""
    import pyproj

    from .io.jma import read_jma_stations
    st = read_jma_stations()
    with_normals = _stations_with_normals()
    st = st[st["active"] & st["station_no"].isin(with_normals)]
    if observatory_only:
        st = st[st["observatory"]]
    ref = geo.resolve_city(city)
    crs = geo.plane_crs(ref.code)
    d_area = geo.distance_to_city_m(st["lon"].to_numpy(), st["lat"].to_numpy(), ref.code, plane_crs=crs)
    c = geo.city_geometry(ref.code, crs).centroid
    cx, cy = pyproj.Transformer.from_crs(crs, geo.GEO_CRS, always_xy=True).transform(c.x, c.y)
    _, _, d_centre = pyproj.Geod(ellps="GRS80").inv(np.full(len(st), cx), np.full(len(st), cy),
                                                    st["lon"].to_numpy(), st["lat"].to_numpy())
    order = np.lexsort((d_centre, np.round(d_area, 0)))
    i = order[0]
    r = st.iloc[i]
    return Station(r["station_no"], r["name"], float(r["lat"]), float(r["lon"]), float(d_area[i]) / 1000,
                   float(d_centre[i]) / 1000, bool(d_area[i] == 0))


@lru_cache(maxsize=1)
def _stations_with_normals() -> frozenset[str]:
    from . import paths
    from .io.jma import NORMALS_DIR, NORMALS_FILE
    df = pd.read_csv(paths.raw(*NORMALS_DIR, NORMALS_FILE), usecols=["station_no", "temperature"], dtype=str)
    has = df[pd.to_numeric(df["temperature"].str.replace(r"[@)\]\s]", "", regex=True), errors="coerce").notna()]
    return frozenset(has["station_no"].str.strip())


# ----------------------------------------------------------------------------------- population
#: Typical 2020 census population by kind of area, where a run is given none (rounded medians from
#: memory, an assumption: docs/sources.md#population-by-kind). Keys: 特別区, 政令指定都市の区, 市, 町, 村.
TYPICAL_POPULATION = {"特別区": 350_000, "区": 150_000, "市": 60_000, "町": 12_000, "村": 4_000}


@dataclass(frozen=True)
class Population:
    """The population a synthetic data set is scaled to."""
    value: int
    assumed: bool
    how: str    # Japanese, for the report: where the figure comes from

    def sentence(self, city_name: str) -> str:
        """「足立区の人口は695,043人です（与えられた値）。」, or the assumption and how it was derived."""
        if not self.assumed:
            return f"{city_name}の人口は{self.value:,}人です（{self.how}）。"
        return f"{city_name}の人口は与えられていないため、{self.value:,}人と仮定しました（{self.how}）。"


KIND_LABELS = {"特別区": "特別区", "区": "政令指定都市の区", "市": "市", "町": "町", "村": "村"}


def _kind_of_member(code: str) -> str:
    r = geo.resolve_city(code)
    if r.kind == "ward":
        return "区"
    if r.pref_code == "13" and r.name.endswith("区"):
        return "特別区"
    return r.name[-1] if r.name[-1] in "市町村" else "市"


#: Bundled real population files by city code: (dataset folder, file, what the report calls the figure).
BUNDLED_POPULATION = {
    "43100": ("ipss-projection-kumamoto-city", "kumamoto_city_population_1985_2040_ipss2013_transcribed.csv",
              "国立社会保障・人口問題研究所（2013年推計）の2020年の値"),
}


def city_population(city: str, population_total: float | None = None) -> Population:
    """The city's population: ``population_total`` when given (> 0, e.g. a city profile's
    ``population_total``); else the 2020 value of a bundled population file of the city
    (:data:`BUNDLED_POPULATION`); else the sum over its parts of :data:`TYPICAL_POPULATION` by kind (a
    designated city: its number of wards × a typical ward; a prefecture: the sum over its
    municipalities), flagged ``assumed`` with the derivation."""
    ref = geo.resolve_city(city)
    if population_total is not None and float(population_total) > 0:
        return Population(int(round(float(population_total))), False, "与えられた値")
    if float(population_total or 0) < 0:
        raise ParameterError("population_total", f"got {population_total!r}",
                             expected="the city's population (> 0), or 0 to assume one")
    if ref.code in BUNDLED_POPULATION:
        from . import paths
        from .io.dispatch_log import read_population_projection
        folder, file, label = BUNDLED_POPULATION[ref.code]
        df = read_population_projection(paths.raw(folder, file))
        return Population(int(np.interp(2020, df["year"], df["total"])), False, label)
    kinds = pd.Series([_kind_of_member(c) for c in ref.member_codes]).value_counts()
    value = int(sum(TYPICAL_POPULATION[k] * n for k, n in kinds.items()))
    parts = "、".join(f"{KIND_LABELS[k]}の典型値 {TYPICAL_POPULATION[k]:,}人" + (f" × {n}" if n > 1 else "")
                     for k, n in kinds.items())
    how = f"2020年国勢調査の市区町村の種類別人口の中央値の概数による仮定：{parts}"
    return Population(value, True, how)
