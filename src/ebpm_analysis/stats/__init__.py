"""Statistics shared by several cases (intervals, disclosure control, funnel limits, hot spots)."""

from .intervals import poisson_ci, wilson_ci  # noqa: F401
