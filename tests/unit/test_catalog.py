"""The data catalog validates files against entries and reports (never skips) mismatches."""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from ebpm_analysis import geo
from ebpm_analysis.errors import InputFileError
from ebpm_analysis.io import catalog

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def real_entries():
    return [e for e in catalog.load_catalog() if e["nature"] == "real"]


def test_bundled_real_data_match_their_entries(real_entries):
    f = catalog.check_entries(real_entries, set(geo.load_areas()["code"]))
    assert len(real_entries) >= 7
    assert f[f.level == "error"].empty, f[f.level == "error"].to_string()
    # Known properties of the real files are found:
    acc = f[f.dataset == "npa-accidents-kumamoto"]
    assert acc[(acc.rule == "L2-04") & (acc.level == "warning")]["message"].str.contains("整数型").any()
    assert f[(f.dataset == "kumamoto-city-hospitals") & (f.rule == "L3-09")]["level"].item() == "warning"
    assert f[(f.dataset == "boundaries-n03-2021-national") & (f.rule == "L3-06")]["level"].item() == "ok"
    ipss = f[(f.dataset == "ipss-projection-kumamoto-city") & (f.rule == "L1-09")]
    assert ipss["message"].str.contains("空欄 9").any()


def entry_for(tmp_path, text, enc="utf-8", **over):
    p = tmp_path / "d.csv"
    p.write_bytes(text.encode(enc))
    e = {"id": "t", "title": "t", "nature": "real", "source": "s", "licence": "l", "attribution": "a",
         "path": str(p), "format": "csv", "encoding": "utf-8", "header_rows": 1, "spatial_coverage": "x",
         "temporal_coverage": "y",
         "columns": [{"name": "code", "type": "area_code"}, {"name": "n", "type": "integer", "unit": "人"}]}
    e.update(over)
    return e


def levels(findings):
    return {(f.check, f.level) for f in findings}


def test_mismatches_are_reported(tmp_path):
    codes = {"43101", "43102"}
    ok = catalog.validate_entry(entry_for(tmp_path, "code,n\n43101,5\n43102,0\n"), codes)
    assert all(f.level in ("ok", "info") for f in ok)
    bad = catalog.validate_entry(entry_for(tmp_path, "code,count\n43101,5\n"), codes)
    assert ("列", "error") in levels(bad) and ("列", "warning") in levels(bad)
    units = catalog.validate_entry(entry_for(tmp_path, "code,n\n43101,5人\n"), codes)
    assert ("数値に単位・記号", "error") in levels(units)
    area = catalog.validate_entry(entry_for(tmp_path, "code,n\n43199,5\n"), codes)
    assert ("標準地域コード", "error") in levels(area)
    enc = catalog.validate_entry(entry_for(tmp_path, "code,n\n43101,5\n", enc="cp932") | {"columns": [
        {"name": "code", "type": "code"}, {"name": "n", "type": "integer"}]}, codes)
    assert ("文字コード", "ok") in levels(enc)  # ASCII-only is valid in both
    sj = catalog.validate_entry(entry_for(tmp_path, "code,区\n43101,中央区\n", enc="cp932"), codes)
    assert ("文字コード", "error") in levels(sj)
    bom = catalog.validate_entry(entry_for(tmp_path, "code,n\n43101,5\n", enc="utf-8-sig"), codes)
    assert ("文字コード", "warning") in levels(bom)
    blank = catalog.validate_entry(entry_for(tmp_path, "code,n\n43101,\n43102,0\n"), codes)
    assert any(f.rule == "L1-09" and "空欄 1 / 0 は 1" in f.message for f in blank)
    rows = catalog.validate_entry(entry_for(tmp_path, "code,n\n43101,1\n", rows=5), codes)
    assert ("行数", "error") in levels(rows)


def test_missing_real_file_is_an_error_and_synthetic_is_info(tmp_path):
    e = entry_for(tmp_path, "code,n\n") | {"path": str(tmp_path / "none.csv")}
    assert [f.level for f in catalog.validate_entry(e)] == ["error"]
    assert [f.level for f in catalog.validate_entry(e | {"nature": "synthetic"})] == ["info"]


def test_malformed_entry_is_rejected(tmp_path):
    shutil.copy(ROOT / "data/catalog/kumamoto-fire-ems.yml", tmp_path / "a.yml")
    (tmp_path / "b.yml").write_text(yaml.safe_dump({"id": "x", "title": "y"}), encoding="utf-8")
    with pytest.raises(InputFileError, match="b.yml.*lacks nature"):
        catalog.load_catalog(tmp_path)


def test_export(tmp_path, real_entries):
    f = catalog.check_entries(real_entries)
    files = catalog.export_catalog(real_entries, f, tmp_path)
    cols = pd.read_csv(files["columns_csv"], encoding="utf-8-sig", dtype=str)
    assert files["columns_csv"].read_bytes().startswith(b"\xef\xbb\xbf")
    assert len(cols) == sum(len(e["columns"]) for e in real_entries)
    assert "地点　緯度（北緯）" in set(cols["name"])
    data = json.loads(files["json"].read_text(encoding="utf-8"))
    assert {d["id"] for d in data} == {e["id"] for e in real_entries}


def test_validate_catalog_result(real_entries, tmp_path):
    """cases.catalog.validate_catalog: the numbers 00's report shows, from the same findings."""
    from ebpm_analysis.cases.catalog import CatalogResult, validate_catalog
    from ebpm_analysis.plots.catalog import status_chart

    res = validate_catalog(real_entries, area_codes=set(geo.load_areas()["code"]))
    assert isinstance(res, CatalogResult) and res.n_datasets == len(real_entries) == res.n_real
    assert res.n_synthetic == 0 and res.n_errors == 0
    assert res.n_warnings == int((res.by_dataset["status"] == "warning").sum()) >= 3
    assert res.n_not_generated == 0 and res.n_checked + res.n_format_unchecked == res.n_datasets
    assert res.n_matching == res.n_checked and res.n_described <= res.n_datasets
    l201 = res.findings[(res.findings.rule == "L2-01") & (res.findings.level != "ok")]["dataset"].nunique()
    assert res.n_clean("L2-01") == res.n_checked - l201 < res.n_checked
    lines = res.problems()
    assert len(lines) == res.n_warnings and all("利用上の注意" in x for x in lines)
    assert any(x.startswith("熊本市 病院一覧") and "横持ち" in x for x in lines)
    assert set(res.details()["区分"]) <= {"不一致", "注意", "参考"} and len(res.details()) > 0   # words, not codes
    assert set(res.by_rule.drop(columns="データセット").stack()) <= {"適合", "参考", "注意", "不一致", "—"}
    assert res.by_rule.columns[0] == "データセット" and 0 < len(res.by_rule) <= res.findings["dataset"].nunique()
    assert "L2-01 数値セルに単位・記号・注記を入れない" in res.by_rule.columns
    assert res.by_rule.set_index("データセット").shape[1] <= len(catalog.RULES)
    # a mismatching entry becomes an error line naming the dataset
    bad = dict(real_entries[0], id="broken", title="壊れた目録", path=str(tmp_path / "none.csv"))
    res2 = validate_catalog([bad])
    assert res2.n_errors == 1 and res2.problems()[0].startswith("**壊れた目録**：目録と一致しません")
    fig = status_chart(res.by_dataset, source="test")
    assert len(fig.axes[0].patches) == 4 * res.n_datasets


def test_datasets_not_checked_are_not_counted_as_matching(real_entries, tmp_path):
    """Issue 13: the catalog said 「33/33（100%）目録どおり」 while 25 files had never been generated or
    checked. A synthetic entry whose file is not generated, and a zip entry, are neither matching nor
    clean; the report says how many were not checked and why."""
    from ebpm_analysis.cases.catalog import validate_catalog

    csv_entry = next(e for e in real_entries if e["format"] == "csv")
    missing = dict(csv_entry, id="synth_missing", title="未生成の合成", nature="synthetic",
                   path=str(tmp_path / "not_yet.csv"))
    zipped = dict(csv_entry, id="zipped", title="ZIP", format="zip")
    res = validate_catalog([csv_entry, missing, zipped])
    assert res.checked_status.to_dict() == {csv_entry["id"]: "checked", "synth_missing": "not_generated",
                                            "zipped": "format"}
    assert (res.n_checked, res.n_not_generated, res.n_format_unchecked) == (1, 1, 1)
    assert res.n_matching == 1 and res.n_errors == 0          # before: 3 (every dataset without an error)
    assert res.n_clean("L2-01") <= 1
    assert res.coverage_line() == (
        "全3件のうち照合できたのは1件です。未検証は、合成データで未生成のもの 1件（該当ノートブックの"
        "実行後に次回の一覧作成で検証）、列の自動検証の対象外の形式 1件（zip・json・見出しなし CSV："
        "各ローダーのテストで検証）です。未検証のものは「目録どおり」に数えていません。")
    assert validate_catalog([csv_entry]).coverage_line() is None


def test_generated_data_sets_are_looked_for_where_their_generator_writes():
    """A synthetic entry's path is under data/interim/<notebook>/synthetic/ of a notebook that uses it (where
    synth.* write by default): the catalog once looked in data/interim/synthetic/…, never found the emergency,
    school-route and counter sets, and listed them as not generated."""
    from ebpm_analysis.io import catalog as ic
    wrong = []
    for e in ic.load_catalog():
        parts = e["path"].split("/")
        if parts[:2] == ["data", "interim"]:
            if not (parts[2] in e.get("used_by", []) and parts[3] == "synthetic"):
                wrong.append((e["id"], e["path"]))
    assert not wrong, wrong


def test_problem_lines_shorten_at_item_boundaries_and_count_the_rest():
    from ebpm_analysis.cases.catalog import _shorten
    msg = ("数値セルに記号・注記が混在: snow_fall（記号 ---、9 セル）; snow_deepest（記号 ---、9 セル）; "
           "cloud_cover（記号 @、13 セル）")
    assert _shorten(msg, 200) == msg
    out = _shorten(msg, 60)
    assert out == "数値セルに記号・注記が混在: snow_fall（記号 ---、9 セル）; ほか2件"
    assert _shorten("一つの長い項目" * 20, 10) == "一つの長い項目" * 20   # never cut inside an item
