"""Readers keep codes as strings, refuse the wrong encoding by name, write Excel-friendly CSV atomically."""

import numpy as np
import pandas as pd
import pytest

from ebpm_analysis.errors import InputFileError
from ebpm_analysis.io.common import (
    atomic_path,
    bad_rows,
    check_encoding,
    detect_encoding,
    raise_bad_rows,
    read_csv,
    write_csv,
)


def write(p, text, enc):
    p.write_bytes(text.encode(enc))
    return p


def test_codes_stay_strings_and_blank_is_not_zero(tmp_path):
    p = write(tmp_path / "a.csv", "code,name,count\n01100,札幌市,12\n43100,熊本市,\n", "utf-8")
    df = read_csv(p, numeric=["count"])
    assert df["code"].tolist() == ["01100", "43100"]
    assert df["count"].iloc[0] == 12 and pd.isna(df["count"].iloc[1])


def test_cp932_file_read_as_cp932(tmp_path):
    p = write(tmp_path / "sj.csv", "区,人口\n中央区,186000\n", "cp932")
    assert read_csv(p, encoding="cp932")["区"].tolist() == ["中央区"]
    assert read_csv(p, encoding="shift_jis")["区"].tolist() == ["中央区"]


def test_wrong_encoding_names_file_and_suggests(tmp_path):
    p = write(tmp_path / "sj.csv", "区,人口\n中央区,186000\n", "cp932")
    with pytest.raises(InputFileError) as e:
        read_csv(p, encoding="utf-8")
    msg = str(e.value)
    assert "sj.csv" in msg and "not valid utf-8" in msg and "decodes as cp932" in msg


def test_missing_column_named(tmp_path):
    p = write(tmp_path / "m.csv", "a,b\n1,2\n", "utf-8")
    with pytest.raises(InputFileError) as e:
        read_csv(p, required=["a", "人口"])
    assert "m.csv" in str(e.value) and "'人口'" in str(e.value) and "found a, b" in str(e.value)


def test_units_in_numeric_cells_rejected_with_rows(tmp_path):
    p = write(tmp_path / "u.csv", "x\n1\n12件\n3\n", "utf-8")
    with pytest.raises(InputFileError) as e:
        read_csv(p, numeric=["x"])
    msg = str(e.value)
    assert "column 'x'" in msg and "12件" in msg and "rows 3" in msg


def test_missing_file(tmp_path):
    with pytest.raises(InputFileError, match="file not found"):
        read_csv(tmp_path / "nope.csv")


def test_detect_encoding(tmp_path):
    assert detect_encoding(write(tmp_path / "a", "熊本", "cp932")) == "cp932"
    assert detect_encoding(write(tmp_path / "b", "熊本", "utf-8")) == "utf-8"
    assert detect_encoding(write(tmp_path / "c", "熊本", "utf-8-sig")) == "utf-8-sig"
    check_encoding(tmp_path / "c", "utf-8-sig")


def test_write_csv_has_bom_and_roundtrips(tmp_path):
    df = pd.DataFrame({"code": ["01100"], "名前": ["札幌市"]})
    p = write_csv(df, tmp_path / "out" / "x.csv")
    raw = p.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    assert read_csv(p, encoding="utf-8-sig").equals(df)
    assert oct(p.stat().st_mode & 0o777) != oct(0o600)  # readable by others on a share


def test_atomic_path_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "report.html"
    target.write_text("GOOD", encoding="utf-8")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("HALF", encoding="utf-8")
            raise RuntimeError("boom")
    assert target.read_text(encoding="utf-8") == "GOOD"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_build_dir_once(tmp_path):
    from ebpm_analysis.io.common import build_dir_once
    calls = []

    def build(d):
        calls.append(d)
        (d / "a.csv").write_text("x", encoding="utf-8")

    target = tmp_path / "set"
    assert build_dir_once(target, ["a.csv"], build) == target
    assert build_dir_once(target, ["a.csv"], build) == target
    assert len(calls) == 1 and (target / "a.csv").read_text() == "x"  # built once, then reused
    assert oct(target.stat().st_mode & 0o777) != oct(0o700)
    # an incomplete leftover is replaced
    leftover = tmp_path / "left"
    leftover.mkdir()
    (leftover / "partial").write_text("", encoding="utf-8")
    build_dir_once(leftover, ["a.csv"], build)
    assert sorted(p.name for p in leftover.iterdir()) == ["a.csv"]

    # another worker finishing first: its folder is kept, ours discarded
    def racing_build(d):
        other = tmp_path / "race"
        other.mkdir()
        (other / "a.csv").write_text("theirs", encoding="utf-8")
        (d / "a.csv").write_text("ours", encoding="utf-8")

    build_dir_once(tmp_path / "race", ["a.csv"], racing_build)
    assert (tmp_path / "race" / "a.csv").read_text() == "theirs"

    # a failing generator leaves nothing behind
    def broken(d):
        (d / "a.csv").write_text("half", encoding="utf-8")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        build_dir_once(tmp_path / "broken", ["a.csv"], broken)
    assert not (tmp_path / "broken").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_bad_rows_are_file_line_numbers_after_the_header():
    assert bad_rows([False, True, False, True]) == [3, 5]          # line 1 = header, entry 0 = line 2
    assert bad_rows(np.array([True, False, True]), first_line=7) == [7, 9]
    assert bad_rows([False, False]) == []
    # positions, not index labels (a filtered or re-indexed frame still reports file lines)
    assert bad_rows(pd.Series([False, True, True], index=[10, 20, 30])) == [3, 4]
    # missing values in a nullable boolean mask count as not bad
    assert bad_rows(pd.Series([pd.NA, True, False], dtype="boolean")) == [3]


def test_raise_bad_rows_names_file_column_rows_values_and_expectation(tmp_path):
    vals = pd.Series(["a", "x", "b", "x", "y", "z"], index=[5, 4, 3, 2, 1, 0])
    mask = vals.isin(["x", "y", "z"])
    with pytest.raises(InputFileError) as e:
        raise_bad_rows(tmp_path / "f.csv", mask, "unknown codes", column="code", values=vals, show=2,
                       expected="a, b")
    err = e.value
    assert err.rows == [3, 5, 6, 7] and err.column == "code"
    assert str(err) == (f"{tmp_path / 'f.csv'}, column 'code': unknown codes ['x', 'y'] (rows 3, 5, 6, 7). "
                        "Expected: a, b")


def test_write_tables_by_suffix(tmp_path):
    from ebpm_analysis.io import write_tables

    df = pd.DataFrame({"code": ["01"], "n": [3]})
    out = write_tables({"a.csv": df, "a.parquet": df}, tmp_path / "new")
    assert out == [tmp_path / "new" / "a.csv", tmp_path / "new" / "a.parquet"]
    assert out[0].read_bytes().startswith(b"\xef\xbb\xbf")
    assert pd.read_parquet(out[1]).equals(df)
    with pytest.raises(ValueError, match="a.xlsx"):
        write_tables({"a.xlsx": df}, tmp_path)


def test_require_choice_names_the_parameter():
    from ebpm_analysis.errors import ParameterError, require_choice

    require_choice("area_level", "ward", ("district", "ward"))
    with pytest.raises(ParameterError, match=r"parameter 'area_level': got 'city'. Expected: 'district' or 'ward'"):
        require_choice("area_level", "city", ("district", "ward"))


def test_every_generator_writes_through_build_dir_once():
    """Every ``synth.*.ensure_*`` returns ``build_dir_once(...)``: concurrent runs of any notebook share one
    tested way of writing a generated set (tests/notebooks/test_concurrent_runs.py runs two notebooks for all)."""
    import ast
    import importlib
    import inspect
    import pkgutil

    from ebpm_analysis import synth

    found = []
    for info in pkgutil.iter_modules(synth.__path__):
        mod = importlib.import_module(f"ebpm_analysis.synth.{info.name}")
        for name, fn in inspect.getmembers(mod, inspect.isfunction):
            if not name.startswith("ensure_") or fn.__module__ != mod.__name__:
                continue
            returns = [n.value for n in ast.walk(ast.parse(inspect.getsource(fn))) if isinstance(n, ast.Return)]
            calls = {r.func.id for r in returns if isinstance(r, ast.Call) and isinstance(r.func, ast.Name)}
            assert calls == {"build_dir_once"}, f"{mod.__name__}.{name} returns {calls or 'something else'}"
            found.append(name)
    assert {"ensure_census", "ensure_counter", "ensure_dental", "ensure_emergency", "ensure_evaluation",
            "ensure_probe", "ensure_school_routes"} <= set(found)
