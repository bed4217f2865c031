"""Who a report is for: ``audience = "public"`` (the default; what ``make reports`` publishes) or
``"internal"`` (庁内限り: staff of the city hall only).

The one way to ask "is this run internal?" is :func:`is_internal` (also ``report.is_internal`` in
notebooks): it validates the value, so a notebook that gates detail on it never treats a typo as
public or internal.

A public report shows only what passes the disclosure audit. An internal report may keep
facility-level counts, crossing × 5-minute counts and exact facility points; the pipeline marks it
庁内限り in the title (:func:`mark_title`), in a banner at the top (:func:`banner_html`) and in
the file name (:data:`STEM_SUFFIX`), and the index lists it in a section of its own.
"""

from __future__ import annotations

import html

from .errors import ParameterError

AUDIENCES = ("public", "internal")
PARAMETER = "audience"
INTERNAL_MARK = "庁内限り"
# The file name part of an internal report: <notebook>[--<city>]--庁内限り.html. The four characters are
# in JIS X 0208 (cp932 zip tools and Windows shares keep them), none has a dakuten that NFC/NFD could
# decompose (macOS file names stay byte-identical), and the name has no space or shell/make metacharacter.
STEM_SUFFIX = INTERNAL_MARK
TITLE_PREFIX = f"【{INTERNAL_MARK}】"
BANNER_TEXT = (f"{INTERNAL_MARK}（職員のみ）：この報告書は、公開用の報告書では秘匿または粗くしている詳細"
               "（施設別・地点別の少数の件数、正確な位置など）を含みます。庁外へ配布・掲載しないでください。"
               f"公開には、ファイル名とタイトルに「{INTERNAL_MARK}」が付かない公開用の報告書を使ってください。")


def check(audience) -> str:
    """``audience`` if it is one of :data:`AUDIENCES`, else a :class:`ParameterError` naming the parameter."""
    if not isinstance(audience, str) or audience not in AUDIENCES:
        raise ParameterError(PARAMETER, f"got {audience!r}",
                             expected="'public'（公開用、既定） or 'internal'（庁内限り：職員のみ）")
    return audience


def is_internal(audience) -> bool:
    """True for an internal (庁内限り) run, False for a public one; anything else is a :class:`ParameterError`."""
    return check(audience) == "internal"


def mark_title(title: str, audience) -> str:
    """The report title as the reader sees it: 【庁内限り】 in front for an internal run (once)."""
    title = str(title)
    if is_internal(audience) and not title.startswith(TITLE_PREFIX):
        return TITLE_PREFIX + title
    return title


def banner_html(audience) -> str:
    """The 庁内限り banner at the top of an internal report ("" for a public one). Text only, escaped."""
    if not is_internal(audience):
        return ""
    return (f'<div class="ebpm-banner ebpm-internal">'
            f'<span class="ebpm-badge">{html.escape(INTERNAL_MARK)}</span> {html.escape(BANNER_TEXT)}</div>')
