"""Offline interactive maps: folium with Leaflet inlined, no tiles, no CDN.

A report must open on a closed network (LGWAN), so the map document carries Leaflet's JS/CSS
(vendored from npm, BSD-2, see ``vendor/leaflet/``) and draws the ward polygons instead of web
tiles. Used by several cases (probe slowdowns, emergency demand).
"""

from __future__ import annotations

import base64
import html as _html
import re
from pathlib import Path

import numpy as np
import pandas as pd

VENDOR_DIR = Path(__file__).resolve().parent / "vendor" / "leaflet"


def _vendor(name: str) -> bytes:
    return (VENDOR_DIR / name).read_bytes()


def leaflet_inline() -> tuple[str, str]:
    """(css, js) of the vendored Leaflet, with the layer-control icons as data URIs."""
    css = _vendor("leaflet.css").decode("utf-8")
    for img in ("layers.png", "layers-2x.png"):
        uri = "data:image/png;base64," + base64.b64encode(_vendor(f"images/{img}")).decode("ascii")
        css = css.replace(f"url(images/{img})", f"url({uri})")
    css = re.sub(r"url\(images/[^)]*\)", "none", css)  # default marker icon: not used (circle/area layers only)
    js = _vendor("leaflet.js").decode("utf-8")
    return css, js


_EXT_SCRIPT = re.compile(r"<script[^>]*\bsrc\s*=\s*[\"'](?:https?:)?//[^\"']*[\"'][^>]*>\s*</script>", re.I)
_EXT_LINK = re.compile(r"<link[^>]*\bhref\s*=\s*[\"'](?:https?:)?//[^\"']*[\"'][^>]*/?>", re.I)


def make_offline(html: str) -> str:
    """Drop every external script/stylesheet tag and inline Leaflet's JS/CSS in <head>."""
    html = _EXT_SCRIPT.sub("", html)
    html = _EXT_LINK.sub("", html)
    css, js = leaflet_inline()
    js = js.replace("</script", "<\\/script")
    inject = f"<style>{css}</style>\n<script>{js}</script>\n"
    if "<head>" in html:
        return html.replace("<head>", "<head>\n" + inject, 1)
    return inject + html


def _escape_text_columns(df, columns):
    """HTML-escape the text of ``columns``: folium's tooltips insert property values as HTML, and a
    name from an input file (a ward, a mesh label) must show as text, never run."""
    df = df.copy()
    for c in columns:
        if not pd.api.types.is_numeric_dtype(df[c]):
            df[c] = df[c].map(lambda v: _html.escape(v) if isinstance(v, str) else v)
    return df


#: class of the map's legend box (tests find it by this)
LEGEND_CLASS = "ebpm-map-legend"
#: the legend's and attribution's font: the page default was a serif (Times, MS 明朝 on Windows) beside Leaflet's
#: sans-serif layer list
SANS = ("font-family:'Hiragino Sans','Hiragino Kaku Gothic ProN',Meiryo,'Yu Gothic','Noto Sans CJK JP',"
        "'IPAexGothic',sans-serif")


def class_bounds(qs) -> list[str]:
    """The class limits of a legend as text, with as many decimals (1 to 3) as it takes for no two to read the
    same: ratios near 1 were shown as 0.9–1.0, 1.0–1.0, 1.0–1.0, 1.0–1.1 on 03's map of 船橋市."""
    for d in (1, 2, 3):
        texts = [f"{float(q):,.{d}f}" for q in qs]
        if len(set(texts)) == len(texts):
            break
    return texts


def interactive_map(wards_geo, layers: list[dict], *, title: str, attribution: str, center=None, zoom=12,
                    area_label: str = "区") -> str:
    """A self-contained folium map (no tiles, no CDN). ``area_label`` names the outlined areas (区, 市, 町 …)
    in the layer list and tooltips. ``layers``: dicts with ``name``, ``gdf``
    (EPSG:4326/6668 polygons), ``column`` (value to colour), ``label`` (tooltip caption),
    ``fields``/``aliases`` (tooltip fields), ``colors`` (list of hex for quantile classes) and ``show``.
    Returns the HTML document as a string.
    """
    import branca.colormap as bcm
    import folium
    import shapely

    wards_geo = wards_geo.to_crs(4326)
    if center is None:
        c = wards_geo.union_all().centroid
        center = (c.y, c.x)
    m = folium.Map(location=center, zoom_start=zoom, tiles=None, control_scale=False, prefer_canvas=True)
    minx, miny, maxx, maxy = wards_geo.total_bounds
    m.fit_bounds([[miny, minx], [maxy, maxx]])  # the whole city in view, whatever its size
    wards_geo = wards_geo.assign(geometry=shapely.set_precision(wards_geo.geometry.to_numpy(), 1e-6))
    folium.GeoJson(_escape_text_columns(wards_geo[["name", "geometry"]], ["name"]).to_json(ensure_ascii=False),
                   name=f"{area_label}界",
                   style_function=lambda f: {"color": "#333333", "weight": 1.5, "fill": True,
                                             "fillColor": "#f4f4f0", "fillOpacity": 1.0},
                   tooltip=folium.GeoJsonTooltip(fields=["name"], aliases=[_html.escape(area_label)])).add_to(m)
    legends: list[str] = []
    for lay in layers:
        gdf = lay["gdf"].to_crs(4326)
        col = lay["column"]
        if not len(gdf):  # nothing to draw (a small delivery): the layer list and legend say so
            folium.FeatureGroup(name=f"{lay['name']}（該当なし）", show=False).add_to(m)
            legends.append(f'<div style="margin-bottom:6px"><b>{_html.escape(lay["label"])}</b>：該当なし</div>')
            continue
        vals = gdf[col].astype(float)
        qs = np.unique(np.nanquantile(vals, [0, 0.5, 0.75, 0.9, 1.0])) if len(vals) else np.array([0, 1])
        if len(qs) < 2:
            qs = np.array([float(qs[0]) if len(qs) else 0.0, float(qs[0]) + 1 if len(qs) else 1.0])
        palette = lay.get("colors", ["#fee8c8", "#fdbb84", "#ef6548", "#990000"])[: len(qs) - 1]
        cmap = bcm.StepColormap(palette,
                                index=list(qs), vmin=float(qs[0]), vmax=float(qs[-1]), caption=lay["label"])
        fg = folium.FeatureGroup(name=lay["name"], show=lay.get("show", True))
        keep = list(dict.fromkeys([*lay.get("fields", [col]), col]))
        data = gdf[keep + ["geometry"]].copy()
        data["geometry"] = shapely.set_precision(data.geometry.to_numpy(), 1e-6)  # ~0.1 m: smaller document
        for c in keep:
            if pd.api.types.is_float_dtype(data[c]):
                data[c] = data[c].round(2)
        data = _escape_text_columns(data, keep)
        folium.GeoJson(
            data.to_json(ensure_ascii=False),
            style_function=lambda f, cmap=cmap, col=col: {
                "fillColor": cmap(f["properties"][col]) if f["properties"][col] is not None else "#cccccc",
                "color": "#555555", "weight": 0.3, "fillOpacity": 0.8},
            tooltip=folium.GeoJsonTooltip(fields=lay.get("fields", [col]),
                                          aliases=[_html.escape(str(a)) for a in lay.get("aliases", [col])]),
        ).add_to(fg)
        fg.add_to(m)
        # Plain-HTML legend (branca's colormap legend needs d3 from a CDN, which an offline report cannot load)
        bounds = class_bounds(qs)
        steps = "".join(
            '<div><span style="display:inline-block;width:14px;height:10px;margin-right:4px;'
            f'background:{palette[i]}"></span>'
            f'{bounds[i]}–{bounds[i + 1]}</div>' for i in range(len(qs) - 1))
        legends.append(f'<div style="margin-bottom:6px"><b>{_html.escape(lay["label"])}</b>{steps}</div>')
    folium.LayerControl(collapsed=False).add_to(m)
    if legends:  # no layers: no legend box (an empty white box sat on the map)
        m.get_root().html.add_child(folium.Element(
            f'<div class="{LEGEND_CLASS}" style="position:absolute;bottom:28px;left:8px;z-index:1000;'
            'background:rgba(255,255,255,.9);'
            f'padding:4px 8px;font-size:11px;line-height:1.35;max-width:260px;{SANS}">' + "".join(legends) + "</div>"))
    m.get_root().html.add_child(folium.Element(
        f'<div style="position:absolute;bottom:2px;right:90px;z-index:1000;background:rgba(255,255,255,.85);'
        f'padding:1px 6px;font-size:10px;max-width:70%;{SANS}">{_html.escape(attribution)}</div>'))
    m.get_root().header.add_child(folium.Element(f"<title>{_html.escape(title)}</title>"))
    return make_offline(m.get_root().render())


def layer_tables(layers: list[dict], kinds) -> list[dict]:
    """What each layer of :func:`interactive_map` draws, as published tables (the figure-data payloads of
    :func:`ebpm_analysis.viz.figure_data`): one per layer with rows, its tooltip ``fields`` under their
    ``aliases`` (values rounded as the map shows them: 2 decimals). ``kinds(columns, shown_as=…)`` gives the
    disclosure kinds (e.g. :func:`ebpm_analysis.cases.probe.probe_kinds`); a public run's download applies them."""
    from .report import _audit_payload  # the same payload as a report table: rows, columns, kinds
    out = []
    for lay in layers:
        if not len(lay["gdf"]):
            continue
        fields = list(dict.fromkeys(lay.get("fields", [lay["column"]])))
        names = dict(zip(fields, lay.get("aliases", fields), strict=False))
        if lay["column"] not in names:
            names[lay["column"]] = lay["label"]
        frame = pd.DataFrame(lay["gdf"][list(names)]).reset_index(drop=True)
        for c in frame.columns:
            if pd.api.types.is_float_dtype(frame[c]):
                frame[c] = frame[c].round(2)
        frame = frame.rename(columns=names)
        out.append(_audit_payload(frame, f"対話型地図の{lay['name']}", kinds(list(names), shown_as=names)))
    return out


class MapOutput:
    """A map document shown as :func:`iframe` that also carries its layers' data (mime
    :data:`ebpm_analysis.mime.FIGURE_MIME`), so the report offers the map's data as a download like a figure's."""

    def __init__(self, html: str, layers: list[dict], *, kinds, height: int = 560):
        self.html, self.height = html, height
        self.tables = layer_tables(layers, kinds)

    def _repr_mimebundle_(self, include=None, exclude=None):
        from .mime import FIGURE_MIME
        return {"text/html": iframe(self.html, self.height), FIGURE_MIME: {"tables": self.tables, "keys": []}}


def shown(html: str, layers: list[dict], *, kinds, height: int = 560) -> MapOutput:
    """``display(webmap.shown(html_map, layers, kinds=...))``: the map of :func:`interactive_map` with the data
    of its ``layers`` (see :func:`layer_tables`) for the report's downloads."""
    return MapOutput(html, layers, kinds=kinds, height=height)


def iframe(html: str, height: int = 560) -> str:
    """Embed a map document in a notebook/report as an <iframe srcdoc> (self-contained).

    ``sandbox="allow-scripts"``: the map's scripts run in an opaque origin, cut off from the report
    page (no access to its DOM, no navigation, pop-ups or dialogs). The renderer keeps such an
    iframe only when it is a whole display output of its own (see pipeline.render)."""
    return (f'<iframe srcdoc="{_html.escape(html, quote=True)}" class="ebpm-map" sandbox="allow-scripts" '
            f'style="width:100%;height:{int(height)}px;border:1px solid #ccc" '
            f'title="interactive map"></iframe>')
