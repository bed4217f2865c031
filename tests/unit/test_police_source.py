"""Which police file (本票) a run reads for a city: none, the bundled file of its prefecture, or a given one."""

from __future__ import annotations

import pytest

from ebpm_analysis.errors import ParameterError
from ebpm_analysis.io import npa_accidents as na


def test_bundled_files_by_police_code():
    files = na.bundled_files()
    assert set(files) == {"93", "50"}                      # 熊本, 富山
    assert files["50"].name == "npa_accidents_2019-2021_pref50_toyama.gpkg"


def test_auto_takes_the_city_prefecture_file():
    s = na.police_source("auto", "16201")
    assert s.path == na.bundled_files()["50"] and s.police.pref_code == "50"
    assert s.police.municipality_codes == ("201",) and s.missing == ""
    assert na.police_source("auto", "43202").path == na.bundled_files()["93"]


def test_no_file_for_the_prefecture_or_none_asked():
    s = na.police_source("auto", "12204")
    assert s.path is None and s.police is None and "千葉県の本票ファイル" in s.missing
    s = na.police_source("", "16201")
    assert s.path is None and "ファイルは指定されていません" in s.missing


def test_undecided_hokkaido_town_runs_without_police_records():
    # ニセコ町: the bundled tables cannot decide its 方面, which matters only when a file is read
    s = na.police_source("auto", "01395")
    assert s.path is None and "北海道" in s.missing
    with pytest.raises(ParameterError, match="accident_pref_code"):
        na.police_source("data/raw/npa-accidents-toyama/npa_accidents_2019-2021_pref50_toyama.gpkg", "01395")
    s = na.police_source("auto", "01395", pref_code="11")   # 函館方面, given: still no bundled file
    assert s.path is None and "警察の都道府県コード 11" in s.missing


def test_a_given_file_must_exist():
    with pytest.raises(ParameterError, match="accidents_path.*not found"):
        na.police_source("data/raw/none.gpkg", "16201")
