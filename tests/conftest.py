"""Shared test setup: a non-interactive matplotlib backend and the project root."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
