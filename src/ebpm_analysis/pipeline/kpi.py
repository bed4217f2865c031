"""KPIs of the reports: their definitions, their capture from an executed notebook, and the KPI register.

**Definitions** live in one place per notebook, ``notebooks/kpis/<notebook>.yml``::

    theme: 救急・消防                 # the dashboard's theme (filter and card heading)
    department: 消防局 救急担当課      # 担当課 when the city profile names none (a role, not a real section name)
    key_figure: fig-hourly            # the figure shown small on the dashboard card (label of a figure cell)
    as_of: {parameter: end_date}      # the data's as-of date: a parameter (date, YYYY-MM, year or list of
                                      # years), {date: "2020-10-01"}, or none (= the run's date)
    kpis:
      - id: dispatches_year           # unique within the notebook; the register's id is <notebook>.<id>;
                                      # a new id when the method changes (the trend starts again)
        labels: ['.+ \\d{4}年の救急出動']   # how the report labels it (regular expressions, whole label)
        name: 救急出動件数（直近の暦年）
        unit: 件
        formula: 直近の暦年に覚知した救急出動の件数
        source: 救急出動記録（指令システム）
        good: down                    # direction of good: up | down | none
        headline: true                # shown on the dashboard card
        value: '→(?P<v>[\\d.]+)'       # optional: where the number is in the shown text (default: the first)
        as_of: {parameter: trend_years}   # optional: this KPI's own as-of rule ({year_of: end_month}: 31 Dec
                                      # of that parameter's year, for a count of the whole year)
        cell: {table: '出動率', column: 件数, where: {地区: 合計}}   # optional: the table cell it comes from
                                      # (caption regex, column, rows by regex; agg: value|sum|max|min|count|mean
                                      # (weight: column)|ratio (sum of column ÷ sum of denominator: column))
        prose: ['出動は(?P<v>[\\d,]+)件']  # optional: where the prose quotes it (group v); checked equal

**Capture.** A notebook shows its KPIs with ``report.kpis`` (tiles; their data travel in the executed notebook
under :data:`ebpm_analysis.report.TABLE_MIME` with caption ``KPI``) and ``report.logic_model`` (rows under
:data:`ebpm_analysis.report.KPI_MIME`). :func:`capture` reads them back from the executed notebook and matches
each label with the definitions; the notebook never writes to the register itself.

**Register.** :func:`append` adds a successful run's KPIs to ``data/processed/kpi_register.sqlite``. SQLite and
not DuckDB, although DuckDB is a dependency: the register is a few rows per run written by several processes at
once (``build-all --jobs 2``, a hand run beside ``make reports``). SQLite's own file lock lets a second writer
wait (``timeout``) and then append, and its journal rolls back a transaction a killed run left half done; a
DuckDB file admits one writing process and makes the second fail at once, so we would have to write a lock of
our own. SQLite is in the standard library and its file is readable by every tool a city hall has (DuckDB can
read it too). The table is append-only: triggers refuse UPDATE and DELETE.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import json
import re
import sqlite3
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .. import paths
from ..errors import EbpmError

GOOD = {"up": "高いほど良い", "down": "低いほど良い", "none": "方向なし（状況の把握）"}
THEME_KEYS = {"theme", "department", "key_figure", "as_of", "kpis"}
KPI_KEYS = {"id", "labels", "name", "unit", "formula", "source", "good", "headline", "value", "as_of", "cell", "prose"}
CELL_KEYS = {"table", "column", "where", "agg", "denominator", "weight"}
AGGS = {"value", "sum", "max", "min", "count", "mean", "ratio"}
REGISTER_NAME = "kpi_register.sqlite"
_NUMBER = re.compile(r"[-+−]?\d[\d,]*(?:\.\d+)?")
_ID = re.compile(r"^[a-z][a-z0-9_]*$")


def kpi_dir() -> Path:
    return paths.NOTEBOOKS_DIR / "kpis"


@dataclass(frozen=True)
class KpiDef:
    """One KPI of a notebook (see the module text for the fields)."""
    id: str
    name: str
    unit: str
    formula: str
    source: str
    good: str
    labels: tuple[re.Pattern, ...]
    headline: bool = False
    value: re.Pattern | None = None
    as_of: dict | None = None
    #: the table cell the value comes from (checked by :mod:`ebpm_analysis.pipeline.consistency`)
    cell: dict | None = None
    #: where the report's prose quotes the value (patterns with a group named v)
    prose: tuple[re.Pattern, ...] = ()

    def matches(self, label: str) -> bool:
        return any(p.fullmatch(label) for p in self.labels)

    def number_text(self, text: str) -> str | None:
        """The number as the report writes it (``"1,293"``, ``"+24"``, ``"11.0"``); None when it shows none."""
        if self.value is not None:
            m = self.value.search(text)
            return m.group("v") if m else None
        m = _NUMBER.search(text)
        return m.group(0) if m else None

    def parse(self, text: str) -> float | None:
        """The number in the shown value (``"1,293件"`` → 1293.0, ``"+24%"`` → 24.0); None when the report shows
        none (``"データなし"``, ``"—"``)."""
        s = self.number_text(text)
        return None if s is None else float(s.replace(",", "").replace("−", "-"))


@dataclass(frozen=True)
class Theme:
    """A notebook's KPI definitions and dashboard facts (``notebooks/kpis/<notebook>.yml``)."""
    notebook: str
    theme: str
    department: str
    key_figure: str
    as_of: dict | None
    kpis: tuple[KpiDef, ...] = field(default_factory=tuple)

    def find(self, label: str) -> KpiDef | None:
        return next((k for k in self.kpis if k.matches(label)), None)


def _as_of_rule(value, where: str) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict) or len(value) != 1 or not ({"parameter", "date", "year_of"} & set(value)):
        raise EbpmError(f"{where}: as_of must be {{parameter: NAME}}, {{year_of: NAME}} or {{date: YYYY-MM-DD}}, "
                        f"not {value!r}")
    return dict(value)


def _cell_rule(value, where: str) -> dict | None:
    if value is None:
        return None
    ok = isinstance(value, dict) and "table" in value and not set(value) - CELL_KEYS \
        and value.get("agg", "value") in AGGS and ("column" in value or value.get("agg") == "count") \
        and isinstance(value.get("where") or {}, dict) and (value.get("agg") == "ratio") == ("denominator" in value)
    if not ok:
        raise EbpmError(f"{where}: cell must be {{table: CAPTION REGEX, column: NAME, where: {{COLUMN: REGEX}}, "
                        f"agg: one of {sorted(AGGS)}}} (column optional for agg: count; denominator: NAME with agg: "
                        f"ratio only; weight: NAME for agg: mean), not {value!r}")
    try:
        re.compile(str(value["table"]))
        for rx in (value.get("where") or {}).values():
            re.compile(str(rx))
    except re.error as e:
        raise EbpmError(f"{where}: a pattern of cell is not a regular expression ({e})") from None
    return dict(value)


def load_theme(notebook: str, directory: Path | None = None) -> Theme | None:
    """The definitions of ``notebook`` (None when it has no file). A bad file is one EbpmError naming the file,
    the entry and what is expected."""
    import yaml
    path = (directory or kpi_dir()) / f"{notebook}.yml"
    if not path.exists():
        return None
    where = paths.relative(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise EbpmError(f"{where}: not valid YAML ({e})") from None
    stray = sorted(set(data) - THEME_KEYS)
    if stray:
        raise EbpmError(f"{where}: unknown keys {stray}; expected {sorted(THEME_KEYS)}")
    defs, seen = [], set()
    for i, k in enumerate(data.get("kpis") or []):
        at = f"{where}, kpis[{i}]"
        if not isinstance(k, dict):
            raise EbpmError(f"{at}: expected a mapping with {sorted(KPI_KEYS)}")
        stray = sorted(set(k) - KPI_KEYS)
        missing = sorted({"id", "labels", "name", "unit", "formula", "source", "good"} - set(k))
        if stray or missing:
            raise EbpmError(f"{at}: unknown keys {stray}, missing keys {missing}")
        kid = str(k["id"])
        if not _ID.match(kid) or kid in seen:
            raise EbpmError(f"{at}: id {kid!r} must be unique and lower-case letters, digits and _")
        seen.add(kid)
        if k["good"] not in GOOD:
            raise EbpmError(f"{at} ({kid}): good is {k['good']!r}; expected one of {sorted(GOOD)}")
        labels = k["labels"] if isinstance(k["labels"], list) else [k["labels"]]
        try:
            pats = tuple(re.compile(str(p)) for p in labels)
            value = re.compile(str(k["value"])) if k.get("value") else None
        except re.error as e:
            raise EbpmError(f"{at} ({kid}): a label or value pattern is not a regular expression ({e})") from None
        if value is not None and "v" not in value.groupindex:
            raise EbpmError(f"{at} ({kid}): value pattern needs a group named v, e.g. '→(?P<v>[\\d.]+)'")
        prose = k.get("prose") or []
        try:
            prose = tuple(re.compile(str(p)) for p in (prose if isinstance(prose, list) else [prose]))
        except re.error as e:
            raise EbpmError(f"{at} ({kid}): a prose pattern is not a regular expression ({e})") from None
        if any("v" not in p.groupindex for p in prose):
            raise EbpmError(f"{at} ({kid}): each prose pattern needs a group named v, e.g. '従業率は(?P<v>[\\d.]+)%'")
        defs.append(KpiDef(kid, str(k["name"]), str(k["unit"]), str(k["formula"]), str(k["source"]), k["good"],
                           pats, bool(k.get("headline", False)), value, _as_of_rule(k.get("as_of"), at),
                           _cell_rule(k.get("cell"), f"{at} ({kid})"), prose))
    return Theme(notebook, str(data.get("theme") or notebook), str(data.get("department") or ""),
                 str(data.get("key_figure") or ""), _as_of_rule(data.get("as_of"), where), tuple(defs))


def list_themes(directory: Path | None = None) -> list[Theme]:
    d = directory or kpi_dir()
    return [t for p in sorted(d.glob("*.yml")) if (t := load_theme(p.stem, d))]


# --- capture -------------------------------------------------------------------------------------------------

def shown_kpis(nb) -> list[tuple[str, str, str]]:
    """(label, value as shown, where) of every KPI the executed notebook shows: the ``report.kpis`` tiles
    (where = "tile") and the logic model's KPI rows (where = "logic"), in the order of the report."""
    from ..mime import KPI_MIME, TABLE_MIME
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            data = o.get("data", {})
            tab = data.get(TABLE_MIME)
            if tab and tab.get("caption") == "KPI" and tab.get("rows"):
                out += [(str(c), str(v), "tile") for c, v in zip(tab["columns"], tab["rows"][0], strict=True)]
            lm = data.get(KPI_MIME)
            if lm:
                out += [(str(r["label"]), str(r["value"]), "logic") for r in lm.get("kpis", [])]
    return out


def as_of_date(rule: dict | None, params: dict, run_date: str) -> str:
    """The data's as-of date (YYYY-MM-DD) by a definition's rule: a parameter holding a date, a month (its last
    day), a year or a list of years (31 December of the last); ``year_of``: 31 December of the year such a
    parameter falls in (a count of that whole year); a fixed date; or the run's date."""
    if not rule:
        return run_date[:10]
    if "date" in rule:
        return str(rule["date"])[:10]
    if "year_of" in rule:
        return as_of_date({"parameter": rule["year_of"]}, params, run_date)[:4] + "-12-31"
    name = rule["parameter"]
    if name not in params:
        raise EbpmError(f"as_of names parameter {name!r}, which the run does not have; "
                        f"expected one of {sorted(params)}")
    v = params[name]
    if isinstance(v, list) and v:
        v = max(v)
    s = str(v)
    if re.fullmatch(r"\d{4}", s):
        return f"{s}-12-31"
    if re.fullmatch(r"\d{4}-\d{2}", s):
        y, m = int(s[:4]), int(s[5:])
        return f"{s}-{calendar.monthrange(y, m)[1]:02d}"
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}.*", s):
        return s[:10]
    raise EbpmError(f"as_of parameter {name!r} is {v!r}; expected a date, YYYY-MM, a year or a list of years")


def capture(nb, theme: Theme, params: dict, run_date: str) -> tuple[list[dict], list[str]]:
    """The KPIs an executed notebook shows, matched with ``theme``'s definitions: one record per defined KPI
    (the first place it is shown; a logic-model row repeating a tile adds nothing), and the labels no
    definition matches."""
    got, undefined = {}, []
    for label, text, where in shown_kpis(nb):
        d = theme.find(label)
        if d is None:
            undefined.append(label)
            continue
        if d.id in got:
            continue
        num = d.number_text(text) or ""
        got[d.id] = {"kpi_id": f"{theme.notebook}.{d.id}", "name": d.name, "label": label, "value": d.parse(text),
                     "decimals": len(num.split(".", 1)[1]) if "." in num else 0,
                     "value_text": text, "unit": d.unit, "good": d.good, "headline": d.headline, "shown_in": where,
                     "as_of": as_of_date(d.as_of or theme.as_of, params, run_date)}
    order = [d.id for d in theme.kpis]
    return sorted(got.values(), key=lambda r: order.index(r["kpi_id"].split(".", 1)[1])), undefined


def params_hash(params: dict) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()[:16]


# --- register ------------------------------------------------------------------------------------------------

COLUMNS = ["run_id", "kpi_id", "name", "label", "value", "value_text", "unit", "good", "notebook", "stem",
           "variant", "city", "city_name", "as_of", "run_at", "git_commit", "git_dirty", "params_hash",
           "audience", "data_nature"]
_SCHEMA = """
CREATE TABLE IF NOT EXISTS kpi_values (
    run_id TEXT NOT NULL, kpi_id TEXT NOT NULL, name TEXT NOT NULL, label TEXT NOT NULL,
    value REAL, value_text TEXT NOT NULL, unit TEXT NOT NULL, good TEXT NOT NULL,
    notebook TEXT NOT NULL, stem TEXT NOT NULL, variant TEXT NOT NULL, city TEXT, city_name TEXT,
    as_of TEXT NOT NULL, run_at TEXT NOT NULL, git_commit TEXT, git_dirty INTEGER, params_hash TEXT NOT NULL,
    audience TEXT NOT NULL CHECK (audience IN ('public', 'internal')), data_nature TEXT,
    PRIMARY KEY (run_id, kpi_id));
CREATE INDEX IF NOT EXISTS kpi_values_by_kpi ON kpi_values (kpi_id, city, audience, run_at);
CREATE TRIGGER IF NOT EXISTS kpi_values_append_only_u BEFORE UPDATE ON kpi_values
    BEGIN SELECT RAISE(ABORT, 'the KPI register is append-only'); END;
CREATE TRIGGER IF NOT EXISTS kpi_values_append_only_d BEFORE DELETE ON kpi_values
    BEGIN SELECT RAISE(ABORT, 'the KPI register is append-only'); END;
"""


def register_path() -> Path:
    """The register of ``make reports`` and ``ebpm run``: ``data/processed/kpi_register.sqlite``."""
    return paths.PROCESSED_DIR / REGISTER_NAME


def _connect(path: Path, timeout: float) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    con.execute("PRAGMA busy_timeout = %d" % int(timeout * 1000))
    return con


def append(path: Path, run: dict, kpis: list[dict], *, timeout: float = 120.0) -> int:
    """Append one run's KPIs (``run``: run_id, notebook, stem, variant, city, city_name, run_at, git_commit,
    git_dirty, params_hash, audience, data_nature) in one transaction: all rows or none. A concurrent writer
    waits for the lock up to ``timeout`` seconds. Returns the number of rows added."""
    if not kpis:
        return 0
    rows = [tuple((run | k).get(c) for c in COLUMNS) for k in kpis]
    con = _connect(path, timeout)
    try:
        con.executescript(_SCHEMA)
        con.execute("BEGIN IMMEDIATE")
        try:
            con.executemany(f"INSERT INTO kpi_values ({', '.join(COLUMNS)}) VALUES "
                            f"({', '.join('?' * len(COLUMNS))})", rows)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.close()
    return len(rows)


def read(path: Path, *, notebook: str | None = None, city: str | None = None,
         audience: str | None = "public") -> pd.DataFrame:
    """The register's rows (oldest first), optionally of one notebook, city and audience (None: both)."""
    if not Path(path).exists():
        return pd.DataFrame(columns=COLUMNS)
    where, args = [], []
    for col, v in (("notebook", notebook), ("city", city), ("audience", audience)):
        if v is not None:
            where.append(f"{col} = ?")
            args.append(v)
    sql = f"SELECT {', '.join(COLUMNS)} FROM kpi_values" + (" WHERE " + " AND ".join(where) if where else "")
    con = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True, timeout=30)
    try:
        df = pd.read_sql_query(sql + " ORDER BY run_at, run_id, rowid", con, params=args)
    finally:
        con.close()
    return df


EXPORT_COLUMNS = {"kpi_id": "KPI ID", "name": "KPI", "value": "値", "unit": "単位", "city": "市区町村コード",
                  "city_name": "市区町村", "as_of": "データ時点", "run_at": "作成日時", "label": "報告書での表示",
                  "value_text": "報告書の値", "good": "良い方向", "notebook": "ノートブック", "stem": "報告書",
                  "audience": "公開区分", "data_nature": "データの種別", "git_commit": "コミット",
                  "params_hash": "パラメータのハッシュ", "run_id": "実行ID"}


def export(df: pd.DataFrame, out: Path) -> Path:
    """Write register rows to ``out``: ``.csv`` (UTF-8 with BOM, opens in Excel) or ``.xlsx``; Japanese column
    headers, the direction of good and the audience in words, text that could run as a formula neutralised."""
    from ..io.common import atomic_path, neutralise_formulas, write_csv
    frame = df[[c for c in EXPORT_COLUMNS if c in df.columns]].copy()
    frame["good"] = frame["good"].map(GOOD).fillna(frame["good"])
    frame["audience"] = frame["audience"].map({"public": "公開", "internal": "庁内限り"}).fillna(frame["audience"])
    frame = frame.rename(columns=EXPORT_COLUMNS)
    out = Path(out)
    if out.suffix.lower() == ".csv":
        return write_csv(frame, out)
    if out.suffix.lower() == ".xlsx":
        with atomic_path(out) as tmp:
            with pd.ExcelWriter(tmp, engine="openpyxl") as xw:
                neutralise_formulas(frame).to_excel(xw, sheet_name="KPI", index=False)
                sheet = xw.sheets["KPI"]
                sheet.freeze_panes = "A2"
                for col in sheet.columns:
                    sheet.column_dimensions[col[0].column_letter].width = min(
                        40, 4 + max(len(str(c.value or "")) for c in col))
        return out
    raise EbpmError(f"{out}: cannot export KPIs to {out.suffix or 'a file without a suffix'}; expected .csv or .xlsx")


def new_run_id() -> str:
    return uuid.uuid4().hex


def record_run(register: Path, nb, prov: dict, stem: str, directory: Path | None = None) -> dict:
    """Capture the KPIs of a successful run's executed notebook and append them to ``register``. Returns
    ``{"kpis": [...], "undefined": [...], "run_id": ...}`` for the run's status record (the dashboard's current
    values). ``directory``: where the definitions are (``kpis/`` beside the notebook). A notebook without
    definitions registers nothing."""
    theme = load_theme(prov["notebook"], directory)
    if theme is None:
        return {"kpis": [], "undefined": [], "run_id": None}
    finished = prov.get("finished") or dt.datetime.now().astimezone().isoformat(timespec="seconds")
    params = prov.get("parameters") or {}
    kpis, undefined = capture(nb, theme, params, finished)
    run = {"run_id": new_run_id(), "notebook": prov["notebook"], "stem": stem, "variant": prov.get("variant", ""),
           "city": prov.get("city") or "", "city_name": prov.get("city_name") or "", "run_at": finished,
           "git_commit": (prov.get("git") or {}).get("commit"), "git_dirty": (prov.get("git") or {}).get("dirty"),
           "params_hash": params_hash(prov.get("parameters") or {}), "audience": prov.get("audience") or "public",
           "data_nature": prov.get("data_nature") or ""}
    append(register, run, [{k: v for k, v in r.items() if k in COLUMNS} for r in kpis])
    return {"kpis": kpis, "undefined": undefined, "run_id": run["run_id"]}


def dashboard_facts(theme: Theme | None, params: dict, finished: str) -> dict:
    """What the dashboard card says of a run besides its KPIs: theme, key figure and the data's as-of date."""
    if theme is None:
        return {}
    try:
        as_of = as_of_date(theme.as_of, params, finished)
    except EbpmError:
        as_of = ""
    return {"theme": theme.theme, "key_figure": theme.key_figure, "as_of": as_of, "department": theme.department}


def latest(df: pd.DataFrame) -> pd.DataFrame:
    """The last registered value of each KPI of each report (``stem``) with the value before it, the change and
    the number of runs: one row per (stem, kpi_id), in register order."""
    if df.empty:
        return df.assign(previous=pd.Series(dtype=float), change=pd.Series(dtype=float), runs=pd.Series(dtype=int))
    g = df.groupby(["stem", "kpi_id"], sort=False)
    last = g.tail(1).copy()
    prev = g["value"].apply(lambda s: s.iloc[-2] if len(s) > 1 else float("nan"))
    last["previous"] = [prev[(s, k)] for s, k in zip(last["stem"], last["kpi_id"], strict=True)]
    last["change"] = last["value"] - last["previous"]
    counts = g.size()
    last["runs"] = [int(counts[(s, k)]) for s, k in zip(last["stem"], last["kpi_id"], strict=True)]
    return last.reset_index(drop=True)
