"""The interactive map works offline: no tiles, no CDN script/link, Leaflet inlined; static maps render."""

from __future__ import annotations

import re

import matplotlib
import pytest

from ebpm_analysis import geo, webmap
from ebpm_analysis.cases import probe as cp
from ebpm_analysis.plots import probe as pp


@pytest.fixture(scope="module")
def layer():
    codes = ["49301569141", "49301569142", "49301569143", "49301569144"]
    g = cp.mesh_polygons(codes, 6)
    g["value"] = [1.0, 5.0, 20.0, 50.0]
    return g


@pytest.fixture(scope="module")
def html(layer):
    return webmap.interactive_map(geo.load_city("43100"),
                              [{"name": "急減速", "gdf": layer, "column": "value", "label": "件／千通過",
                                "fields": ["mesh", "value"], "aliases": ["メッシュ", "値"]},
                               {"name": "事故", "gdf": layer, "column": "value", "label": "件", "show": False}],
                              title="テスト", attribution="出典テスト")


def test_no_external_script_or_link(html):
    assert not re.search(r"<script[^>]*\bsrc\s*=\s*[\"']?(https?:)?//", html, re.I)
    assert not re.search(r"<link[^>]*\bhref\s*=\s*[\"']?(https?:)?//", html, re.I)
    assert "cdn.jsdelivr.net" not in html and "code.jquery.com" not in html and "cdnjs" not in html


def test_leaflet_inlined_and_no_tiles(html):
    js = (webmap.VENDOR_DIR / "leaflet.js").read_text(encoding="utf-8")
    assert js[:200] in html  # the vendored Leaflet, inline
    assert "leaflet-container" in html  # its CSS, inline
    assert "L.tileLayer" not in html and "openstreetmap" not in html.lower()
    assert "url(images/" not in html  # layer-control icons as data URIs
    assert "data:image/png;base64," in html


def _has(html: str, text: str) -> bool:
    """Literal or JSON-escaped (folium writes GeoJSON and layer names with \\uXXXX escapes)."""
    return text in html or text.encode("unicode_escape").decode("ascii") in html


def test_layers_and_wards_present(html):
    assert _has(html, "急減速") and _has(html, "事故") and _has(html, "中央区") and _has(html, "北区")
    assert html.count("L.geoJson") >= 3 or html.count("geo_json") >= 3
    assert "L.control.layers" in html


def test_vendored_licence_is_bsd2():
    lic = (webmap.VENDOR_DIR / "LICENSE").read_text(encoding="utf-8")
    assert lic.startswith("BSD 2-Clause License") and "Agafonkin" in lic


def test_make_offline_strips_any_cdn_tag():
    doc = ('<html><head><script src="https://example.org/x.js"></script>'
           '<link rel="stylesheet" href="//cdn.example.org/y.css"/></head><body></body></html>')
    out = webmap.make_offline(doc)
    assert "example.org" not in out and "<style>" in out


def test_iframe_is_self_contained(html):
    fr = webmap.iframe(html)
    assert fr.startswith("<iframe srcdoc=") and "src=\"http" not in fr


def test_static_maps_have_titles_legends(layer):
    matplotlib.use("Agg")
    wards = geo.to_plane(geo.load_city("43100"), geo.plane_crs("43100"))
    cells = layer.to_crs(wards.crs)
    # without highlighted cells: one map, title and legend on it
    fig = pp.mesh_choropleth(cells, "value", wards, title="急減速", legend_title="件／千通過", source="テスト",
                             synthetic=True)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert ax.get_title() == "急減速" and ax.get_legend() is not None
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0].startswith("1–") and labels[-1].endswith("–50")  # classes cover the data range
    assert any("合成データ" in t.get_text() for t in fig.texts)
    assert {"中央区", "東区", "西区", "南区", "北区"} <= {t.get_text() for t in ax.texts}
    # one highlighted cell in a small part of the city: the city map and an enlarged panel around it
    spot = cells.iloc[[3]]
    fig = pp.mesh_choropleth(cells, "value", wards, title="急減速", legend_title="件／千通過", source="テスト",
                             synthetic=True, highlight=spot, highlight_label="ホットスポット")
    city_ax, zoom_ax = fig.axes
    assert fig._suptitle.get_text() == "急減速" and city_ax.get_title() == "市全体"
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[-1] == "ホットスポット" and labels[-2].endswith("–50")
    (x0, x1), (y0, y1) = zoom_ax.get_xlim(), zoom_ax.get_ylim()
    c = spot.geometry.centroid.iloc[0]
    assert x0 < c.x < x1 and y0 < c.y < y1
    city = wards.total_bounds
    assert (x1 - x0) * (y1 - y0) < 0.2 * (city[2] - city[0]) * (city[3] - city[1])   # enlarged
    assert any("合成データ" in t.get_text() for t in fig.texts)


def test_empty_layer_is_listed_as_empty_and_area_label_used(layer):
    html = webmap.interactive_map(geo.load_city("16201"),
                                  [{"name": "渋滞", "gdf": layer.iloc[:0], "column": "value", "label": "低速割合",
                                    "fields": ["mesh", "value"]},
                                   {"name": "急減速", "gdf": layer, "column": "value", "label": "件／千通過"}],
                                  title="t", attribution="a", area_label="市")
    def js(text):  # folium writes layer names as JSON escapes
        return text.encode("unicode_escape").decode("ascii").replace("\\u", "\\u")
    assert js("渋滞（該当なし）") in html and "低速割合</b>：該当なし" in html
    assert js('"市界"')[1:-1] in html and js("区界") not in html


def test_map_bounds_zoom_to_data_on_scattered_islands():
    crs = geo.plane_crs("13421")
    wards = geo.load_city("13421").to_crs(crs)
    code = str(cp.mesh_code([27.094], [142.191], 6)[0])           # 父島 (二見港)
    cells = cp.mesh_polygons([code], 6).to_crs(crs)
    b = pp.map_bounds(wards, cells)
    assert (b[2] - b[0]) < 10_000 and (b[3] - b[1]) < 10_000      # not the 1,000 km extent of 小笠原村
    kw = geo.load_city("43100").to_crs(geo.plane_crs("43100"))     # data over the whole city: the city's extent
    assert (pp.map_bounds(kw, kw) == kw.total_bounds).all()


def test_legend_box_only_with_layers(layer):
    """A map without layers drew an empty white legend box in its corner; now it draws none."""
    with_layer = webmap.interactive_map(geo.load_city("43100"),
                                        [{"name": "急減速", "gdf": layer, "column": "value", "label": "件"}],
                                        title="t", attribution="a")
    assert with_layer.count("max-width:260px") == 1 and webmap.LEGEND_CLASS in with_layer
    bare = webmap.interactive_map(geo.load_city("43100"), [], title="t", attribution="a")
    assert "max-width:260px" not in bare and webmap.LEGEND_CLASS not in bare   # the box's style: old code had it
