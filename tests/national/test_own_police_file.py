"""A city whose files are not in this repository runs from its police file and its code alone (issue 11).

高岡市 (16202) has no profile. Its prefecture's 本票, written as the published CSV into a folder outside the
repository, is the only input given: the police prefecture code, the 本票 municipality code, the boundary and
the projection are derived from 16202, never typed."""

import nbformat
import pytest

from ebpm_analysis import geo, lookups
from ebpm_analysis.io import npa_accidents as na

import national_checks
import national_sample as ns

pytestmark = [pytest.mark.national, pytest.mark.notebooks]

TOYAMA = "data/raw/npa-accidents-toyama/npa_accidents_2019-2021_pref50_toyama.gpkg"


def test_03_runs_from_a_police_csv_outside_the_repository_and_the_code(tmp_path):
    (tmp_path / "police").mkdir()
    csv = na.to_honhyo_csv(na.read_gpkg_raw(TOYAMA), tmp_path / "police" / "honhyo_2021.csv")   # cp932, CRLF
    out = tmp_path / "out"
    html, record = national_checks.run_report(
        "03_probe_slowdowns", out, city="16202",
        args=ns.override_args("03_probe_slowdowns") + ["-p", f"accidents_path={csv}"])
    national_checks.check_report("03_probe_slowdowns", "16202", html)
    prov = nbformat.read(out / "_build" / "executed" / f"{record['stem']}.ipynb", as_version=4).metadata["ebpm"]
    assert prov["parameters"]["accident_pref_code"] == ""            # nothing typed by hand
    assert set(prov["overrides"]) == set(ns.SMALL["03_probe_slowdowns"]) | {"accidents_path"}
    police = lookups.police_area("16202")
    assert (police.pref_code, police.municipality_codes) == ("50", ("202",))   # derived: 富山県警, 本票 202
    read = {e["path"]: e for e in prov["inputs"]}
    assert read["honhyo_2021.csv"]["nature"] == "real"                 # the file outside the repository was read
    assert prov["data_nature"] == "mixed"
    assert geo.plane_crs("16202") == "EPSG:6675"                       # 第VII系, chosen for the city
    assert "第VII系" in html or "EPSG:6675" in html                     # and stated in the report
