"""`ebpm run 03_probe_slowdowns -p engine=spark` builds the same report as the default DuckDB engine (issue 16):
every exported table, the KPIs and the tables of the report are equal; only the sentence naming the engine differs.
Small delivery (n_rows, min_cell lowered so that the tables are not empty) to keep it cheap."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from ebpm_analysis import cli
from ebpm_analysis.engines import frames_equal

import baseline  # tests/notebooks/baseline.py

pytestmark = pytest.mark.notebooks

NB = "03_probe_slowdowns"
SMALL = ["-p", "n_rows=50000", "-p", "min_cell=3"]


def _cells(html: str, cls: str) -> list[str]:
    return re.findall(rf'<div class="{cls}">(.*?)</div>', html)


def _table_text(html: str) -> list[str]:
    """Cells of the report's tables before the provenance section (which names the engine and the times)."""
    body = html.rsplit("来歴（Provenance）", 1)[0]
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", body, flags=re.S)]


def test_spark_engine_builds_the_same_report(tmp_path):
    html, exports = {}, {}
    for engine in ("duckdb", "spark"):
        out = tmp_path / engine
        exports[engine] = out / "exports"
        assert cli.main(["run", NB, "--out-dir", str(out), *SMALL, "-p", f"engine={engine}",
                         "-p", f"output_dir={exports[engine]}"]) == 0
        (page,) = out.glob(f"{NB}--custom-*.html")
        html[engine] = page.read_text(encoding="utf-8")
    # each report says in words where it was aggregated (the versions are in its provenance section)
    assert "この計算機の組み込み分析データベースで集計" in html["duckdb"] and "分散処理基盤で集計" not in html["duckdb"]
    assert "分散処理基盤で集計" in html["spark"] and "組み込み分析データベースで集計" not in html["spark"]
    names = sorted(p.name for p in exports["duckdb"].glob("*.csv"))
    assert names == sorted(p.name for p in exports["spark"].glob("*.csv"))
    assert {"spots_ranked.csv", "braking_by_mesh.csv"} <= set(names)
    for name in names:
        a = baseline._read((exports["duckdb"] / name).read_bytes())
        b = baseline._read((exports["spark"] / name).read_bytes())
        assert len(a) > 0, name
        assert baseline.compare_table(a, b, name) == []
    a = pd.read_parquet(exports["duckdb"] / "congestion_mesh_day_hour.parquet")
    b = pd.read_parquet(exports["spark"] / "congestion_mesh_day_hour.parquet")
    assert len(a) > 100 and frames_equal(a, b, ["mesh", "day_type", "hour"]) == []
    for cls in ("ebpm-kpi-value", "ebpm-kpi-label"):
        assert _cells(html["duckdb"], cls) == _cells(html["spark"], cls) != []
    assert _table_text(html["duckdb"]) == _table_text(html["spark"]) != []
