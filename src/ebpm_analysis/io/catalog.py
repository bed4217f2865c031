"""The data catalog (データ項目一覧): one YAML file per dataset in ``data/catalog/``.

:func:`load_catalog` reads and checks the entries' own shape; :func:`validate_entry` checks an
entry against its file(s): existence, encoding (and BOM), declared columns present, types
(codes kept as text, numbers without units), and checks modelled on the Digital Agency's
「行政データにおける機械可読性に関するルール」 (blank ≠ zero, numbers without units in cells,
standard area codes, long format). A mismatch is reported as a finding, never skipped.
"""

from __future__ import annotations

import glob
import re
import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from .. import paths
from ..errors import InputFileError
from ..provenance import record_input
from .common import _decodes

REQUIRED_KEYS = ("id", "title", "nature", "source", "licence", "attribution", "path", "format", "encoding",
                 "spatial_coverage", "temporal_coverage", "columns")
COLUMN_TYPES = {"code", "area_code", "string", "integer", "number", "date", "datetime", "category", "flag",
                "geometry"}
FORMATS = {"csv", "csv-headerless", "zip", "gpkg", "geojson", "topojson", "parquet", "json"}
ENCODINGS = {"utf-8", "utf-8-sig", "cp932", "binary"}
# Rules (IDs from digital-go-jp/machine_readability_rule) the checks below are modelled on.
RULES = {
    "L1-09": "空欄と0を区別する（blank ≠ zero）",
    "L2-01": "数値セルに単位・記号・注記を入れない",
    "L2-04": "選択肢はコードで統一する（コードは文字列で桁を保つ）",
    "L3-06": "地域は統計に用いる標準地域コードで表す",
    "L3-08": "文字コード（UTF-8/Shift_JIS、BOM の有無）を明示する",
    "L3-09": "縦持ち（long format）にする",
}


@dataclass
class Finding:
    dataset: str
    level: str  # ok | info | warning | error
    check: str
    rule: str
    message: str


def load_catalog(catalog_dir: str | Path | None = None) -> list[dict]:
    """All entries, sorted by id. Raises InputFileError for an entry missing required keys."""
    d = paths.resolve(catalog_dir) if catalog_dir else paths.CATALOG_DIR
    entries = []
    for f in sorted(d.glob("*.yml")):
        try:
            e = yaml.safe_load(f.read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            raise InputFileError(f, f"not valid YAML ({err})", expected="one catalog entry per file") from None
        if not isinstance(e, dict):
            raise InputFileError(f, "is not a mapping", expected="one catalog entry per file")
        missing = [k for k in REQUIRED_KEYS if k not in e]
        if missing:
            raise InputFileError(f, f"catalog entry lacks {', '.join(missing)}",
                                 expected=f"keys {', '.join(REQUIRED_KEYS)}")
        bad = [c.get("name") for c in e["columns"] if c.get("type") not in COLUMN_TYPES]
        if bad:
            raise InputFileError(f, f"columns {bad[:3]} have unknown types", expected=f"one of {sorted(COLUMN_TYPES)}")
        bad = [c.get("name") for c in e["columns"]
               if ("range" in c and (not isinstance(c["range"], list) or len(c["range"]) != 2))
               or c.get("check", "latlon") not in CHECKS]
        if bad:
            raise InputFileError(f, f"columns {bad[:3]} have a malformed rule",
                                 expected=f"range: [low, high] and check: one of {sorted(CHECKS)}")
        if e["format"] not in FORMATS or e["encoding"] not in ENCODINGS or e["nature"] not in ("real", "synthetic"):
            raise InputFileError(f, f"format/encoding/nature {e['format']!r}/{e['encoding']!r}/{e['nature']!r} "
                                    "not allowed",
                                 expected=f"format in {sorted(FORMATS)}, encoding in {sorted(ENCODINGS)}, "
                                          "nature real|synthetic")
        e["_file"] = paths.relative(f)
        entries.append(e)
    record_input(d, "real", dataset="catalog")
    return sorted(entries, key=lambda e: e["id"])


def resolve_files(entry: dict) -> list[Path]:
    pattern = str(paths.resolve(entry["path"]))
    return sorted(Path(p) for p in glob.glob(pattern))


def _read_table(entry: dict, path: Path) -> tuple[pd.DataFrame, dict]:
    """The file as text columns, plus storage facts (e.g. SQLite column types)."""
    fmt = entry["format"]
    facts: dict = {}
    if fmt == "csv":
        enc = "utf-8" if entry["encoding"] == "utf-8-sig" else entry["encoding"]
        skip = list(range(1, int(entry.get("header_rows", 1))))
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=enc, skiprows=skip)
        df.columns = [str(c).lstrip("\ufeff").strip() for c in df.columns]
    elif fmt == "gpkg":
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        layer = entry.get("layer") or con.execute("select table_name from gpkg_contents").fetchone()[0]
        facts["sql_types"] = {r[1]: (r[2] or "").upper() for r in con.execute(f'pragma table_info("{layer}")')}
        geom_cols = {r[0] for r in con.execute(
            "select column_name from gpkg_geometry_columns where table_name = ?", (layer,))}
        cols = ", ".join(f'"{c}"' for c in facts["sql_types"] if c not in geom_cols)
        df = pd.read_sql_query(f'select {cols} from "{layer}"', con).astype(str)
        for g in geom_cols:
            df[g] = "geometry"
        con.close()
    elif fmt in ("geojson", "topojson"):
        import geopandas as gpd
        g = gpd.read_file(path)
        props = g.drop(columns="geometry").astype(object).fillna("").astype(str)
        df = pd.DataFrame(props.replace({"None": "", "nan": ""}))
        df["geometry"] = g.geometry.geom_type
    elif fmt == "parquet":
        df = pd.read_parquet(path).astype(str)
    else:
        raise ValueError(fmt)
    return df, facts


def _wide_groups(columns: list[str]) -> list[str]:
    """Column families that look like a wide layout (e.g. 2019年, 2020年 … or 1月 … 12月)."""
    stems: dict[str, int] = {}
    for c in columns:
        m = re.match(r"^(.*?)(\d{1,4})(年|月|歳|年度)$", c) or re.match(r"^(.*?)((?:19|20)\d\d)$", c)
        if m:
            stem = m.group(1) or "<年>"
            stems[stem] = stems.get(stem, 0) + 1
    return [s for s, n in stems.items() if n >= 4]


class _Findings(list):
    """The findings of one dataset, in the order they are found."""

    def __init__(self, dataset: str):
        super().__init__()
        self.dataset = dataset

    def add(self, level: str, check: str, rule: str, message: str) -> None:
        self.append(Finding(self.dataset, level, check, rule, message))


@dataclass
class _ColumnIssues:
    """Per-column problems collected over all declared columns, reported one line per check."""

    units: list[str] = field(default_factory=list)        # numbers with undeclared units or symbols
    documented: list[str] = field(default_factory=list)   # numbers with symbols the catalog declares
    blanks: list[str] = field(default_factory=list)       # numeric columns with blank cells
    int_codes: list[str] = field(default_factory=list)    # codes stored as integers
    unpadded: list[str] = field(default_factory=list)     # codes of uneven length
    bad_area: list[str] = field(default_factory=list)     # values that are not 標準地域コード


def validate_entry(entry: dict, area_codes: set[str] | None = None) -> list[Finding]:
    """Check one catalog entry against its file(s)."""
    out = _Findings(entry["id"])
    path = _check_files(entry, out)
    if path is None or not _check_encoding(entry, path, out):
        return list(out)
    try:
        df, facts = _read_table(entry, path)
    except Exception as e:  # noqa: BLE001 - any read failure is a finding about this dataset
        out.add("error", "読み込み", "", f"{type(e).__name__}: {e}")
        return list(out)
    _check_rows_and_columns(entry, df, out)
    issues = _column_issues(entry, df, facts.get("sql_types", {}), area_codes, out)
    _report_column_issues(entry, issues, out)
    _check_long_format(entry, df, out)
    return list(out)


def _check_files(entry: dict, out: _Findings) -> Path | None:
    """The file to check (the newest match: generated sets of older generator versions may predate a column),
    or None when there is none or its format is not checked column by column."""
    files = resolve_files(entry)
    if not files:
        if entry["nature"] == "synthetic":
            out.add("info", "ファイル", "", f"未生成: {entry['path']}（該当ノートブックの実行時に生成されます）")
        else:
            out.add("error", "ファイル", "", f"ファイルがありません: {entry['path']}")
        return None
    path = max(files, key=lambda p: (p.stat().st_mtime, str(p)))
    out.add("ok", "ファイル", "", f"{len(files)} ファイル（検証対象: {paths.relative(path)}）")
    if entry["format"] in ("zip", "json", "csv-headerless"):
        out.add("info", "形式", "", f"{entry['format']} は列の自動検証の対象外（ケース別ローダーのテストで検証）")
        return None
    return path


def _check_encoding(entry: dict, path: Path, out: _Findings) -> bool:
    """Encoding and BOM as declared (L3-08); False when the file cannot be decoded at all."""
    enc = entry["encoding"]
    if enc == "binary":
        return True
    data = path.read_bytes()
    bom = data.startswith(b"\xef\xbb\xbf")
    dec = "utf-8" if enc == "utf-8-sig" else enc
    if not _decodes(data, dec):
        other = "cp932" if dec != "cp932" else "utf-8"
        hint = f"（{other} なら読める）" if _decodes(data, other) else ""
        out.add("error", "文字コード", "L3-08", f"{enc} として読めません{hint}")
        return False
    if enc == "utf-8" and bom:
        out.add("warning", "文字コード", "L3-08", "BOM 付き UTF-8 だが目録は utf-8（BOM なし）と記載")
    elif enc == "utf-8-sig" and not bom:
        out.add("warning", "文字コード", "L3-08", "目録は utf-8-sig（BOM 付き）だがファイルに BOM がない")
    else:
        out.add("ok", "文字コード", "L3-08", f"{enc}{'（BOM あり）' if bom else ''} として正しく読める")
    return True


def _check_rows_and_columns(entry: dict, df: pd.DataFrame, out: _Findings) -> None:
    """Row count (when declared) and the declared columns against the file's."""
    if "rows" in entry:
        level = "ok" if len(df) == int(entry["rows"]) else "error"
        out.add(level, "行数", "", f"{len(df):,} 行（目録: {int(entry['rows']):,} 行）")
    declared = [c["name"] for c in entry["columns"]]
    missing = [c for c in declared if c not in df.columns]
    extra = [c for c in df.columns if c not in declared]
    if missing:
        out.add("error", "列", "",
                f"目録にあってファイルにない列: {', '.join(missing[:8])}{' …' if len(missing) > 8 else ''}")
    if extra:
        out.add("warning", "列", "",
                f"ファイルにあって目録にない列: {', '.join(extra[:8])}{' …' if len(extra) > 8 else ''}")
    if not missing and not extra:
        out.add("ok", "列", "", f"{len(declared)} 列すべて一致")


def _column_issues(entry: dict, df: pd.DataFrame, sql_types: dict, area_codes: set[str] | None,
                   out: _Findings) -> _ColumnIssues:
    """Walk the declared columns once; flag columns with unexpected values are reported at once (L2-04)."""
    issues = _ColumnIssues()
    for col in entry["columns"]:
        name, typ = col["name"], col["type"]
        if name not in df.columns or typ == "geometry":
            continue
        s = df[name].astype(str).str.strip()
        s = s[~s.isin(["None", "nan"])]
        nonblank = s[s != ""]
        if typ in ("integer", "number"):
            _numeric_issues(col, s, nonblank, issues)
            if "range" in col:
                num = pd.to_numeric(nonblank.str.replace(",", "", regex=False), errors="coerce")
                lo, hi = (float(x) for x in col["range"])
                outside = num[(num < lo) | (num > hi)]
                if len(outside):
                    out.add("error", "妥当範囲", "", f"{name} に範囲 {col['range'][0]}–{col['range'][1]} の外の値 "
                                                   f"{len(outside)} セル（例: {outside.iloc[0]:g}）")
        if typ in ("code", "area_code"):
            if sql_types.get(name, "").startswith(("INT", "REAL", "MEDIUMINT")):
                issues.int_codes.append(name)
            lens = nonblank.str.len().value_counts()
            if len(lens) > 1 and nonblank.str.fullmatch(r"\d+").all() and not sql_types:
                issues.unpadded.append(f"{name}（桁数 {sorted(lens.index.tolist())}）")
        if typ == "area_code" and area_codes is not None:
            bad_codes = sorted(set(nonblank) - area_codes)
            if bad_codes:
                issues.bad_area.append(f"{name}: {bad_codes[:3]}")
        if typ == "flag" and "values" in col:
            bad = sorted(set(s) - {str(v) for v in col["values"]})
            if bad:
                out.add("error", "フラグ値", "L2-04", f"{name} に想定外の値 {bad[:3]}（許容: {col['values']}）")
    return issues


def _numeric_issues(col: dict, s: pd.Series, nonblank: pd.Series, issues: _ColumnIssues) -> None:
    """Non-numeric cells (undeclared units vs the catalog's declared symbols) and blank cells of one column."""
    name = col["name"]
    num = pd.to_numeric(nonblank.str.replace(",", "", regex=False), errors="coerce")
    bad = nonblank[num.isna()]
    if len(bad):
        symbols = [str(x) for x in col.get("symbols", [])]
        cleaned = bad
        for sym in symbols:
            cleaned = cleaned.str.replace(sym, "", regex=False).str.strip()
        still = cleaned[(cleaned != "") & pd.to_numeric(cleaned, errors="coerce").isna()]
        if symbols and still.empty:
            issues.documented.append(f"{name}（記号 {' '.join(symbols)}、{len(bad)} セル）")
        else:
            issues.units.append(f"{name}（例: {(still if len(still) else bad).iloc[0]!r}）")
    n_blank = int((s == "").sum())
    if n_blank:
        issues.blanks.append(f"{name}: 空欄 {n_blank} / 0 は {int((num == 0).sum())}")


def _report_column_issues(entry: dict, issues: _ColumnIssues, out: _Findings) -> None:
    """One finding per rule: numbers without units (L2-01), blank vs 0 (L1-09), codes as text (L2-04),
    standard area codes (L3-06)."""
    if issues.units:
        out.add("error", "数値に単位・記号", "L2-01", "数値列に目録にない数値以外の値: " + "; ".join(issues.units[:6]))
    if issues.documented:
        out.add("warning", "数値に単位・記号", "L2-01",
                "数値セルに記号・注記が混在（目録に記載済み）: " + "; ".join(issues.documented[:6]))
    if not issues.units and not issues.documented:
        out.add("ok", "数値に単位・記号", "L2-01", "数値列はすべて数値（空欄を除く）")
    if issues.blanks:
        out.add("info", "空欄と0", "L1-09", "空欄は欠測として扱い 0 と区別: " + "; ".join(issues.blanks[:6]))
    else:
        out.add("ok", "空欄と0", "L1-09", "数値列に空欄なし")
    if issues.int_codes:
        out.add("warning", "コードの型", "L2-04",
                f"{len(issues.int_codes)} のコード列が整数型で保存され先頭の0が失われている"
                f"（例: {', '.join(issues.int_codes[:4])}）。読み込み時に文字列へ戻して桁を補う")
    elif issues.unpadded:
        out.add("warning", "コードの型", "L2-04",
                "コードの桁数が不揃い（0埋めが失われた可能性）: " + "; ".join(issues.unpadded[:4]))
    else:
        out.add("ok", "コードの型", "L2-04", "コード列は文字列として桁を保っている")
    area_cols = [c["name"] for c in entry["columns"] if c["type"] == "area_code"]
    if area_cols:
        if issues.bad_area:
            out.add("error", "標準地域コード", "L3-06", "標準地域コードにない値: " + "; ".join(issues.bad_area))
        else:
            out.add("ok", "標準地域コード", "L3-06", f"{', '.join(area_cols)} はすべて標準地域コード（5桁）")


def _check_long_format(entry: dict, df: pd.DataFrame, out: _Findings) -> None:
    """Wide column groups (year/month/age in column names) or many flag columns should be long (L3-09)."""
    wide = _wide_groups(list(df.columns))
    flags = [c["name"] for c in entry["columns"] if c["type"] == "flag"]
    if wide or len(flags) >= 10:
        what = f"{len(flags)} 個のフラグ列" if len(flags) >= 10 else "、".join(wide[:3])
        out.add("warning", "縦持ち", "L3-09",
                f"横持ちの列群がある（{what}）。集計には縦持ち（項目・値の2列）に変換する")
    else:
        out.add("ok", "縦持ち", "L3-09", "横持ちの列群なし")


def check_entries(entries: list[dict], area_codes: set[str] | None = None) -> pd.DataFrame:
    """Findings of :func:`validate_entry` for every entry (``dataset, level, check, rule, message``).

    The report's entry point is :func:`ebpm_analysis.cases.catalog.validate_catalog`."""
    rows = []
    for e in entries:
        rows += [asdict(f) for f in validate_entry(e, area_codes)]
    return pd.DataFrame(rows, columns=["dataset", "level", "check", "rule", "message"])


def datasets_table(entries: list[dict]) -> pd.DataFrame:
    keys = ["id", "title", "title_en", "nature", "format", "encoding", "spatial_coverage", "temporal_coverage",
            "update_frequency", "source", "source_url", "licence", "attribution", "path"]
    df = pd.DataFrame([{k: e.get(k, "") for k in keys} | {"columns": len(e["columns"]),
                       "used_by": ", ".join(e.get("used_by", []))} for e in entries])
    return df


#: Column checks a catalog entry may declare besides ``range`` (what the readers enforce, shown by 00_data_catalog).
CHECKS = {
    "latlon": "日本国内の緯度・経度（緯度20–46・経度122–154、(0, 0) と緯度経度の入れ替えは不可）",
    "boundary": "境界ファイルにある市・区の標準地域コード",
}


def column_rule(col: dict) -> str:
    """The validation rule of one catalog column, as 00_data_catalog shows it: the plausible range
    (``range: [low, high]``), a key (``key: true``: no duplicates) and named checks (``check:``)."""
    parts = []
    if "range" in col:
        lo, hi = col["range"]
        unit = col.get("unit", "") if col.get("type") not in ("date", "datetime") else ""
        parts.append(f"範囲 {lo}–{hi}{unit}")
    if col.get("key"):
        parts.append("重複不可（キー）")
    if col.get("check"):
        parts.append(CHECKS[col["check"]])
    return "、".join(parts)


def columns_table(entries: list[dict]) -> pd.DataFrame:
    rows = []
    for e in entries:
        for i, c in enumerate(e["columns"]):
            rows.append({"dataset": e["id"], "dataset_title": e["title"], "position": c.get("position", i),
                         "name": c["name"], "type": c["type"], "unit": c.get("unit", ""),
                         "description": c.get("description", ""), "rule": column_rule(c)})
    return pd.DataFrame(rows)


LEVEL_ORDER = ["error", "warning", "info", "ok"]
#: the levels as the report shows them
LEVEL_LABELS = {"ok": "適合", "info": "参考", "warning": "注意", "error": "不一致"}


def status_by_dataset(findings: pd.DataFrame) -> pd.DataFrame:
    """Counts of findings per dataset and level, with the worst level as ``status``."""
    t = (findings.pivot_table(index="dataset", columns="level", values="check", aggfunc="count", fill_value=0)
         .reindex(columns=LEVEL_ORDER, fill_value=0))
    t["status"] = t.apply(lambda r: next((lv for lv in LEVEL_ORDER if r[lv] > 0), "ok"), axis=1)
    return t.reset_index()


def status_by_rule(findings: pd.DataFrame) -> pd.DataFrame:
    """Dataset × rule matrix of the worst level found, in words (:data:`LEVEL_LABELS`; machine-readability
    view): one row a dataset, one column a rule headed by its ID and name (the rule × dataset layout was 36
    columns wide, ~2,800 px on a page of 954)."""
    f = findings[findings["rule"] != ""].copy()
    f["rank"] = f["level"].map({lv: i for i, lv in enumerate(LEVEL_ORDER)})
    worst = f.sort_values("rank").groupby(["rule", "dataset"], as_index=False).first()
    m = worst.pivot(index="dataset", columns="rule", values="level").replace(LEVEL_LABELS).fillna("—")
    m.columns = [f"{r} {RULES.get(r, '')}".strip() for r in m.columns]
    return m.reset_index().rename(columns={"dataset": "データセット"})


def export_catalog(entries: list[dict], findings: pd.DataFrame, output_dir: str | Path) -> dict[str, Path]:
    """Write the catalog as CSV (utf-8-sig) and JSON, and the validation findings as CSV."""
    import json

    from ..stats.disclosure import no_persons
    from .common import atomic_path, write_csv
    files_only = no_persons("データ目録：ファイル・列・点検結果の表で、人の数は含まない")   # for ebpm audit
    out = paths.resolve(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "datasets_csv": write_csv(datasets_table(entries), out / "catalog_datasets.csv", kinds=files_only),
        "columns_csv": write_csv(columns_table(entries), out / "catalog_columns.csv", kinds=files_only),
        "findings_csv": write_csv(findings, out / "catalog_validation.csv", kinds=files_only),
    }
    clean = [{k: v for k, v in e.items() if not k.startswith("_")} for e in entries]
    with atomic_path(out / "catalog.json") as tmp:
        # default=str: the dates of the columns' plausible ranges
        tmp.write_text(json.dumps(clean, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    files["json"] = out / "catalog.json"
    return files
