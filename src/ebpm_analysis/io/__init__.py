"""Readers, one module per real-world source format. Each returns tidy, validated frames
and records the files it read (see :mod:`ebpm_analysis.provenance`). No plotting here."""

from .common import (  # noqa: F401
    atomic_path,
    bad_rows,
    build_dir_once,
    check_encoding,
    detect_encoding,
    raise_bad_rows,
    read_csv,
    require_columns,
    write_csv,
    write_parquet,
    write_tables,
)
