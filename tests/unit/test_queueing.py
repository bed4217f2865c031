"""stats.queueing: Erlang B and C against textbook values (M/M/1, M/M/2 closed forms, Erlang tables,
exact rational sums for large systems), staffing, and the opening-hours simulation."""

import math
from fractions import Fraction
from itertools import pairwise

import numpy as np
import pytest

from ebpm_analysis.cases.counter import QueueSettings
from ebpm_analysis.errors import ParameterError
from ebpm_analysis.stats.queueing import (
    erlang_b,
    erlang_c,
    mean_wait_min,
    offered_load,
    prob_wait_over,
    simulate_session_waits,
    staff_needed,
    staff_needed_session,
)


def _erlang_b_exact(a: int, c: int) -> float:
    """(A^c / c!) / sum_k A^k / k!, in exact rational arithmetic."""
    terms = [Fraction(a ** k, math.factorial(k)) for k in range(c + 1)]
    return float(terms[-1] / sum(terms))


def test_erlang_b_closed_forms_and_table():
    assert erlang_b(1.0, 1) == pytest.approx(0.5, rel=1e-12)            # A / (1 + A)
    assert erlang_b(2.0, 2) == pytest.approx(2 / 5, rel=1e-12)          # (A²/2) / (1 + A + A²/2)
    assert erlang_b(10.0, 10) == pytest.approx(0.2146, abs=5e-5)        # Erlang B table
    assert erlang_b(5.0, 10) == pytest.approx(0.01838, abs=5e-6)
    assert erlang_b(0.0, 3) == 0.0 and erlang_b(2.0, 0) == 1.0


@pytest.mark.parametrize("a,c", [(150, 160), (400, 380), (1000, 1040)])
def test_erlang_b_and_c_stay_exact_for_large_systems(a, c):
    # A^c and c! overflow floats here (c > 170); the recursion must still match the exact value.
    b = _erlang_b_exact(a, c)
    assert erlang_b(float(a), c) == pytest.approx(b, rel=1e-9)
    if c > a:
        assert erlang_c(float(a), c) == pytest.approx(c * b / (c - a * (1 - b)), rel=1e-9)
    else:
        assert erlang_c(float(a), c) == 1.0


def test_erlang_c_is_at_least_erlang_b():
    # Waiting systems hold arrivals that a loss system would turn away: C(c, A) ≥ B(c, A).
    for a, c in [(0.5, 1), (3.0, 5), (10.0, 12), (50.0, 60)]:
        assert erlang_c(a, c) > erlang_b(a, c)


def test_negative_inputs_are_refused():
    with pytest.raises(ValueError):
        erlang_b(-1.0, 2)
    with pytest.raises(ValueError):
        erlang_c(1.0, -2)


@pytest.mark.parametrize("rho", [0.1, 0.5, 0.9])
def test_single_server_wait_probability_equals_utilisation(rho):
    # M/M/1: P(wait) = rho.
    assert erlang_c(rho, 1) == pytest.approx(rho, rel=1e-9)


@pytest.mark.parametrize("a", [0.5, 1.0, 1.5])
def test_two_servers_closed_form(a):
    # M/M/2: C(2, A) = A^2 / (2 + A).
    assert erlang_c(a, 2) == pytest.approx(a * a / (2 + a), rel=1e-9)


@pytest.mark.parametrize("a,n,expected", [(2.0, 3, 4 / 9), (10.0, 11, 0.6821), (10.0, 12, 0.4494), (10.0, 13, 0.2853)])
def test_table_values(a, n, expected):
    assert erlang_c(a, n) == pytest.approx(expected, abs=5e-4)


def test_unstable_queue_everyone_waits_forever():
    assert erlang_c(3.0, 3) == 1.0
    assert erlang_c(3.5, 3) == 1.0
    assert math.isinf(mean_wait_min(3.0, 3, 60))
    assert erlang_c(0.0, 2) == 0.0 and mean_wait_min(0.0, 2, 60) == 0.0


def test_mean_wait_mm1():
    # M/M/1, rho = 0.5, service 60 min: Wq = rho / (1 - rho) * service = 60 min.
    assert mean_wait_min(0.5, 1, 60.0) == pytest.approx(60.0)
    # M/M/2, A = 1: C = 1/3, Wq = C * S / (c - A) = 20 min.
    assert mean_wait_min(1.0, 2, 60.0) == pytest.approx(20.0)


def test_probability_of_waiting_longer_than_t():
    # M/M/1: P(W > t) = rho * exp(-(1 - rho) t / S).
    assert prob_wait_over(0.5, 1, 60.0, 30.0) == pytest.approx(0.5 * math.exp(-0.25))


def test_staff_needed_call_centre_example():
    # 100 calls per 30 min, 3 min handling → A = 10 Erlangs. ASA at 11/12/13 agents ≈ 123 s / 40 s / 17 s.
    assert staff_needed(10.0, service_min=3.0, target_wait_min=0.5, max_occupancy=1.0) == 13
    assert staff_needed(10.0, service_min=3.0, target_wait_min=1.0, max_occupancy=1.0) == 12
    assert staff_needed(10.0, service_min=3.0, target_wait_min=2.1, max_occupancy=1.0) == 11
    # The occupancy cap binds: 10 / 0.8 = 12.5 → 13 windows.
    assert staff_needed(10.0, service_min=3.0, target_wait_min=60, max_occupancy=0.8) == 13


def test_staff_needed_rejects_bad_targets():
    with pytest.raises(ParameterError, match="target_wait_min"):
        staff_needed(2.0, target_wait_min=0)
    with pytest.raises(ParameterError, match="max_occupancy"):
        staff_needed(2.0, max_occupancy=1.5)


def test_counter_load_uses_open_hours_and_service_time():
    # 10 applications in 5 open hours, 1 hour each, busiest hour 1.3x: 2.6 Erlangs.
    assert float(offered_load(10, 5.0, 60.0, 1.3)) == pytest.approx(2.6)
    q = QueueSettings(target_wait_min=30, max_occupancy=1.0)
    a = 2.6
    n = q.staff(10)
    assert mean_wait_min(a, n, 60) <= 30 < mean_wait_min(a, n - 1, 60)
    # More applications never need fewer windows.
    assert [q.staff(c) for c in range(0, 60, 5)] == sorted(q.staff(c) for c in range(0, 60, 5))


def test_session_simulation_converges_to_erlang_c_for_a_long_day():
    # One 2000-hour session, uniform arrivals, exponential service: a long M/M/2 run.
    sim = simulate_session_waits(2400, 2, sessions=((0.0, 2000.0),), peak_hour_factor=1.0, service_cv=1.0,
                                 service_min=60.0, reps=30, seed=1).mean()  # lambda = 1.2 / h → A = 1.2
    assert sim == pytest.approx(mean_wait_min(1.2, 2, 60.0), rel=0.10)


def test_session_simulation_more_windows_shorter_waits_and_staffing_monotone():
    w = [simulate_session_waits(20, c).mean() for c in (1, 2, 3, 4, 6)]
    assert all(a > b for a, b in pairwise(w))
    assert simulate_session_waits(0, 2).sum() == 0
    needed = [staff_needed_session(n, target_wait_min=20) for n in (2, 5, 10, 20, 40)]
    assert needed == sorted(needed) and needed[-1] > needed[0]
    c = staff_needed_session(20, target_wait_min=20)
    assert simulate_session_waits(20, c).mean() <= 20 < simulate_session_waits(20, c - 1).mean()


def test_counter_settings_use_the_shared_simulation():
    # QueueSettings passes its opening hours, service time and seed through unchanged.
    q = QueueSettings(sessions=((8.5, 12.0),), service_min=30.0, service_cv=0.8, peak_hour_factor=1.5,
                      sim_reps=40, seed=7, target_wait_min=10, method="session")
    direct = simulate_session_waits(15, 2, sessions=((8.5, 12.0),), service_min=30.0, service_cv=0.8,
                                    peak_hour_factor=1.5, reps=40, seed=7)
    np.testing.assert_array_equal(q.simulate(15, 2), direct)
    assert q.staff(15) == staff_needed_session(15, target_wait_min=10, **q.simulation())


def test_short_sessions_wait_less_than_steady_state():
    # 8 applicants over 9–11 / 13–16 with 2 windows: the steady-state formula is unstable-ish (A = 2.08),
    # the opening-hours simulation is finite.
    assert math.isinf(mean_wait_min(float(offered_load(8)), 2, 60.0))
    assert simulate_session_waits(8, 2).mean() < 60
