"""Shared test setup: a non-interactive matplotlib backend and the project root."""

import os
import sys
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")

# The helpers of tests/national (the national sample and the prose check) are imported by the notebook
# tests too (tests/notebooks/test_run_all.py checks every default report's prose with them).
sys.path.insert(0, str(Path(__file__).parent / "national"))
