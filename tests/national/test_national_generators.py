"""Every seeded generator, for every city of the national sample, at small sizes, in process:

- the projection is the city's official plane zone (a fitted conic only where no zone keeps distances
  within 0.1 %: 小笠原村);
- nothing raises, and the generated set records the city it was made for;
- every generated location lies inside the city: districts, facilities, stations, incidents, schools,
  crossings, school-route fixes, probe positions and events, planted hazards.

The generators place sites on the same (simplified) national polygons :func:`geo.inside_city` uses, so
placed sites must be inside but for the rounding of written coordinates (``ROUNDING_M``); positioning
fixes carry a simulated GPS error, so they get the generator's largest error (``NOISE_M``).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from ebpm_analysis import geo
from ebpm_analysis.io import dental_sheet, dispatch_log, estat, etc2, school_fixes, stations
from ebpm_analysis.synth import census, counter, dental, emergency, probe, read_truth, school_routes

import national_sample as ns  # tests/national/national_sample.py

#: Positioning error allowed for simulated GPS fixes (m): the school-route fixes the loader keeps
#: (max_accuracy_m = 50 m, the notebook's default) and ETC2.0 positions (map-matched to the roads).
NOISE_M = 50.0
#: Placed sites are written with 5–6 decimals of a degree (≤ 1.1 m): the rounding may put a site drawn
#: on the border up to that far outside.
ROUNDING_M = 2.0

pytestmark = pytest.mark.national

CODES = sorted(ns.CITIES)


def _outside(lon, lat, code: str, tolerance_m: float) -> np.ndarray:
    lon = np.asarray(lon, float)
    lat = np.asarray(lat, float)
    assert len(lon) > 0, "no generated points"
    assert np.isfinite(lon).all() and np.isfinite(lat).all(), "points without coordinates"
    d = geo.distance_to_city_m(lon, lat, code)
    return d[d > tolerance_m]


def _assert_inside(what: str, lon, lat, code: str, tolerance_m: float = ROUNDING_M) -> None:
    out = _outside(lon, lat, code, tolerance_m)
    assert len(out) == 0, (f"{what}: {len(out)} of {len(np.asarray(lon))} points outside {code} "
                           f"{geo.city_name(code)} (farthest {out.max():.0f} m, tolerance {tolerance_m:.0f} m)")


def _assert_polygons_inside(what: str, gdf, code: str) -> None:
    pts = gdf.to_crs(geo.GEO_CRS).geometry.representative_point()
    _assert_inside(what, pts.x, pts.y, code)


def _assert_made_for(folder, code: str) -> None:
    """The set's planted truth names the city it was generated for."""
    meta = json.dumps(read_truth(folder).meta, ensure_ascii=False)
    assert f'"{code}"' in meta, f"the truth of {folder.name} does not record city {code}"


@pytest.mark.parametrize("code", CODES)
def test_projection_is_the_city_zone(code):
    zone, reason = ns.CITIES[code]
    proj = geo.projection(code)
    assert proj.official_zone == zone, reason
    if proj.zone is not None:  # the official zone itself
        assert proj.zone == zone and proj.crs == f"EPSG:{6668 + zone}"
    else:  # only where the zone cannot keep distances within 0.1 % across the city
        assert code == "13421", f"{code} does not use its zone {zone}: {proj.label}"
    assert proj.max_scale_error <= geo.MAX_DISTANCE_ERROR


def _wards(code: str) -> int:
    return len(geo.resolve_city(code).member_codes)


def gen_census(code, tmp_path):
    d = census.ensure_census(1, city_code=code, out_dir=tmp_path, n_employed=8000,
                             n_districts=max(12, 2 * _wards(code)))
    _assert_made_for(d, code)
    areas = estat.read_small_area_boundaries(d / census.FILES["boundaries"], nature="synthetic")
    _assert_polygons_inside("census districts", areas, code)


def gen_dental(code, tmp_path):
    d = dental.ensure_dental(1, city_code=code, out_dir=tmp_path, n_facilities=20, n_children=600)
    _assert_made_for(d, code)
    fac = dental_sheet.read_facilities(d / dental.FILES["facilities"], nature="synthetic")
    _assert_inside("dental facilities", fac["lon"], fac["lat"], code)


def gen_probe(code, tmp_path):
    d = probe.ensure_probe(1, city_code=code, out_dir=tmp_path, n_rows=5000)
    _assert_made_for(d, code)
    pos = etc2.read_positions(sorted((d / probe.FILES["positions"]).glob("*.zip")))
    _assert_inside("probe positions", pos["lon"], pos["lat"], code, NOISE_M)
    ev = etc2.read_events(sorted((d / probe.FILES["events"]).glob("*.zip")))
    if len(ev):
        _assert_inside("probe events", ev["lon"], ev["lat"], code, NOISE_M)
    hz = read_truth(d).tables["hazards"]
    _assert_inside("planted hazards", hz["lon"], hz["lat"], code)


def gen_emergency(code, tmp_path):
    # one year (the generator's minimum) of 3,000 dispatches: where sites land does not depend on the volume,
    # and a city of 1.9 M people would otherwise simulate ~100,000 calls a year
    d = emergency.ensure_emergency(1, city_code=code, out_dir=tmp_path, start="2024-01-01", end="2024-12-31",
                                   n_districts=max(12, 2 * _wards(code)), annual_dispatches=3000)
    _assert_made_for(d, code)
    st = stations.read_stations(d / emergency.FILES["stations"], nature="synthetic")
    _assert_inside("fire stations", st["lon"], st["lat"], code)
    log = dispatch_log.read_dispatch_log(d / emergency.FILES["log"], nature="synthetic")
    _assert_inside("dispatch incidents", log["lon"], log["lat"], code)
    districts = dispatch_log.read_districts(d / emergency.FILES["districts"], city=code, nature="synthetic")
    _assert_polygons_inside("emergency districts", districts, code)


def gen_school_routes(code, tmp_path):
    d = school_routes.ensure_school_routes(1, city_code=code, out_dir=tmp_path, ward_codes=[], n_schools=2,
                                           children_per_school=20, n_days=1)
    _assert_made_for(d, code)
    sc = school_fixes.read_schools(d / school_routes.FILES["schools"], nature="synthetic")
    _assert_inside("schools", sc["lon"], sc["lat"], code)
    cr = school_fixes.read_crossings(d / school_routes.FILES["crossings"], nature="synthetic")
    _assert_inside("crossings", cr["lon"], cr["lat"], code)
    fx = school_fixes.read_fixes(d / school_routes.FILES["fixes"], nature="synthetic")
    fx = fx[fx["accuracy"] <= NOISE_M]
    _assert_inside("school-route fixes", fx["lon"], fx["lat"], code, NOISE_M)


def gen_counter(code, tmp_path):
    d = counter.ensure_counter(1, city_code=code, out_dir=tmp_path, start="2024-04-01", end="2025-03-31")
    _assert_made_for(d, code)


GENERATORS = {f.__name__[4:]: f for f in (gen_census, gen_dental, gen_probe, gen_emergency, gen_school_routes,
                                           gen_counter)}
#: (generator, code) not passing yet, with the cause (also in /work/wt/NOTES.md); removed as fixes land.
PENDING: set[tuple[str, str]] = set()


@pytest.mark.parametrize(("case", "code"), [(g, c) for g in GENERATORS for c in CODES if (g, c) not in PENDING])
def test_generator_places_everything_inside_the_city(case, code, tmp_path):
    GENERATORS[case](code, tmp_path)
