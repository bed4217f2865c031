"""Sanitise what a notebook produced before it becomes a report page.

Reports are opened on the closed government network, and their text carries names from input
files and parameters (facilities, wards, offices, stations). The helpers in
:mod:`ebpm_analysis.report` escape those values; this module is the second line: the renderer
passes everything the notebook produced through nh3 (Rust's *ammonia*, a maintained allow-list
sanitiser; chosen over bleach, which its maintainers deprecated in 2023 and which is an order of
magnitude slower on our multi-megabyte pages) and only then adds its own furniture (page
template, CSS, table of contents, the search-box script, the interactive maps).

What survives: prose and table markup, ``class``/``id`` (figure and table anchors, the TOC),
links to ``http(s)``/``mailto``/``#anchors``, images only as ``data:image/…`` URIs (the embedded
figures), a short list of CSS properties in ``style``. What never survives: ``<script>``,
``<style>``, ``<iframe>``/``<object>``/``<embed>``/``<svg>``/``<form>``, event attributes
(``on…``), ``javascript:``/``vbscript:``/``data:`` links.

The interactive maps of :mod:`ebpm_analysis.webmap` are the one piece of notebook output that
carries scripts (vendored Leaflet and folium's set-up code). An output is taken as a map only when
the whole output is exactly one ``webmap.iframe`` element (prose cannot produce a display output
of its own, and Markdown outputs are never taken as maps) and its document carries the vendored
Leaflet byte for byte. It is lifted out before sanitising and put back afterwards as
``<iframe sandbox="allow-scripts" srcdoc=…>``: its scripts run in an opaque origin, cut off from
the report page. Text inside the map (tooltips) is escaped by ``webmap`` itself.
"""

from __future__ import annotations

import base64
import functools
import html
import re
import secrets
from dataclasses import dataclass, field

import nh3

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "col", "colgroup", "dd", "del", "details",
    "dfn", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i",
    "img", "input", "ins", "kbd", "li", "mark", "nav", "ol", "p", "pre", "q", "s", "samp", "section", "small",
    "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
    "var", "wbr",
}
ALLOWED_ATTRIBUTES = {
    "*": {"class", "id", "title", "lang", "style"},
    "a": {"href", "hidden"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "ol": {"start"},
    "table": {"border"},
    "div": {"data-nature"},
    "input": {"placeholder"},
}
# an <input> may only be the search box of report.searchable_table
TAG_ATTRIBUTE_VALUES = {"input": {"type": {"search"}}}
STYLE_PROPERTIES = {
    "text-align", "vertical-align", "width", "min-width", "max-width", "height", "max-height", "overflow",
    "overflow-x", "overflow-y", "padding", "padding-left", "padding-right", "margin", "margin-left",
    "margin-right", "border", "border-radius", "color", "background-color", "font-size", "font-weight",
    "white-space",
}
URL_SCHEMES = {"http", "https", "mailto", "data"}
_IMG_DATA = re.compile(r"^data:image/(?:png|jpeg|gif|webp|svg\+xml)(?:;base64)?,", re.I)


def _attribute_filter(tag: str, attr: str, value: str) -> str | None:
    """``data:`` only as an embedded image; images only as data URIs (reports never fetch)."""
    if attr == "src" and tag == "img":
        return value if _IMG_DATA.match(value.strip()) else None
    if attr == "href" and value.strip().lower().startswith("data:"):
        return None
    return value


def clean(fragment: str) -> str:
    """Sanitise an HTML fragment produced by a notebook (see the module docstring for the policy)."""
    return nh3.clean(fragment, tags=ALLOWED_TAGS, clean_content_tags={"script", "style", "template", "noscript"},
                     attributes=ALLOWED_ATTRIBUTES, tag_attribute_values=TAG_ATTRIBUTE_VALUES,
                     attribute_filter=_attribute_filter, url_schemes=URL_SCHEMES,
                     filter_style_properties=STYLE_PROPERTIES, strip_comments=True,
                     link_rel=None)  # no target= survives, so rel="noopener" adds nothing


# exactly what webmap.iframe writes (the older form without class/sandbox too, for executed
# notebooks built before the maps were sandboxed)
_MAP_OUTPUT = re.compile(
    r'^\s*<iframe srcdoc="(?P<doc>[^"]*)"(?: class="ebpm-map" sandbox="allow-scripts")? '
    r'style="width:100%;height:(?P<h>\d{2,4})px;border:1px solid #ccc" title="interactive map"></iframe>\s*$')


@functools.cache
def _leaflet_js() -> str:
    from ..webmap import leaflet_inline

    return leaflet_inline()[1].replace("</script", "<\\/script")


@dataclass
class MapSlots:
    """Maps lifted out of the notebook's outputs, put back after sanitising."""

    nonce: str = field(default_factory=lambda: secrets.token_hex(8))
    docs: list[tuple[str, int]] = field(default_factory=list)

    def placeholder(self, i: int) -> str:
        return f'<div class="ebpm-map-slot" id="ebpm-map-{self.nonce}-{i}"></div>'

    def restore(self, page: str) -> str:
        for i, (doc_escaped, height) in enumerate(self.docs):
            frame = (f'<iframe class="ebpm-map" sandbox="allow-scripts" srcdoc="{doc_escaped}" '
                     f'style="height:{height}px" title="インタラクティブ地図"></iframe>')
            page = page.replace(self.placeholder(i), frame)
        return page


def lift_map(html_text: str, slots: MapSlots) -> str | None:
    """The placeholder for a whole-output webmap iframe, or None when the output is not one."""
    m = _MAP_OUTPUT.match(html_text)
    if not m:
        return None
    doc = html.unescape(m.group("doc"))
    if _leaflet_js() not in doc:
        return None
    slots.docs.append((html.escape(doc, quote=True), int(m.group("h"))))
    return slots.placeholder(len(slots.docs) - 1)


def _as_text(data) -> str:
    return "".join(data) if isinstance(data, list) else str(data)


def prepare_outputs(nb, slots: MapSlots) -> None:
    """Make every output of the notebook safe, one output at a time (a hostile fragment such as an
    unclosed ``<style>`` cannot swallow the outputs after it): lift the maps out, turn SVG figures
    into ``data:`` images, turn Markdown outputs into HTML (nbconvert's own Markdown renderer) and
    sanitise every HTML output. Scripts and other active mime types are dropped."""
    from nbconvert.filters import markdown2html

    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            data = out.get("data")
            if not data:
                continue
            if "text/html" in data:
                placeholder = lift_map(_as_text(data["text/html"]), slots)
                if placeholder is not None:
                    out["data"] = {"text/html": placeholder}
                    continue
            if "image/svg+xml" in data and "image/png" not in data:
                svg = _as_text(data.pop("image/svg+xml")).encode("utf-8")
                uri = "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")
                data["text/html"] = f'<img src="{uri}" alt="図">'
            if "text/markdown" in data and "text/html" not in data:
                data["text/html"] = markdown2html(_as_text(data["text/markdown"]))
            if "text/html" in data:
                data["text/html"] = clean(_as_text(data["text/html"]))
            out["data"] = {k: v for k, v in data.items() if k in SAFE_MIME_TYPES}


# what an output may keep: nbconvert escapes text/plain, and images become data: URIs
SAFE_MIME_TYPES = ("text/html", "text/plain", "image/png", "image/jpeg", "image/gif")
