"""Configured reports, part 1 of 2: every city profile (notebooks/cities/*.yml) × the notebooks it lists,
and every non-default parameter set, built through the CLI at small sizes; each report is about its own
city (national_checks.check_report: its name in the title, no other configured city outside the
model-case reference and attribution lines, no other city's figures)."""

import pytest

import national_checks
import national_sample as ns

pytestmark = [pytest.mark.national, pytest.mark.notebooks]

RUNS = ns.configured_runs()[0::2]  # two files: two pytest workers share them


@pytest.mark.parametrize(("notebook", "variant", "code"), RUNS)
def test_configured_report_is_about_its_city(notebook, variant, code, tmp_path):
    args = (["--params", variant] if variant != "default" else []) + ns.size_args(notebook)
    html, record = national_checks.run_report(notebook, tmp_path, city=code, args=args)
    city = national_checks.report_city(record)
    assert city == (code or national_checks.prose_check.DEFAULT_CITY)
    national_checks.check_report(notebook, city, html)
