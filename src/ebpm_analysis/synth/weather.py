"""Synthetic daily weather with a city's seasonal cycle, written as a JMA download CSV.

Monthly means come from the bundled JMA normals (1991–2020) of the observatory nearest to the city
(:func:`ebpm_analysis.lookups.nearest_station`, docs/sources.md#jma-stations); day-to-day anomalies follow
an AR(1) process; rain occurs on a Markov chain with monthly wet-day frequency and gamma
amounts scaled to the monthly normal. Deterministic for a seed.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..io.common import atomic_path
from ..io.jma import read_jma_normals
from ..provenance import suspended


def station_normals(city: str = "43100"):
    """The JMA observatory nearest to ``city`` (:class:`ebpm_analysis.lookups.Station`) and its monthly
    normals (:func:`ebpm_analysis.io.jma.read_jma_normals`)."""
    from ..lookups import nearest_station
    with suspended():  # calibration data of the generator, not an input of the analysis
        station = nearest_station(city)
        normals = read_jma_normals(station_no=station.number)
    return station, normals


def generate_daily_weather(start: str, end: str, seed: int, normals: pd.DataFrame | None = None, *,
                           city: str = "43100") -> pd.DataFrame:
    """Daily ``date, temp_mean, temp_max, temp_min, precip_mm`` from ``start`` to ``end``, around the
    monthly ``normals`` (default: those of the observatory nearest to ``city``, see :func:`station_normals`)."""
    if normals is None:
        normals = station_normals(city)[1]
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, end, freq="D")
    n = len(dates)
    doy = dates.day_of_year.to_numpy()
    # Smooth seasonal curve through monthly normals (mid-month anchors, periodic interpolation).
    mid = np.array([15, 45, 74, 105, 135, 166, 196, 227, 258, 288, 319, 349])
    def seasonal(col):
        v = normals.sort_values("month")[col].to_numpy(dtype=float)
        x = np.concatenate([mid - 365, mid, mid + 365])
        return np.interp(doy, x, np.tile(v, 3))
    tmean_clim = seasonal("temperature")
    tmax_clim = seasonal("temperature_max")
    tmin_clim = seasonal("temperature_min")
    precip_month = normals.sort_values("month")["precipitation"].to_numpy(dtype=float)
    anom = np.zeros(n)
    eps = rng.normal(0, 1.6, n)
    for i in range(1, n):
        anom[i] = 0.7 * anom[i - 1] + eps[i]
    tmean = tmean_clim + anom
    tmax = tmax_clim + anom * 1.1 + rng.normal(0, 0.8, n)
    tmin = tmin_clim + anom * 0.9 + rng.normal(0, 0.8, n)
    month = dates.month.to_numpy()
    days_in_month = dates.days_in_month.to_numpy()
    # Wet-day probability rises with monthly rainfall (熊本 47819: ~7 wet days in Dec, ~15 in Jun).
    p_wet = np.clip(0.18 + precip_month[month - 1] / 1400, 0.15, 0.6)
    wet = np.zeros(n, dtype=bool)
    for i in range(n):
        p = p_wet[i] + (0.2 if i and wet[i - 1] else -0.05)
        wet[i] = rng.random() < np.clip(p, 0.05, 0.9)
    mean_amount = precip_month[month - 1] / (p_wet * days_in_month)
    amount = np.where(wet, rng.gamma(0.8, mean_amount / 0.8), 0.0)
    # Rain cools the day.
    tmax = tmax - np.where(amount > 5, 1.5, 0.0)
    return pd.DataFrame({
        "date": dates, "temp_mean": np.round(tmean, 1), "temp_max": np.round(np.maximum(tmax, tmean + 0.5), 1),
        "temp_min": np.round(np.minimum(tmin, tmean - 0.5), 1), "precip_mm": np.round(amount, 1),
    })


def write_jma_daily_csv(df: pd.DataFrame, path: str | os.PathLike, station: str = "熊本",
                        encoding: str = "cp932", downloaded: str = "2026/11/27 09:00:00") -> Path:
    """Write ``df`` (date, temp_mean, temp_max, temp_min, precip_mm) in the JMA download layout."""
    path = Path(path)
    elements = [("平均気温(℃)", "temp_mean"), ("最高気温(℃)", "temp_max"), ("最低気温(℃)", "temp_min"),
                ("降水量の合計(mm)", "precip_mm")]
    stations, names, subs_a, subs_b = [""], ["年月日"], [""], [""]
    for label, key in elements:
        if key == "precip_mm":
            stations += [station] * 4
            names += [label] * 4
            subs_a += ["", "現象なし情報", "", ""]
            subs_b += ["", "現象なし情報", "品質情報", "均質番号"]
        else:
            stations += [station] * 3
            names += [label] * 3
            subs_a += ["", "", ""]
            subs_b += ["", "品質情報", "均質番号"]
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding=encoding, newline="") as f:
            w = csv.writer(f, lineterminator="\r\n")
            w.writerow([f"ダウンロードした時刻：{downloaded}"])
            w.writerow([])
            w.writerow(stations)
            w.writerow(names)
            w.writerow(subs_a)
            w.writerow(subs_b)
            for r in df.itertuples(index=False):
                d = pd.Timestamp(r.date)
                row = [f"{d.year}/{d.month}/{d.day}"]
                for _, key in elements:
                    v = getattr(r, key)
                    if key == "precip_mm":
                        row += [f"{v:.1f}", "1" if v == 0 else "0", "8", "1"]
                    else:
                        row += [f"{v:.1f}", "8", "1"]
                w.writerow(row)
    return path
