"""Boundaries, projections and the "inside the city" check, for any municipality in Japan.

A *city* is named by its 5-digit 標準地域コード (a string; docs/sources.md#municipality-codes) or by its
name; every function below that takes ``city`` accepts either.

Which areas
    :func:`resolve_city` (``"16201"``, ``"富山市"``, ``"東京都府中市"``, ``"162019"`` with check digit)
    → :class:`CityRef` (code, name, kind, prefecture, member codes). Kinds: an ordinary municipality
    (including Tokyo's special wards, 13101–13123), a designated city (code ending 0, e.g. 04100 仙台市:
    the union of its wards), one ward of a designated city (04101), or a prefecture (``"25000"`` 滋賀県:
    the union of its municipalities). An unknown code or name is a :class:`ParameterError` listing the
    nearest codes and names; an ambiguous name (府中市) lists the candidates with their prefecture.
    :func:`city_name` gives the name for titles and prose.
Polygons
    :func:`load_areas` — every coded feature of the national N03-2021 file (EPSG:6668), read once per
    process. :func:`load_city` — the city's parts (wards, the one polygon, or the prefecture's
    municipalities) with ``attrs`` ``city_code``, ``city_name``, ``kind``, ``has_wards``.
    :func:`city_geometry` — their union.
Projection (one helper)
    :func:`projection` → :class:`Projection`: the JGD2011 plane rectangular zone (EPSG:6669–6687) the
    official zone table (docs/sources.md#plane-zones) assigns to the city, with ``crs`` (``"EPSG:6675"``) and ``label``
    (``"平面直角座標系 第VII系（EPSG:6675）"``) for method sections; ``zone=`` overrides it. Where no zone
    keeps distances across the city within 0.1 % (小笠原村, 北方領土, all of 北海道) a UTM zone or a fitted
    conic is used and the label says so. :func:`plane_crs` is ``projection(city).crs``;
    :func:`to_plane` projects a frame.
Inside the city (one check)
    :func:`inside_city` — a boolean per (lon, lat) point, with an optional tolerance in metres for
    the simplified border; :func:`distance_to_city_m` — 0 inside, metres outside.
Synthetic geography
    :func:`random_points_in`, :func:`partition_into_districts`; :func:`city_centre` (a centre derived
    from the polygons, where no city hall location is bundled) and :func:`neighbours` (the
    municipalities adjoining the city, or the nearest ones across the sea).

Police and weather lookups derived from the code are in :mod:`ebpm_analysis.lookups`.
"""

from __future__ import annotations

import difflib
import os
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import paths
from .errors import InputFileError, ParameterError
from .provenance import record_input

BOUNDARIES_FILE = paths.raw("boundaries-n03-2021-national", "N03-21_210101_s0010.topojson")
BOUNDARIES_ATTRIBUTION = "「国土数値情報（行政区域データ）」（国土交通省）を加工して作成"
GEO_CRS = "EPSG:6668"   # JGD2011 geographic

#: JIS X 0401 prefecture names, code order (01 北海道 … 47 沖縄県).
PREFECTURES = ["北海道", "青森県", "岩手県", "宮城県", "秋田県", "山形県", "福島県", "茨城県", "栃木県", "群馬県",
               "埼玉県", "千葉県", "東京都", "神奈川県", "新潟県", "富山県", "石川県", "福井県", "山梨県", "長野県",
               "岐阜県", "静岡県", "愛知県", "三重県", "滋賀県", "京都府", "大阪府", "兵庫県", "奈良県", "和歌山県",
               "鳥取県", "島根県", "岡山県", "広島県", "山口県", "徳島県", "香川県", "愛媛県", "高知県", "福岡県",
               "佐賀県", "長崎県", "熊本県", "大分県", "宮崎県", "鹿児島県", "沖縄県"]

KINDS = {"municipality": "市区町村", "designated_city": "政令指定都市", "ward": "政令指定都市の区",
         "prefecture": "都道府県"}


# ----------------------------------------------------------------------------------- reading
def _read_features(path: str) -> gpd.GeoDataFrame:
    """Every feature of an N03-style file (including 所属未定地 without a code), EPSG:6668, valid."""
    p = Path(path)
    try:
        gdf = gpd.read_file(p)
    except Exception as e:  # noqa: BLE001 - any reader failure is a bad input file
        raise InputFileError(p, f"cannot be read as a boundary file ({type(e).__name__}: {e})",
                             expected="an N03-style TopoJSON/GeoJSON/GeoPackage") from None
    missing = [c for c in ("N03_001", "N03_004", "N03_007") if c not in gdf.columns]
    if missing:
        raise InputFileError(p, f"missing properties {missing}", expected="N03 properties N03_001…N03_007")
    if gdf.crs is None:  # TopoJSON carries no CRS: N03 is JGD2011 longitude/latitude
        gdf = gdf.set_crs(GEO_CRS)
    else:
        gdf = gdf.to_crs(GEO_CRS)
    out = pd.DataFrame({
        "code": gdf["N03_007"].astype("string").fillna("").str.strip().str.zfill(5).replace("00000", ""),
        "name": gdf["N03_004"].astype("string").fillna("").str.strip(),
        "city_name": gdf.get("N03_003", pd.Series("", index=gdf.index)).astype("string").fillna("").str.strip(),
        "subpref": gdf.get("N03_002", pd.Series("", index=gdf.index)).astype("string").fillna("").str.strip(),
        "pref_name": gdf["N03_001"].astype("string").fillna("").str.strip(),
    }).astype(str)
    geom = gdf.geometry.to_numpy()
    bad = ~shapely.is_valid(geom)
    if bad.any():  # a few simplified rings self-intersect; keep only their polygonal parts
        geom[bad] = [shapely.union_all([g for g in shapely.get_parts(shapely.make_valid(x))
                                        if g.geom_type in ("Polygon", "MultiPolygon")]) for x in geom[bad]]
    feats = gpd.GeoDataFrame(out, geometry=geom, crs=GEO_CRS)
    feats["pref_code"] = feats["pref_name"].map({n: f"{i:02d}" for i, n in enumerate(PREFECTURES, 1)}).fillna("")
    miss = feats["pref_code"] == ""
    feats.loc[miss & (feats["code"] != ""), "pref_code"] = feats["code"].str[:2]
    return feats


@dataclass(frozen=True)
class _Boundaries:
    features: gpd.GeoDataFrame  # every feature, including 所属未定地 (code "")
    areas: gpd.GeoDataFrame     # coded features, one row per code
    refs: dict                  # {code: CityRef}
    names: dict                 # {normalised name: {codes}}


def _cached_features(path: str) -> gpd.GeoDataFrame:
    """:func:`_read_features`, through a GeoParquet copy in data/interim keyed by the file's hash
    (parsing the TopoJSON and repairing geometries takes about a second; the copy loads in 0.1 s)."""
    from .io.common import atomic_path
    from .provenance import sha256_file
    cache = paths.interim("boundaries", f"{Path(path).name}-{sha256_file(path)[:16]}.parquet")
    if cache.exists():
        try:
            return gpd.read_parquet(cache)
        except Exception:  # noqa: BLE001 - a damaged cache is rebuilt from the file
            pass
    feats = _read_features(path)
    try:
        with atomic_path(cache) as tmp:
            feats.to_parquet(tmp)
    except OSError:  # read-only data folder: work without the cache
        pass
    return feats


@lru_cache(maxsize=4)
def _boundaries_cached(path: str, mtime_ns: int, size: int) -> _Boundaries:
    feats = _cached_features(path)
    coded = feats[feats["code"] != ""]
    if coded["code"].duplicated().any():  # one code split over several features
        coded = coded.dissolve(by="code", as_index=False, aggfunc="first")
    cols = ["code", "name", "city_name", "subpref", "pref_name", "pref_code", "geometry"]
    areas = coded[cols].sort_values("code").reset_index(drop=True)
    refs, names = _index(areas)
    return _Boundaries(feats, areas, refs, names)


def _boundaries(path: str | os.PathLike | None = None) -> _Boundaries:
    p = paths.resolve(path) if path else BOUNDARIES_FILE
    if not p.exists():
        raise InputFileError(p, "boundary file not found", expected="an N03-style TopoJSON/GeoJSON/GeoPackage")
    st = p.stat()
    b = _boundaries_cached(str(p), st.st_mtime_ns, st.st_size)
    record_input(p, "real", dataset="boundaries")
    return b


def load_areas(path: str | os.PathLike | None = None) -> gpd.GeoDataFrame:
    """Every coded municipality/ward polygon (EPSG:6668): ``code`` (5-digit string), ``name``,
    ``city_name`` (郡 or designated city), ``subpref`` (北海道の振興局), ``pref_name``, ``pref_code``.

    ``path``: another N03-style file (default: the bundled national N03-2021 file). A fresh copy each
    call; the file is parsed once per process.
    """
    return _boundaries(path).areas.copy()


# ----------------------------------------------------------------------------------- which city
@dataclass(frozen=True)
class CityRef:
    """A municipality, ward, designated city or prefecture, resolved from a code or a name."""
    code: str
    name: str            # 熊本市, 熊本市中央区, 足立区, 府中市, 滋賀県
    kind: str            # municipality | designated_city | ward | prefecture
    pref_code: str       # JIS X 0401, 2 digits
    pref_name: str       # 熊本県
    member_codes: tuple[str, ...]  # feature codes whose union is the area

    @property
    def full_name(self) -> str:
        """Name with its prefecture (東京都府中市); a prefecture's own name."""
        return self.name if self.kind == "prefecture" else f"{self.pref_name}{self.name}"

    @property
    def has_wards(self) -> bool:
        return self.kind == "designated_city"

    @property
    def kind_ja(self) -> str:
        return KINDS[self.kind]


def _norm(s: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(s)))


def _index(areas: gpd.GeoDataFrame) -> tuple[dict[str, CityRef], dict[str, set[str]]]:
    """``{code: CityRef}`` for every area and ``{name: {codes}}`` for every way of naming one."""
    refs: dict[str, CityRef] = {}
    names: dict[str, set[str]] = {}

    def add_name(key: str, code: str) -> None:
        names.setdefault(_norm(key), set()).add(code)

    areas = pd.DataFrame(areas.drop(columns="geometry"))
    ward = areas["city_name"].str.endswith("市") & areas["name"].str.endswith("区")
    for pref_code, grp in areas.groupby("pref_code"):
        pref_name = grp["pref_name"].iloc[0]
        code = f"{pref_code}000"
        refs[code] = CityRef(code, pref_name, "prefecture", pref_code, pref_name, tuple(grp["code"]))
        add_name(pref_name, code)
    # Designated cities: the wards' parent, coded as the first ward's code rounded down to 10
    # (01101… → 01100 札幌市, 14131… → 14130 川崎市, 22131… → 22130 浜松市).
    for (pref_code, city), grp in areas[ward].groupby(["pref_code", "city_name"]):
        code = f"{int(grp['code'].min()) // 10 * 10:05d}"
        pref_name = grp["pref_name"].iloc[0]
        refs[code] = CityRef(code, city, "designated_city", pref_code, pref_name, tuple(grp["code"]))
        add_name(city, code)
        add_name(pref_name + city, code)
    for r in areas.itertuples(index=False):
        is_ward = r.city_name.endswith("市") and r.name.endswith("区")
        name = f"{r.city_name}{r.name}" if is_ward else r.name
        refs[r.code] = CityRef(r.code, name, "ward" if is_ward else "municipality", r.pref_code, r.pref_name,
                               (r.code,))
        for key in {r.name, name, r.pref_name + name, r.pref_name + r.city_name + r.name, r.city_name + r.name}:
            add_name(key, r.code)
    return refs, names


def _check_digit_ok(code6: str) -> bool:
    """JIS X 0402 check digit (全国地方公共団体コード, 6 digits)."""
    s = sum(int(d) * w for d, w in zip(code6[:5], (6, 5, 4, 3, 2), strict=True))
    return int(code6[5]) == (11 - s % 11) % 10


def resolve_city(city: str, path: str | os.PathLike | None = None, *, param: str = "city_code") -> CityRef:
    """The area named by a 5-digit code (``"16201"``), a 6-digit code with check digit (``"162019"``),
    a prefecture code (``"25000"``) or a name (``"富山市"``, ``"東京都府中市"``, ``"仙台市青葉区"``, ``"滋賀県"``).

    Raises :class:`ParameterError` (named ``param``) with the nearest codes/names, or the candidates
    of an ambiguous name.
    """
    if isinstance(city, CityRef):
        return city
    b = _boundaries(path)
    refs, names = b.refs, b.names
    if not isinstance(city, str) or not city.strip():
        raise ParameterError(param, f"got {city!r}",
                             expected='a 5-digit 標準地域コード as a string (e.g. "43100") or a name (e.g. "熊本市")')
    q = _norm(city)
    if q.isdigit():
        if len(q) == 6:
            if not _check_digit_ok(q):
                raise ParameterError(param, f"{city!r} has a wrong check digit",
                                     expected="a 5-digit code, or 6 digits whose last is the JIS X 0402 check digit")
            q = q[:5]
        if len(q) != 5:
            raise ParameterError(param, f"got {city!r}",
                                 expected='a 5-digit 標準地域コード as a string, e.g. "43100" (熊本市)')
        if q in refs:
            return refs[q]
        same_pref = sorted((c for c in refs if c[:2] == q[:2]), key=lambda c: (abs(int(c) - int(q)), c))[:6]
        if not same_pref:
            raise ParameterError(param, f"{city!r} is not a municipality code: no prefecture {q[:2]!r}",
                                 expected="a code whose first two digits are a prefecture 01–47")
        near = ", ".join(f"{c} {refs[c].full_name}" for c in same_pref)
        raise ParameterError(param, f"{city!r} is not in the boundary file (N03-2021, as of 2021-01-01)",
                             expected=f"a code present in it; nearest: {near}")
    if q in names:
        codes = sorted(names[q])
        if len(codes) == 1:
            return refs[codes[0]]
        cands = ", ".join(f"{c} {refs[c].name}（{refs[c].pref_name}）" for c in codes)
        raise ParameterError(param, f"{city!r} names {len(codes)} areas: {cands}",
                             expected=f"the code, or the name with its prefecture (e.g. {refs[codes[0]].full_name})")
    close = difflib.get_close_matches(q, list(names), n=6, cutoff=0.5)
    hint = ", ".join(f"{n}（{'/'.join(sorted(names[n]))}）" for n in close) or "none"
    raise ParameterError(param, f"no municipality, ward or prefecture named {city!r}",
                         expected=f"a name in the boundary file (as of 2021-01-01) or a code; close names: {hint}")


def city_code(city: str) -> str:
    """The 5-digit code of a city given by code or name (``"船橋市"`` → ``"12204"``)."""
    return resolve_city(city).code


def city_name(city: str, path=None) -> str:
    """Name for titles and prose (熊本市 for 43100, 熊本市中央区 for 43101, 滋賀県 for 25000)."""
    return resolve_city(city, path).name


def load_city(city: str = "43100", path=None) -> gpd.GeoDataFrame:
    """The city's parts, EPSG:6668: the wards of a designated city, the polygon of a municipality
    or ward, or the municipalities of a prefecture.

    ``attrs``: ``city_code``, ``city_name``, ``kind``, ``has_wards`` (True for a designated city).
    """
    ref = resolve_city(city, path)
    areas = load_areas(path)
    out = areas[areas["code"].isin(ref.member_codes)].reset_index(drop=True)
    out.attrs.update({"city_code": ref.code, "city_name": ref.name, "kind": ref.kind, "has_wards": ref.has_wards})
    return out


def city_geometry(city: str, crs: str = GEO_CRS, path=None):
    """The union of the city's parts (a shapely geometry) in ``crs``."""
    g = load_city(city, path)
    if crs != GEO_CRS:
        g = g.to_crs(crs)
    return shapely.union_all(g.geometry.to_numpy())


# ----------------------------------------------------------------------------------- projection
ROMAN = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII", "XIII", "XIV", "XV", "XVI",
         "XVII", "XVIII", "XIX"]

# The official zone table (平成14年国土交通省告示第9号), by prefecture; the prefectures split across
# zones (北海道, 東京都, 沖縄県, 鹿児島県) are decided per municipality in _zone_of_feature. pyproj's
# database gives each zone's area of use; a test checks every feature against it.
_ZONE_BY_PREF = {
    1: ["長崎県"],  # + 鹿児島県の島嶼 (below)
    2: ["福岡県", "佐賀県", "熊本県", "大分県", "宮崎県", "鹿児島県"],
    3: ["山口県", "島根県", "広島県"],
    4: ["香川県", "愛媛県", "徳島県", "高知県"],
    5: ["兵庫県", "鳥取県", "岡山県"],
    6: ["京都府", "大阪府", "福井県", "滋賀県", "三重県", "奈良県", "和歌山県"],
    7: ["石川県", "富山県", "岐阜県", "愛知県"],
    8: ["新潟県", "長野県", "山梨県", "静岡県"],
    9: ["東京都", "福島県", "栃木県", "茨城県", "埼玉県", "千葉県", "群馬県", "神奈川県"],
    10: ["青森県", "秋田県", "山形県", "岩手県", "宮城県"],
    12: ["北海道"],  # XI and XIII by 振興局/郡/市 (below)
    15: ["沖縄県"],  # XVI, XVII by longitude (below)
}
_PREF_ZONE = {p: z for z, prefs in _ZONE_BY_PREF.items() for p in prefs}
# 北海道: XI = 後志・渡島・檜山, 胆振の虻田郡・有珠郡, 伊達市 (and 小樽市・函館市・北斗市, inside those);
# XIII = 釧路・根室・十勝, オホーツク except 紋別郡 and 紋別市; XII = the rest (EPSG:6679–6681 area-of-use text).
_HOKKAIDO_XI_SUBPREF = ("後志", "渡島", "檜山")
_HOKKAIDO_XI_GUN_IBURI = ("虻田郡", "有珠郡")
_HOKKAIDO_XIII_SUBPREF = ("釧路", "根室", "十勝", "オホーツク")


MAX_DISTANCE_ERROR = 0.001  # 0.1 %: largest relative error of plane distances accepted across a city


@dataclass(frozen=True)
class Projection:
    """The plane coordinate system distances and areas of a city are computed in.

    Normally the JGD2011 plane rectangular zone of the official table (``zone`` 1–19, EPSG:6669–6687).
    Where that zone's scale error over the city's extent exceeds :data:`MAX_DISTANCE_ERROR` (北方領土
    east of zone XIII's area of use; 小笠原村, which reaches 南鳥島 13° east of 父島; all of 北海道), the
    JGD2011 UTM zone (EPSG:6688–6692) or else a Lambert conformal conic fitted to the city's latitudes is
    used, and ``label`` says so.
    """
    crs: str             # "EPSG:6675", or a PROJ string for a fitted conic
    label: str           # 平面直角座標系 第VII系（EPSG:6675）
    zone: int | None     # plane zone number when one is used
    official_zone: int   # the zone the official table assigns to the city
    max_scale_error: float  # largest |k − 1| over the city's lon/lat box: bounds every distance's relative error

    @property
    def epsg(self) -> int | None:
        return int(self.crs.split(":")[1]) if self.crs.startswith("EPSG:") else None


def zone_label(number: int) -> str:
    """平面直角座標系 第II系（EPSG:6670）."""
    return f"平面直角座標系 第{ROMAN[number - 1]}系（EPSG:{6668 + number}）"


@lru_cache(maxsize=None)
def zone_area_of_use(number: int) -> tuple[float, float, float, float]:
    """(west, south, east, north) of plane zone ``number`` from pyproj's database (approximate boxes)."""
    import pyproj
    return tuple(pyproj.CRS.from_epsg(6668 + number).area_of_use.bounds)


def scale_error(bounds, crs: str) -> np.ndarray | float:
    """Largest point scale error |k − 1| of the conformal projection ``crs`` over the lon/lat box
    ``bounds`` = (west, south, east, north), on a 7 × 7 grid (the extremes of a transverse Mercator or
    conic lie on the box's edges). It bounds the relative error of every plane distance inside the box.
    ``bounds`` may be an (n, 4) array: one error per box."""
    import pyproj
    b = np.atleast_2d(np.asarray(bounds, dtype=float))
    t = np.linspace(0, 1, 7)
    lon = (b[:, [0]] + (b[:, [2]] - b[:, [0]]) * t)[:, None, :].repeat(7, axis=1)
    lat = (b[:, [1]] + (b[:, [3]] - b[:, [1]]) * t)[:, :, None].repeat(7, axis=2)
    f = pyproj.Proj(pyproj.CRS(crs)).get_factors(lon.ravel(), lat.ravel())
    k = (np.asarray(f.meridional_scale) + np.asarray(f.parallel_scale)) / 2
    err = np.abs(k - 1).reshape(len(b), -1).max(axis=1)
    return err if np.ndim(bounds) == 2 else float(err[0])


def _fallbacks(bounds):
    """UTM zone of the centre (JGD2011 zones 51–55), then a Lambert conformal conic fitted to the box."""
    w, s, e, n = bounds
    utm = int((w + e) / 2 // 6) + 31
    if 51 <= utm <= 55:
        yield f"EPSG:{6688 + utm - 51}", f"UTM 第{utm}帯（JGD2011、EPSG:{6688 + utm - 51}）", None
    lat1, lat2 = s + (n - s) / 6, n - (n - s) / 6
    lon0, lat0 = (w + e) / 2, (s + n) / 2
    proj = (f"+proj=lcc +lat_1={lat1:.4f} +lat_2={lat2:.4f} +lat_0={lat0:.4f} +lon_0={lon0:.4f} "
            "+x_0=0 +y_0=0 +ellps=GRS80 +units=m +no_defs")
    label = f"ランベルト正角円錐図法（JGD2011、標準緯線 北緯{lat1:.1f}°・{lat2:.1f}°、中央経線 東経{lon0:.1f}°）"
    yield proj, label, None


def _largest_part_point(geom) -> shapely.Point:
    parts = shapely.get_parts(geom)
    return parts[int(np.argmax(shapely.area(parts)))].representative_point()


def _zone_of_feature(pref_name: str, subpref: str, gun: str, name: str, geom) -> int:
    """The zone of one municipality/ward (the official table; split prefectures by the rules above,
    islands by the representative point of the municipality's largest part)."""
    if pref_name not in _PREF_ZONE:
        raise ParameterError("prefecture", f"{pref_name!r} is not a prefecture name", expected="北海道 … 沖縄県")
    if pref_name == "北海道":
        if subpref.startswith(_HOKKAIDO_XI_SUBPREF) or name == "伊達市" or (
                subpref.startswith("胆振") and gun in _HOKKAIDO_XI_GUN_IBURI):
            return 11
        if subpref.startswith(_HOKKAIDO_XIII_SUBPREF) and not (
                subpref.startswith("オホーツク") and (gun == "紋別郡" or name == "紋別市")):
            return 13
        return 12
    p = _largest_part_point(geom)
    lon, lat = p.x, p.y
    if pref_name == "東京都" and lat < 28:  # 小笠原諸島: XVIII west of 140°30'E, XIX east of 143°E
        return 18 if lon < 140.5 else 19 if lon > 143 else 14
    if pref_name == "沖縄県":
        return 16 if lon < 126 else 17 if lon > 130 else 15
    if pref_name == "鹿児島県":
        # I: islands between 27°N and 32°N west of 130°E (奄美群島 to 130°13'E).
        amami = lat < 28.6
        if 27 <= lat <= 32 and 128.3 <= lon <= (130 + 13 / 60 if amami else 130):
            return 1
    return _PREF_ZONE[pref_name]


def _parse_zone(zone) -> int:
    s = str(zone).strip().upper().removeprefix("EPSG:")
    if s.isdigit() and 6669 <= int(s) <= 6687:
        return int(s) - 6668
    if s.isdigit() and 1 <= int(s) <= 19:
        return int(s)
    s = s.removeprefix("第").removesuffix("系")
    if s in ROMAN:
        return ROMAN.index(s) + 1
    raise ParameterError("plane_crs", f"got {zone!r}",
                         expected='a JGD2011 plane zone: 1–19, "VII", or "EPSG:6669"…"EPSG:6687"')


def official_zone(city: str, path=None) -> int:
    """The zone number (1–19) the official table gives the city; a designated city or prefecture that
    spans zones takes the zone covering most of its area."""
    ref = resolve_city(city, path)
    areas = _boundaries(path).areas
    parts = areas[areas["code"].isin(ref.member_codes)]
    zones = [_zone_of_feature(r.pref_name, r.subpref, r.city_name, r.name, r.geometry)
             for r in parts.itertuples(index=False)]
    weight = pd.Series(shapely.area(parts.geometry.to_numpy()), index=zones).groupby(level=0).sum()
    return int(weight.idxmax())


def _choose(bounds: np.ndarray, zones: np.ndarray) -> list[Projection]:
    """One :class:`Projection` per lon/lat box, given the official zone of each (vectorised per zone)."""
    bounds = np.asarray(bounds, dtype=float).reshape(-1, 4)
    zones = np.asarray(zones, dtype=int)
    err = np.empty(len(bounds))
    for z in np.unique(zones):
        err[zones == z] = scale_error(bounds[zones == z], f"EPSG:{6668 + z}")
    out = []
    for box, zone, e in zip(bounds, zones, err, strict=True):
        zone = int(zone)
        crs = f"EPSG:{6668 + zone}"
        if e <= MAX_DISTANCE_ERROR:
            out.append(Projection(crs, zone_label(zone), zone, zone, float(e)))
            continue
        best = (float(e), crs, zone_label(zone))
        for alt, label, _ in _fallbacks(box):
            e2 = scale_error(box, alt)
            best = min(best, (e2, alt, label))
            if e2 <= MAX_DISTANCE_ERROR:
                break
        # Only whole prefectures spanning 15° or more (東京都 with 小笠原) keep no zone within 0.1 %: the best one.
        out.append(Projection(best[1], best[2], zone if best[1] == crs else None, zone, best[0]))
    return out


def feature_projections(path=None) -> gpd.GeoDataFrame:
    """Every feature of the boundary file (including 所属未定地 without a code) with ``official_zone``,
    ``proj_crs``, ``label`` and ``max_scale_error`` of its :class:`Projection`, in lon/lat (EPSG:6668)."""
    f = _boundaries(path).features
    zones = [_zone_of_feature(r.pref_name, r.subpref, r.city_name, r.name, r.geometry) for r in f.itertuples()]
    projs = _choose(f.geometry.bounds.to_numpy(), np.array(zones))
    return f.assign(official_zone=[p.official_zone for p in projs], proj_crs=[p.crs for p in projs],
                    label=[p.label for p in projs], max_scale_error=[p.max_scale_error for p in projs])


@lru_cache(maxsize=256)
def _projection_cached(code: str, path: str | None) -> Projection:
    ref = resolve_city(code, path)
    areas = _boundaries(path).areas
    bounds = areas[areas["code"].isin(ref.member_codes)].total_bounds
    return _choose(bounds, np.array([official_zone(code, path)]))[0]


def projection(city: str, zone=None, path=None) -> Projection:
    """The plane coordinate system for the city (see :class:`Projection`): the official JGD2011 plane
    rectangular zone unless it cannot keep distances across the city within 0.1 %. ``zone`` (1–19,
    ``"VII"``, ``"EPSG:6675"``; ``None``/``""`` = choose) forces a plane zone."""
    if zone not in (None, ""):
        n = _parse_zone(zone)
        ref = resolve_city(city, path)
        areas = _boundaries(path).areas
        bounds = tuple(areas[areas["code"].isin(ref.member_codes)].total_bounds)
        crs = f"EPSG:{6668 + n}"
        return Projection(crs, zone_label(n), n, official_zone(ref.code, path), scale_error(bounds, crs))
    return _projection_cached(resolve_city(city, path).code, str(paths.resolve(path)) if path else None)


def plane_crs(city: str, zone=None, path=None) -> str:
    """The CRS of :func:`projection` (``"EPSG:6675"`` for 富山市): what distances and areas are computed in."""
    return projection(city, zone, path).crs


def to_plane(gdf: gpd.GeoDataFrame, plane_crs: str) -> gpd.GeoDataFrame:
    """Project to a plane CRS, normally ``plane_crs(city)`` (there is no default: the zone depends on the city)."""
    return gdf.to_crs(plane_crs)


def points_frame(df: pd.DataFrame, lon: str = "lon", lat: str = "lat", crs: str = GEO_CRS) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df[lon], df[lat]), crs=crs)


# ----------------------------------------------------------------------------------- inside the city
@lru_cache(maxsize=16)
def _prepared_plane(code: str, crs: str, path: str | None):
    g = city_geometry(code, crs, path)
    shapely.prepare(g)
    return g


def distance_to_city_m(lon, lat, city: str, *, plane_crs: str | None = None, path=None) -> np.ndarray:
    """Distance (m) from each lon/lat point to the city's area: 0 inside or on the border; NaN for a
    point without coordinates."""
    from pyproj import Transformer
    ref = resolve_city(city, path)
    crs = plane_crs or projection(ref.code, path=path).crs
    x, y = Transformer.from_crs(GEO_CRS, crs, always_xy=True).transform(np.asarray(lon, float), np.asarray(lat, float))
    geom = _prepared_plane(ref.code, crs, str(paths.resolve(path)) if path else None)
    xy = np.column_stack([np.atleast_1d(x), np.atleast_1d(y)])
    ok = np.isfinite(xy).all(axis=1)
    out = np.full(len(xy), np.nan)
    out[ok] = shapely.distance(geom, shapely.points(xy[ok]))
    return out


def inside_city(lon, lat, city: str, *, tolerance_m: float = 0.0, path=None) -> np.ndarray:
    """True for each lon/lat point inside the city (or within ``tolerance_m`` metres of it: the bundled
    borders are simplified, so records near a border need a tolerance of a few hundred metres)."""
    d = distance_to_city_m(lon, lat, city, path=path)
    return np.where(np.isnan(d), False, d <= tolerance_m)


# ----------------------------------------------------------------------------------- synthetic geography
def random_points_in(geom, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` uniform random points (x, y) inside a (multi)polygon, by rejection sampling."""
    minx, miny, maxx, maxy = geom.bounds
    shapely.prepare(geom)
    out = np.empty((0, 2))
    while len(out) < n:
        k = max(64, int((n - len(out)) * 1.6))
        cand = np.column_stack([rng.uniform(minx, maxx, k), rng.uniform(miny, maxy, k)])
        inside = shapely.contains_xy(geom, cand[:, 0], cand[:, 1])
        out = np.vstack([out, cand[inside]])
    return out[:n]


def partition_into_districts(city: gpd.GeoDataFrame, n_districts: int, seed: int,
                             plane_crs: str, prefix: str = "D") -> gpd.GeoDataFrame:
    """Split each ward into Voronoi cells (synthetic school-district-like areas).

    Districts are allotted to wards in proportion to ward area (at least 2 each), seeded
    points are spread inside each ward, and their Voronoi cells are clipped to the ward.
    Returns ``district_code`` (e.g. ``43101-D03``), ``district_name``, ``ward_code``,
    ``ward_name`` and geometry in ``plane_crs``. Deterministic for a given seed.
    """
    rng = np.random.default_rng(seed)
    plane = city.to_crs(plane_crs)
    areas = plane.geometry.area.to_numpy()
    n_wards = len(plane)
    if n_districts < 2 * n_wards:
        raise ParameterError("n_districts", f"{n_districts} is too few for {n_wards} areas",
                             expected=f"at least {2 * n_wards}")
    alloc = np.maximum(2, np.floor(areas / areas.sum() * n_districts)).astype(int)
    while alloc.sum() < n_districts:
        alloc[np.argmax(areas / alloc)] += 1
    while alloc.sum() > n_districts:
        alloc[np.argmax(np.where(alloc > 2, alloc, 0))] -= 1
    rows = []
    for (_, ward), k in zip(plane.iterrows(), alloc, strict=True):
        geom = ward.geometry
        # Spread seeds: best of several candidates farthest from those chosen (blue noise).
        cand = random_points_in(geom, k * 30, rng)
        chosen = [cand[0]]
        for _ in range(1, k):
            d = np.min(np.linalg.norm(cand[:, None, :] - np.array(chosen)[None, :, :], axis=2), axis=1)
            chosen.append(cand[np.argmax(d)])
        pts = shapely.multipoints(np.array(chosen))
        cells = shapely.get_parts(shapely.voronoi_polygons(pts, extend_to=geom.envelope.buffer(1000)))
        pieces = []
        for cell in cells:
            piece = shapely.intersection(cell, geom)
            if not piece.is_empty:
                pieces.append(piece)
        # Order districts north-west to south-east for stable, readable numbering.
        pieces.sort(key=lambda g: (-round(g.centroid.y, -2), g.centroid.x))
        for i, piece in enumerate(pieces, start=1):
            rows.append({
                "district_code": f"{ward['code']}-{prefix}{i:02d}",
                "district_name": f"{ward['name']}{i:02d}",
                "ward_code": ward["code"],
                "ward_name": ward["name"],
                "geometry": piece,
            })
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=plane_crs)


def city_centre(city: str, crs: str | None = None, path=None) -> shapely.Point:
    """A centre of the city derived from its polygons alone (no city-hall locations are bundled;
    docs/sources.md#synthetic-centre): the centroid of the city's largest part (the main island of a
    municipality of islands), or a point inside that part where the centroid falls outside it.
    In ``crs`` (default: the city's :func:`plane_crs`)."""
    crs = crs or projection(city, path=path).crs
    parts = shapely.get_parts(city_geometry(city, crs, path))
    big = parts[int(np.argmax(shapely.area(parts)))]
    c = big.centroid
    return c if big.contains(c) else big.representative_point()


def neighbours(city: str, *, n_nearest: int = 3, path=None) -> gpd.GeoDataFrame:
    """The municipalities/wards (rows of :func:`load_areas`, EPSG:6668) that adjoin the city (within
    200 m of it in the national boundary file, whose borders are simplified); for a city that adjoins
    none (an island town such as 与那国町) the ``n_nearest`` nearest ones. Never the city's own parts.
    Adds ``label`` (the name for prose: 大阪市淀川区, not 淀川区) and ``distance_m``."""
    ref = resolve_city(city, path)
    crs = projection(ref.code, path=path).crs
    areas = load_areas(path)
    others = areas[~areas["code"].isin(ref.member_codes)]
    geom = city_geometry(ref.code, crs, path)
    plane = others.geometry.to_crs(crs)
    d = np.asarray(shapely.distance(geom, plane.to_numpy()))
    near = d <= 200.0
    if not near.any():
        near = np.isin(np.arange(len(d)), np.argsort(d)[:n_nearest])
    out = others[near].assign(distance_m=d[near]).reset_index(drop=True)
    return out.assign(label=[resolve_city(c, path).name for c in out["code"]])
