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


def input_path(path: str | os.PathLike, *, expected: str) -> Path:
    """Resolve ``path`` against the project root and check it exists.

    Raises :class:`InputFileError` "file not found" with ``expected`` (what the file should be,
    e.g. "the census microdata CSV (check microdata_path)").
    """
    p = paths.resolve(path)
    if not p.exists():
        raise InputFileError(p, "file not found", expected=expected)
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
    path = paths.resolve(path)
    if not path.exists():
        raise InputFileError(path, "file not found", expected="an existing file (check the path parameter)")
    enc = _norm_encoding(encoding)
    data = path.read_bytes() if sample is None else path.open("rb").read(sample)
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
    data = paths.resolve(path).read_bytes()
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
    path = paths.resolve(path)
    enc = _norm_encoding(encoding)
    check_encoding(path, enc)
    kwargs.setdefault("dtype", str)
    kwargs.setdefault("keep_default_na", False)
    kwargs.setdefault("na_values", [""])
    try:
        df = pd.read_csv(path, encoding=enc, **kwargs)
    except pd.errors.ParserError as e:
        raise InputFileError(path, f"not a well-formed CSV ({e})",
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

    from ..stats.disclosure import Schema
    side = sidecar_path(path)
    if kinds is None:
        side.unlink(missing_ok=True)
        return
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
