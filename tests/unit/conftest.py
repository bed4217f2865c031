"""Fixtures shared by several unit-test modules."""

import pytest

from ebpm_analysis import lookups
from ebpm_analysis.io import npa_accidents as na


@pytest.fixture(scope="module")
def kumamoto_accidents():
    """熊本市's real 本票 records, 2019–2021 (police codes derived from the city code, never typed)."""
    police = lookups.police_area("43100")
    return na.load_accidents(na.GPKG_FILE, pref_code=police.pref_code,
                             municipality_codes=list(police.municipality_codes))
