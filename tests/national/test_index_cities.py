"""reports/index.html lists each report under the city it was built for: the default city first, the
model cities (with a profile in notebooks/cities) each in their own section."""

import json

import pytest
from bs4 import BeautifulSoup

from ebpm_analysis.pipeline import cities
from ebpm_analysis.pipeline.execute import Layout
from ebpm_analysis.pipeline.index import write_index

pytestmark = pytest.mark.national


def _status(layout, stem, notebook, city, city_name, status="ok"):
    layout.status_dir.mkdir(parents=True, exist_ok=True)
    rec = {"stem": stem, "notebook": notebook, "variant": "default", "city": city, "city_name": city_name,
           "title": f"{city_name} {notebook}", "subtitle": "", "status": status, "error": "",
           "run_at": "2026-11-29T23:00:00+00:00", "data_nature": "synthetic", "seconds": 12.0}
    (layout.status_dir / f"{stem}.json").write_text(json.dumps(rec, ensure_ascii=False), encoding="utf-8")
    (layout.reports_dir / f"{stem}.html").write_text("<html></html>", encoding="utf-8")


def test_index_lists_each_report_under_its_city(tmp_path):
    layout = Layout(reports_dir=tmp_path, build_dir=tmp_path / "_build")
    profile = cities.list_profiles()[0]   # a configured model city
    _status(layout, f"03_probe_slowdowns--{profile.code}", "03_probe_slowdowns", profile.code, profile.name)
    _status(layout, "03_probe_slowdowns", "03_probe_slowdowns", "43100", "熊本市")
    _status(layout, "01_census_commuting", "01_census_commuting", "43100", "熊本市")
    _status(layout, "04_emergency_demand--47382--custom-0123abcd", "04_emergency_demand", "47382", "与那国町",
            status="failed")
    soup = BeautifulSoup(write_index(layout).read_text(encoding="utf-8"), "html.parser")
    sections = soup.select("section.index-city")
    ids = [s["id"] for s in sections]
    assert ids[0] == "city-43100", "the default city comes first"
    # a run with -p parameters (…--custom-<hash>) is listed apart, after the configured reports (issue 14)
    assert ids == ["city-43100", f"city-{profile.code}", "custom-city-47382"]
    assert soup.select_one("section#custom #custom-city-47382") is not None
    links = {s["id"]: sorted(a["href"] for a in s.select("a.report-link")) for s in sections}
    assert links["city-43100"] == ["01_census_commuting.html", "03_probe_slowdowns.html"]
    assert links[f"city-{profile.code}"] == [f"03_probe_slowdowns--{profile.code}.html"]
    model = soup.select_one(f"#city-{profile.code} h2").get_text()
    # the heading names the city; no file path (issue 14: readers are department heads, not developers)
    assert model == f"{profile.name}（{profile.code}）"
    assert all("/" not in h.get_text() and ".yml" not in h.get_text() for h in soup.select("h1, h2, h3"))
    assert "失敗" in soup.select_one("#custom-city-47382").get_text()
