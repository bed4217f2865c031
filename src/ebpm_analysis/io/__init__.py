"""Readers, one module per real-world source format. Each returns tidy, validated frames
and records the files it read (see :mod:`ebpm_analysis.provenance`). No plotting here."""

from .common import (  # noqa: F401
    bad_rows,
    raise_bad_rows,
    check_encoding,
    detect_encoding,
    read_csv,
    require_columns,
    write_csv,
    write_parquet,
    write_tables,
    atomic_path,
    build_dir_once,
)
