"""Hostile names through whole notebooks (issue 12, item 1): an office name given with -p (06) and
facility names in a facilities CSV (02) end up in the report as text only, and in the exports as
text that no spreadsheet runs. Two small runs; the helper-level corpus is in tests/unit/test_escaping.py."""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

import pandas as pd
import pytest

from ebpm_analysis import cli

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from test_escaping import HOSTILE, assert_inert, scan  # noqa: E402

pytestmark = pytest.mark.notebooks


def _check_page(page: str) -> None:
    for doc in scan(page).srcdocs:  # maps (sandboxed iframes): no name reaches them raw
        assert "alert(" not in doc
    body = re.sub(r'<iframe class="ebpm-map".*?</iframe>', "", page, flags=re.S)
    b = assert_inert(body.replace("<meta ", "<x-meta "), allowed_tags={"script", "body"})
    assert not [x for x in b.scripts if "alert(" in x]


def _check_csvs(folder: Path) -> int:
    n = 0
    for f in folder.rglob("*.csv"):
        with open(f, encoding="utf-8-sig", newline="") as fh:
            for row in csv.reader(fh):
                for cell in row:
                    n += 1
                    assert not cell.startswith(("=", "@", "\t", "\r")), (f.name, cell)
                    if cell.startswith(("+", "-")):
                        float(cell.rstrip("%").replace(",", ""))  # only signed numbers may start so
    return n


def test_office_name_parameter_is_text(tmp_path):
    name = "<script>alert(1)</script><img src=x onerror=alert(2)>[x](javascript:alert(3))"
    out = tmp_path / "exports"
    rc = cli.main(["run", "06_counter_congestion", "--out-dir", str(tmp_path), "-p", f"office_name={name}",
                   "-p", "start_date=2024-04-01", "-p", "end_date=2025-03-31", "-p", "plan_fiscal_year=2025",
                   "-p", f"output_dir={out}"])
    assert rc == 0
    page = next(tmp_path.glob("06_counter_congestion--custom-*.html")).read_text(encoding="utf-8")
    _check_page(page)
    shown_as_text = "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;"
    assert page.count(shown_as_text) >= 2  # the banner and the provenance table
    assert _check_csvs(out) > 0


def test_facility_names_from_a_csv_are_text(tmp_path):
    from ebpm_analysis.synth import dental as synth

    src = synth.ensure_dental(2026, city_code="43100", out_dir=tmp_path / "gen", n_facilities=40, n_children=3000)
    fac = pd.read_csv(src / "facilities.csv", encoding="cp932", dtype=str)
    names = [h for h in HOSTILE if "<" in h and "\t" not in h and "\r" not in h]
    fac["施設名"] = [names[i % len(names)] + f" {i}" for i in range(len(fac))]
    fac.to_csv(tmp_path / "facilities.csv", index=False, encoding="cp932", lineterminator="\r\n")
    out = tmp_path / "exports"
    rc = cli.main(["run", "02_dental_checkups", "--out-dir", str(tmp_path),
                   "-p", f"checkups_path={src / 'checkups.csv'}",
                   "-p", f"facilities_path={tmp_path / 'facilities.csv'}",
                   "-p", "permutations=99", "-p", f"output_dir={out}"])
    assert rc == 0
    page = next(tmp_path.glob("02_dental_checkups--custom-*.html")).read_text(encoding="utf-8")
    _check_page(page)
    text = " ".join(" ".join(scan(page).text).split())
    shown = [n for n in fac["施設名"] if " ".join(n.split()) in text]
    assert shown, "the hostile facility names should appear in the report, as text"
    assert _check_csvs(out) > 0
