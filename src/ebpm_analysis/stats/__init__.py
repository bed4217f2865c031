"""Statistics shared by several cases. One definition of each method lives here; cases call it.

- :mod:`.intervals` — Wilson and Poisson confidence intervals (:func:`wilson_ci`, :func:`poisson_ci`).
- :mod:`.disclosure` — small-cell suppression (primary and complementary) for published tables.
- :mod:`.funnel` — funnel-plot control limits and empirical-Bayes shrinkage of rates.
- :mod:`.hotspots` — Getis–Ord Gi* hot and cold spots (:func:`~.hotspots.gi_star`, esda underneath) with
  explicit weights (k nearest, distance band, grid contiguity), one- or two-sided p and optional
  Benjamini–Hochberg FDR; returns a :class:`~.hotspots.GiStar` result.
- :mod:`.queueing` — Erlang B / Erlang C (M/M/c waits, staffing for a wait target) and the
  opening-hours simulation of a counter that starts each session with an empty queue.
"""

from .intervals import poisson_ci, wilson_ci  # noqa: F401
