"""docs/sources.md, the sources and assumptions log: every citation resolves, every entry is complete
and cited, and no file of the repository cites the research notes it replaced."""

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
SOURCES = ROOT / "docs" / "sources.md"
# Where code, reports and data descriptions cite the log.
CITING = ["src", "notebooks", "tests", "data/catalog", "data/raw", "README.md", "benchmarks"]
TEXT_SUFFIXES = {".py", ".ipynb", ".md", ".yml", ".yaml", ".txt", ".toml", ".cfg", ".css", ".html", ".js", ".csv"}
# the file name followed by one anchor, or by several separated by ", " or " and " (#fdma-national, #kumamoto-ems)
CITATION = re.compile(r"docs/sources\.md((?:#[a-z0-9-]+)(?:(?:,\s*|\s+and\s+)#[a-z0-9-]+)*)")
ANCHOR = re.compile(r'<a id="([a-z0-9-]+)"></a>')
LEVELS = ("verified", "plausible", "assumption")
# The internal research notes were cited by this name; spelled in two parts so that this file
# does not match itself.
OLD_NOTES = "FAC" + "TS"


def _tracked_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the list of tracked files is unknown")
    return [ROOT / p for p in out.decode().split("\0") if p]


def _citing_files() -> list[Path]:
    files = []
    for name in CITING:
        p = ROOT / name
        files += [p] if p.is_file() else [f for f in p.rglob("*") if f.is_file() and f.suffix in TEXT_SUFFIXES]
    return files


def _entries() -> dict[str, str]:
    """anchor → text of its entry (up to the next anchor or section heading)."""
    text = SOURCES.read_text(encoding="utf-8")
    marks = list(ANCHOR.finditer(text))
    out = {}
    for m, nxt in zip(marks, marks[1:] + [None], strict=True):
        body = text[m.end(): nxt.start() if nxt else len(text)]
        out[m.group(1)] = re.split(r"\n## ", body)[0]
    return out


def _citations() -> dict[str, set[str]]:
    """anchor → files citing it."""
    cited: dict[str, set[str]] = {}
    for f in _citing_files():
        text = f.read_text(encoding="utf-8", errors="replace")
        for m in CITATION.finditer(text):
            for anchor in re.findall(r"#([a-z0-9-]+)", m.group(1)):
                cited.setdefault(anchor, set()).add(str(f.relative_to(ROOT)))
    return cited


def test_no_file_cites_the_old_research_notes():
    hits = []
    for f in _tracked_files():
        if f.is_file() and OLD_NOTES.encode() in f.read_bytes():
            hits.append(str(f.relative_to(ROOT)))
    assert not hits, f"{OLD_NOTES!r} appears in {hits}; cite an entry of docs/sources.md instead"


def test_anchors_are_unique():
    anchors = ANCHOR.findall(SOURCES.read_text(encoding="utf-8"))
    dupes = sorted({a for a in anchors if anchors.count(a) > 1})
    assert not dupes, f"anchors defined twice in docs/sources.md: {dupes}"
    assert len(anchors) >= 20


def test_every_cited_anchor_exists():
    entries = _entries()
    cited = _citations()
    assert len(cited) >= 20, f"only {len(cited)} anchors cited; is the citation pattern still right?"
    missing = {a: sorted(files) for a, files in cited.items() if a not in entries}
    assert not missing, f"cited but not in docs/sources.md: {missing}"


def test_every_entry_is_cited_and_complete():
    cited = _citations()
    for anchor, body in _entries().items():
        assert anchor in cited, f"docs/sources.md#{anchor} is cited nowhere: cite it where the fact is used, or drop it"
        for field in ("**Fact.**", "**Sources.**", "**Confidence.**", "**Used by.**"):
            assert field in body, f"docs/sources.md#{anchor} lacks {field}"
        confidence = body.split("**Confidence.**", 1)[1].split("\n- ", 1)[0]
        assert any(level in confidence for level in LEVELS), \
            f"docs/sources.md#{anchor}: confidence must say {', '.join(LEVELS)}"
