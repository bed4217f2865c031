"""The national sample: municipalities every notebook must run for, from their code alone.

A fixed list, each entry with the reason it is in. Together they cover every plane rectangular zone
that holds a municipality (I–XVII: the official table gives zones XVIII 沖ノ鳥島 and XIX 南鳥島 no
municipality of their own, both belong to 小笠原村, zone XIV), designated cities (the union of their
wards), a Tokyo special ward, remote islands, multi-part polygons, the smallest and the largest
municipality by area, and two 北海道 towns whose police area (方面) the bundled tables cannot decide.
``tests/national/test_national_generators.py`` runs every generator for every city of the list in process:
the official zone is the city's projection, and everything generated lies inside the city.

Through the CLI (:func:`cli_runs`), each notebook 00–06 runs for three or four of these cities at small sizes,
chosen for what the notebook does with a city (``ASSIGNMENT`` says why each pair is there). A pair is there for
a kind of municipality the notebook has not met in another run of ``make test``: its default run and nbval
(熊本市, a designated city with 5 wards), the configured reports (test_national_configured_*: 豊中市, 八代市,
足立区 (a Tokyo ward), 船橋市, 富山市, 仙台市 (a designated city), 滋賀県 (a prefecture)) and the other pairs.
The plane zone alone is not such a kind: every notebook takes its projection from ``geo.projection(code)``,
which the generator test checks for every city, so a city whose only new fact for a notebook was its zone runs
no notebook (``NO_CLI_RUN`` says which kind of another pair stands for it). Until 2026-11-30 every city ran one
notebook (35 runs, ~490 of the ~1,870 worker-seconds of make test); the pairs that repeated a kind for their
notebook (a second mainland city, island or 方面 town) were dropped.

07_policy_evaluation is not in the sample: its police records are a required real input (only 熊本県 and
富山県 are bundled).
"""

from __future__ import annotations

# code: (expected official plane zone, reason)
CITIES: dict[str, tuple[int, str]] = {
    "42209": (1, "対馬市: zone I, eight island parts"),
    "46222": (1, "奄美市: zone I (鹿児島県's islands), two separate parts (名瀬・住用 and 笠利)"),
    "40130": (2, "福岡市: zone II, designated city (7 wards)"),
    "46213": (2, "西之表市: zone II, 種子島, two parts"),
    "32528": (3, "隠岐の島町: zone III, remote island"),
    "38201": (4, "松山市: zone IV, eleven parts (islands of 中島)"),
    "39201": (4, "高知市: zone IV, mainland"),
    "28100": (5, "神戸市: zone V, designated city (9 wards)"),
    "31201": (5, "鳥取市: zone V, mainland"),
    "30427": (6, "北山村: zone VI, 和歌山県's exclave between 三重県 and 奈良県"),
    "24201": (6, "津市: zone VI, mainland"),
    "16321": (7, "舟橋村: zone VII, the smallest municipality by area (3.4 km²)"),
    "21203": (7, "高山市: zone VII, the largest municipality by area (2,178 km²)"),
    "15224": (8, "佐渡市: zone VIII, remote island"),
    "20201": (8, "長野市: zone VIII, mainland"),
    "13101": (9, "千代田区: zone IX, Tokyo special ward"),
    "13362": (9, "利島村: zone IX, 伊豆諸島, 4 km² island"),
    "14130": (9, "川崎市: zone IX, designated city (7 wards)"),
    "05201": (10, "秋田市: zone X"),
    "01202": (11, "函館市: zone XI"),
    "01395": (11, "ニセコ町: zone XI, 後志: police area (方面) not derivable from the bundled tables"),
    "01100": (12, "札幌市: zone XII, designated city (10 wards)"),
    "01423": (12, "南幌町: zone XII, 空知: police area (方面) not derivable from the bundled tables"),
    "01206": (13, "釧路市: zone XIII, two separate parts (釧路・阿寒 and 音別)"),
    "13421": (14, "小笠原村: zone XIV, remote islands over 18° of longitude (a fitted conic, not the zone)"),
    "47201": (15, "那覇市: zone XV"),
    "47356": (15, "渡名喜村: zone XV, 3.4 km² in two island parts"),
    "47382": (16, "与那国町: zone XVI, the westernmost municipality"),
    "47207": (16, "石垣市: zone XVI, seven parts"),
    "47357": (17, "南大東村: zone XVII, remote island"),
    "09206": (9, "日光市: zone IX, one of the largest municipalities (1,449 km²)"),
    "46201": (2, "鹿児島市: zone II, several parts (桜島 and islets)"),
}

#: Notebooks that run for any city (every real input optional); 07 needs its prefecture's police file.
NOTEBOOKS = ("00_data_catalog", "01_census_commuting", "02_dental_checkups", "03_probe_slowdowns",
             "04_emergency_demand", "05_school_routes", "06_counter_congestion")

#: Small sizes per notebook: the same code paths as the defaults on fewer generated rows.
SMALL: dict[str, dict[str, object]] = {
    "00_data_catalog": {},
    "01_census_commuting": {"n_employed": 8000},
    "02_dental_checkups": {"n_facilities": 24, "n_children": 2000, "permutations": 99},
    "03_probe_slowdowns": {"n_rows": 30000},
    "04_emergency_demand": {"start_date": "2022-01-01", "end_date": "2024-12-31", "n_districts": 16,
                            "backtest_origins": ["2024-01-01"], "use_sarimax": False, "des_days": 30,
                            "n_candidates": 8, "add_sites": 1, "placement_cell_m": 3000, "density_cell_m": 2000},
    "05_school_routes": {"n_schools": 2, "children_per_school": 40, "n_days": 2},
    "06_counter_congestion": {"start_date": "2024-04-01", "end_date": "2026-03-31"},
}

#: Which cities each notebook runs through the CLI, and why (what the notebook does with the city that no
#: other run of make test shows it).
ASSIGNMENT: dict[str, str] = {
    # 00 maps the city's area by part or ward (Quantiles with k = min(5, parts)) in the city's projection:
    # one part (k = 1) on a remote island, the fitted conic, and a designated city of 10 wards (熊本市 has 5)
    "00_data_catalog": "47382 13421 01100",
    # 01 tabulates districts and hides small cells (interval protection): islands in 8 parts, a Tokyo ward
    # (all employed commute in the same ward or out), an exclave village and a remote island of few districts.
    # 01's designated-city path runs for 熊本市 (test_run_all, nbval); 札幌市 at the small size of 8,000 employed
    # gives a sparse table whose interval protection takes ~30 CPU-s (~9 s at its real size), so it runs 00
    "01_census_commuting": "42209 13101 30427 47357",
    # 02 maps facilities and wards, Gi* over facility points: a designated city of 7 wards, islands over 18° of
    # longitude (fitted conic), a city in two separate parts, the smallest municipality (few facilities)
    "02_dental_checkups": "40130 13421 01206 16321",
    # 03 bins probe data into meshes and reads the police file of the city's prefecture: a 北海道 town whose
    # 方面 the bundled tables cannot decide (the report says what it cannot show), a designated city of 9 wards,
    # an island city in seven parts
    "03_probe_slowdowns": "01395 28100 47207",
    # 04 fits district rates and places ambulances on a grid: the westernmost town (a rank-deficient forecast was
    # found here), a city whose islands are 11 parts, the largest municipality (the placement grid's extent).
    # Designated cities: 熊本市 (default) and 仙台市 (configured)
    "04_emergency_demand": "47382 38201 21203",
    # 05 reads pedestrian accidents from the police file and tests off-route segments: a 北海道 town whose 方面
    # the tables cannot decide, a city in two separate parts, a 4 km² island (power with ~6 segments was found
    # wanting here), the 3.4 km² village in two island parts
    "05_school_routes": "01423 46222 13362 47356",
    # 06 is a prefecture's counter with the nearest JMA normals: 沖縄県 (那覇市), a Tokyo ward (東京都's
    # office), the second largest municipality (日光市, mountain normals). The prefecture itself: 滋賀県
    # (configured)
    "06_counter_congestion": "47201 13101 09206",
}

#: Cities of the list that run no notebook through the CLI, and the pair that stands for their kind
#: (the generator test still runs every generator for them).
NO_CLI_RUN: dict[str, str] = {
    "46213": "two parts on an island: 01206 (02), 46222 (05)",
    "32528": "remote island: 13362 (05), 47357 (01)",
    "31201": "mainland city: 熊本市 and the configured cities",
    "24201": "mainland city: 熊本市 and the configured cities",
    "39201": "mainland city: 熊本市 and the configured cities",
    "20201": "mainland city: 熊本市 and the configured cities",
    "05201": "mainland city: 熊本市 and the configured cities",
    "01202": "北海道 city: 01395 (03), 01423 (05)",
    "15224": "remote island: 47207 (03), 13362 (05)",
    "14130": "designated city: 01100 (00), 40130 (02), 28100 (03); 04 runs 熊本市 and 仙台市",
    "46201": "several parts: 38201 (04), 47207 (03)",
}

#: Pairs that do not pass yet (listed in /work/wt/NOTES.md with the cause); they join CLI_RUNS when fixed.
PENDING: set[tuple[str, str]] = set()


def cli_runs() -> list[tuple[str, str]]:
    """(notebook, code) pairs run through the CLI, in a stable order."""
    pairs = [(nb, code) for nb, codes in ASSIGNMENT.items() for code in codes.split()]
    return [p for p in pairs if p not in PENDING]


def override_args(notebook: str) -> list[str]:
    """``-p key=value`` arguments for the notebook's small sizes (strings raw, other values as YAML/JSON)."""
    import json
    out = []
    for k, v in SMALL[notebook].items():
        out += ["-p", f"{k}={v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)}"]
    return out


# ----------------------------------------------------------------------------------- configured reports
#: Configured reports (notebook, variant, city code; None = the default city) whose prose does not pass
#: yet (listed in /work/wt/NOTES.md); they join the check as their notebooks are fixed.
CONFIGURED_PENDING: set[tuple[str, str, str | None]] = set()


def size_args(notebook: str) -> list[str]:
    """The small sizes of :data:`SMALL` without inputs (``*_path``) or figures (``population_total``), for
    configured reports: their real inputs and figures stay as configured; sizes never change the prose."""
    keep = {k: v for k, v in SMALL.get(notebook, {}).items() if not k.endswith("_path") and k != "population_total"}
    import json
    out = []
    for k, v in keep.items():
        out += ["-p", f"{k}={v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)}"]
    return out


def configured_runs() -> list[tuple[str, str, str | None]]:
    """Every configured report but the default parameter sets (tests/notebooks/test_run_all.py builds
    those and checks their prose): each city profile × its notebooks, and the other parameter sets."""
    from ebpm_analysis.pipeline.execute import build_plan
    runs = [r for r in build_plan() if r[2] is not None or r[1] != "default"]
    return [r for r in runs if r not in CONFIGURED_PENDING]

#: Default reports (熊本市) whose prose check does not pass yet (tests/notebooks/test_run_all.py checks the others).
DEFAULTS_PENDING: set[str] = set()
