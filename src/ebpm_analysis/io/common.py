"""Shared reading/writing rules.

- Read with an explicit encoding (``cp932`` for Shift_JIS files from Japanese systems,
  ``utf-8``/``utf-8-sig`` otherwise); a wrong encoding is an error naming the file.

Loader convention (every ``io.read_*``; census, dental and probe follow it — new loaders must):

- the path goes through :func:`input_path` (= :func:`ebpm_analysis.paths.resolve` + a "file not
  found" :class:`~ebpm_analysis.errors.InputFileError`), never ``Path(path).exists()``;
- ``encoding`` is keyword-only; the one spelling of "detect" is ``"auto"`` (:data:`AUTO`), turned
  into a codec by :func:`resolve_encoding`; parameter files write ``"auto"`` too;
- ``nature`` (``"real"``/``"synthetic"``) is keyword-only and recorded for provenance.
- Codes stay strings: everything is read as text unless a column is declared numeric.
- CSV for people is written as ``utf-8-sig`` so Excel on Windows opens it without mojibake.
- Outputs are written atomically (temp file, then rename), so a failed run never leaves a
  half-written file in place of a good one.
"""

from __future__ import annotations

import codecs
import contextlib
import functools
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterable, NoReturn

import numpy as np
import pandas as pd

from .. import paths
from ..errors import InputFileError
from ..provenance import record_input

#: The one spelling of "detect the encoding" (utf-8 with or without BOM, else cp932).
AUTO = "auto"


def input_path(path: str | os.PathLike, *, expected: str, kind: str = "file") -> Path:
    """Resolve ``path`` against the project root and check it exists (and is a file, unless
    ``kind`` is ``"any"``: a reader that takes a folder of files too).

    Raises :class:`InputFileError` "file not found" / "is a folder" with ``expected`` (what the
    file should be, e.g. "the census microdata CSV (check microdata_path)").
    """
    if path is None or str(path).strip() == "":
        raise InputFileError("(empty path)", "no file given", expected=expected)
    p = paths.resolve(path)
    if not p.exists():
        raise InputFileError(p, "file not found", expected=expected)
    if kind == "file" and p.is_dir():
        raise InputFileError(p, "is a folder, not a file", expected=expected)
    return p


def resolve_encoding(path: str | os.PathLike, encoding: str = AUTO,
                     candidates: Iterable[str] = ("utf-8-sig", "cp932")) -> str:
    """The codec to read ``path`` with: ``"auto"`` detects among ``candidates``; a codec name is
    normalised (``shift_jis``/``sjis`` → ``cp932``). Anything else is an :class:`InputFileError`."""
    if encoding == AUTO:
        return detect_encoding(path, candidates)
    if not isinstance(encoding, str) or not encoding.strip():
        raise InputFileError(path, f"encoding {encoding!r} not understood",
                             expected=f"'{AUTO}' (detect utf-8 / cp932) or a codec name such as 'cp932' or 'utf-8'")
    enc = _norm_encoding(encoding.strip())
    try:
        codecs.lookup(enc)
    except LookupError:
        raise InputFileError(path, f"unknown encoding {encoding!r}",
                             expected=f"'{AUTO}' or a codec name such as 'cp932' or 'utf-8'") from None
    return enc


def _norm_encoding(encoding: str) -> str:
    e = encoding.lower().replace("_", "-")
    if e in ("sjis", "shift-jis", "shiftjis", "ms932", "windows-31j"):
        return "cp932"
    return e


def check_encoding(path: str | os.PathLike, encoding: str, *, sample: int | None = None) -> None:
    """Raise :class:`InputFileError` unless the file decodes strictly as ``encoding``."""
    path = input_path(path, expected="an existing file (check the path parameter)")
    enc = _norm_encoding(encoding)
    data = path.read_bytes() if sample is None else path.open("rb").read(sample)
    if b"\x00" in data and not enc.startswith("utf-16"):
        nul = data.index(b"\x00")
        raise InputFileError(path, f"not valid {encoding} text: NUL byte at byte {nul} (UTF-16 or a binary file)",
                             expected=f"a {encoding} encoded text file (save it as UTF-8 or Shift_JIS CSV)")
    try:
        data.decode(enc)
    except UnicodeDecodeError as e:
        if sample is not None and e.start >= len(data) - 4:
            return  # a multi-byte character cut by the sample boundary
        other = [c for c in ("utf-8", "cp932") if c != enc and _decodes(data, c)]
        hint = f"; it decodes as {other[0]}" if other else ""
        raise InputFileError(
            path, f"not valid {encoding} text at byte {e.start}{hint}",
            expected=(f"a {encoding} encoded file, or pass encoding='{other[0]}'" if other
                      else f"a {encoding} encoded file"),
        ) from None


def _decodes(data: bytes, enc: str) -> bool:
    try:
        data.decode(enc)
        return True
    except UnicodeDecodeError:
        return False


def detect_encoding(path: str | os.PathLike, candidates: Iterable[str] = ("utf-8-sig", "cp932")) -> str:
    """First of ``candidates`` the file decodes as (utf-8 with BOM reported as utf-8-sig)."""
    data = input_path(path, expected="an existing file (check the path parameter)").read_bytes()
    for c in candidates:
        c = _norm_encoding(c)
        if c == "utf-8-sig" and not data.startswith(b"\xef\xbb\xbf"):
            if _decodes(data, "utf-8"):
                return "utf-8"
            continue
        if _decodes(data, c):
            return c
    raise InputFileError(path, "encoding not recognised", expected=f"one of {', '.join(candidates)}")


def bad_rows(mask, *, first_line: int = 2) -> list[int]:
    """File line numbers (1-based) of the rows where ``mask`` is true, for error messages.

    Entry 0 of ``mask`` is line ``first_line``: 2 for a CSV with a one-line header (the default),
    ``offset + 1`` for a file or batch whose data start after ``offset`` lines. Positions, not index
    labels, are used; missing values (pd.NA) count as not bad.
    """
    m = pd.Series(mask).to_numpy(dtype=bool, na_value=False)
    return (np.flatnonzero(m) + first_line).tolist()


def raise_bad_rows(path: str | os.PathLike, mask, problem: str, *, expected: str, column: str | None = None,
                   values=None, show: int = 5, first_line: int = 2) -> NoReturn:
    """Raise :class:`InputFileError` naming ``column`` and the file lines where ``mask`` is true.

    ``values`` (aligned with ``mask``) adds up to ``show`` distinct offending values to ``problem``.
    """
    if values is not None:
        sel = pd.Series(mask).to_numpy(dtype=bool, na_value=False)
        problem = f"{problem} {pd.unique(np.asarray(values)[sel])[:show].tolist()}"
    raise InputFileError(path, problem, column=column, rows=bad_rows(mask, first_line=first_line),
                         expected=expected)


def require_columns(df: pd.DataFrame, columns: Iterable[str], path: str | os.PathLike) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputFileError(
            path, f"missing column(s) {', '.join(repr(c) for c in missing)}",
            expected=f"columns {', '.join(columns)}; found {', '.join(map(str, df.columns[:12]))}"
            + (" …" if len(df.columns) > 12 else ""),
        )


def read_csv(path: str | os.PathLike, *, encoding: str = "utf-8", required: Iterable[str] = (),
             numeric: Iterable[str] = (), nature: str = "real", dataset: str | None = None,
             record: bool = True, **kwargs) -> pd.DataFrame:
    """Read a CSV with every column as text (codes stay strings), strictly in ``encoding``.

    ``numeric`` columns are converted with ``pd.to_numeric`` (blank → NaN, never 0); a
    non-numeric value is an error naming the column and rows.
    """
    path = input_path(path, expected="a CSV file (check the path parameter)")
    enc = _norm_encoding(encoding)
    check_encoding(path, enc)
    refuse_markup(path)
    kwargs.setdefault("dtype", str)
    kwargs.setdefault("keep_default_na", False)
    kwargs.setdefault("na_values", [""])
    try:
        df = pd.read_csv(path, encoding=enc, **kwargs)
    except pd.errors.ParserError as e:
        raise InputFileError(path, f"not a well-formed CSV ({' '.join(str(e).split())[:200]})",
                             expected="comma-separated rows of equal length") from None
    except pd.errors.EmptyDataError:
        raise InputFileError(path, "file is empty", expected="a header row and data rows") from None
    df.columns = [str(c).strip() for c in df.columns]
    require_columns(df, required, path)
    for col in numeric:
        if col not in df.columns:
            continue
        s = df[col].astype("string").str.strip()
        num = pd.to_numeric(s, errors="coerce")
        bad = s.notna() & (s != "") & num.isna()
        if bad.any():
            rows = bad_rows(bad)  # 1-based, after header
            raise InputFileError(path, f"non-numeric values {s[bad].unique()[:3].tolist()}", column=col,
                                 rows=rows, expected="numbers without units or symbols (blank for missing)")
        df[col] = num
    if record:
        record_input(path, nature=nature, dataset=dataset)
    return df


# ----------------------------------------------------------------------------------- validation
# One way to do each check every reader makes before it returns (issue 15): markup instead of data,
# read failures of the libraries, empty results, duplicates, ranges (from the data catalog), codes,
# coordinates. Each raises InputFileError naming file, column, rows, values and what is expected.

_MARKUP_START = (b"<!doctype", b"<html", b"<?xml", b"<head", b"<body", b"<table")


def refuse_markup(path: str | os.PathLike) -> None:
    """Raise when a data file is an HTML/XML page (a portal's error or login page saved as .csv)."""
    path = paths.resolve(path)
    with path.open("rb") as fh:
        head = fh.read(512).lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(_MARKUP_START):
        raise InputFileError(path, "is an HTML/XML page, not a data file",
                             expected="the data file itself (download it again; a portal may have returned "
                                      "an error or login page)")


@contextlib.contextmanager
def reading(path: str | os.PathLike, *, expected: str):
    """Turn a library's read failure on ``path`` into :class:`InputFileError` (file, problem, expected).

    Covers what pandas, zipfile, sqlite3, pyogrio and the OS raise for a file that is not what it
    should be (a folder, unreadable, empty, truncated, not a CSV/ZIP/GeoPackage/vector file).
    Our own :class:`InputFileError` passes through unchanged."""
    import sqlite3
    import zipfile
    import zlib
    try:
        yield
    except InputFileError:
        raise
    except IsADirectoryError:
        raise InputFileError(path, "is a folder, not a file", expected=expected) from None
    except FileNotFoundError:
        raise InputFileError(path, "file not found", expected=expected) from None
    except PermissionError:
        raise InputFileError(path, "cannot be read (permission denied)", expected=expected) from None
    except pd.errors.EmptyDataError:
        raise InputFileError(path, "file is empty", expected=expected) from None
    except pd.errors.ParserError as e:
        raise InputFileError(path, f"not a well-formed CSV ({' '.join(str(e).split())[:160]})",
                             expected=expected) from None
    except UnicodeDecodeError as e:
        raise InputFileError(path, f"not valid {e.encoding} text at byte {e.start}", expected=expected) from None
    except (zipfile.BadZipFile, EOFError, zlib.error) as e:
        raise InputFileError(path, f"not a readable ZIP file ({e})", expected=expected) from None
    except sqlite3.DatabaseError as e:
        raise InputFileError(path, f"not a readable GeoPackage/SQLite file ({e})", expected=expected) from None
    except Exception as e:  # noqa: BLE001 - pyogrio/GDAL raise their own classes for unreadable vector files
        if type(e).__module__.split(".")[0] in ("pyogrio", "fiona", "shapely"):
            raise InputFileError(path, f"not a readable vector file ({' '.join(str(e).split())[:200]})",
                                 expected=expected) from None
        raise


def require_rows(df: pd.DataFrame, path: str | os.PathLike, *, what: str, why: str = "") -> None:
    """Refuse an empty result: a header-only file, or every row filtered out / excluded (``why`` says by what)."""
    if len(df) == 0:
        raise InputFileError(path, "no data rows" + (f" ({why})" if why else ""), expected=what)


#: How a reader treats duplicates: refuse them (default) or drop the extra copies (said in ``attrs``).
DUPLICATES = ("refuse", "drop")


def handle_duplicates(df: pd.DataFrame, path: str | os.PathLike, *, key: Iterable[str] | None = None,
                      duplicates: str = "refuse", what: str = "rows", column: str | None = None,
                      first_line: int = 2, line=None, among: Iterable[str] | None = None) -> pd.DataFrame:
    """Duplicate rows (``key=None``: every column equal) or duplicate keys, reported with counts.

    ``duplicates="refuse"`` (the default of every reader) raises :class:`InputFileError` naming the
    key, the number of repeated rows and extra copies, example values and the file lines;
    ``"drop"`` keeps the first of each group and records ``attrs['duplicates_dropped']`` (count and
    lines) so a notebook can say what it removed. ``line`` (aligned with ``df``) gives the file line of
    each row when rows are not consecutive lines (else ``first_line`` + position); ``among`` the columns
    compared for identical rows (default: all but ``source_row``)."""
    from ..errors import require_choice
    require_choice("duplicates", duplicates, DUPLICATES)
    cols = list(key) if key is not None else list(among if among is not None else df.columns)
    cols = [c for c in cols if c in df.columns and c != "source_row"]
    dup_all = df.duplicated(cols, keep=False).to_numpy()
    if not dup_all.any():
        return df
    extra = df.duplicated(cols, keep="first").to_numpy()
    lines = (np.asarray(line)[dup_all].tolist() if line is not None
             else (np.flatnonzero(dup_all) + first_line).tolist())
    label = "identical rows" if key is None else f"rows with the same {' + '.join(cols)}"
    if duplicates == "drop":
        out = df.loc[~extra].copy()
        out.attrs = dict(df.attrs)
        out.attrs["duplicates_dropped"] = {"key": cols if key is not None else "all columns",
                                           "n_dropped": int(extra.sum()),
                                           "lines": (np.asarray(line)[extra].tolist() if line is not None
                                                     else (np.flatnonzero(extra) + first_line).tolist())}
        return out
    example = df.loc[dup_all, cols[:3]].head(1).astype(str).to_numpy().tolist()
    raise InputFileError(
        path, f"{int(dup_all.sum())} duplicate {what} ({label}; {int(extra.sum())} extra copies), "
              f"e.g. {example[0] if example else ''}",
        column=column or (cols[0] if key is not None else None), rows=lines,
        expected=f"one row per {' + '.join(cols) if key is not None else 'record'}; remove the repeated rows "
                 "(or pass duplicates='drop' to keep the first of each)")


@functools.lru_cache(maxsize=None)
def _catalog_columns(dataset: str) -> dict:
    import yaml
    f = paths.CATALOG_DIR / f"{dataset}.yml"
    entry = yaml.safe_load(f.read_text(encoding="utf-8"))
    return {c["name"]: c for c in entry["columns"]}


def plausible_range(dataset: str, column: str) -> tuple:
    """The plausible range ``(low, high)`` of ``column`` as the data catalog documents it
    (``range: [low, high]`` in ``data/catalog/<dataset>.yml``; dates as ``YYYY-MM-DD``). One
    definition: readers check it, ``00_data_catalog`` shows it."""
    col = _catalog_columns(dataset).get(column)
    if col is None or "range" not in col:
        raise KeyError(f"data/catalog/{dataset}.yml documents no range for column {column!r}")
    lo, hi = col["range"]
    if col.get("type") in ("date", "datetime"):
        return pd.Timestamp(str(lo)), pd.Timestamp(str(hi)) + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)
    return float(lo), float(hi)


def _number(x) -> str:
    x = float(x)
    return f"{x:,.0f}" if x.is_integer() else f"{x:g}"


def check_range(values, path: str | os.PathLike, *, dataset: str, column: str, label: str | None = None,
                first_line: int = 2, line=None, unit: str = "") -> None:
    """Raise when a value of ``column`` lies outside its catalog range (:func:`plausible_range`); blanks pass.

    ``values``: numbers or datetimes aligned with the file's rows; ``label`` the file's column name when
    the catalog's differs; ``line`` the file line of each value when rows are not consecutive."""
    lo, hi = plausible_range(dataset, column)
    unit = unit or (f" {_catalog_columns(dataset)[column].get('unit') or ''}".rstrip())
    v = pd.Series(values).reset_index(drop=True)
    bad = (v.notna() & ((v < lo) | (v > hi))).to_numpy(dtype=bool)
    if bad.any():
        shown = v[bad].unique()[:3]
        fmt = (lambda x: f"{x:%Y-%m-%d %H:%M}") if isinstance(lo, pd.Timestamp) else _number
        rng = (f"{lo:%Y-%m-%d}–{hi:%Y-%m-%d}" if isinstance(lo, pd.Timestamp)
               else f"{_number(lo)}–{_number(hi)}{unit}")
        rows = np.asarray(line)[bad].tolist() if line is not None else (np.flatnonzero(bad) + first_line).tolist()
        raise InputFileError(path, f"{int(bad.sum())} implausible value(s) {[fmt(x) for x in shown]}",
                             column=label or column, rows=rows,
                             expected=f"{rng} (the plausible range in data/catalog/{dataset}.yml)")


def check_codes(values, allowed, path: str | os.PathLike, *, column: str, what: str, first_line: int = 2,
                allow_blank: bool = False) -> None:
    """Raise when a code is not among ``allowed`` (e.g. ward codes of the city's boundary file)."""
    v = pd.Series(values, dtype="string").str.strip().reset_index(drop=True)
    allowed = {str(a) for a in allowed}
    bad = ~v.isin(allowed)
    if allow_blank:
        bad &= v.notna() & (v != "")
    bad = bad.fillna(True).to_numpy(dtype=bool)
    if bad.any():
        shown = sorted(allowed)[:8]
        raise InputFileError(path, f"unknown code(s) {v[bad].unique()[:5].tolist()}", column=column,
                             rows=(np.flatnonzero(bad) + first_line).tolist(),
                             expected=f"{what}: {', '.join(shown)}{' …' if len(allowed) > 8 else ''}")


def city_member_codes(city) -> tuple[str, ...]:
    """The 5-digit codes of ``city``'s wards in the boundary file (the city's own code where it has none;
    its municipalities for a prefecture); ``city`` a code, a name or the GeoDataFrame of ``geo.load_city``."""
    from .. import geo
    code = city.attrs["city_code"] if hasattr(city, "attrs") else city
    ref = geo.resolve_city(str(code))
    return tuple(ref.member_codes) + (ref.code,)


#: Japan's extent for plausibility (decimal degrees, JGD2011): lat 20–46 N, lon 122–154 E.
JAPAN_LAT = (20.0, 46.0)
JAPAN_LON = (122.0, 154.0)


def check_latlon(lat, lon, path: str | os.PathLike, *, columns: tuple[str, str] = ("緯度", "経度"),
                 first_line: int = 2, allow_blank: bool = False) -> None:
    """Coordinates in Japan (JGD2011 degrees): names null-island (0, 0) and swapped lat/lon explicitly.

    Blank pairs pass when ``allow_blank``; a half-blank pair never does."""
    la = pd.to_numeric(pd.Series(lat).reset_index(drop=True), errors="coerce").to_numpy(dtype=float)
    lo = pd.to_numeric(pd.Series(lon).reset_index(drop=True), errors="coerce").to_numpy(dtype=float)
    both = np.isnan(la) & np.isnan(lo)
    half = np.isnan(la) ^ np.isnan(lo)
    col = f"{columns[0]}/{columns[1]}"

    def fail(mask, problem, expected):
        raise InputFileError(path, f"{int(mask.sum())} {problem}", column=col,
                             rows=(np.flatnonzero(mask) + first_line).tolist(), expected=expected)

    if half.any() or (both.any() and not allow_blank):
        fail(half | (both if not allow_blank else False), "row(s) with a missing latitude or longitude",
             "both coordinates in decimal degrees" + (" (or both blank)" if allow_blank else ""))
    with np.errstate(invalid="ignore"):
        null = (np.abs(la) < 1) & (np.abs(lo) < 1)
        swapped = ((la >= JAPAN_LON[0]) & (la <= JAPAN_LON[1]) & (lo >= JAPAN_LAT[0]) & (lo <= JAPAN_LAT[1]))
        outside = ~both & ~null & ~swapped & ~((la >= JAPAN_LAT[0]) & (la <= JAPAN_LAT[1])
                                               & (lo >= JAPAN_LON[0]) & (lo <= JAPAN_LON[1]))
    if null.any():
        fail(null, "null-island coordinate(s) (0, 0): a missing position written as zero",
             "the real latitude/longitude, or blank where unknown")
    if swapped.any():
        fail(swapped, f"coordinate(s) with latitude and longitude swapped, e.g. ({la[swapped][0]:g}, "
                      f"{lo[swapped][0]:g})", f"{columns[0]} (latitude) {JAPAN_LAT[0]:g}–{JAPAN_LAT[1]:g} and "
                                              f"{columns[1]} (longitude) {JAPAN_LON[0]:g}–{JAPAN_LON[1]:g}")
    if outside.any():
        fail(outside, f"coordinate(s) outside Japan, e.g. ({la[outside][0]:g}, {lo[outside][0]:g})",
             f"decimal degrees: latitude {JAPAN_LAT[0]:g}–{JAPAN_LAT[1]:g}, longitude {JAPAN_LON[0]:g}–"
             f"{JAPAN_LON[1]:g} (JGD2011)")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        if tmp.exists():
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; reports must be readable on a share
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


def build_dir_once(target: str | os.PathLike, required: Iterable[str], build: Callable[[Path], object]) -> Path:
    """Build folder ``target`` (holding the ``required`` files) once, for generated data sets.

    ``build(tmp)`` writes into a temporary folder beside ``target``, which is moved into place only
    when it is complete, so a half-written set is never reused. An incomplete leftover is replaced.
    If another process (e.g. a parallel test worker) completes the same folder meanwhile, its copy is
    kept and ours discarded: generators are deterministic, and a folder being read is never deleted.
    """
    target = Path(target)
    required = list(required)

    def complete() -> bool:
        return target.is_dir() and all((target / r).exists() for r in required)

    if complete():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        build(tmp)
        missing = [r for r in required if not (tmp / r).exists()]
        if missing:
            raise RuntimeError(f"generator did not write {missing} into {target}")
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700
        if complete():
            return target
        if target.exists():
            shutil.rmtree(target, ignore_errors=True)  # an incomplete leftover
        try:
            os.replace(tmp, target)
        except OSError:
            if not complete():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


# A spreadsheet reads a cell that starts with one of these as a formula (=cmd|' /C calc'!A0,
# +HYPERLINK(…), @SUM(…)); tab and CR too. OWASP "CSV Injection": prefix such text with "'".
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?(?:\d[\d,]*)?(?:\.\d+)?(?:[eE][+-]?\d+)?%?$")


def is_formula(value) -> bool:
    """True for text a spreadsheet would run as a formula (a signed plain number is not one)."""
    return (isinstance(value, str) and value.startswith(FORMULA_START)
            and not (value[:1] in "+-" and len(value) > 1 and bool(_PLAIN_NUMBER.match(value))))


def _neutralise_text(value):
    return "'" + value if is_formula(value) else value


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells (and text column names / index labels) cannot run as a
    spreadsheet formula: text starting with ``= + - @``, tab or CR gets a leading apostrophe.

    Only text is touched: numeric columns keep their negative numbers as numbers, and a text cell
    that is just a signed number (``-12.5``, ``+3%``) is left as it is (a spreadsheet reads it as
    that number, never as a formula)."""
    out = df.copy()
    for i in range(df.shape[1]):
        col = df.iloc[:, i]
        if isinstance(col.dtype, pd.CategoricalDtype):
            col = col.astype(object)
        if col.dtype == object or pd.api.types.is_string_dtype(col.dtype):
            out.isetitem(i, col.map(_neutralise_text, na_action="ignore"))
    out.columns = out.columns.map(lambda c: _neutralise_text(c) if isinstance(c, str) else c)
    if not isinstance(out.index, pd.MultiIndex) and (out.index.dtype == object
                                                      or pd.api.types.is_string_dtype(out.index.dtype)):
        out.index = out.index.map(_neutralise_text)
    return out


#: The declaration beside an exported table: ``<file>.disclosure.json`` ({column: kind}, sums, linear).
SIDECAR_SUFFIX = ".disclosure.json"


def sidecar_path(path: str | os.PathLike) -> Path:
    """Where the column kinds of the exported table ``path`` are stored."""
    path = Path(path)
    return path.with_name(path.name + SIDECAR_SUFFIX)


def _write_sidecar(df: pd.DataFrame, path: Path, kinds, index: bool) -> None:
    """Store the table's declaration (see :class:`ebpm_analysis.stats.disclosure.Schema`) beside it, or
    remove a stale one when the table is written without a declaration."""
    import json

    side = sidecar_path(path)
    if kinds is None:
        side.unlink(missing_ok=True)
        return
    from ..stats.disclosure import Schema  # (imports scipy: only for a declared table)
    columns = ([*(n for n in df.index.names if n is not None)] if index else []) + list(df.columns)
    try:
        decl = Schema.of(kinds).to_json(columns)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    decl = {"file": path.name, **decl}
    with atomic_path(side) as tmp:
        tmp.write_text(json.dumps(decl, ensure_ascii=False, indent=1), encoding="utf-8")


def write_csv(df: pd.DataFrame, path: str | os.PathLike, *, index: bool = False, kinds=None) -> Path:
    """Write CSV as utf-8-sig (opens in Excel), atomically, with formula-like text neutralised
    (:func:`neutralise_formulas`).

    ``kinds`` declares what each column is ({column: kind} or a
    :class:`~ebpm_analysis.stats.disclosure.Schema`: person counts, public counts, rates of a count …);
    it is stored beside the file (:func:`sidecar_path`) for ``ebpm audit``. Every public export declares
    its columns; an undeclared whole-number column is audited as a count of persons."""
    path = Path(path)
    with atomic_path(path) as tmp:
        neutralise_formulas(df).to_csv(tmp, index=index, encoding="utf-8-sig", lineterminator="\r\n")
    _write_sidecar(df, path, kinds, index)
    return path


def write_tables(tables: dict[str, pd.DataFrame], out_dir: str | os.PathLike, *,
                 kinds: dict | None = None) -> list[Path]:
    """Write each table to ``out_dir/<file name>`` by its suffix: ``.csv`` with :func:`write_csv`,
    ``.parquet`` with :func:`write_parquet`. ``out_dir`` is resolved against the project root and
    created. ``kinds`` maps a file name to its declaration (see :func:`write_csv`); a ``.parquet``
    file takes the declaration of the ``.csv`` of the same stem when it has none of its own.
    Returns the paths written (in the order given)."""
    out = paths.resolve(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    writers = {".csv": write_csv, ".parquet": write_parquet}
    kinds = kinds or {}
    unknown = [k for k in kinds if k not in tables]
    if unknown:
        raise ValueError(f"write_tables: kinds given for {unknown}, which are not among the tables {list(tables)}")
    written = []
    for name, df in tables.items():
        suffix = Path(name).suffix
        if suffix not in writers:
            raise ValueError(f"write_tables: {name!r} has no .csv or .parquet suffix")
        decl = kinds.get(name, kinds.get(str(Path(name).with_suffix(".csv"))))
        written.append(writers[suffix](df, out / name, kinds=decl))
    return written


def write_parquet(df: pd.DataFrame, path: str | os.PathLike, *, kinds=None) -> Path:
    """Write Parquet (GeoParquet for GeoDataFrames), atomically; ``kinds`` as for :func:`write_csv`."""
    path = Path(path)
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)
    _write_sidecar(df, path, kinds, False)
    return path
