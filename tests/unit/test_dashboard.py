"""reports/index.html, the dashboard (issue 14 item 1): cards built from a small fixture set of runs through the
pipeline's own steps (KPI capture and register, card facts, status records; no notebook is executed), the trend
after two builds with a change in between, and a real browser (headless Chromium from Debian's packages, driven
by Selenium with Debian's chromedriver): filters and search change what is shown, nothing is loaded from outside.

Install the browser on Debian/Ubuntu: ``sudo apt-get install chromium chromium-driver``; without it the browser
tests are skipped (and say so), the others run."""

from __future__ import annotations

import base64
import io
import json
import shutil

import nbformat
import pytest
from bs4 import BeautifulSoup
from PIL import Image

from ebpm_analysis import paths
from ebpm_analysis.pipeline import execute, kpi
from ebpm_analysis.pipeline.execute import Layout
from ebpm_analysis.pipeline.index import write_index, write_thumbnail
from ebpm_analysis.report import KPI_MIME, TABLE_MIME

KPI_DIR = paths.NOTEBOOKS_DIR / "kpis"


def _png(w: int, h: int, colour) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), colour).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def executed_nb(tiles: dict[str, str], logic=(), figures: dict[str, str] | None = None):
    """An executed notebook as the pipeline keeps it: KPI tiles, logic-model KPI rows and labelled figures."""
    nb = nbformat.v4.new_notebook()
    for label, png in (figures or {}).items():
        cell = nbformat.v4.new_code_cell(f"#| label: {label}\n#| fig-cap: 図\nplot()")
        cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"})]
        nb.cells.append(cell)
    cell = nbformat.v4.new_code_cell("report.kpis(...)")
    cell.outputs = [nbformat.v4.new_output("display_data", data={
        "text/html": "<div></div>",
        TABLE_MIME: {"caption": "KPI", "columns": list(tiles), "rows": [list(tiles.values())]}})]
    if logic:
        cell.outputs.append(nbformat.v4.new_output("display_data", data={
            "text/html": "<div></div>", KPI_MIME: {"title": "", "kpis": [{"label": a, "value": b, "method": ""}
                                                                       for a, b in logic]}}))
    nb.cells.append(cell)
    return nb


def build_run(layout: Layout, stem: str, notebook: str, city: str, city_name: str, nb, *, finished: str,
              params: dict, nature: str = "synthetic", audience: str = "public", status: str = "ok",
              title: str = "", profile=None) -> dict:
    """One run's traces as run_notebook leaves them: register rows, card facts and the status record."""
    prov = {"notebook": notebook, "variant": "default", "parameters": params, "command": f"ebpm run {notebook}",
            "city": city, "city_name": city_name, "finished": finished, "data_nature": nature,
            "audience": audience, "seconds": 1.0, "git": {"commit": "0" * 40, "dirty": False}}
    (layout.reports_dir / f"{stem}.html").parent.mkdir(parents=True, exist_ok=True)
    (layout.reports_dir / f"{stem}.html").write_text("<html></html>", encoding="utf-8")
    path = layout.status_dir / f"{stem}.json"
    fm = {"title": title or f"{city_name} {notebook}", "subtitle": "試験"}
    if status == "ok":
        facts = execute._record_kpis(layout, nb, prov, stem, KPI_DIR, lambda *a: None)
        facts |= execute._card_facts(layout, nb, prov, stem, KPI_DIR, profile)
        execute._write_status(path, stem, notebook, "default", fm, "ok", "", "fp", prov, extra=facts)
    else:
        msg = (f"{stem}: cell 3 raised ValueError: 列 age に数値でない値があります（行 12）\n詳細…. The previous "
               "report (if any) was kept; the partial notebook is build/failed/x.ipynb.")
        execute._write_status(path, stem, notebook, "default", fm, "failed", msg, None, None, city=city,
                              audience=audience, summary="セル 3 で ValueError（詳細: build/failed/x.ipynb）",
                              command=f"ebpm run {notebook} --city {city}", log=f"build/failed/{stem}.ipynb",
                              error_line="セル 3 で ValueError（メッセージは記録を参照）")
    return json.loads(path.read_text(encoding="utf-8"))


EMERGENCY = {"{city} 2024年の救急出動": "{n:,}件", "8〜20時の割合": "67.4%", "平均現着所要時間（2024年）": "{rt}分",
             "人口あたり出動が平均を有意に上回る地区": "16 / 40", "現着時間が延伸している地区": "4地区",
             "今後12か月の予測": "44,734件"}


def emergency_nb(city: str, n: int, rt: float, coverage: float):
    tiles = {k.format(city=city): v.format(n=n, rt=rt) for k, v in EMERGENCY.items()}
    return executed_nb(tiles, [("8分以内に到着できる需要の割合（モデル値）", f"{coverage}%")],
                       {"fig-density": _png(900, 600, (200, 30, 30)), "fig-rate-map": _png(800, 1000, (30, 90, 200))})


def dental_nb(prev: float):
    return executed_nb({"受診児数": "18,766人", "施設数": "159施設", "う蝕有病者率（全体）": f"{prev}%",
                        "有病者率 3歳→5歳": "10.4%→27.8%", "99.8%管理限界を超える施設": "10施設"},
                       figures={"fig-funnel": _png(700, 500, (10, 150, 60))})


@pytest.fixture
def fixture_build(tmp_path):
    """Five reports of three cities: 04 for 熊本市 built twice (the second with fewer calls, a shorter response
    time and more coverage), 02 for 足立区, 07 for 熊本市 (real data), a failed 03 for 富山市 and an internal 02."""
    layout = Layout(reports_dir=tmp_path / "reports", build_dir=tmp_path / "build")
    e = {"end_date": "2024-12-31"}
    build_run(layout, "04_emergency_demand", "04_emergency_demand", "43100", "熊本市",
              emergency_nb("熊本市", 44_500, 10.6, 38.0), finished="2026-11-29T10:00:00+09:00", params=e,
              nature="mixed", title="熊本市 救急出動需要の分析")
    build_run(layout, "04_emergency_demand", "04_emergency_demand", "43100", "熊本市",
              emergency_nb("熊本市", 44_135, 10.2, 39.4), finished="2026-11-30T10:00:00+09:00", params=e,
              nature="mixed", title="熊本市 救急出動需要の分析")
    book = layout.reports_dir / "02_dental_checkups--13121_files" / "02_dental_checkups--13121.xlsx"
    book.parent.mkdir(parents=True)
    book.write_bytes(b"PK")   # the report's workbook (pipeline/downloads.py); the card links it
    build_run(layout, "02_dental_checkups--13121", "02_dental_checkups", "13121", "足立区", dental_nb(19.4),
              finished="2026-11-30T10:05:00+09:00", params={}, title="足立区 園児歯科健診の分析")
    build_run(layout, "07_policy_evaluation", "07_policy_evaluation", "43100", "熊本市",
              executed_nb({"人身事故件数（2021年、実データ）": "1,293件", "緊急事態宣言中の変化（実データ）": "-45%",
                           "ゾーン30型対策の効果の推定（合成データ）": "-12%",
                           "20%減の検出に必要な対策メッシュ（12か月）": "52か所"}),
              finished="2026-11-30T10:10:00+09:00", params={"end_month": "2021-10"}, nature="real",
              title="熊本市 交通安全施策の効果検証")
    build_run(layout, "03_probe_slowdowns--16201", "03_probe_slowdowns", "16201", "富山市", None,
              finished="", params={}, status="failed", title="富山市 ETC2.0プローブ")
    build_run(layout, "02_dental_checkups--庁内限り", "02_dental_checkups", "43100", "熊本市", dental_nb(19.5),
              finished="2026-11-30T10:20:00+09:00", params={}, audience="internal",
              title="【庁内限り】熊本市 園児歯科健診の分析")
    write_index(layout)
    return layout


def _cards(layout) -> dict[str, BeautifulSoup]:
    soup = BeautifulSoup((layout.reports_dir / "index.html").read_text(encoding="utf-8"), "html.parser")
    return {c.select_one("h3").get_text(strip=True): c for c in soup.select("article.card")}


def test_two_builds_with_a_change_keep_both_runs_and_show_the_trend(fixture_build):
    layout = fixture_build
    reg = kpi.read(layout.register_path)
    disp = reg[(reg["kpi_id"] == "04_emergency_demand.dispatches_year")]
    assert disp["value"].tolist() == [44_500.0, 44_135.0] and disp["run_id"].nunique() == 2
    assert set(reg["as_of"][reg["notebook"] == "04_emergency_demand"]) == {"2024-12-31"}
    card = _cards(layout)["熊本市 救急出動需要の分析"]
    items = {li["data-kpi"]: li for li in card.select("li.kpi")}
    assert list(items) == ["04_emergency_demand.dispatches_year", "04_emergency_demand.response_minutes",
                           "04_emergency_demand.coverage_share"]   # the headline KPIs, in definition order
    rt = items["04_emergency_demand.response_minutes"]
    assert rt.select_one(".kpi-value").get_text() == "10.2分"
    assert rt.select_one(".trend").get_text() == "▼ 前回比 −0.4分（改善）"     # lower is better
    assert "trend-better" in rt.select_one(".trend")["class"]
    cov = items["04_emergency_demand.coverage_share"].select_one(".trend").get_text()
    assert cov == "▲ 前回比 +1.4ポイント（改善）"   # a change of a percentage is in points
    n = items["04_emergency_demand.dispatches_year"]
    assert n.select_one(".trend").get_text() == "▼ 前回比 −365件（変化）"      # no direction of good
    svg = n.select_one("svg.spark")
    assert svg["data-points"] == "2" and "2026-11-29 44,500件、2026-11-30 44,135件" in svg.select_one("title").text
    assert len(svg.select_one("polyline")["points"].split()) == 2
    assert n.select_one(".kpi-asof").get_text() == "データ時点 2024-12-31"
    facts = {d.select_one("dt").text: d.select_one("dd").text for d in card.select(".facts div")}
    assert facts == {"市区町村": "熊本市", "データ時点": "2024-12-31", "作成日": "2026-11-30 10:00",
                     "担当課": "消防局 救急担当課（想定）"}
    assert card.select_one(".badge.nature").text == "実データ＋合成データ"
    # the key figure (fig-rate-map of notebooks/kpis/04_emergency_demand.yml), small and embedded
    img = card.select_one("img.thumb")
    thumb = Image.open(io.BytesIO(base64.b64decode(img["src"].split(",", 1)[1])))
    assert img["src"].startswith("data:image/png;base64,") and max(thumb.size) == 360 and thumb.size[1] > thumb.size[0]
    assert thumb.convert("RGB").getpixel((10, 10)) == (30, 90, 200)


def test_cards_labels_failures_internal_runs_and_definitions(fixture_build):
    layout = fixture_build
    page = (layout.reports_dir / "index.html").read_text(encoding="utf-8")
    soup = BeautifulSoup(page, "html.parser")
    cards = _cards(layout)
    assert len(cards) == 5
    failed = cards["富山市 ETC2.0プローブ"]
    assert "card-failed" in failed["class"] and "失敗（前回の報告書を表示）" in failed.text
    # what failed: the notebook, its parameters, the error's first line, where the record is, how to run it again
    what = {d.select_one("dt").text: d.select_one("dd").text for d in failed.select(".err-facts div")}
    assert what == {"ノートブック": "03_probe_slowdowns", "条件": "既定のパラメータ・市区町村コード 16201",
                    "エラー": "セル 3 で ValueError（メッセージは記録を参照）",
                    "記録": "build/failed/03_probe_slowdowns--16201.ipynb",
                    "再実行": "ebpm run 03_probe_slowdowns --city 16201"}
    assert "リンク先は最後に成功した回の報告書です" in failed.text and "列 age" not in page   # never the message
    # the report's tables as one Excel workbook (issue 14 item 3), where the build wrote one
    assert [a["href"] for a in soup.select("a.dl-link")] == [
        "02_dental_checkups--13121_files/02_dental_checkups--13121.xlsx"]
    assert cards["足立区 園児歯科健診の分析"].select_one("a.dl-link").text == "報告書の表をダウンロード（Excel）"
    # a first build: one value, no trend yet; real data labelled so
    dental = cards["足立区 園児歯科健診の分析"].select("li.kpi .kpi-value")
    assert [v.get_text() for v in dental][:1] == ["19.4%"]
    real = cards["熊本市 交通安全施策の効果検証"]
    assert real.select_one(".badge.nature").text == "実データ"
    assert "前回の値なし" in real.text and real.select_one("svg.spark")["data-points"] == "1"
    assert real.select_one(".kpi-value").get_text() == "1,293件"
    # internal: in its own section, marked, and its KPI values are nowhere on the page
    internal = soup.select_one("section#internal")
    (ic,) = internal.select("article.card")
    assert ic["data-nature"] == "internal" and ic.select_one(".badge.internal").text == "庁内限り"
    assert not ic.select("li.kpi") and "19.5" not in page
    assert not ic.select("img") and ic.select_one(".thumb-none").text == "図は報告書を参照"   # no internal figure
    assert all("庁内限り" not in c.text for c in soup.select("section.index-city:not([id^=internal]) article.card"))
    assert kpi.read(layout.register_path, audience="internal")["value"].tolist()[2] == 19.5   # kept, flagged
    # headings name places, never files; the page is Japanese and self-contained
    assert [h.get_text() for h in soup.select("section.index-city > h2")] == [
        "熊本市（43100）", "足立区（13121）", "富山市（16201）"]
    assert not soup.select("script[src], link[href], img[src^=http], iframe")
    assert "default-src 'none'" in soup.select_one("meta[http-equiv=Content-Security-Policy]")["content"]
    # every theme's KPI definitions are listed (name, unit, formula, source, direction of good)
    defs = soup.select_one("#kpi-definitions")
    assert len(defs.select("details")) == len(kpi.list_themes())
    assert "覚知から現場到着までの時間の平均" in defs.text and "低いほど良い" in defs.text
    # filters offer what the cards hold
    assert [o.text for o in soup.select("#f-nature option")] == [
        "すべての種別", "実データ", "合成データ", "実データ＋合成データ", "庁内限り"]
    assert [o["value"] for o in soup.select("#f-city option")] == ["", "43100", "13121", "16201"]


def test_the_thumbnail_is_the_key_figure_else_the_first(tmp_path):
    nb = executed_nb({"x": "1"}, figures={"fig-a": _png(400, 100, (1, 2, 3)), "fig-b": _png(1000, 800, (200, 0, 0))})
    out = write_thumbnail(nb, "fig-b", tmp_path / "b.png")
    assert Image.open(out).size == (360, 288) and Image.open(out).convert("RGB").getpixel((5, 5)) == (200, 0, 0)
    out = write_thumbnail(nb, "fig-missing", tmp_path / "a.png")
    assert Image.open(out).convert("RGB").getpixel((5, 5)) == (1, 2, 3)
    assert write_thumbnail(executed_nb({"x": "1"}), "fig-a", tmp_path / "none.png") is None


def test_a_profile_names_the_owning_section_per_notebook(tmp_path):
    from ebpm_analysis.pipeline import cities
    d = tmp_path / "cities"
    d.mkdir()
    (d / "43202.yml").write_text('code: "43202"\nnotebooks:\n  04_emergency_demand:\n'
                                 'department:\n  04_emergency_demand: 消防本部 警防課\n', encoding="utf-8")
    prof = cities.profile("43202", d)
    assert prof.department_for("04_emergency_demand") == "消防本部 警防課"
    assert prof.department_for("02_dental_checkups") == ""
    layout = Layout(reports_dir=tmp_path / "r", build_dir=tmp_path / "b")
    st = build_run(layout, "04_emergency_demand--43202", "04_emergency_demand", "43202", "八代市",
                   emergency_nb("八代市", 7_598, 10.3, 45.1), finished="2026-11-30T10:00:00+09:00",
                   params={"end_date": "2024-12-31"}, profile=prof)
    assert st["department"] == "消防本部 警防課" and st["theme"] == "救急・消防" and st["as_of"] == "2024-12-31"
    # a run's own department parameter comes first; without profile or parameter, the notebook's generic role
    st = build_run(layout, "04_emergency_demand--43202", "04_emergency_demand", "43202", "八代市",
                   emergency_nb("八代市", 7_598, 10.3, 45.1), finished="2026-11-30T11:00:00+09:00",
                   params={"end_date": "2024-12-31", "department": "消防本部 救急課"}, profile=prof)
    assert st["department"] == "消防本部 救急課"
    st = build_run(layout, "04_emergency_demand--43203", "04_emergency_demand", "43203", "人吉市",
                   emergency_nb("人吉市", 1_598, 10.3, 45.1), finished="2026-11-30T11:00:00+09:00",
                   params={"end_date": "2024-12-31"})
    assert st["department"] == "消防局 救急担当課（想定）"
    (d / "43202.yml").write_text('code: "43202"\ndepartment: {99_nothing: x}\n', encoding="utf-8")
    with pytest.raises(Exception, match="department names unknown notebooks"):
        cities.profile("43202", d)


def test_custom_runs_are_labelled_and_kept_off_the_configured_cards(tmp_path):
    layout = Layout(reports_dir=tmp_path / "r", build_dir=tmp_path / "b")
    e = {"end_date": "2024-12-31"}
    build_run(layout, "04_emergency_demand", "04_emergency_demand", "43100", "熊本市",
              emergency_nb("熊本市", 44_500, 10.6, 38.0), finished="2026-11-30T10:00:00+09:00", params=e,
              title="熊本市 救急出動需要の分析")
    build_run(layout, "04_emergency_demand--custom-0a1b2c3d", "04_emergency_demand", "43100", "熊本市",
              emergency_nb("熊本市", 44_500, 10.6, 52.0), finished="2026-11-30T10:30:00+09:00",
              params=e | {"coverage_min": 10}, title="熊本市 救急出動需要の分析（試算）")
    write_index(layout)
    soup = BeautifulSoup((layout.reports_dir / "index.html").read_text(encoding="utf-8"), "html.parser")
    configured = soup.select("section.index-city:not([id^=custom]) article.card")
    assert [c.select_one("h3").get_text(strip=True) for c in configured] == ["熊本市 救急出動需要の分析"]
    assert not configured[0].select(".badge.custom")
    (card,) = soup.select("section#custom article.card")
    assert card.select_one(".badge.custom").text == "設定外の条件による試算"
    assert "設定外の条件による試算 1 件" in soup.text


# --- the browser ------------------------------------------------------------------------------------------

def _browser_paths() -> tuple[str, str] | None:
    chromium = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)),
                    None)
    driver = shutil.which("chromedriver")
    return (chromium, driver) if chromium and driver else None


@pytest.fixture(scope="module")
def browser():
    found = _browser_paths()
    if found is None:
        pytest.skip("headless Chromium and its driver are not installed "
                    "(Debian/Ubuntu: apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = found[0]
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1600"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(found[1]), options=opts)
    yield driver
    driver.quit()


def _visible(driver) -> list[str]:
    return [c.find_element("css selector", "h3").text for c in driver.find_elements("css selector", "article.card")
            if c.is_displayed()]


def test_filters_and_search_in_a_real_browser_and_nothing_loaded_from_outside(fixture_build, browser):
    from selenium.webdriver.support.ui import Select
    index = fixture_build.reports_dir / "index.html"
    browser.get_log("performance")   # drop what earlier pages logged
    browser.get(index.as_uri())
    count = browser.find_element("id", "f-count")
    assert count.text == "5 / 5 件を表示" and len(_visible(browser)) == 5
    theme = Select(browser.find_element("id", "f-theme"))
    theme.select_by_visible_text("救急・消防")
    assert _visible(browser) == ["熊本市 救急出動需要の分析"] and count.text == "1 / 5 件を表示"
    theme.select_by_index(0)
    Select(browser.find_element("id", "f-city")).select_by_value("13121")
    assert _visible(browser) == ["足立区 園児歯科健診の分析"]
    assert not browser.find_element("id", "city-43100").is_displayed()   # a section without a shown card hides
    Select(browser.find_element("id", "f-city")).select_by_index(0)
    nature = Select(browser.find_element("id", "f-nature"))
    nature.select_by_value("internal")
    assert _visible(browser) == ["【庁内限り】熊本市 園児歯科健診の分析"]
    nature.select_by_value("real")
    assert _visible(browser) == ["熊本市 交通安全施策の効果検証"]
    nature.select_by_index(0)
    q = browser.find_element("id", "f-q")
    q.send_keys("歯科")
    assert sorted(_visible(browser)) == ["【庁内限り】熊本市 園児歯科健診の分析", "足立区 園児歯科健診の分析"]
    q.clear()
    q.send_keys("現着")        # a KPI's name: the emergency card
    assert _visible(browser) == ["熊本市 救急出動需要の分析"]
    q.clear()
    q.send_keys("該当しない言葉")
    assert _visible(browser) == [] and browser.find_element("id", "f-none").is_displayed()
    q.clear()
    q.send_keys(" ")
    assert len(_visible(browser)) == 5
    # the page asked for nothing but itself and its embedded images; it fits 1280 px
    urls = []
    for entry in browser.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    assert urls and all(u.startswith(("file:", "data:")) for u in urls), urls
    resources = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert all(u.startswith(("file:", "data:")) for u in resources), resources
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 1280
    assert browser.execute_script("return document.querySelectorAll('img.thumb').length") == 2
    assert browser.execute_script(
        "return [...document.querySelectorAll('img.thumb')].every(i => i.complete && i.naturalWidth > 0)")


def test_wide_tables_fit_the_report_column_at_1280_px(tmp_path, browser, monkeypatch):
    """Issue 14: no table scrolls sideways at 1280 px. 00's catalog had an 11-column table of long IDs, names and
    lists (1,065 px in the 954-px column) and a 36-column one (2,811 px); a report's table cells now wrap long
    words, numbers stay on one line."""
    import pandas as pd

    from ebpm_analysis import report
    from ebpm_analysis.pipeline.render import content_width_px, render_nbconvert
    shown = []
    monkeypatch.setattr(report, "display", lambda bundle, raw=True: shown.append(bundle))
    ids = [f"census-commuting-estat-{k}-national-boundaries-n03" for k in range(4)]
    wide = pd.DataFrame({"ID": ids, "名称": ["従業上の地位・従業地別 15歳以上就業者数 市・区別"] * 4,
                         "形式（文字コード）": ["csv-headerless（utf-8）"] * 4, "列数": [1_234_567] * 4,
                         "利用するノートブック": ["00_data_catalog,01_census_commuting,02_dental_checkups"] * 4,
                         **{f"L{k}-0{k} 数値セルに単位・記号・注記を入れない": ["warning"] * 4 for k in range(1, 7)}})
    report.table(wide, "幅の広い表")
    report.searchable_table(wide, "wide", "検索できる幅の広い表")
    cells = [nbformat.v4.new_code_cell("report.table(x)", outputs=[
        nbformat.v4.new_output("display_data", data={"text/html": b["text/html"]})]) for b in shown]
    nb_path = tmp_path / "wide.ipynb"
    heads = [nbformat.v4.new_markdown_cell(f"## 節{k}") for k in range(3)]   # a page with its table of contents
    nbformat.write(nbformat.v4.new_notebook(cells=[*heads, *cells]), nb_path)
    page = render_nbconvert(nb_path, tmp_path / "wide.html")
    browser.set_window_size(1280, 1600)
    browser.get(page.as_uri())
    sizes = browser.execute_script(
        "const main = document.querySelector('.ebpm-main');"
        "return [main.clientWidth, Array.from(document.querySelectorAll('table')).map(t => "
        "[t.getBoundingClientRect().width, t.parentElement.scrollWidth, t.parentElement.clientWidth])];")
    column, tables = sizes
    # the figure text check assumes no wider a column than the browser gives (its scroll bar: 15 px here, 17 on Windows)
    assert content_width_px() <= column <= 954 and len(tables) == 2
    for width, scroll, client in tables:
        assert width <= column and scroll <= client, sizes
    # the number is on one line (its cell as high as one line of text)
    one_line = browser.execute_script("const td = document.querySelector('td.ebpm-num');"
                                      "return [td.textContent, td.getClientRects().length, "
                                      "td.scrollWidth <= td.clientWidth];")
    assert one_line == ["1,234,567", 1, True]


def test_a_failed_build_check_shows_its_first_line_shortened(tmp_path):
    """A build check's message quotes only the report's own text: its first line is on the card (240 characters
    at most); the card of a failed cell names the cell and the error class only (test above)."""
    layout = Layout(reports_dir=tmp_path / "r", build_dir=tmp_path / "b")
    layout.status_dir.mkdir(parents=True)
    stem = "05_school_routes"
    line = "SmallFigureText: 1 figure(s) have text under 9 pt as the page shows them " + "x" * 300
    fm = {"title": "{{city_name}} 通学路", "subtitle": "測位記録による分析 — {{data_label}}"}   # a run refused early
    execute._write_status(layout.status_dir / f"{stem}.json", stem, stem, "default", fm, "failed",
                          f"{stem}: rendering failed ({line})", None, None, city="43100",
                          summary="レポートの作成で SmallFigureText", log="build/failed/05_school_routes.ipynb",
                          error_line=line + "\n2行目")
    st = json.loads((layout.status_dir / f"{stem}.json").read_text(encoding="utf-8"))
    assert st["error_line"] == line[:240] + "…" and st["log"] == "build/failed/05_school_routes.ipynb"
    write_index(layout)
    card = _cards(layout)["通学路"]
    what = {d.select_one("dt").text: d.select_one("dd").text for d in card.select(".err-facts div")}
    assert what["エラー"].startswith("SmallFigureText: 1 figure(s) have text under 9 pt") and "2行目" not in card.text
    assert what["条件"] == "既定のパラメータ・市区町村コード 43100" and "再実行" not in what
    assert "成功した回がないため報告書はありません" in card.text and "{{" not in card.text
    assert card.select_one(".badge.st").text == "失敗（報告書なし）"
    assert card.select_one(".sub").text == "測位記録による分析"


def test_a_kpi_without_a_value_shows_no_change_and_no_data_date():
    """船橋市's 03 card: 人身事故件数 データなし（本票を指定すると算出）, then 前回の値なし, データ時点 2021-12-31."""
    from ebpm_analysis.pipeline import index
    r = {"stem": "03_probe_slowdowns--12204", "kpi_run_id": "r1", "kpis": [
        {"kpi_id": "accidents", "name": "人身事故件数（直近の年）", "value": None, "unit": "件", "good": "down",
         "value_text": "データなし（本票を指定すると算出）", "as_of": "2021-12-31", "headline": True},
        {"kpi_id": "slow", "name": "低速記録の割合", "value": 6.6, "unit": "%", "good": "down", "decimals": 1,
         "as_of": "2025-10-31", "headline": True}]}
    items = index._kpi_items(r, {})
    none, slow = items.split('<li class="kpi"')[1:]
    assert "データなし（本票を指定すると算出）" in none
    assert "データ時点" not in none and "前回の値なし" not in none
    assert "データ時点 2025-10-31" in slow and "前回の値なし" in slow
