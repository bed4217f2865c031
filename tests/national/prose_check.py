"""Is a report about its own city? The prose rule the national tests enforce on every report.

A report built for city X must not name another *configured* city (熊本市, the default; and every city
profile in ``notebooks/cities/*.yml``) nor cite a figure that belongs to another city, except in:

(a) a model-case reference: the name directly followed by 「モデル」 (title 「…（船橋市モデル）」);
(b) the model-case paragraph: a paragraph, list item or table cell whose text starts with 「モデル事例」
    (notebooks write it as ``**モデル事例（船橋市）**：船橋市は…``);
(c) an attribution line: a block whose text starts with 「出典」;
(d) a list of municipalities the analysis itself chose from the data, introduced by one of
    :data:`COMPUTED_LISTS` and running to the end of the sentence (07's synthetic-control donors:
    「比較に使った市町村は…、重みの大きい順に 八代市 0.24、…です。」; 01's neighbours 「近隣の市区町村（…など）」):
    computed, not carried over.

The check reads the rendered HTML: every text block (paragraph, list item, cell, heading, caption,
title) is checked on its own; scripts, styles and the embedded images are not text. The provenance
section (来歴) prints parameters and file paths, never prose, and is checked like the rest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bs4 import BeautifulSoup

from ebpm_analysis import geo
from ebpm_analysis.pipeline import cities

DEFAULT_CITY = "43100"  # 熊本市: the notebooks' default city, a configured city like the profiles

#: Figures published for one city that a report for another city must not cite (the issue's examples:
#: 熊本市消防局's 46,580 dispatches in 2024 and 熊本市's ≈340,000 employed residents).
CITY_FIGURES: dict[str, tuple[str, ...]] = {
    "43100": ("46,580", "46580", "約34万", "34万人"),
}

BLOCK_TAGS = ("p", "li", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6", "figcaption", "caption", "title",
              "dt", "dd", "pre", "blockquote", "summary", "label", "div", "span", "header", "footer", "section",
              "main", "aside", "table", "tr", "ul", "ol", "dl", "figure", "body", "html")
MODEL_PREFIX = "モデル事例"
#: Phrases that introduce a computed list of other municipalities (allowance (d)), to the next 「。」.
COMPUTED_LISTS = ("比較に使った市町村",   # 07: synthetic-control donors with their weights
                  "近隣の市区町村（")    # 01: the neighbouring municipalities of the synthetic commuting pattern
ATTRIBUTION_PREFIX = "出典"


@dataclass(frozen=True)
class Finding:
    what: str     # the name or figure found
    block: str    # the text block it stands in (shortened)

    def __str__(self) -> str:
        return f"{self.what!r} in: {self.block[:160]}"


def configured_cities() -> dict[str, str]:
    """{code: name} of every configured city: the default 熊本市 and each profile."""
    out = {DEFAULT_CITY: geo.city_name(DEFAULT_CITY)}
    out |= {p.code: p.name for p in cities.list_profiles()}
    return out


def text_blocks(html: str) -> list[tuple[str, str]]:
    """(tag, text) of every block of the report, in document order; a block's text is its own strings
    and those of its inline elements, not those of nested blocks (whitespace collapsed)."""
    soup = BeautifulSoup(html, "html.parser")
    for t in soup(["script", "style", "noscript", "svg", "img"]):
        t.decompose()
    parts: dict[int, tuple[str, list[str]]] = {}  # block → (tag, its own strings)
    for s in soup.find_all(string=True):
        block = s.find_parent(BLOCK_TAGS)
        if block is not None:
            parts.setdefault(id(block), (block.name, []))[1].append(str(s))
    texts = ((tag, re.sub(r"\s+", " ", "".join(v)).strip()) for tag, v in parts.values())
    return [(tag, t) for tag, t in texts if t]


def _allowed_block(text: str) -> bool:
    return text.startswith(MODEL_PREFIX) or text.startswith(ATTRIBUTION_PREFIX)


def foreign_mentions(html: str, city_code: str, configured: dict[str, str] | None = None, *,
                     skip_tags: tuple[str, ...] = ()) -> list[Finding]:
    """Names of other configured cities and their figures in a report for ``city_code``, outside (a)–(c).

    A name that is part of the report's own city name (仙台市 in a report for 仙台市青葉区) is not
    foreign. ``skip_tags``: blocks not checked (00_data_catalog's table cells: dataset titles and
    coverage are the datasets' own metadata, like attribution).
    """
    configured = configured_cities() if configured is None else configured
    own = geo.resolve_city(city_code)
    others = {c: n for c, n in configured.items() if c != own.code and n not in own.name}
    found: list[Finding] = []
    for tag, block in text_blocks(html):
        if tag in skip_tags or _allowed_block(block):
            continue
        for phrase in COMPUTED_LISTS:
            block = re.sub(re.escape(phrase) + "[^。]*。?", "", block)
        for code, name in others.items():
            for m in re.finditer(re.escape(name), block):
                if block[m.end():m.end() + len("モデル")] == "モデル":
                    continue
                found.append(Finding(name, block[max(0, m.start() - 60):m.end() + 80]))
            for fig in CITY_FIGURES.get(code, ()):
                if fig in block:
                    i = block.index(fig)
                    found.append(Finding(f"{fig} ({name}'s figure)", block[max(0, i - 60):i + 80]))
    # one finding per (what, block)
    return list(dict.fromkeys(found))
