"""Every notebook with three bad inputs given by parameter (issue 15): exit 2, a one-paragraph message naming the
parameter or file, the previous report unchanged and the index marking the report failed.

Cheap by design: a wrong city code and a missing input file fail in parameter validation, before a kernel starts;
an HTML page given as the input file fails at the notebook's first reader, before any heavy work.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ebpm_analysis import cli
from ebpm_analysis.errors import ParameterError
from ebpm_analysis.pipeline import execute
from ebpm_analysis.pipeline import params as P

pytestmark = pytest.mark.notebooks

HTML = "<!DOCTYPE html>\n<html><head><title>エラー</title></head><body>ログインしてください</body></html>\n"

#: The inputs of each notebook set to the bad file ("{f}": a file, "{d}": a folder holding it) — every input that
#: must come together with the first one, so that the first reader meets the bad file.
INPUTS = {
    "00_data_catalog": {"catalog_dir": "{d}"},
    "01_census_commuting": {"microdata_path": "{f}.csv", "boundaries_path": "{f}.geojson"},
    "02_dental_checkups": {"checkups_path": "{f}.csv", "facilities_path": "{f}.csv"},
    "03_probe_slowdowns": {"probe_positions_dir": "{d}", "probe_events_dir": "{d}"},
    "04_emergency_demand": {k: "{f}." + ext for k, ext in (
        ("dispatch_log_path", "csv"), ("hourly_counts_path", "csv"), ("stations_path", "csv"),
        ("district_population_path", "csv"), ("districts_path", "geojson"), ("weather_path", "csv"))},
    "05_school_routes": {"fixes_path": "{f}.csv", "schools_path": "{f}.csv", "crossings_path": "{f}.csv",
                         "routes_path": "{f}.geojson"},
    "06_counter_congestion": {"log_path": "{f}.csv", "weather_path": "{f}.csv", "expiry_path": "{f}.csv"},
    "07_policy_evaluation": {"accidents_path": "{f}.csv"},
}
#: What the message must name for the HTML case (the first reader's file or complaint).
HTML_WORDS = {"00_data_catalog": "page.yml", "03_probe_slowdowns": "not a ZIP",
              "01_census_commuting": "page.geojson: not a readable vector file",
              "04_emergency_demand": "page.geojson: not a readable vector file"}


def _bad_files(folder: Path) -> tuple[Path, Path]:
    d = folder / "bad"
    d.mkdir()
    for ext in ("csv", "geojson", "yml", "zip"):
        (d / f"page.{ext}").write_text(HTML, encoding="utf-8")
    return d / "page", d


def _stem(name: str, overrides: list[str]) -> str:
    try:
        return execute.resolve_run(name, overrides=overrides)["stem"]
    except ParameterError as e:
        return e.stem


CASES = [(name, case) for name in P.list_notebooks() for case in ("city_code", "missing_file", "html_page")]


@pytest.mark.parametrize("name,case", CASES, ids=[f"{n}-{c}" for n, c in CASES])
def test_a_bad_input_stops_the_run_with_one_paragraph_and_keeps_the_previous_report(name, case, tmp_path, capsys):
    f, d = _bad_files(tmp_path)
    inputs = {k: v.format(f=f, d=d) for k, v in INPUTS[name].items()}
    first = next(iter(inputs))
    if case == "city_code":
        overrides, words = ["city_code=4310"], ["parameter 'city_code'", "'4310'"]
    elif case == "missing_file":
        missing = str(tmp_path / "no-such-file.csv")
        overrides, words = [f"{first}={missing}"], [f"parameter '{first}'", "no-such-file.csv", "does not exist"]
    else:
        overrides = [f"{k}={v}" for k, v in inputs.items()]
        words = [HTML_WORDS.get(name, "HTML")]
    out = tmp_path / "out"
    stem = _stem(name, overrides)
    previous = out / f"{stem}.html"
    out.mkdir()
    previous.write_bytes(b"<html>the previous report</html>")

    assert cli.main(["run", name, *(x for o in overrides for x in ("-p", o)), "--out-dir", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    paragraph = err.splitlines()[-1]
    assert paragraph.startswith("ebpm: error:") and "Traceback" not in err, err
    assert all(w in paragraph for w in words), f"{words} not in: {paragraph}"
    assert previous.read_bytes() == b"<html>the previous report</html>"
    status = json.loads((out / "_build" / "status" / f"{stem}.json").read_text(encoding="utf-8"))
    assert status["status"] == "failed" and status["error_summary"]
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "失敗" in index and "ログインしてください" not in index
