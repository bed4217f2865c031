"""The national sample through the CLI, part 1 of 3 (three files so that two pytest workers share them):
each (notebook, city) pair of national_sample.cli_runs() at small sizes; the run succeeds and the
report is about its own city (national_checks.check_report)."""

import pytest

import national_checks
import national_sample as ns

pytestmark = [pytest.mark.national, pytest.mark.notebooks]

PAIRS = ns.cli_runs()[0::3]


@pytest.mark.parametrize(("notebook", "code"), PAIRS)
def test_runs_for_the_city(notebook, code, tmp_path):
    html, record = national_checks.run_report(notebook, tmp_path, city=code, args=ns.override_args(notebook))
    assert national_checks.report_city(record) == code
    national_checks.check_report(notebook, code, html)


def test_every_city_of_the_sample_runs_a_notebook_or_says_which_pair_stands_for_it():
    runs = {code for _, code in ns.cli_runs()} | {code for _, code in ns.PENDING}
    assert runs <= set(ns.CITIES)
    assert set(ns.NO_CLI_RUN) <= set(ns.CITIES) and not runs & set(ns.NO_CLI_RUN)
    assert runs | set(ns.NO_CLI_RUN) == set(ns.CITIES)
    assert all(ns.NO_CLI_RUN.values())
    assert {nb for nb, _ in ns.cli_runs()} == set(ns.NOTEBOOKS)
