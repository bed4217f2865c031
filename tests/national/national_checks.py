"""One notebook run through the CLI for one city, and the checks every such report must pass."""

from __future__ import annotations

import json
import re
from pathlib import Path

from bs4 import BeautifulSoup

from ebpm_analysis import cli, geo

import prose_check

#: 00_data_catalog lists every bundled dataset by its own title, coverage and findings (tables and the
#: findings list): dataset metadata, like attribution lines. Its prose and coverage map are checked.
SKIP_TAGS = {"00_data_catalog": ("td", "th", "li")}
#: Reports whose title names a body other than the city: the catalog (project-wide) and the counter
#: (a prefectural office: its title names the office, which names the prefecture).
TITLE_NAMES_PREFECTURE = {"06_counter_congestion"}
TITLE_WITHOUT_CITY = {"00_data_catalog"}


def run_report(notebook: str, out_dir: Path, *, city: str | None = None, args: list[str] = ()) -> tuple[str, dict]:
    """Run ``ebpm run notebook [--city city] args --out-dir out_dir``; return the report's HTML and its
    status record. Fails the test when the run fails."""
    argv = ["run", notebook, *(["--city", city] if city else []), *args, "--out-dir", str(out_dir)]
    rc = cli.main(argv)
    status_files = sorted((out_dir / "_build" / "status").glob(f"{notebook}*.json"))
    records = [json.loads(f.read_text(encoding="utf-8")) for f in status_files]
    errors = [r.get("error") for r in records if r.get("status") != "ok"]
    assert rc == 0, f"ebpm {' '.join(argv)} exited {rc}: {errors}"
    assert len(records) == 1 and records[0]["status"] == "ok", records
    report = out_dir / f"{records[0]['stem']}.html"
    return report.read_text(encoding="utf-8"), records[0]


def check_report(notebook: str, code: str, html: str) -> None:
    """The report is about city ``code``: it names the city (in the title), shows no traceback, and
    names no other configured city nor cites another city's figure (see prose_check)."""
    ref = geo.resolve_city(code)
    assert "Traceback (most recent call last)" not in html
    soup = BeautifulSoup(html, "html.parser")
    title = " ".join(t.get_text(" ") for t in soup.select("h1.title, title"))
    if notebook in TITLE_WITHOUT_CITY:
        assert ref.name in soup.get_text(), f"{notebook} for {code}: the city's name {ref.name} is nowhere"
    elif notebook in TITLE_NAMES_PREFECTURE:
        assert ref.name in title or ref.pref_name in title, \
            f"title {title!r} names neither {ref.name} nor {ref.pref_name}"
    else:
        assert ref.name in title, f"title {title!r} does not name {ref.name}"
    found = prose_check.foreign_mentions(html, code, skip_tags=SKIP_TAGS.get(notebook, ()))
    assert not found, f"{notebook} for {code} {ref.name} names other cities:\n" + "\n".join(map(str, found))


def report_city(record: dict) -> str:
    """The city code a status record was built for (``city`` field, else the stem's ``--<code>``)."""
    if record.get("city"):
        return geo.resolve_city(record["city"]).code
    m = re.search(r"--(\d{5})", record["stem"])
    return m.group(1) if m else prose_check.DEFAULT_CITY
