"""Data is text: hostile names pushed through every report helper, the renderer, the offline map
and the CSV writer neither run nor become markup, links or formulas (issue 12, item 1)."""

from __future__ import annotations

import base64
import csv
import html as _html
import re
from html.parser import HTMLParser

import nbformat
import pandas as pd
import pytest
from IPython.display import HTML, Markdown
from nbconvert.filters import markdown2html

from ebpm_analysis import report
from ebpm_analysis.io.common import neutralise_formulas, write_csv
from ebpm_analysis.pipeline import sanitise
from ebpm_analysis.pipeline.render import TEMPLATE_DIR, render_nbconvert

# Names as they could arrive in a facilities CSV, a ward list or a -p parameter.
HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    '<iframe src="javascript:alert(1)"></iframe>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    '<a href="javascript:alert(1)">x</a>',
    '<a href="jAvAsCrIpT&colon;alert(1)">x</a>',
    "[x](javascript:alert(1))",
    "[x](  javascript:alert(1))",
    "![x](javascript:alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    '<a href="data:text/html,<script>alert(1)</script>">x</a>',
    "</table><script>alert(1)</script>",
    "</td></tr></table><img src=x onerror=alert(1)>",
    '"><script>alert(1)</script>',
    "' onmouseover='alert(1)",
    "<body onload=alert(1)>",
    "<details open ontoggle=alert(1)>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    '<object data="javascript:alert(1)"></object>',
    '<embed src="javascript:alert(1)">',
    '<form action="javascript:alert(1)"><button>x</button></form>',
    "<input onfocus=alert(1) autofocus>",
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="javascript:alert(1)//">',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<<script>script>alert(1)<</script>/script>",
    "<x onclick=alert(1)>click",
    "**太字** _x_ # 見出し `code` | a | b |",
    "=cmd|' /C calc'!A0",
    '+HYPERLINK("http://evil.example","x")',
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]
assert len(HOSTILE) >= 20


class _Scan(HTMLParser):
    """Every element, attribute and text of a page, and the documents of srcdoc iframes."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str, str]] = []
        self.scripts: list[str] = []
        self.srcdocs: list[str] = []
        self.text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for k, v in attrs:
            self.attrs.append((tag, k, v or ""))
            if tag == "iframe" and k == "srcdoc":
                self.srcdocs.append(v or "")
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data
        else:
            self.text.append(data)


def scan(page: str) -> _Scan:
    s = _Scan()
    s.feed(page)
    s.close()
    return s


URL_ATTRS = {"href", "src", "action", "formaction", "data", "xlink:href", "srcset", "poster", "background"}
FORBIDDEN_TAGS = {"script", "iframe", "object", "embed", "form", "base", "meta", "svg", "math", "link", "body",
                  "button", "x", "mglyph", "mtext"}


def assert_inert(fragment: str, *, allowed_tags=frozenset()):
    """No script, no event attribute, no javascript:/data: link, no active element."""
    s = scan(fragment)
    assert not (set(s.tags) & (FORBIDDEN_TAGS - set(allowed_tags))), sorted(set(s.tags) & FORBIDDEN_TAGS)
    assert not [a for a in s.attrs if a[1].lower().startswith("on")], [a for a in s.attrs if a[1].startswith("on")]
    for tag, k, v in s.attrs:
        val = re.sub(r"[\s\x00-\x1f]", "", _html.unescape(v)).lower()
        if k in URL_ATTRS:
            assert not val.startswith(("javascript:", "vbscript:")), (tag, k, v)
            if val.startswith("data:"):
                assert tag == "img" and val.startswith("data:image/"), (tag, k, v[:60])
        if k == "style":
            assert "url(" not in val and "javascript" not in val, (tag, k, v)
    return s


def visible(fragment: str) -> str:
    return re.sub(r"\s+", " ", "".join(scan(fragment).text)).strip()


def norm(value: str) -> str:
    return re.sub(r"\s+", " ", value).strip()


@pytest.fixture
def shown(monkeypatch):
    """What the report helpers display, as (mime type, text)."""
    out: list[tuple[str, str]] = []

    def fake_display(obj, raw=False):
        if raw:  # tables and KPIs: HTML plus their data for the audit (report.TABLE_MIME) or the KPI register
            assert set(obj) in ({"text/html", report.TABLE_MIME}, {"text/html", report.KPI_MIME})
            out.append(("text/html", obj["text/html"]))
        elif isinstance(obj, Markdown):
            out.append(("text/markdown", obj.data))
        elif isinstance(obj, HTML):
            out.append(("text/html", obj.data))
        else:  # pragma: no cover - the helpers display only these two
            raise AssertionError(type(obj))

    monkeypatch.setattr(report, "display", fake_display)
    return out


def as_html(item: tuple[str, str]) -> str:
    mime, data = item
    return markdown2html(data) if mime == "text/markdown" else data


@pytest.mark.parametrize("value", HOSTILE)
def test_md_fmt_and_bullets_show_values_as_text(value, shown):
    report.md("施設「{name}」の受診率は{rate:.1f}%です。", name=value, rate=12.345)
    report.bullets(["{name}：{n:,}人", "**固定の強調**"], name=value, n=1234)
    page = as_html(shown[0])
    s = assert_inert(page)
    assert set(s.tags) <= {"p"}, s.tags  # the value opened no element, no link, no emphasis
    assert visible(page) == norm(f"施設「{value}」の受診率は12.3%です。")
    items = as_html(shown[1])
    s = assert_inert(items)
    assert s.tags.count("li") == 2 and s.tags.count("strong") == 1  # the author's markup stays
    assert norm(f"{value}：1,234人") in visible(items)


def test_fmt_nests_and_keeps_author_markup():
    inner = report.fmt("**{x}**", x="<b>")
    outer = report.fmt("{a}、{b}", a=inner, b="*")
    assert markdown2html(outer).strip() == "<p><strong>&lt;b&gt;</strong>、*</p>"
    assert report.text("a_b*c") == "a\\_b\\*c"


@pytest.mark.parametrize("value", HOSTILE)
def test_table_kpis_banner_logic_model_escape(value, shown):
    df = pd.DataFrame({"施設": [value, "普通の名前"], value: [1, -2], "率": [0.5, float("nan")],
                       "obj": [["<i>list</i>"], None]})
    report.table(df, caption=value)
    report.kpis({value: value, "件数": "12件"})
    report.banner("synthetic", detail=value)
    report.logic_model({value: [value], "活動": ["x"]}, kpis=[(value, value, value)], title=value)
    report.searchable_table(df, "tbl-search", caption=value, placeholder=value)
    for item in shown:
        page = as_html(item)
        allowed = {"script"} if "ebpm-search" in page else set()
        s = assert_inert(page, allowed_tags=allowed)
        if allowed:  # only the search box's own script
            assert s.scripts == [(TEMPLATE_DIR / "search.js").read_text(encoding="utf-8")]
        assert norm(value) in visible(page) or _html.escape(norm(value)) in page
    table_html = shown[0][1]
    assert "&lt;i&gt;list&lt;/i&gt;" in table_html  # a non-str object is shown as escaped text
    assert 'class="data row1 col1 ebpm-num"' in table_html and "−2" not in table_html


def _rendered(tmp_path, outputs) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_raw_cell('---\ntitle: "t"\nexecute:\n  echo: false\n---'),
                nbformat.v4.new_markdown_cell("## 政策課題\n\n本文"), nbformat.v4.new_markdown_cell("## データ")]
    for mime, data in outputs:
        c = nbformat.v4.new_code_cell("x")
        c.outputs = [nbformat.v4.new_output("display_data", data={mime: data})]
        nb.cells.append(c)
    p = tmp_path / "nb.ipynb"
    nbformat.write(nb, p)
    render_nbconvert(p, tmp_path / "out.html")
    return (tmp_path / "out.html").read_text(encoding="utf-8")


PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


def test_renderer_sanitises_notebook_output_and_keeps_furniture(tmp_path, shown):
    """Raw hostile HTML and Markdown (an old f-string notebook), the helpers' outputs, a figure, a
    map and a search table go through the renderer: nothing runs, the furniture stays."""
    for v in HOSTILE:
        report.md(f"旧式のf文字列：{v}")  # no escaping by the helper: the sanitiser must hold
        report.table(pd.DataFrame({"名前": [v]}))
    report.searchable_table(pd.DataFrame({"a": ["x"]}), "cat-search")
    outputs = list(shown) + [("text/html", v) for v in HOSTILE]
    outputs.append(("image/png", PNG))
    svg = '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4"/></svg>'
    outputs.append(("image/svg+xml", svg))
    from ebpm_analysis import webmap

    doc = webmap.make_offline("<!DOCTYPE html><html><head></head><body><div id='m'></div></body></html>")
    outputs.append(("text/html", webmap.iframe(doc, height=400)))
    # a map-like iframe inside other HTML, or without the vendored Leaflet, is not a map
    outputs.append(("text/html", "<p>x</p>" + webmap.iframe(doc)))
    outputs.append(("text/html", webmap.iframe("<script>alert(1)</script>")))
    page = _rendered(tmp_path, outputs)
    s = scan(page)
    assert s.tags.count("iframe") == 1
    frame = [a for a in s.attrs if a[0] == "iframe"]
    assert ("iframe", "sandbox", "allow-scripts") in frame and ("iframe", "class", "ebpm-map") in frame
    assert s.srcdocs == [doc.replace("\r\n", "\n").replace("\r", "\n")]  # (read back in text mode)
    body = re.sub(r'<iframe class="ebpm-map".*?</iframe>', "", page, flags=re.S)
    b = assert_inert(body.replace("<meta ", "<x-meta "), allowed_tags={"script", "body"})
    assert b.scripts == [(TEMPLATE_DIR / "search.js").read_text(encoding="utf-8")]  # furniture only
    assert b.tags.count("body") == 1
    assert sum(1 for t, k, v in b.attrs if t == "img" and v.startswith("data:image/png;base64,")) == 1
    svg_uri = "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()
    assert ("img", "src", svg_uri) in b.attrs
    assert 'class="ebpm-toc"' in page and 'href="#sec-' in page or 'class="ebpm-toc"' in page
    assert "alert(1)" not in "".join(b.scripts)


def test_map_tooltips_escape_names():
    geopandas = pytest.importorskip("geopandas")
    from shapely.geometry import box

    from ebpm_analysis import webmap

    names = HOSTILE[:6]
    wards = geopandas.GeoDataFrame({"name": names}, geometry=[box(130 + i * .01, 32.8, 130.01 + i * .01, 32.81)
                                                               for i in range(len(names))], crs=4326)
    layer = wards.assign(label=names[::-1], value=range(len(names)))
    doc = webmap.interactive_map(wards, [{"name": "層", "gdf": layer, "column": "value", "label": "<b>凡例</b>",
                                          "fields": ["label", "value"], "aliases": ["<i>名</i>", "値"]}],
                                 title="<script>t</script>", attribution="<script>a</script>")
    leaflet = sanitise._leaflet_js()
    rest = doc.replace(leaflet, "")
    for v in names:
        assert v not in rest  # never raw: in the data (tooltips), the legend, the title or the attribution
        assert _html.escape(v) in rest or _html.escape(v).replace("&", "\\u0026") in rest
    for piece in ("<script>alert", "<img src=x", "<svg onload", "<i>名</i>", "<b>凡例</b>", "<script>t</script>",
                  "<script>a</script>"):
        assert piece not in rest


@pytest.mark.parametrize("value", HOSTILE)
def test_csv_export_neutralises_formulas(value, tmp_path):
    df = pd.DataFrame({"名前": [value, "ふつう", "-12.5", "-", None], "件数": [-3, 4, 5, -6, 7],
                       "率": [-0.5, 1.0, 2.0, float("nan"), -1e-3], "区分": pd.Categorical([value] * 5)})
    p = write_csv(df, tmp_path / "t.csv")
    with open(p, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    assert header == ["名前", "件数", "率", "区分"]
    cells = [c for r in body for c in (r[0], r[3])] + header
    assert not [c for c in cells if c.startswith(("=", "+", "@", "\t", "\r"))]
    assert not [c for c in cells if c.startswith("-") and c != "-12.5"]
    live = value.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert body[0][0] == ("'" + value if live else value)
    assert [r[1] for r in body] == ["-3", "4", "5", "-6", "7"]  # numbers stay numbers
    assert [r[2] for r in body] == ["-0.5", "1.0", "2.0", "", "-0.001"]
    assert body[2][0] == "-12.5" and body[3][0] == "'-"


def test_neutralise_formulas_column_names_and_index():
    df = pd.DataFrame({"=A1": ["=1"], "ok": [-1]}, index=pd.Index(["@x"]))
    out = neutralise_formulas(df)
    assert list(out.columns) == ["'=A1", "ok"] and list(out.index) == ["'@x"]
    assert out.iloc[0, 0] == "'=1" and out.iloc[0, 1] == -1
    assert df.iloc[0, 0] == "=1"  # the caller's frame is untouched


def test_sanitiser_policy_unit():
    assert sanitise.clean('<a href="#sec-1">x</a>') == '<a href="#sec-1">x</a>'
    assert sanitise.clean('<a href="data:text/html,x">x</a>') == "<a>x</a>"
    assert sanitise.clean('<img src="https://example.org/x.png">') == "<img>"
    assert sanitise.clean(f'<img src="data:image/png;base64,{PNG}" alt="図">').startswith('<img src="data:image/png')
    assert sanitise.clean('<input type="text" id="a-q">') == '<input id="a-q">'
    assert sanitise.clean('<p style="text-align: right; position: fixed">1</p>') == \
        '<p style="text-align:right">1</p>'
    assert sanitise.clean("<style>p{}</style><script>x</script>ok") == "ok"


def test_table_keeps_short_labels_on_one_line_and_lets_long_text_wrap(shown):
    """Short text columns (区, 分類) get the class that keeps them on one line; long text and numbers do not."""
    import pandas as pd
    df = pd.DataFrame({"区": ["中央区", "東区"], "分類": ["既知の危険箇所", "渋滞のみ"],
                       "説明": ["急減速が多く事故も多い交差点の手前で、見通しの悪いカーブが続く区間", "短い"],
                       "件数": [3, 4]})
    report.table(df, "表")
    html = shown[-1][1]
    assert 'class="data row0 col0 ebpm-short"' in html and 'class="data row0 col1 ebpm-short"' in html
    assert 'class="data row0 col2" ' in html and 'class="data row0 col3 ebpm-num"' in html
    # codes are copied whole: 03's 11-digit mesh codes wrapped as "493015 / 69443"
    report.table(pd.DataFrame({"メッシュコード": ["49301569443", "49301569433"], "名称": ["a" * 30, "b"]}), "表")
    html = shown[-1][1]
    assert 'class="data row0 col0 ebpm-short"' in html and 'class="data row0 col1" ' in html


def test_p_values_read_as_a_report_shows_them():
    """04's trend table printed p-values as 3.7e-113."""
    from ebpm_analysis import report
    assert [report.p_value(v) for v in (3.7e-113, 0.00099, 0.001, 0.0421, 0.58, None, float("nan"))] == [
        "<0.001", "<0.001", "0.001", "0.042", "0.580", "—", "—"]


def test_p_values_in_sentences():
    """07 wrote 'p = 1.9e-05' in its prose."""
    from ebpm_analysis import report
    assert [report.p_text(v) for v in (1.9e-05, 0.0049, 0.16, 0.74)] == [
        "p < 0.001", "p = 0.005", "p = 0.16", "p = 0.74"]
