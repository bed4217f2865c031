"""Boundaries, projections and simple spatial helpers.

- :func:`load_areas` reads the bundled N03 polygons (or a city's own file) into a frame
  with ``code`` (5-digit 標準地域コード, a string; docs/sources.md#municipality-codes), ``name`` and geometry.
- :func:`load_city` returns the city's areas: the wards of a designated city (熊本市 43100 →
  43101–43105) or the single polygon of an ordinary municipality (八代市 43202).
- Distances and areas are computed in JGD2011 plane rectangular zone II (EPSG:6670), which
  covers Kumamoto; pass ``plane_crs`` for a city elsewhere.
"""

from __future__ import annotations

import os

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import paths
from .errors import InputFileError, ParameterError
from .provenance import record_input

BOUNDARIES_FILE = paths.raw("boundaries-smartnews", "N03-21_43_210101_s0010.geojson")
BOUNDARIES_ATTRIBUTION = "「国土数値情報（行政区域データ）」（国土交通省）を加工して作成"
GEO_CRS = "EPSG:6668"   # JGD2011 geographic
PLANE_CRS = "EPSG:6670"  # JGD2011 / Japan Plane Rectangular CS II (Kyushu incl. Kumamoto; docs/sources.md#plane-zones)


def _check_code(code: str, name: str = "city_code") -> str:
    if not isinstance(code, str) or not (len(code) == 5 and code.isdigit()):
        raise ParameterError(name, f"got {code!r}", expected='a 5-digit 標準地域コード as a string, e.g. "43100"')
    return code


def load_areas(path: str | os.PathLike | None = None) -> gpd.GeoDataFrame:
    """All municipality/ward polygons in the boundary file, EPSG:6668, codes as strings."""
    path = paths.resolve(path) if path else BOUNDARIES_FILE
    if not path.exists():
        raise InputFileError(path, "boundary file not found", expected="an N03-style GeoJSON/GeoPackage")
    gdf = gpd.read_file(path)
    need = ["N03_004", "N03_007"]
    missing = [c for c in need if c not in gdf.columns]
    if missing:
        raise InputFileError(path, f"missing properties {missing}", expected="N03 properties N03_001…N03_007")
    record_input(path, "real", dataset="boundaries")
    gdf = gdf.rename(columns={"N03_001": "pref_name", "N03_003": "city_name", "N03_004": "name", "N03_007": "code"})
    gdf["code"] = gdf["code"].astype(str).str.zfill(5)
    # Dissolve multi-part rows (one code may be split into several features).
    gdf = gdf.dissolve(by="code", as_index=False, aggfunc="first")
    gdf = gdf.set_crs(4326, allow_override=True).to_crs(GEO_CRS)
    cols = [c for c in ("code", "name", "city_name", "pref_name") if c in gdf.columns]
    return gdf[cols + ["geometry"]].sort_values("code").reset_index(drop=True)


def city_name(city_code: str, path=None) -> str:
    """Japanese name of a city code (熊本市 for 43100, 八代市 for 43202)."""
    return _city_frame(city_code, path).attrs["city_name"]


def _city_frame(city_code: str, path=None) -> gpd.GeoDataFrame:
    _check_code(city_code)
    areas = load_areas(path)
    exact = areas[areas["code"] == city_code]
    if city_code.endswith("00"):  # designated city: its wards share the first four digits
        wards = areas[(areas["code"].str[:4] == city_code[:4]) & (areas["code"] != city_code)]
        if len(wards):
            out = wards.copy()
            out.attrs["city_name"] = str(out["city_name"].iloc[0])
            out.attrs["has_wards"] = True
            return out.reset_index(drop=True)
    if len(exact):
        out = exact.copy()
        out.attrs["city_name"] = str(out["name"].iloc[0])
        out.attrs["has_wards"] = False
        return out.reset_index(drop=True)
    valid = ", ".join(f"{c} {n}" for c, n in areas[["code", "name"]].head(8).itertuples(index=False))
    raise ParameterError("city_code", f"{city_code!r} is not in the boundary file",
                         expected=f"a code present in the file (e.g. {valid}, …)")


def load_city(city_code: str = "43100", path=None) -> gpd.GeoDataFrame:
    """The city's wards (designated city) or its single polygon, EPSG:6668.

    ``attrs['city_name']`` holds the city's name and ``attrs['has_wards']`` whether it has wards.
    """
    return _city_frame(city_code, path)


def to_plane(gdf: gpd.GeoDataFrame, plane_crs: str = PLANE_CRS) -> gpd.GeoDataFrame:
    return gdf.to_crs(plane_crs)


def points_frame(df: pd.DataFrame, lon: str = "lon", lat: str = "lat", crs: str = GEO_CRS) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df[lon], df[lat]), crs=crs)


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
                             plane_crs: str = PLANE_CRS, prefix: str = "D") -> gpd.GeoDataFrame:
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
