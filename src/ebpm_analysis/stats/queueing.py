"""Queueing for staffing: how many windows (servers) keep waits short.

Steady state (M/M/c, Poisson arrivals, exponential service, first come first served):

- :func:`erlang_b` — probability that all ``servers`` are busy in a loss system (M/M/c/c), by the
  recursion B(k) = A·B(k−1) / (k + A·B(k−1)), which never forms A^c or c! and so stays exact to
  rounding for any size (the textbook sum overflows beyond c ≈ 170).
- :func:`erlang_c` — probability that an arrival waits (M/M/c), from Erlang B:
  C = c·B / (c − A·(1 − B)); 1 when ``servers <= load`` (the queue grows without bound).
- :func:`mean_wait_min`, :func:`prob_wait_over` — mean wait in queue and P(wait > t).
- :func:`offered_load` — Erlangs in the busiest hour from a daily count; :func:`staff_needed` — the
  fewest servers meeting a mean-wait target and an occupancy cap.

Opening hours (a counter that opens with an empty queue and closes a few hours later never reaches the
steady state): :func:`simulate_session_waits` simulates whole days, :func:`staff_needed_session` finds
the fewest windows meeting the mean-wait target.

Written here, not imported: the Erlang recursion is a few lines, and the one maintained library that
offers it (pyworkforce) pulls in OR-Tools (≈ 80 MB); no library simulates opening-hours sessions.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ParameterError

#: The counter's default sessions (hours from midnight): 9:00–11:00 and 13:00–16:00.
DEFAULT_SESSIONS = ((9.0, 11.0), (13.0, 16.0))


# --------------------------------------------------------------------------- steady state (M/M/c)


def _check(load: float, servers: int) -> None:
    if load < 0 or servers < 0:
        raise ValueError("load and servers must be ≥ 0")


def erlang_b(load: float, servers: int) -> float:
    """Blocking probability of a loss system (Erlang B, M/M/c/c) with offered ``load`` (Erlangs).

    1.0 with no servers (every arrival is lost), 0.0 with no load.
    """
    _check(load, servers)
    if load == 0:
        return 0.0 if servers > 0 else 1.0
    b = 1.0
    for k in range(1, int(servers) + 1):
        b = load * b / (k + load * b)
    return float(b)


def erlang_c(load: float, servers: int) -> float:
    """Probability that an arrival waits (Erlang C, M/M/c) with offered ``load`` (Erlangs) and ``servers``.

    1.0 when ``servers <= load`` (the queue grows without bound); 0.0 with no load.
    """
    _check(load, servers)
    if load == 0:
        return 0.0
    if servers <= load:
        return 1.0
    b = erlang_b(load, servers)
    c = servers * b / (servers - load * (1.0 - b))
    return float(min(max(c, 0.0), 1.0))


def mean_wait_min(load: float, servers: int, service_min: float) -> float:
    """Mean wait in queue (over all arrivals), minutes: C(c, A) · service / (c − A); inf when unstable."""
    if load == 0:
        return 0.0
    if servers <= load:
        return math.inf
    return erlang_c(load, servers) * service_min / (servers - load)


def prob_wait_over(load: float, servers: int, service_min: float, t_min: float) -> float:
    """P(wait > t) = C(c, A) · exp(−(c − A) t / service)."""
    if load == 0:
        return 0.0
    if servers <= load:
        return 1.0
    return erlang_c(load, servers) * math.exp(-(servers - load) * t_min / service_min)


def offered_load(daily_count, open_hours: float = 5.0, service_min: float = 60.0,
                 peak_hour_factor: float = 1.3):
    """Erlangs in the busiest hour: daily count spread over the open hours, × peak-hour factor."""
    return np.asarray(daily_count, dtype=float) * peak_hour_factor / open_hours * service_min / 60.0


def staff_needed(load: float, service_min: float = 60.0, target_wait_min: float = 20.0,
                 max_occupancy: float = 0.9, min_staff: int = 1, max_staff: int = 200) -> int:
    """Fewest servers with mean wait ≤ ``target_wait_min`` and occupancy (load / servers) ≤ ``max_occupancy``."""
    if target_wait_min <= 0:
        raise ParameterError("target_wait_min", f"{target_wait_min}", expected="a positive number of minutes")
    if not 0 < max_occupancy <= 1:
        raise ParameterError("max_occupancy", f"{max_occupancy}", expected="a share in (0, 1]")
    if not np.isfinite(load) or load < 0:
        raise ValueError(f"load must be a finite number ≥ 0, not {load}")
    c = max(min_staff, int(math.floor(load)) + 1 if load > 0 else min_staff)
    while c <= max_staff:
        if load / c <= max_occupancy and mean_wait_min(load, c, service_min) <= target_wait_min:
            return c
        c += 1
    raise ValueError(f"more than {max_staff} windows needed for load {load:.1f}")


# --------------------------------------------------------------------------- opening-hours simulation


def _arrival_segments(sessions, peak_hour_factor: float):
    """(start_h, end_h, weight) pieces: the first hour of each session carries the peak-hour factor."""
    hours = sum(b - a for a, b in sessions)
    n_first = len(sessions)
    # busiest-hour share = k / (n_first*k + hours - n_first) = peak_hour_factor / hours
    f = peak_hour_factor / hours
    k = f * (hours - n_first) / (1 - f * n_first) if f * n_first < 1 else 1.0
    segs = []
    for a, b in sessions:
        segs.append((a, min(a + 1.0, b), k))
        if b > a + 1.0:
            segs.append((a + 1.0, b, 1.0))
    return segs


def simulate_session_waits(count: int, staff: int, *, sessions=DEFAULT_SESSIONS, service_min: float = 60.0,
                           service_cv: float = 0.5, peak_hour_factor: float = 1.3, reps: int = 300,
                           seed: int = 0) -> np.ndarray:
    """Mean wait (minutes) of each of ``reps`` simulated days with ``count`` arrivals and ``staff`` windows.

    A day = the ``sessions`` (hours from midnight, default 9–11 and 13–16), starting with an empty queue;
    arrivals fall at random within the open hours (more in each session's first hour, as set by
    ``peak_hour_factor`` = busiest hour / average hour), are served first come first served, service
    time gamma with mean ``service_min`` and coefficient of variation ``service_cv`` (1 = exponential).
    Seeded (common random numbers across ``staff``).
    """
    if count <= 0:
        return np.zeros(reps)
    rng = np.random.default_rng(seed)
    segs = _arrival_segments(sessions, peak_hour_factor)
    w = np.array([(b - a) * k for a, b, k in segs])
    idx = rng.choice(len(segs), size=(reps, count), p=w / w.sum())
    lo = np.array([a for a, _, _ in segs])[idx]
    hi = np.array([b for _, b, _ in segs])[idx]
    t = np.sort((lo + rng.random((reps, count)) * (hi - lo)) * 60.0, axis=1)
    shape = 1.0 / service_cv ** 2
    service = rng.gamma(shape, service_min / shape, size=(reps, count))
    free = np.full((reps, staff), sessions[0][0] * 60.0)
    waits = np.empty((reps, count))
    rows = np.arange(reps)
    for i in range(count):
        j = free.argmin(axis=1)
        start = np.maximum(t[:, i], free[rows, j])
        waits[:, i] = start - t[:, i]
        free[rows, j] = start + service[:, i]
    return waits.mean(axis=1)


def staff_needed_session(count: int, *, target_wait_min: float = 20.0, max_staff: int = 100, **simulation) -> int:
    """Fewest windows whose simulated mean wait (averaged over days) is ≤ ``target_wait_min``.

    ``simulation``: keyword arguments of :func:`simulate_session_waits` (sessions, service_min, ...).
    """
    if count <= 0:
        return 1
    for c in range(1, max_staff + 1):
        if simulate_session_waits(count, c, **simulation).mean() <= target_wait_min:
            return c
    raise ValueError(f"more than {max_staff} windows needed for {count} applicants")
