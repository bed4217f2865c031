"""Case 1 — census commuting: 従業上の地位 × 従業地 cross-tabs and the in-city employment rate.

Pure functions over tidy frames (no file reading, no plotting).

- Hierarchies: area 市 > 区 > 学区 (district), 従業上の地位 総数 "0" > 雇用者 "E" > 1–3, 4–9,
  従業地 総数 "0" > 1 自宅, 2 自宅外の自市区町村, 3 自市内他区, 4 県内他市区町村, 5 他県, 9 不詳.
- 市内従業率 = (自宅 + 自宅外の自市区町村 + 自市内他区) / (就業者 − 従業地不詳), Wilson 95 % interval;
  the same for 雇用者 only (docs/sources.md#census-workplace).
- Disclosure control before anything is shown: every cell of the full hierarchical table goes
  through primary + complementary suppression (:mod:`ebpm_analysis.stats.disclosure`), until linear
  programming over the published cells bounds no hidden cell closer than ``min_cell``; a rate is
  published only if every count it is computed from is published.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ParameterError
from ..io.census_microdata import (
    EMPLOYEE_STATUS,
    INCITY_WORKPLACE,
    STATUS_LABELS,
    UNKNOWN_WORKPLACE,
    WORKPLACE_LABELS,
)
from ..io.estat import dash_as_zero
from ..stats import disclosure as D
from ..stats.disclosure import (
    LinearTable,
    combine_tables,
    hierarchical_table,
    interval_suppression,
    recomputable,
    table_from_cells,
)
from ..stats.intervals import wilson_ci

STATUS_TREE = {"0": ["E", "4", "S", "7", "O"], "E": list(EMPLOYEE_STATUS), "S": ["5", "6"], "O": ["8", "9"]}
#: statuses published for districts (coarser than for wards, so that few district cells are small)
DISTRICT_STATUS = ("0", "E", "4", "S", "7", "O")
WORKPLACE_TREE = {"0": ["1", "2", "3", "4", "5", "9"]}
STATUS_NODES = {"0": "総数", "E": "雇用者", "1": STATUS_LABELS["1"], "2": STATUS_LABELS["2"], "3": STATUS_LABELS["3"],
                "4": STATUS_LABELS["4"], "S": "自営業主", "5": STATUS_LABELS["5"], "6": STATUS_LABELS["6"],
                "7": STATUS_LABELS["7"], "O": "家庭内職者・地位不詳", "8": STATUS_LABELS["8"], "9": STATUS_LABELS["9"],
                "N": "雇用者以外"}
WORKPLACE_NODES = {"0": "総数", **WORKPLACE_LABELS}
#: short 従業地 headers of the displayed tables
SHORT_WORKPLACE = {"0": "総数", "1": "自宅", "2": "自区・自宅外", "3": "市内他区", "4": "県内他市町村", "5": "他県",
                   "9": "不詳"}


# --- building the table --------------------------------------------------------------------------

def area_tree(areas: pd.DataFrame, city_code: str) -> dict[str, list[str]]:
    """{city: wards, ward: districts} from ``district_code, ward_code`` (a city without wards: {city: districts})."""
    wards = sorted(areas["ward_code"].astype(str).unique())
    tree: dict[str, list[str]] = {}
    if wards == [city_code]:
        tree[city_code] = sorted(areas["district_code"].astype(str))
        return tree
    tree[city_code] = wards
    for w in wards:
        tree[w] = sorted(areas.loc[areas["ward_code"].astype(str) == w, "district_code"].astype(str))
    return tree


def microdata_leaves(persons: pd.DataFrame) -> pd.DataFrame:
    """Counts per district × 従業上の地位 × 従業地 (leaf codes) from validated person records."""
    g = persons.groupby(["area_code", "status", "workplace"], observed=True).size()
    full = pd.MultiIndex.from_product([sorted(persons["area_code"].astype(str).unique()), list(STATUS_LABELS),
                                       list(WORKPLACE_LABELS)], names=["area", "status", "workplace"])
    g.index = g.index.set_names(["area", "status", "workplace"])
    g.index = pd.MultiIndex.from_arrays([g.index.get_level_values(i).astype(str) for i in range(3)],
                                        names=g.index.names)
    out = g.reindex(full, fill_value=0).reset_index(name="count")
    return out


def commuting_table(leaves: pd.DataFrame, areas: pd.DataFrame, city_code: str) -> LinearTable:
    """Hierarchical table area × 従業上の地位 × 従業地 from district leaf counts.

    City and wards carry every status node; districts carry the coarser :data:`DISTRICT_STATUS`
    (fine statuses of small areas would be mostly small cells)."""
    trees = {"area": area_tree(areas, city_code), "status": STATUS_TREE, "workplace": WORKPLACE_TREE}
    unknown = set(leaves["area"]) - set(areas["district_code"].astype(str))
    if unknown:
        raise ValueError(f"districts in the data but not in the boundaries: {sorted(unknown)[:5]}")
    full = hierarchical_table(leaves, trees, value="count").cells
    district = full["area"].isin(set(areas["district_code"].astype(str)))
    keep = ~district | full["status"].isin(DISTRICT_STATUS)
    return table_from_cells(full[keep], trees)


def merge_small_areas(areas, leaves: pd.DataFrame, min_employed: int = 100) -> dict[str, str]:
    """合算 like the census small-area tables: each district with fewer than ``min_employed``
    employed residents is merged into the nearest district of the same ward (by centroid).
    Returns {source: destination}."""
    n = leaves.groupby("area")["count"].sum().reindex(areas["district_code"].astype(str)).fillna(0)
    small = set(n.index[n < min_employed])
    cent = areas.geometry.centroid
    code = areas["district_code"].astype(str).to_numpy()
    ward = areas["ward_code"].astype(str).to_numpy()
    out = {}
    for i in np.flatnonzero(np.isin(code, list(small))):
        cand = np.flatnonzero((ward == ward[i]) & ~np.isin(code, list(small)))
        if len(cand):
            j = cand[np.argmin(cent.iloc[cand].distance(cent.iloc[i]).to_numpy())]
            out[code[i]] = code[j]
    return out


def apply_merge(areas, leaves: pd.DataFrame, merged: dict[str, str]):
    """Districts with merged sources dissolved into their destination; leaves re-coded (no double counting)."""
    a = areas.copy()
    a["district_code"] = a["district_code"].astype(str).replace(merged)
    names = areas.set_index(areas["district_code"].astype(str))["district_name"]
    a = a.dissolve(by="district_code", as_index=False, aggfunc="first")
    a["district_name"] = a["district_code"].map(names)
    dest = pd.Series(merged).groupby(pd.Series(merged)).apply(lambda s: "・".join(names[x] for x in s.index))
    has = a["district_code"].isin(dest.index)
    a.loc[has, "district_name"] = a.loc[has, "district_name"] + "（" + a.loc[has,
                                                                            "district_code"].map(dest) + "を含む）"
    lv = leaves.assign(area=leaves["area"].astype(str).replace(merged))
    lv = lv.groupby(["area", "status", "workplace"], as_index=False)["count"].sum()
    return a, lv


def disclosure_cost(cells: pd.DataFrame, city_code: str) -> np.ndarray:
    """Cost of hiding a cell: its count, weighted up for the cells the rates are computed from
    (総数/雇用者 × 総数, 自宅, 自宅外, 他区, 不詳) and for wards/city."""
    v = np.nan_to_num(cells["value"].to_numpy(float))
    in_rate = cells["status"].isin(["0", "E"]) & cells["workplace"].isin(["0", UNKNOWN_WORKPLACE, *INCITY_WORKPLACE])
    w = np.where(in_rate, 1000.0, np.where(cells["status"].isin(["0", "E"]), 5.0, 1.0))
    w = w * np.where(cells["area"].str.len() <= 5, 50.0, 1.0)
    return v * w


def disclose(table: LinearTable, min_cell: int = 10, city_code: str = "",
             protection_width: float | None = None) -> pd.DataFrame:
    """Suppressed cells (primary + complementary) with ``published`` and ``disclosure`` columns: every
    hidden cell keeps an interval at least ``protection_width`` (default ``min_cell``) wide against linear
    programming over the published cells (:func:`~ebpm_analysis.stats.disclosure.interval_suppression`)."""
    return interval_suppression(table, min_cell, protection_width, cost=disclosure_cost(table.cells, city_code))


def protection_check(table: LinearTable, cells: pd.DataFrame, method: str = "rank") -> pd.DataFrame:
    """:func:`~ebpm_analysis.stats.disclosure.recomputable` for the hidden cells of ``cells``."""
    hidden = (cells["disclosure"] != "published").to_numpy()
    return recomputable(table, hidden, method=method)


# --- e-Stat table path ----------------------------------------------------------------------------

def _cells_from_values(df: pd.DataFrame, area_col: str) -> pd.DataFrame:
    v = dash_as_zero(df["value"], df["value_flag"])
    return pd.DataFrame({"area": df[area_col].astype(str), "status": df["status"].astype(str),
                         "workplace": df["workplace"].astype(str), "value": v.to_numpy(float)})


def estat_tables(api: pd.DataFrame, gis: pd.DataFrame, city_code: str) -> tuple[LinearTable, LinearTable, pd.DataFrame]:
    """Tables from the e-Stat path: (ward table from the API CSV, district table from the 統計GIS CSV,
    areas frame of the districts that carry values).

    ``-`` counts as 0 here (none / not applicable, e.g. 自市内他区 outside designated cities);
    ``x``, ``…``, ``*`` stay missing. 秘匿元 small areas are excluded from the district list (their
    counts are inside the 合算先), so districts add up to wards without double counting.
    """
    wc = _cells_from_values(api, "area_code")
    wards = sorted(set(wc["area"]) - {city_code})
    area_t = {city_code: wards} if wards else {}
    ward_table = table_from_cells(_complete(wc), {"area": area_t, "status": STATUS_TREE, "workplace": WORKPLACE_TREE})
    g = gis[gis["merged_into"] == ""]
    dc = _cells_from_values(g, "KEY_CODE")
    tot = dc[dc["status"] == "0"].set_index(["area", "workplace"])["value"]
    emp = dc[dc["status"] == "E"].set_index(["area", "workplace"])["value"]
    other = (tot - emp.reindex(tot.index)).reset_index()
    other["status"] = "N"
    dc = pd.concat([dc, other[["area", "status", "workplace", "value"]]], ignore_index=True)
    lvl = g.drop_duplicates("KEY_CODE").set_index("KEY_CODE")["HYOSYO"]
    ward_codes = sorted(lvl[lvl == "1"].index)
    dist_codes = sorted(lvl[lvl != "1"].index)
    areas = pd.DataFrame({"district_code": dist_codes})
    areas["ward_code"] = areas["district_code"].str[:5]
    if ward_codes == [city_code] or not ward_codes:
        tree = {city_code: dist_codes}
        if not ward_codes:
            city = dc.groupby(["status", "workplace"], as_index=False)["value"].sum(min_count=1)
            dc = pd.concat([dc, city.assign(area=city_code)], ignore_index=True)
    else:
        tree = {w: [d for d in dist_codes if d[:5] == w] for w in ward_codes}
        city = dc[dc["area"].isin(ward_codes)].groupby(["status", "workplace"], as_index=False)["value"] \
            .agg(lambda s: s.sum() if s.notna().all() else np.nan)
        dc = pd.concat([dc, city.assign(area=city_code)], ignore_index=True)
        tree = {city_code: ward_codes, **tree}
    dist_table = table_from_cells(_complete(dc), {"area": tree, "status": {"0": ["E", "N"]},
                                                  "workplace": WORKPLACE_TREE})
    return ward_table, dist_table, areas


def _complete(cells: pd.DataFrame) -> pd.DataFrame:
    dims = ["area", "status", "workplace"]
    full = pd.MultiIndex.from_product([sorted(set(cells[d])) for d in dims], names=dims).to_frame(index=False)
    return full.merge(cells.drop_duplicates(dims), on=dims, how="left")


# --- cross-tabs and rates ----------------------------------------------------------------------------

def _lookup(cells: pd.DataFrame, col: str) -> pd.Series:
    return cells.set_index(["area", "status", "workplace"])[col]


def crosstab(cells: pd.DataFrame, areas: list[str], *, statuses: list[str] | None = None,
             value: str = "published") -> pd.DataFrame:
    """Wide cross-tab: one row per area × 従業上の地位, counts per 従業地 and row shares (%).

    ``value='published'`` shows disclosure-controlled counts (NA where suppressed).
    """
    sub = cells[cells["area"].isin(areas)]
    if statuses is not None:
        sub = sub[sub["status"].isin(statuses)]
    wide = sub.pivot_table(index=["area", "status"], columns="workplace", values=value, aggfunc="first", dropna=False)
    wide = wide.reindex(columns=[c for c in WORKPLACE_NODES if c in wide.columns])
    order_s = {s: i for i, s in enumerate(STATUS_NODES)}
    order_a = {a: i for i, a in enumerate(areas)}
    wide = wide.reset_index()
    wide = wide[wide["area"].isin(order_a)]
    wide = wide.assign(_a=wide["area"].map(order_a), _s=wide["status"].map(order_s)).sort_values(["_a", "_s"])
    wide = wide.drop(columns=["_a", "_s"]).reset_index(drop=True)
    counts = wide[[c for c in WORKPLACE_NODES if c in wide.columns]].astype("Float64")
    shares = counts.drop(columns="0").div(counts["0"], axis=0) * 100
    out = wide[["area", "status"]].copy()
    out["status_label"] = out["status"].map(STATUS_NODES)
    for c in counts.columns:
        out[f"n_{c}"] = counts[c]
    for c in shares.columns:
        out[f"pct_{c}"] = shares[c].round(1)
    return out


def rate_table(cells: pd.DataFrame, areas: list[str], status: str = "0", alpha: float = 0.05) -> pd.DataFrame:
    """市内従業率 per area for 従業上の地位 node ``status`` ("0" all, "E" employees).

    Columns: ``area, employed, unknown, known, incity, rate, lower, upper, publishable``. Rates are
    computed from the full counts (``value``); ``publishable`` is False when any count used is
    suppressed or not available (then :func:`publish_rates` blanks the rate).
    """
    val = _lookup(cells, "value")
    hid = _lookup(cells, "disclosure") != "published" if "disclosure" in cells.columns else val.isna()
    rows = []
    for a in areas:
        keys = [(a, status, w) for w in ("0", UNKNOWN_WORKPLACE, *INCITY_WORKPLACE)]
        if not all(k in val.index for k in keys):
            rows.append((a, np.nan, np.nan, np.nan, np.nan, False))
            continue
        v = [val[k] for k in keys]
        pub = not any(bool(hid[k]) for k in keys)
        rows.append((a, v[0], v[1], v[0] - v[1], sum(v[2:]), pub))
    out = pd.DataFrame(rows, columns=["area", "employed", "unknown", "known", "incity", "publishable"])
    with np.errstate(invalid="ignore", divide="ignore"):
        out["rate"] = out["incity"] / out["known"].where(out["known"] > 0)
    lo, hi = wilson_ci(out["incity"].fillna(0).to_numpy(), out["known"].fillna(0).to_numpy(), alpha=alpha)
    out["lower"], out["upper"] = lo, hi
    out.loc[out["rate"].isna(), ["lower", "upper"]] = np.nan
    out["publishable"] = out["publishable"] & out["rate"].notna()
    return out[["area", "employed", "unknown", "known", "incity", "rate", "lower", "upper", "publishable"]]


def publish_rates(rates: pd.DataFrame) -> pd.DataFrame:
    """Blank rates, intervals and counts that are not publishable."""
    out = rates.copy()
    cols = ["employed", "unknown", "known", "incity", "rate", "lower", "upper"]
    out[cols] = out[cols].astype(float)
    out.loc[~out["publishable"], cols] = np.nan
    return out


def classify(rates: pd.DataFrame, reference: float) -> pd.Series:
    """'高い' if the whole 95 % interval is above ``reference``, '低い' if below, else '差なし'."""
    lab = np.where(rates["lower"] > reference, "高い", np.where(rates["upper"] < reference, "低い", "差なし"))
    return pd.Series(np.where(rates["rate"].isna(), "秘匿・不明", lab), index=rates.index)


def target_districts(rates_all: pd.DataFrame, rates_emp: pd.DataFrame, names: dict[str, str], city_rate: float,
                     n: int = 5) -> pd.DataFrame:
    """Districts for in-city job matching (local-hiring seminars, job fairs).

    Rule (Toyonaka model): residents already work inside the city more than the city as a whole,
    with the 95 % interval entirely above the city rate; ranked by rate, then by the number of
    employed residents. The reason is composed from each district's own numbers.
    """
    r = rates_all[rates_all["publishable"]].copy()
    r = r.merge(rates_emp[["area", "rate", "known", "incity", "publishable"]].rename(
        columns={"rate": "rate_emp", "known": "known_emp", "incity": "incity_emp", "publishable": "pub_emp"}),
        on="area", how="left")
    r = r[r["lower"] > city_rate].sort_values(["rate", "known"], ascending=[False, False]).head(n)
    reasons = []
    for x in r.itertuples(index=False):
        emp = (f"雇用者に限っても{x.rate_emp:.1%}（{int(x.incity_emp):,}/{int(x.known_emp):,}人）"
               if x.pub_emp and pd.notna(x.rate_emp) else "雇用者のみの率は秘匿")
        reasons.append(
            f"市内従業率{x.rate:.1%}（95%区間{x.lower:.1%}～{x.upper:.1%}）は市全体{city_rate:.1%}を"
            f"{(x.rate - city_rate) * 100:.1f}ポイント上回り、区間の下限も市全体より高い。"
            f"従業地が分かる就業者{int(x.known):,}人のうち{int(x.incity):,}人が市内で従業。{emp}。")
    out = pd.DataFrame({
        "district": r["area"].to_numpy(), "name": r["area"].map(names).to_numpy(),
        "rate": r["rate"].to_numpy(), "lower": r["lower"].to_numpy(), "upper": r["upper"].to_numpy(),
        "known": r["known"].to_numpy(), "rate_employees": r["rate_emp"].to_numpy(), "reason": reasons,
    })
    return out


def ward_totals(cells: pd.DataFrame, wards: list[str]) -> pd.DataFrame:
    """Leaf counts ward × 従業上の地位 × 従業地 (value column) — for checks against a generator's totals."""
    leaf_s = [s for s in STATUS_LABELS]
    leaf_w = [w for w in WORKPLACE_LABELS]
    sub = cells[cells["area"].isin(wards) & cells["status"].isin(leaf_s) & cells["workplace"].isin(leaf_w)]
    return sub.rename(columns={"area": "ward_code"})[["ward_code", "status", "workplace", "value"]]


# --- one call per input kind (the notebook stays thin) --------------------------------------------

@dataclass
class CensusResult:
    """Everything a census commuting report shows, from one call of :func:`analyse_microdata` or
    :func:`analyse_estat`. Counts are disclosure-controlled wherever they are meant to be shown.

    Attributes
    ----------
    city_code, city_name : str
        The city of the run.
    input_kind : {"microdata", "estat_table"}
        Which entry point produced the result.
    n_records : int or None
        Person records read (microdata), ``None`` for e-Stat tables.
    areas : GeoDataFrame
        District polygons after 合算 (``district_code, district_name, ward_code, ward_name``).
    merged : dict of str to str
        Merged (tiny) district → the district it was added to.
    cells : DataFrame
        Every cell area × 従業上の地位 × 従業地 with ``value`` (full count), ``published`` (NA when
        suppressed) and ``disclosure`` (``published``/``primary``/``complementary``/``missing``).
    checked : list of (LinearTable, DataFrame)
        The linear system(s) the suppression protects, with their cells (for :func:`protection_check`).
    names : dict of str to str
        Name of every area code (city, wards, districts).
    ward_codes, district_codes : list of str
        Wards (empty for a city without wards) and districts, sorted.
    city_rate, city_rate_employees : DataFrame
        One-row :func:`rate_table` of the city (all employed / employees only), unpublished form.
    district_rates, district_rates_employees, ward_rates, ward_rates_employees : DataFrame
        :func:`publish_rates` tables (``ward_*`` are ``None`` without wards).
    district_class : Series
        :func:`classify` of each district rate against the city rate (aligned with ``district_rates``).
    targets : DataFrame
        :func:`target_districts` (at most ``n_targets``).
    n_primary, n_hidden, n_recomputable : int
        Primary-suppressed cells, all suppressed cells, suppressed cells recomputable from the
        published ones (must be 0).
    protection_width : float
        Every hidden cell keeps an LP interval at least this wide (``min_cell``).
    n_narrow : int
        Hidden cells whose LP interval is narrower than ``protection_width`` (must be 0).
    """

    city_code: str
    city_name: str
    input_kind: str
    n_records: int | None
    areas: object
    merged: dict
    cells: pd.DataFrame
    checked: list
    names: dict
    ward_codes: list
    district_codes: list
    city_rate: pd.DataFrame
    city_rate_employees: pd.DataFrame
    district_rates: pd.DataFrame
    district_rates_employees: pd.DataFrame
    ward_rates: pd.DataFrame | None
    ward_rates_employees: pd.DataFrame | None
    district_class: pd.Series
    targets: pd.DataFrame
    n_primary: int
    n_hidden: int
    n_recomputable: int
    protection_width: float
    n_narrow: int

    @property
    def rate(self) -> float:
        """市内従業率 of the city (all employed)."""
        return float(self.city_rate["rate"].iloc[0])

    @property
    def rate_employees(self) -> float:
        """市内従業率 of the city's employees (雇用者)."""
        return float(self.city_rate_employees["rate"].iloc[0])

    @property
    def has_wards(self) -> bool:
        return bool(self.ward_codes)

    def class_counts(self) -> dict[str, int]:
        """Districts significantly above / below the city rate: ``{"高い": n, "低い": n}``."""
        return {k: int((self.district_class == k).sum()) for k in ("高い", "低い")}

    def district_table(self) -> pd.DataFrame:
        """District rates (all and employees) with names and class, highest rate first."""
        tab = self.district_rates.merge(self.district_rates_employees[["area", "rate", "lower", "upper"]],
                                        on="area", suffixes=("", "_e"))
        tab = tab.assign(name=tab["area"].map(self.names), cls=self.district_class.to_numpy())
        return tab.sort_values("rate", ascending=False)

    def district_extremes(self) -> tuple[pd.Series, pd.Series]:
        """The published districts with the lowest and the highest rate (rows of ``district_rates``)."""
        pub = self.district_rates.dropna(subset=["rate"])
        return pub.loc[pub["rate"].idxmin()], pub.loc[pub["rate"].idxmax()]

    def named_rates(self, level: str = "district", cls: str | None = None) -> list[tuple[str, float]]:
        """(name, rate) of the published ward or district rates, lowest first; ``cls`` keeps only
        districts of that :attr:`district_class` (e.g. "低い")."""
        if level == "ward":
            r = self.ward_rates.dropna(subset=["rate"]) if self.ward_rates is not None else self.district_rates[:0]
        elif cls is not None:
            r = self.district_rates[self.district_class == cls]
        else:
            r = self.district_rates.dropna(subset=["rate"])
        r = r.sort_values("rate")
        return [(self.names[a], float(v)) for a, v in zip(r["area"], r["rate"], strict=True)]

    def counts_table(self) -> pd.DataFrame:
        """City and wards × 従業上の地位 × 従業地, published counts (NA where suppressed), Japanese headers."""
        ct = self.crosstab()
        ct.insert(0, "地域", ct["area"].map(self.names))
        show = ct.drop(columns=["area", "status"] + [c for c in ct.columns if c.startswith("pct_")])
        show = show.rename(columns={"status_label": "従業上の地位", **{f"n_{k}": v for k,
                                                                 v in SHORT_WORKPLACE.items()}})
        for c in show.columns[2:]:
            show[c] = show[c].astype("Int64")
        return show

    def shares_table(self, statuses=("0", "E", "S", "7")) -> pd.DataFrame:
        """Row shares (%) of 従業地 for city and wards, statuses 総数・雇用者・自営業主・家族従業者."""
        ct = self.crosstab()
        sh = ct[ct["status"].isin(list(statuses))]
        return pd.DataFrame({"地域": sh["area"].map(self.names), "従業上の地位": sh["status_label"],
                             **{lab: sh[f"pct_{k}"].astype(float) for k, lab in SHORT_WORKPLACE.items() if k != "0"}})

    def crosstab(self, levels: list[str] | None = None, **kw) -> pd.DataFrame:
        """:func:`crosstab` of the published cells (default: city and wards)."""
        return crosstab(self.cells, levels if levels is not None else [self.city_code] + self.ward_codes, **kw)

    def rates_export(self) -> pd.DataFrame:
        """All published rates (city, districts, wards; all employed and employees) with names."""
        parts = [(publish_rates(self.city_rate), "city", "就業者"), (publish_rates(self.city_rate_employees), "city",
                                                                  "雇用者"),
                 (self.district_rates, "district", "就業者"), (self.district_rates_employees, "district", "雇用者")]
        if self.ward_rates is not None:
            parts += [(self.ward_rates, "ward", "就業者"), (self.ward_rates_employees, "ward", "雇用者")]
        out = pd.concat([r.assign(level=lvl, population=pop) for r, lvl, pop in parts], ignore_index=True)
        out.insert(1, "area_name", out["area"].map(self.names))
        return out.drop(columns=["publishable"])

    def exports(self) -> dict[str, pd.DataFrame]:
        """The published tables a run writes, as CSV and Parquet (file name → frame, for
        :func:`ebpm_analysis.io.write_tables`): no unsuppressed count."""
        wide = crosstab(self.cells, [self.city_code] + self.ward_codes + self.district_codes)
        wide.insert(1, "area_name", wide["area"].map(self.names))
        tables = {"crosstab_published": export_cells(self.cells, self.names), "crosstab_wide_shares": wide,
                  "incity_rates": self.rates_export(), "target_districts": self.targets}
        return {f"{name}.{ext}": df for name, df in tables.items() for ext in ("csv", "parquet")}

    def export_kinds(self) -> dict[str, D.Schema]:
        """Column kinds of :meth:`exports` (the ``.parquet`` twins take those of the ``.csv``). The long cross
        tabulation is declared as the hierarchical table it is (area × 従業上の地位 × 従業地, parents = sums
        of children), so that ``ebpm audit`` bounds its hidden cells by linear programming."""
        trees = {"area": area_tree(self.areas, self.city_code), "status": STATUS_TREE, "workplace": WORKPLACE_TREE}
        labels = {c: D.LABEL for c in ("area", "area_name", "status", "status_label", "workplace", "workplace_label",
                                       "disclosure")}
        wide = crosstab(self.cells, [self.city_code])
        n_cols = [c for c in wide.columns if c.startswith("n_")]
        shares = {f"pct_{c[2:]}": D.share([c, "n_0"]) for c in n_cols if c != "n_0"}
        return {
            "crosstab_published.csv": D.Schema(
                {**labels, "count": D.PERSONS}, linear={
                    "dims": ["area", "status", "workplace"], "value": "count", "trees": trees,
                    "hidden_where": {"disclosure": ["秘匿（少数）", "秘匿（補完）"]}}),
            "crosstab_wide_shares.csv": D.Schema(
                {**{c: D.LABEL for c in ("area", "area_name", "status", "status_label")},
                 **{c: D.PERSONS for c in n_cols}, **shares},
                sums=[("n_0", [c for c in n_cols if c != "n_0"])]),
            "incity_rates.csv": D.Schema(
                {**{c: D.LABEL for c in ("area", "area_name", "level", "population")},
                 **{c: D.PERSONS for c in ("employed", "unknown", "known", "incity")},
                 **{c: D.rate(["incity", "known"]) for c in ("rate", "lower", "upper")}},
                sums=[("employed", ["unknown", "known"])]),
            "target_districts.csv": D.Schema(
                {"district": D.LABEL, "name": D.LABEL, "reason": D.LABEL, "known": D.PERSONS,
                 "rate_employees": D.OTHER, **{c: D.rate("known") for c in ("rate", "lower", "upper")}},
                note="rates of districts also published with their counts in incity_rates.csv"),
        }


def source_label(input_kind: str, synthetic: bool) -> str:
    """Source note of the figures for the input kind (``microdata``/``estat_table``) and nature."""
    if synthetic:
        return ("国勢調査 調査票情報（合成データ）" if input_kind == "microdata"
                else "e-Stat 国勢調査 集計表（合成データ）")
    return ("国勢調査 調査票情報（統計法第33条）" if input_kind == "microdata"
            else "総務省統計局「国勢調査」（e-Stat）を加工して作成")


def _check(min_cell, n_targets) -> tuple[int, int]:
    if int(min_cell) < 1:
        raise ParameterError("min_cell", f"got {min_cell!r}", expected="an integer ≥ 1 (default 10)")
    if int(n_targets) < 0:
        raise ParameterError("n_targets", f"got {n_targets!r}", expected="an integer ≥ 0 (default 5)")
    return int(min_cell), int(n_targets)


def _result(kind: str, n_records, areas_m, merged, table_cells, city_code: str, city, n_targets: int) -> CensusResult:
    cells = table_cells[-1][1]
    if city is not None:
        city_name, has_wards = city.attrs.get("city_name", city_code), bool(city.attrs.get("has_wards", len(city) > 1))
        ward_names = dict(zip(city["code"], city["name"], strict=True))
    else:
        city_name, ward_names = city_code, dict(zip(areas_m["ward_code"], areas_m["ward_name"], strict=True))
        has_wards = set(ward_names) != {city_code}
    district_names = dict(zip(areas_m["district_code"], areas_m["district_name"], strict=True))
    names = {city_code: city_name, **ward_names, **district_names}
    ward_codes = sorted(ward_names) if has_wards else []
    district_codes = list(areas_m.sort_values("district_code")["district_code"])
    city_rate = rate_table(cells, [city_code])
    city_rate_e = rate_table(cells, [city_code], "E")
    cr = float(city_rate["rate"][0])
    r_d = publish_rates(rate_table(cells, district_codes))
    r_de = publish_rates(rate_table(cells, district_codes, "E"))
    r_w = publish_rates(rate_table(cells, ward_codes)) if ward_codes else None
    r_we = publish_rates(rate_table(cells, ward_codes, "E")) if ward_codes else None
    # disclose() checked its own result (interval protection implies no exact recomputation); recheck otherwise
    checks = [c.attrs["recomputable"] if "recomputable" in c.attrs
              else int(protection_check(t, c)["recomputable"].sum()) for t, c in table_cells]
    return CensusResult(
        city_code=city_code, city_name=city_name, input_kind=kind, n_records=n_records, areas=areas_m, merged=merged,
        cells=cells, checked=table_cells, names=names, ward_codes=ward_codes, district_codes=district_codes,
        city_rate=city_rate, city_rate_employees=city_rate_e, district_rates=r_d, district_rates_employees=r_de,
        ward_rates=r_w, ward_rates_employees=r_we, district_class=classify(r_d, cr),
        targets=target_districts(r_d, r_de, names, cr, n=int(n_targets)),
        n_primary=int((cells["disclosure"] == "primary").sum()),
        n_hidden=int(cells["disclosure"].isin(["primary", "complementary"]).sum()),
        n_recomputable=int(sum(checks)), protection_width=float(cells.attrs["protection_width"]),
        n_narrow=int(sum(c.attrs["narrow"] for _, c in table_cells)))


def analyse_microdata(persons: pd.DataFrame, areas, city_code: str, *, city=None, min_cell: int = 10,
                      merge_below: int = 100, n_targets: int = 5) -> CensusResult:
    """Census commuting from person records (調査票情報).

    Parameters
    ----------
    persons : DataFrame
        Validated records from :func:`ebpm_analysis.io.census_microdata.read_census_microdata`.
    areas : GeoDataFrame
        District polygons (:func:`ebpm_analysis.io.estat.read_small_area_boundaries`).
    city_code : str
        5-digit code of the city.
    city : GeoDataFrame, optional
        :func:`ebpm_analysis.geo.load_city` of the city (names of the city and its wards).
    min_cell : int
        Counts 1 … ``min_cell`` − 1 are suppressed (then complementary suppression).
    merge_below : int
        Districts with fewer employed residents are merged into the nearest district of their ward
        (0: no merging).
    n_targets : int
        At most this many target districts.

    Returns
    -------
    CensusResult

    Raises
    ------
    ParameterError
        ``min_cell`` < 1 or ``n_targets`` < 0.
    """
    min_cell, n_targets = _check(min_cell, n_targets)
    merge_below = int(merge_below)
    leaves = microdata_leaves(persons)
    merged = merge_small_areas(areas, leaves, merge_below) if merge_below > 0 else {}
    areas_m, leaves_m = apply_merge(areas, leaves, merged)
    table = commuting_table(leaves_m, areas_m, city_code)
    cells = disclose(table, min_cell, city_code)
    return _result("microdata", len(persons), areas_m, merged, [(table, cells)], city_code, city, n_targets)


def analyse_estat(api: pd.DataFrame, gis: pd.DataFrame, areas, city_code: str, *, city=None, min_cell: int = 10,
                  n_targets: int = 5) -> CensusResult:
    """Census commuting from e-Stat tables: the same result as :func:`analyse_microdata`.

    Both tables are published together, so they are suppressed and checked as one linear system
    (shared ward × 総数/雇用者 cells are one cell).

    Parameters
    ----------
    api : DataFrame
        City/ward table (:func:`ebpm_analysis.io.estat.read_commuting_api_table`).
    gis : DataFrame
        Small-area table (:func:`ebpm_analysis.io.estat.read_commuting_gis_table`); its 合算 is kept.
    areas, city_code, city, min_cell, n_targets
        As in :func:`analyse_microdata`, which also documents the result and the errors (one
        :class:`CensusResult`; :class:`ParameterError` from the same checks).
    """
    min_cell, n_targets = _check(min_cell, n_targets)
    ward_table, dist_table, dist_areas = estat_tables(api, gis, city_code)
    merged = dict(gis.attrs.get("merged", {}))
    a = areas[areas["district_code"].astype(str).isin(set(dist_areas["district_code"]) | set(merged))]
    leaves = pd.DataFrame({"area": dist_areas["district_code"], "status": "0", "workplace": "0", "count": 0})
    areas_m, _ = apply_merge(a, leaves, merged)
    missing = set(dist_areas["district_code"]) - set(areas_m["district_code"])
    if missing:
        raise ValueError(f"small areas without polygons: {sorted(missing)[:5]}")
    joint = combine_tables(ward_table, dist_table)
    cells = disclose(joint, min_cell, city_code)
    return _result("estat_table", None, areas_m, merged, [(joint, cells)], city_code, city, n_targets)


def export_cells(cells: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    """Long published table for export: no unsuppressed values."""
    out = cells[["area", "status", "workplace", "published", "disclosure"]].copy()
    out.insert(1, "area_name", out["area"].map(names))
    out.insert(3, "status_label", out["status"].map(STATUS_NODES))
    out.insert(5, "workplace_label", out["workplace"].map(WORKPLACE_NODES))
    out = out.rename(columns={"published": "count"})
    out["disclosure"] = out["disclosure"].map({"published": "", "primary": "秘匿（少数）",
                                               "complementary": "秘匿（補完）", "missing": "不明（原表）"})
    return out
