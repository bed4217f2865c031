"""Synthetic daily log of a 免税軽油 (tax-exempt diesel) permit counter, in the format a
prefectural office would export (cp932 CSV, one row per open day), plus its truth.

Model (all effects multiplicative, i.e. a log-linear negative-binomial process)::

    mu_d = level[month(d)] * weekday_rr[wd] * rain_rr**rain_d * holiday_adjacent_rr**adj_d
           * year_end_rr**ye_d
    level[m] = (renewals applied in m + other applications in m) / business days in m

- Renewals: a register of permits (使用者証) by expiry month; a permit is renewed every
  ``renewal_cycle_years`` and its holder applies ``renewal_lead_months`` before expiry.
- Calendar: the counter opens on 行政機関の開庁日 (Mon–Fri, not a national holiday via
  ``jpholiday``, not 12/29–1/3); weekdays 9:00–11:00 and 13:00–16:00, one application ≈ 60 min
  (熊本県 県央広域本部, docs/sources.md#diesel-counter).
- Holiday adjacency: an open day right before or after a closed *weekday* (national holiday or
  the year-end closure). Year-end: open days from 12/20 to 12/28.
- Rain: the day's precipitation ≥ ``rain_threshold_mm`` in the (synthetic) JMA weather file, generated
  from the normals of the JMA observatory nearest to the city served (:func:`.weather.station_normals`).
  Farmers come in when it rains, so rain raises the count.
- Waits: each day is simulated as a first-come-first-served queue; the office staffs windows for
  the month's average day (``staff_planned_occupancy``), so Mondays, rainy and holiday-adjacent days queue;
  arrivals spread over the open hours (more in the first hour of each session), gamma service times.

Everything here is **synthetic** (labelled so in the catalog and reports).
"""

from __future__ import annotations

import hashlib
import heapq
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .. import paths
from ..io.common import atomic_path, build_dir_once
from ..jpcalendar import WEEKDAY_JA, office_calendar
from .weather import generate_daily_weather, station_normals, write_jma_daily_csv

# Sessions of the Kumamoto counter, hours from midnight (docs/sources.md#diesel-counter).
SESSIONS = ((9.0, 11.0), (13.0, 16.0))


@dataclass
class CounterTruth:
    """The planted parameters (what the analysis should recover)."""

    weekday_rr: dict = field(default_factory=lambda: {"月": 1.30, "火": 1.05, "水": 1.00, "木": 0.95, "金": 1.15})
    rain_rr: float = 1.25
    holiday_adjacent_rr: float = 1.20
    year_end_rr: float = 1.45
    rain_threshold_mm: float = 1.0
    # Permits by expiry month (1..12); concentrated at fiscal year end, as when a scheme started in April.
    expiry_register: dict = field(default_factory=lambda: {
        1: 240, 2: 260, 3: 1300, 4: 330, 5: 300, 6: 260, 7: 250, 8: 230, 9: 700, 10: 280, 11: 250, 12: 260})
    renewal_cycle_years: int = 3
    renewal_lead_months: int = 1
    other_per_year: float = 700.0   # new permits, changes, 免税証 re-issues: spread evenly over open days
    nb_alpha: float = 0.04          # negative-binomial dispersion (Var = mu + alpha mu^2)
    # Windows staffed per day: the office plans for the month's average day at this occupancy.
    staff_planned_occupancy: float = 0.85
    staff_min: int = 2
    service_mean_min: float = 60.0
    service_shape: float = 4.0
    first_hour_weight: float = 1.6  # arrival density in each session's first hour vs the rest (≈ busiest hour 1.29x)


def monthly_levels(truth: CounterTruth, cal: pd.DataFrame) -> pd.Series:
    """Expected applications per open day for each (year, month) before day effects."""
    reg = pd.Series(truth.expiry_register, dtype=float).reindex(range(1, 13))
    renew_per_year = reg / truth.renewal_cycle_years
    # Applications in month m are renewals of permits expiring in month m + lead.
    lead = truth.renewal_lead_months
    apply_in = pd.Series({m: renew_per_year[(m - 1 + lead) % 12 + 1] for m in range(1, 13)})
    o = cal[cal["open"]]
    bd = o.groupby([o["date"].dt.year, o["date"].dt.month]).size()
    bd_per_year = o.groupby(o["date"].dt.month).size() / (len(cal) / 365.25)
    other_per_day = truth.other_per_year / bd_per_year.sum()
    lev = {}
    for y, m in bd.index:
        lev[(y, m)] = apply_in[m] / bd_per_year[m] + other_per_day
    return pd.Series(lev)


def _simulate_waits(n: int, staff: int, truth: CounterTruth, rng) -> tuple[float, float]:
    """Mean and max wait (minutes) of ``n`` applicants at ``staff`` windows."""
    if n == 0:
        return np.nan, np.nan
    # Arrival density: the first hour of each session gets ``first_hour_weight``.
    segs = []
    for a, b in SESSIONS:
        segs += [(a, a + 1.0, truth.first_hour_weight), (a + 1.0, b, 1.0)]
    w = np.array([(b - a) * k for a, b, k in segs])
    seg = rng.choice(len(segs), size=n, p=w / w.sum())
    t = np.array([rng.uniform(segs[s][0], segs[s][1]) for s in seg]) * 60.0
    t.sort()
    service = rng.gamma(truth.service_shape, truth.service_mean_min / truth.service_shape, n)
    free = [SESSIONS[0][0] * 60.0] * staff
    heapq.heapify(free)
    waits = np.empty(n)
    for i in range(n):
        f = heapq.heappop(free)
        start = max(t[i], f)
        waits[i] = start - t[i]
        heapq.heappush(free, start + service[i])
    return float(waits.mean()), float(waits.max())


def generate_counter_log(weather: pd.DataFrame, seed: int, truth: CounterTruth | None = None,
                         scale: float = 1.0, with_waits: bool = True) -> pd.DataFrame:
    """Daily log for the open days covered by ``weather`` (columns date, precip_mm).

    Returns ``date, count, wait_mean_min, wait_max_min, staff`` plus the drivers used
    (``rain``, ``holiday_adjacent``, ``year_end``, ``mu``) for checking.
    ``scale`` multiplies every level (larger samples for tests/benchmarks).
    """
    truth = truth or CounterTruth()
    rng = np.random.default_rng(seed)
    w = weather[["date", "precip_mm"]].copy()
    w["date"] = pd.to_datetime(w["date"])
    cal = office_calendar(w["date"].min(), w["date"].max()).merge(w, on="date", how="left")
    lev = monthly_levels(truth, cal)
    d = cal[cal["open"]].reset_index(drop=True)
    wd_rr = np.array([truth.weekday_rr[WEEKDAY_JA[k]] for k in range(5)])
    rain = (d["precip_mm"].fillna(0) >= truth.rain_threshold_mm).to_numpy()
    level = np.array([lev[(x.year, x.month)] for x in d["date"]])
    mu = (scale * level * wd_rr[d["weekday"].to_numpy()] * np.where(rain, truth.rain_rr, 1.0)
          * np.where(d["holiday_adjacent"], truth.holiday_adjacent_rr, 1.0)
          * np.where(d["year_end"], truth.year_end_rr, 1.0))
    # NB2 as a gamma–Poisson mixture.
    a = truth.nb_alpha
    lam = rng.gamma(1.0 / a, mu * a) if a > 0 else mu
    count = rng.poisson(lam)
    out = pd.DataFrame({"date": d["date"], "count": count.astype(int), "rain": rain,
                        "holiday_adjacent": d["holiday_adjacent"].to_numpy(),
                        "year_end": d["year_end"].to_numpy(), "mu": mu})
    if with_waits:
        open_h = sum(b - a for a, b in SESSIONS)
        staff = np.maximum(truth.staff_min, np.ceil(scale * level * truth.service_mean_min / 60.0
                                                     / open_h / truth.staff_planned_occupancy)).astype(int)
        waits = [_simulate_waits(int(n), int(c), truth, rng) for n, c in zip(count, staff, strict=True)]
        out["wait_mean_min"] = [round(x, 0) if x == x else np.nan for x, _ in waits]
        out["wait_max_min"] = [round(y, 0) if y == y else np.nan for _, y in waits]
        out["staff"] = staff
    return out


def write_counter_log_csv(log: pd.DataFrame, path, encoding: str = "cp932") -> Path:
    """Write the log as the office's export.

    Columns 日付, 曜日, 受付件数, 平均待ち時間(分), 最大待ち時間(分), 窓口職員数, 備考.
    """
    path = Path(path)
    rows = pd.DataFrame({
        "日付": [f"{x.year}/{x.month}/{x.day}" for x in log["date"]],
        "曜日": [WEEKDAY_JA[x.weekday()] for x in log["date"]],
        "受付件数": log["count"].astype(int).astype(str),
    })
    if "wait_mean_min" in log:
        rows["平均待ち時間(分)"] = [("" if pd.isna(v) else f"{int(v)}") for v in log["wait_mean_min"]]
        rows["最大待ち時間(分)"] = [("" if pd.isna(v) else f"{int(v)}") for v in log["wait_max_min"]]
    if "staff" in log:
        rows["窓口職員数"] = log["staff"].astype(int).astype(str)
    rows["備考"] = ""
    with atomic_path(path) as tmp:
        rows.to_csv(tmp, index=False, encoding=encoding, lineterminator="\r\n")
    return path


def write_expiry_register_csv(truth: CounterTruth, path, encoding: str = "cp932") -> Path:
    """Permits (使用者証) by expiry month: 有効期限月, 使用者証数."""
    path = Path(path)
    df = pd.DataFrame({"有効期限月": [str(m) for m in range(1, 13)],
                       "使用者証数": [str(int(truth.expiry_register[m])) for m in range(1, 13)]})
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, encoding=encoding, lineterminator="\r\n")
    return path


def truth_dict(truth: CounterTruth, seed: int, start: str, end: str, scale: float, city_code: str = "43100") -> dict:
    d = asdict(truth)
    d["expiry_register"] = {str(k): v for k, v in truth.expiry_register.items()}
    d.update({"seed": seed, "city_code": city_code, "start": start, "end": end, "scale": scale, "synthetic": True,
              "note": "Planted rate ratios (multiplicative effects relative to Wednesday, dry, "
                      "not holiday-adjacent, not year-end)."})
    return d


FILES = {"log": "counter_log.csv", "weather": "jma_daily.csv", "expiry": "expiry_register.csv", "truth": "truth.json"}


def ensure_counter(seed: int = 7, *, city_code: str = "43100", out_dir: str | os.PathLike | None = None,
                   start: str = "2021-04-01", end: str = "2026-03-31", scale: float = 1.0,
                   truth: CounterTruth | None = None) -> Path:
    """Write (once per key) the synthetic counter log, JMA weather CSV, expiry register and truth.

    A set is built in a temp dir and renamed, so a half-written set is never reused.

    Parameters
    ----------
    seed : int
        Seed of the generator (the weather uses ``seed + 1000``).
    city_code : str
        5-digit code (or name) of the main city or the prefecture the counter serves: the synthetic
        weather follows the normals of the JMA observatory nearest to it; recorded in the truth and
        the folder name (the calendar is the national office calendar).
    out_dir : path, optional
        Folder under which the set goes (default ``data/interim/06_counter_congestion/synthetic``).
    start, end : str
        First and last day of the log (ISO dates).
    scale : float
        Multiplies every day's expected applications.
    truth : CounterTruth, optional
        Planted effects (default :class:`CounterTruth`).

    Returns
    -------
    Path
        The folder holding :data:`FILES` (counter_log.csv, jma_daily.csv, expiry_register.csv, truth.json).
    """
    from .. import geo
    truth = truth or CounterTruth()
    city_code = geo.resolve_city(city_code).code
    station, normals = station_normals(city_code)
    # Everything that changes the files: city (→ weather station), seed, period, scale, planted truth.
    key = f"{city_code}_seed{seed}_{start}_{end}_x{scale:g}_wx{station.number}"
    if truth != CounterTruth():
        blob = json.dumps(asdict(truth), sort_keys=True, default=str).encode()
        key += "_custom" + hashlib.sha256(blob).hexdigest()[:10]
    dest = (paths.resolve(out_dir) if out_dir else paths.interim("06_counter_congestion", "synthetic")) / key
    files = {k: dest / v for k, v in FILES.items()}

    def build(tmp: Path) -> None:
        weather = generate_daily_weather(start, end, seed=seed + 1000, normals=normals)
        write_jma_daily_csv(weather, tmp / files["weather"].name, station=station.name)
        log = generate_counter_log(weather, seed=seed, truth=truth, scale=scale)
        write_counter_log_csv(log, tmp / files["log"].name)
        write_expiry_register_csv(truth, tmp / files["expiry"].name)
        td = truth_dict(truth, seed, start, end, scale, city_code)
        td["weather_station"] = {"number": station.number, "name": station.name, "distance_km": station.distance_km}
        (tmp / files["truth"].name).write_text(
            json.dumps(td, ensure_ascii=False, indent=2),
            encoding="utf-8")

    return build_dir_once(dest, FILES.values(), build)
