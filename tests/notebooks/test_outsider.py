"""Hidden small counts stay hidden from an outsider who has the public exports (issue 12, Must show).

The default dental run's exports are checked in test_run_all (outsider.dental_*); here: the functions find
a planted leak (they can fail), and a small emergency run, where districts have fewer than 10 dispatches,
gives none of them back. Before the fix the same outsider recovered 32 facility counts and 4 tooth counts
from the default dental exports, and all 4 suppressed district counts of the small-town emergency run below."""

import numpy as np
import outsider  # tests/notebooks/outsider.py
import pandas as pd
import pytest

from ebpm_analysis import audit, cli

pytestmark = pytest.mark.notebooks

# 与那国町 (47382, 40 synthetic districts of ~1,700 people): with min_cell 20 four districts have 12–19 dispatches
SMALL_04 = ["--city", "47382", "-p", "start_date=2021-06-01", "-p", "end_date=2024-12-31",
            "-p", 'backtest_origins=["2024-01-01"]', "-p", "n_candidates=5", "-p", "add_sites=1", "-p", "des_days=30",
            "-p", "use_sarimax=false", "-p", "placement_cell_m=2000", "-p", "min_cell=20"]


def test_outsider_finds_planted_leaks(tmp_path):
    """The old exports' shape: adj_rate and expected without the count; share and present beside a hidden count."""
    pd.DataFrame({"age": [3, 4], "examined": [100, 100], "with_caries": [20, 30]}).to_csv(
        tmp_path / "prevalence_by_age.csv", index=False)
    p0 = 50 / 200
    pd.DataFrame({"facility_code": ["A", "B"], "examined": [40, 50], "expected": [10.0, 12.5],
                  "adj_rate": [7 / 10.0 * p0, 20 / 12.5 * p0]}).to_csv(tmp_path / "facility_rates.csv", index=False)
    pd.DataFrame({"age": [3, 3], "tooth": [51, 52], "present": [640, 500], "carious": [np.nan, 40],
                  "share": [100 * 9 / 640, 8.0]}).to_csv(tmp_path / "tooth_shares.csv", index=False)
    pd.DataFrame({"district_code": ["D1", "D2"], "population": [1000, 3000], "dispatches": [np.nan, 450.0],
                  "rate_per_1000": [1000 * 7 / 3 / 1000, 50.0]}).to_csv(tmp_path / "district_rates.csv", index=False)
    assert outsider.dental_facilities(tmp_path) == [("A", 7)]
    assert outsider.dental_teeth(tmp_path) == [(3, 51, 9)]
    assert outsider.emergency_districts(tmp_path) == [("D1", 7)]


def test_small_town_emergency_run_hides_small_district_counts(tmp_path):
    exports = tmp_path / "exports"
    assert cli.main(["run", "04_emergency_demand", "--out-dir", str(tmp_path), *SMALL_04,
                     "-p", f"output_dir={exports}"]) == 0
    rates = pd.read_csv(exports / "district_rates.csv", encoding="utf-8-sig")
    hidden = rates["dispatches"].isna()
    # main before the fix exported these four counts hidden but their rates published: the outsider got back
    # [('47382-D05', 12), ('47382-D10', 13), ('47382-D14', 12), ('47382-D18', 19)]
    assert hidden.sum() >= 3, "the run should have districts under min_cell dispatches (else this test proves nothing)"
    assert rates.loc[hidden, ["rate_per_1000", "rate_lo", "rate_hi"]].isna().all().all()
    assert outsider.emergency_districts(exports, min_cell=20) == []
    run = next((tmp_path / "_build" / "executed").glob("04_emergency_demand--47382*.ipynb"))
    res = audit.audit_run(run, reports_dir=tmp_path)
    assert res.violations == [], "\n".join(v.line() for v in res.violations)
