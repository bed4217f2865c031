"""Boundaries for Kumamoto's wards, another city by code, and synthetic districts."""

import pytest

from ebpm_analysis import geo
from ebpm_analysis.errors import ParameterError


def test_kumamoto_wards():
    c = geo.load_city("43100")
    assert c["code"].tolist() == ["43101", "43102", "43103", "43104", "43105"]
    assert c["name"].tolist() == ["中央区", "東区", "西区", "南区", "北区"]
    assert c.attrs == {"city_name": "熊本市", "has_wards": True}
    area = geo.to_plane(c).area.sum() / 1e6
    assert 380 < area < 410  # Kumamoto City ≈ 390 km²


def test_other_city_by_code():
    y = geo.load_city("43202")
    assert len(y) == 1 and y.attrs["city_name"] == "八代市" and not y.attrs["has_wards"]


@pytest.mark.parametrize("bad", [43100, "4310", "99999"])
def test_bad_city_code(bad):
    with pytest.raises(ParameterError, match="city_code"):
        geo.load_city(bad)


def test_plane_projection_city_hall():
    import geopandas as gpd
    from shapely.geometry import Point
    p = gpd.GeoSeries([Point(130.7417, 32.8031)], crs=geo.GEO_CRS).to_crs(geo.PLANE_CRS).iloc[0]
    assert abs(p.x - -24190) < 50 and abs(p.y - -21805) < 50


def test_partition_covers_wards_exactly_and_is_deterministic():
    c = geo.load_city("43100")
    d = geo.partition_into_districts(c, 60, seed=3)
    assert len(d) == 60 and d["district_code"].is_unique
    assert d.groupby("ward_code").size().min() >= 2
    wards = geo.to_plane(c).set_index("code").area
    got = d.assign(a=d.area).groupby("ward_code")["a"].sum()
    assert ((got - wards).abs() / wards).max() < 1e-6
    d2 = geo.partition_into_districts(c, 60, seed=3)
    assert d2.geometry.geom_equals_exact(d.geometry, tolerance=0).all()
