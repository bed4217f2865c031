"""Disclosure control (秘匿処理) for published tables.

Default threshold ``min_cell=10`` person counts (NDB-style: < 10 suppressed; docs/sources.md#disclosure-min-cell).
"""

from __future__ import annotations

import pandas as pd


def suppress_small(values: pd.Series | pd.DataFrame, min_cell: int = 10, *, keep_zero: bool = True):
    """Primary suppression: counts in 1..min_cell-1 become NA (zeros kept unless ``keep_zero`` is False)."""
    mask = (values < min_cell) & (values > 0 if keep_zero else True)
    return values.mask(mask).astype("Float64"), mask


# --- complementary suppression over hierarchical tables -----------------------------------------
#
# A published table is a set of cells (one per combination of nodes of each dimension's hierarchy,
# e.g. area 市 > 区 > 学区, 従業上の地位 総数 > 雇用者 > 正規…, 従業地 総数 > 自宅…) linked by linear
# constraints "parent = sum of children" along every dimension. Primary suppression hides counts in
# 1..min_cell-1; complementary suppression hides further cells until no hidden cell can be
# recomputed from what is published: no constraint may have exactly one hidden cell, and (checked
# exactly) no hidden cell may be a linear combination of published totals and cells.

from dataclasses import dataclass, field  # noqa: E402

import numpy as np  # noqa: E402


@dataclass
class LinearTable:
    """Cells (``dims`` columns + ``value``) and constraints: each an index array ``[parent, child1, …]``."""

    cells: pd.DataFrame
    dims: list[str]
    constraints: list[np.ndarray] = field(default_factory=list)

    @property
    def values(self) -> np.ndarray:
        return self.cells["value"].to_numpy(dtype=float)


def _leaf_sets(tree: dict[str, list[str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}

    def leaves(node):
        if node not in tree:
            return [node]
        if node not in out:
            out[node] = [x for ch in tree[node] for x in leaves(ch)]
        return out[node]

    for p in tree:
        leaves(p)
    return out


def hierarchical_table(leaves: pd.DataFrame, trees: dict[str, dict[str, list[str]]],
                       value: str = "count") -> LinearTable:
    """Build every node combination from leaf counts and link them by the hierarchies.

    ``leaves`` has one column per dimension (leaf codes) and ``value``; ``trees[dim]`` maps each
    parent node to its children (nested parents allowed, e.g. {"0": ["E", "4"], "E": ["1", "2"]}).
    Missing leaf combinations count as 0.
    """
    dims = list(trees)
    frame = leaves[dims + [value]].rename(columns={value: "value"})
    frame = frame.groupby(dims, observed=True, as_index=False)["value"].sum()
    for d in dims:
        parts = [frame]
        for parent, leafs in _leaf_sets(trees[d]).items():
            sub = frame[frame[d].isin(leafs)]
            others = [x for x in dims if x != d]
            agg = sub.groupby(others, observed=True, as_index=False)["value"].sum() if others else \
                pd.DataFrame({"value": [sub["value"].sum()]})
            agg[d] = parent
            parts.append(agg)
        frame = pd.concat(parts, ignore_index=True)
    for d in dims:
        frame[d] = frame[d].astype(str)
    # complete the product (combinations without leaves are zeros)
    nodes = {d: sorted(set(frame[d])) for d in dims}
    full = pd.MultiIndex.from_product([nodes[d] for d in dims], names=dims).to_frame(index=False)
    frame = full.merge(frame, on=dims, how="left").fillna({"value": 0.0})
    return table_from_cells(frame, trees)


def table_from_cells(cells: pd.DataFrame, trees: dict[str, dict[str, list[str]]]) -> LinearTable:
    """Link given cells (all nodes present, ``value`` may be NaN = not available) by the hierarchies.

    A constraint is formed only where the parent and all its children exist.
    """
    dims = list(trees)
    cells = cells.reset_index(drop=True).copy()
    keys = list(zip(*(cells[d].astype(str) for d in dims), strict=True))
    index = {k: i for i, k in enumerate(keys)}
    cons = []
    for j, d in enumerate(dims):
        for parent, children in trees[d].items():
            for i, k in enumerate(keys):
                if k[j] != parent:
                    continue
                idx = [index.get(k[:j] + (c,) + k[j + 1:]) for c in children]
                if all(x is not None for x in idx):
                    cons.append(np.array([i] + idx))
    return LinearTable(cells, dims, cons)


def combine_tables(*tables: LinearTable) -> LinearTable:
    """One table from several published together (e.g. a ward table and a district table that share
    the ward rows): shared cells become one cell, all constraints are kept, so suppression and the
    recomputation check see everything an attacker sees. Shared cells must agree in value."""
    dims = tables[0].dims
    if any(t.dims != dims for t in tables):
        raise ValueError("tables must have the same dimensions")
    index: dict[tuple, int] = {}
    rows, cons = [], []
    for t in tables:
        keys = list(zip(*(t.cells[d].astype(str) for d in dims), strict=True))
        vals = t.values
        remap = np.empty(len(keys), int)
        for i, k in enumerate(keys):
            j = index.get(k)
            if j is None:
                j = index[k] = len(rows)
                rows.append((*k, vals[i]))
            else:
                old = rows[j][-1]
                if np.isnan(old):
                    rows[j] = (*k, vals[i])
                elif not np.isnan(vals[i]) and old != vals[i]:
                    raise ValueError(f"shared cell {k} differs between tables: {old} vs {vals[i]}")
            remap[i] = j
        cons += [remap[c] for c in t.constraints]
    cells = pd.DataFrame(rows, columns=[*dims, "value"])
    return LinearTable(cells, list(dims), cons)


def _components(cons: list[np.ndarray], unknown: np.ndarray):
    """Connected groups of hidden cells (linked through shared constraints)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    u_idx = np.flatnonzero(unknown)
    pos = -np.ones(len(unknown), int)
    pos[u_idx] = np.arange(len(u_idx))
    rows, cols, used = [], [], []
    for ci, c in enumerate(cons):
        p = pos[c]
        p = p[p >= 0]
        if len(p):
            used.append(ci)
            rows += [len(used) - 1] * len(p)
            cols += p.tolist()
    n_r, n_u = len(used), len(u_idx)
    if n_u == 0:
        return []
    g = coo_matrix((np.ones(len(rows)), (np.array(rows) + n_u, np.array(cols))), shape=(n_r + n_u, n_r + n_u))
    _, lab = connected_components(g, directed=False)
    out = []
    for comp in np.unique(lab[:n_u]):
        cells_c = u_idx[lab[:n_u] == comp]
        cons_c = [used[r] for r in range(n_r) if lab[n_u + r] == comp]
        out.append((cells_c, cons_c))
    return out


def _system(table: LinearTable, published: np.ndarray, cells_c, cons_c):
    """A x = b for the hidden cells ``cells_c`` given published values."""
    col = {c: i for i, c in enumerate(cells_c)}
    A = np.zeros((len(cons_c), len(cells_c)))
    b = np.zeros(len(cons_c))
    for r, ci in enumerate(cons_c):
        c = table.constraints[ci]
        for k, cell in enumerate(c):
            sign = 1.0 if k == 0 else -1.0
            if cell in col:
                A[r, col[cell]] += sign
            else:
                b[r] -= sign * published[cell]
    return A, b


def recomputable(table: LinearTable, hidden: np.ndarray, *, method: str = "rank", check: np.ndarray | None = None,
                 tol: float = 1e-9) -> pd.DataFrame:
    """Which hidden cells an attacker could recompute from the published cells and totals.

    ``hidden`` marks every cell not published (suppressed or not available). ``check`` limits the
    report to some hidden cells (default: all hidden cells with a known value).
    ``method='rank'``: a cell is recomputable iff its unit vector lies in the row space of the
    constraint system restricted to hidden cells (exact linear recomputation).
    ``method='lp'``: also uses non-negativity; the feasible interval [lower, upper] of each cell is
    found by linear programming (:func:`lp_intervals`) and the cell is recomputable iff lower == upper.
    Returns ``cell``, ``lower``, ``upper``, ``recomputable`` (lower/upper NaN for 'rank').
    """
    if method not in ("rank", "lp"):
        raise ValueError("method must be 'rank' or 'lp'")
    if method == "lp":
        iv = lp_intervals(table, hidden, check=check)
        iv["recomputable"] = iv["width"] < 0.5
        return iv[["cell", "lower", "upper", "recomputable"]]
    vals = table.values
    published = np.where(hidden, np.nan, vals)
    check = (hidden & ~np.isnan(vals)) if check is None else (check & hidden)
    rows = []
    for cells_c, cons_c in _components(table.constraints, hidden):
        targets = [i for i, c in enumerate(cells_c) if check[c]]
        if not targets:
            continue
        if not cons_c:
            rows += [(cells_c[i], np.nan, np.nan, False) for i in targets]
            continue
        A, b = _system(table, published, cells_c, cons_c)
        # row space of A = range of the Gram matrix AᵀA (symmetric, size = hidden cells: cheaper than an SVD of A)
        w, vec = np.linalg.eigh(A.T @ A)
        keep = w > tol * max(1.0, float(w.max()) if len(w) else 1.0)
        proj = (vec[:, keep] ** 2).sum(axis=1)
        rows += [(cells_c[i], np.nan, np.nan, bool(proj[i] > 1 - 1e-6)) for i in targets]
    out = pd.DataFrame(rows, columns=["cell", "lower", "upper", "recomputable"])
    return out.sort_values("cell").reset_index(drop=True)


def complementary_suppression(table: LinearTable, min_cell: int = 10, *, keep_zero: bool = True,
                              cost: np.ndarray | None = None, max_rounds: int = 50) -> pd.DataFrame:
    """Primary + complementary suppression. Returns the cells with ``published`` (NA where hidden) and
    ``disclosure`` ∈ {published, primary, complementary, missing}.

    Greedy: while a constraint has exactly one hidden cell, also hide its smallest positive
    published child (its total only if no child qualifies); then the exact rank check
    (:func:`recomputable`) catches recomputations through several constraints, which are broken
    the same way. Repeats until no hidden cell can be recomputed. ``cost`` (default: the cell
    value) ranks candidate cells, e.g. to spare totals that rates are computed from.
    """
    v = table.values
    cost = np.nan_to_num(v) if cost is None else np.asarray(cost, float)
    missing = np.isnan(v)
    primary = ~missing & (v < min_cell) & ((v > 0) if keep_zero else True)
    hidden = missing | primary
    comp = np.zeros(len(v), bool)
    cons = table.constraints
    cell_cons: dict[int, list[int]] = {}
    for ci, c in enumerate(cons):
        for cell in c:
            cell_cons.setdefault(int(cell), []).append(ci)
    count = np.array([hidden[c].sum() for c in cons], dtype=int)
    last_check = pd.DataFrame({"recomputable": []})

    def hide(i):
        hidden[i] = True
        comp[i] = True
        for ci in cell_cons.get(int(i), []):
            count[ci] += 1

    def break_line(ci) -> bool:
        c = cons[ci]
        kids = [x for x in c[1:] if not hidden[x]]
        pos = [x for x in kids if v[x] > 0]
        pick = pos or kids or ([c[0]] if not hidden[c[0]] else [])
        if not pick:
            return False
        # cheapest cell, discounted when it also fixes other single-hidden lines
        hide(min(pick, key=lambda x: cost[x] / (1 + sum(count[k] == 1 for k in cell_cons.get(int(x), [])))))
        return True

    for _ in range(max_rounds):
        changed = True
        while changed:
            changed = False
            for ci in np.flatnonzero(count == 1):
                if count[ci] == 1:
                    single = [x for x in cons[ci] if hidden[x]][0]
                    if missing[single]:
                        continue
                    changed |= break_line(ci)
        rec = recomputable(table, hidden, check=hidden & ~missing)
        bad = rec.loc[rec["recomputable"], "cell"].to_numpy()
        last_check = rec
        if len(bad) == 0:
            break
        for cell in bad:
            lines = sorted(cell_cons.get(int(cell), []), key=lambda k: count[k])
            for ci in lines:
                if break_line(ci):
                    break
    status = np.where(missing, "missing", np.where(primary, "primary", np.where(comp, "complementary", "published")))
    out = table.cells.copy()
    out["published"] = pd.array(np.where(hidden, np.nan, v), dtype="Float64")
    out["disclosure"] = status
    out.attrs["recomputable"] = int(last_check["recomputable"].sum())  # after the last round (0 = protected)
    out.attrs["checked_cells"] = int(len(last_check))
    return out


# --- interval protection (issue 12): an attacker who knows the published cells and that counts are not
# negative bounds each hidden cell by linear programming; the interval must be at least protection_width wide.
#
# One LP per bound and cell, rebuilt from scratch (scipy.optimize.linprog), took ~2.5 min for the 788 hidden
# cells of 01's default run. Here each connected group of hidden cells is one HiGHS model (highspy, the HiGHS
# team's own interface: scipy's linprog cannot keep a model between solves), and only the objective changes
# from cell to cell, so each bound is a warm-started simplex from the previous optimal basis (~ms). Every
# solution is a feasible table: it widens the range already seen for *every* cell of the group, and a cell
# whose seen range is already ``min_width`` wide needs no LP of its own.

def _sparse_system(table: LinearTable, published: np.ndarray, cells_c, cons_c):
    """A x = b (A as scipy CSC) for the hidden cells ``cells_c`` given published values (cf. :func:`_system`)."""
    from scipy.sparse import csc_matrix
    col = {int(c): i for i, c in enumerate(cells_c)}
    rows, cols, vals = [], [], []
    b = np.zeros(len(cons_c))
    for r, ci in enumerate(cons_c):
        for k, cell in enumerate(table.constraints[ci]):
            sign = 1.0 if k == 0 else -1.0
            j = col.get(int(cell))
            if j is None:
                b[r] -= sign * published[cell]
            else:
                rows.append(r)
                cols.append(j)
                vals.append(sign)
    return csc_matrix((vals, (rows, cols)), shape=(len(cons_c), len(cells_c))), b


class _GroupLP:
    """min/max of one hidden cell subject to A x = b, x ≥ 0, on one HiGHS model kept between solves."""

    def __init__(self, A, b):
        import highspy
        self._hs = highspy
        n = A.shape[1]
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = n, A.shape[0]
        lp.col_cost_ = np.zeros(n)
        lp.col_lower_ = np.zeros(n)
        lp.col_upper_ = np.full(n, highspy.kHighsInf)
        lp.row_lower_ = lp.row_upper_ = b
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = A.indptr, A.indices, A.data
        self.h = highspy.Highs()
        self.h.setOptionValue("output_flag", False)
        self.h.setOptionValue("threads", 1)      # serial simplex: the same vertices on every machine
        self.h.passModel(lp)
        self.seen_lo = np.full(n, np.inf)
        self.seen_hi = np.full(n, -np.inf)
        self.solves = 0
        self._last = None
        self.feasible = self._run() is not None

    def _run(self):
        self.h.run()
        self.solves += 1
        status = self.h.getModelStatus()
        if status != self._hs.HighsModelStatus.kOptimal:
            return None
        x = np.asarray(self.h.getSolution().col_value)
        np.minimum(self.seen_lo, x, out=self.seen_lo)
        np.maximum(self.seen_hi, x, out=self.seen_hi)
        return x

    def bound(self, j: int, sense: int) -> float:
        """min (sense 1) or max (sense −1) of cell ``j``; +inf for an unbounded maximum."""
        if self._last is not None:
            self.h.changeColCost(self._last, 0.0)
        self.h.changeColCost(j, float(sense))
        self._last = j
        x = self._run()
        if x is None:
            if sense < 0:
                return np.inf
            raise RuntimeError("LP bound of a hidden cell failed although the table is feasible")
        return float(x[j])


def lp_intervals(table: LinearTable, hidden: np.ndarray, *, check: np.ndarray | None = None,
                 min_width: float | None = None) -> pd.DataFrame:
    """Feasible interval [lower, upper] of each hidden cell given the published cells and that no count is
    negative (linear programming, HiGHS).

    ``check`` limits the result to some hidden cells (default: those with a known value). Returns ``cell``,
    ``lower``, ``upper``, ``width`` (= upper − lower; inf when unbounded, e.g. a hidden cell in no
    constraint) and ``exact``. With ``min_width``, a cell that the feasible tables found on the way already
    show to be at least ``min_width`` wide is not bounded by its own LPs: its ``lower``/``upper`` are then
    the range seen (inside the true interval) and ``exact`` is False. Every cell narrower than ``min_width``
    gets its exact bounds, so ``width < min_width`` is decided exactly. ``attrs["solves"]``: LPs solved."""
    vals = table.values
    published = np.where(hidden, np.nan, vals)
    check = (hidden & ~np.isnan(vals)) if check is None else (check & hidden)
    rows, solves = [], 0
    for cells_c, cons_c in _components(table.constraints, hidden):
        targets = [i for i, c in enumerate(cells_c) if check[c]]
        if not targets:
            continue
        if not cons_c:
            rows += [(cells_c[i], 0.0, np.inf, True) for i in targets]
            continue
        lp = _GroupLP(*_sparse_system(table, published, cells_c, cons_c))
        if not lp.feasible:
            raise ValueError("the published cells contradict the table's sums (no table of non-negative counts "
                             "fits them)")
        for i in targets:
            if min_width is not None and lp.seen_hi[i] - lp.seen_lo[i] >= min_width - 1e-9:
                rows.append((cells_c[i], lp.seen_lo[i], lp.seen_hi[i], False))
                continue
            upper = lp.bound(i, -1)
            if min_width is not None and lp.seen_hi[i] - lp.seen_lo[i] >= min_width - 1e-9:
                rows.append((cells_c[i], lp.seen_lo[i], upper, False))
                continue
            rows.append((cells_c[i], lp.bound(i, 1), upper, True))
        solves += lp.solves
    out = pd.DataFrame(rows, columns=["cell", "lower", "upper", "exact"])
    out[["lower", "upper"]] = out[["lower", "upper"]].astype(float).round(6)
    out["width"] = out["upper"] - out["lower"]
    out = out.sort_values("cell").reset_index(drop=True)[["cell", "lower", "upper", "width", "exact"]]
    out.attrs["solves"] = solves
    return out


class _DeviationLP:
    """The cheapest change y of the whole table that keeps every sum (M y = 0) and no count negative
    (y ≥ −value): a published cell that y changes must be hidden for the change to stay unseen. Columns
    y⁺, y⁻ ≥ 0 (y = y⁺ − y⁻); a published cell costs ``unit_cost`` per unit of change, a hidden one nothing;
    a cell of unknown value (missing at source) never changes. One HiGHS model, warm-started between cells."""

    def __init__(self, table: LinearTable, hidden: np.ndarray, unit_cost: np.ndarray):
        import highspy
        from scipy.sparse import csc_matrix, hstack
        self._hs = highspy
        v = table.values
        n = len(v)
        rows = np.concatenate([np.full(len(c), r) for r, c in enumerate(table.constraints)])
        cols = np.concatenate(table.constraints)
        vals = np.concatenate([np.r_[1.0, -np.ones(len(c) - 1)] for c in table.constraints])
        M = csc_matrix((vals, (rows, cols)), shape=(len(table.constraints), n))
        A = hstack([M, -M], format="csc")
        missing = np.isnan(v)
        self.unit_cost = np.asarray(unit_cost, float)
        self.cost = np.where(hidden, 0.0, self.unit_cost)
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = 2 * n, M.shape[0]
        lp.col_cost_ = np.r_[self.cost, self.cost]
        lp.col_lower_ = np.zeros(2 * n)
        self.upper = np.r_[np.where(missing, 0.0, highspy.kHighsInf), np.where(missing, 0.0, np.nan_to_num(v))]
        lp.col_upper_ = self.upper
        lp.row_lower_ = lp.row_upper_ = np.zeros(M.shape[0])
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = A.indptr, A.indices, A.data
        self.n = n
        self.h = highspy.Highs()
        self.h.setOptionValue("output_flag", False)
        self.h.setOptionValue("threads", 1)
        self.h.passModel(lp)

    def raise_cell(self, p: int, need: float) -> np.ndarray | None:
        """The cheapest change y raising cell ``p`` by ``need`` (None: impossible)."""
        n = self.n
        self.h.changeColBounds(p, need, self._hs.kHighsInf)
        self.h.changeColBounds(n + p, 0.0, 0.0)
        self.h.run()
        ok = self.h.getModelStatus() == self._hs.HighsModelStatus.kOptimal
        y = np.asarray(self.h.getSolution().col_value) if ok else None
        self.h.changeColBounds(p, 0.0, self.upper[p])
        self.h.changeColBounds(n + p, 0.0, self.upper[n + p])
        if y is None:
            return None
        y = y[:n] - y[n:]
        y[np.abs(y) <= 1e-7] = 0.0
        return y

    def hide(self, j: int) -> None:
        self.h.changeColCost(j, 0.0)
        self.h.changeColCost(self.n + j, 0.0)
        self.cost[j] = 0.0


def protect_intervals(table: LinearTable, hidden: np.ndarray, protection_width: float, *,
                      cost: np.ndarray | None = None, max_rounds: int = 20,
                      stats: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Hide further cells until every hidden cell with a known value has an LP interval of at least
    ``protection_width``. Returns (hidden, newly hidden); a ``stats`` dict given receives ``rounds``,
    ``solves`` (interval LPs) and ``raises`` (LPs choosing cells).

    For each cell whose exact interval [l, u] is narrower (:func:`lp_intervals`), the cheapest change of the
    table that raises the cell to l + ``protection_width`` while keeping every sum and no count negative is
    found by one LP (:class:`_DeviationLP`, the "incremental" heuristic of cell suppression: Kelly, Golden and
    Assad 1992; Fischetti and Salazar-González 2000); the published cells it changes are hidden. The changed
    table is then a feasible table the attacker cannot exclude, so the cell's interval reaches l + width.
    ``cost`` is what hiding a cell loses (default: its value); the LP pays ``cost`` + 1 per unit of change
    of a published cell, nothing for a hidden one (cells hidden for earlier cells are reused for free).
    Hiding a cell only widens the intervals of the others (a table feasible before stays feasible with the
    new cell at its true value), so each round re-checks only the cells narrow before and those just hidden
    (which must be wide too). Deterministic: cells in table order, HiGHS serial."""
    v = table.values
    cost = np.nan_to_num(v) if cost is None else np.asarray(cost, float)
    hidden = hidden.copy()
    added = np.zeros(len(v), bool)
    known = ~np.isnan(v)
    todo = hidden & known
    cell_cons: dict[int, list[int]] = {}
    for ci, c in enumerate(table.constraints):
        for cell in c:
            cell_cons.setdefault(int(cell), []).append(ci)
    dev = _DeviationLP(table, hidden, np.nan_to_num(cost) + 1.0)
    rounds = solves = raises = 0
    for _ in range(max_rounds):
        iv = lp_intervals(table, hidden, check=todo, min_width=protection_width)
        rounds, solves = rounds + 1, solves + iv.attrs["solves"]
        narrow = iv[iv["width"] < protection_width - 1e-9]
        if narrow.empty:
            break
        before = int(hidden.sum())
        todo = np.zeros(len(v), bool)
        todo[narrow["cell"].to_numpy()] = True
        # the changed tables found so far stay feasible (their changed cells are hidden): a narrow cell that
        # one of them already moves far enough needs no LP of its own
        seen_hi = np.zeros(len(v))
        for cell, lower in zip(narrow["cell"], narrow["lower"], strict=True):
            need = lower + protection_width - v[cell]
            if seen_hi[cell] >= need - 1e-9:
                continue
            y = dev.raise_cell(int(cell), need)
            raises += 1
            if y is None:
                # cannot rise (a cell of unknown value blocks every way): hide its cheapest published neighbour
                cand = [int(x) for ci in cell_cons.get(int(cell), []) for x in table.constraints[ci]
                        if not hidden[x] and known[x]]
                if cand:
                    j = min(cand, key=lambda x: (cost[x], x))
                    hidden[j] = added[j] = todo[j] = True
                    dev.hide(j)
                continue
            np.maximum(seen_hi, y, out=seen_hi)
            for j in np.flatnonzero(y):
                if not hidden[j]:
                    hidden[j] = added[j] = todo[j] = True
                    dev.hide(int(j))
        if int(hidden.sum()) == before:
            break   # nothing more to hide: the narrow cells stay narrow (reported in stats)
    if stats is not None:
        stats.update(rounds=rounds, solves=solves, raises=raises, narrow=int(len(narrow)))
    return hidden, added


def interval_suppression(table: LinearTable, min_cell: int = 10, protection_width: float | None = None, *,
                         keep_zero: bool = True, cost: np.ndarray | None = None) -> pd.DataFrame:
    """Primary suppression, then complementary suppression by interval protection: counts 1 … ``min_cell`` − 1
    are hidden, then more cells (:func:`protect_intervals`) until linear programming over the published cells
    bounds every hidden cell to an interval at least ``protection_width`` wide (default ``min_cell``). This is
    the rule ``ebpm audit`` checks (``lp-interval``); it implies the weaker one of
    :func:`complementary_suppression` (no hidden cell recomputable exactly), which is checked again here.

    Returns the cells with ``published`` (NA where hidden) and ``disclosure`` ∈ {published, primary,
    complementary, missing}; ``attrs``: ``protection_width``, ``narrow`` (hidden cells still narrower: 0
    unless cells of unknown value block every way), ``recomputable`` (0), ``rounds``, ``solves``, ``raises``.
    """
    v = table.values
    width = float(min_cell if protection_width is None else protection_width)
    missing = np.isnan(v)
    primary = ~missing & (v < min_cell) & ((v > 0) if keep_zero else True)
    stats: dict = {}
    hidden, added = protect_intervals(table, missing | primary, width, cost=cost, stats=stats)
    status = np.where(missing, "missing", np.where(primary, "primary", np.where(added, "complementary", "published")))
    out = table.cells.copy()
    out["published"] = pd.array(np.where(hidden, np.nan, v), dtype="Float64")
    out["disclosure"] = status
    # an interval at least protection_width > 0 wide is not a single value: the exact rank check is needed only
    # where cells stayed narrow
    rec = 0 if stats["narrow"] == 0 and width > 0 else int(recomputable(table, hidden)["recomputable"].sum())
    out.attrs.update(protection_width=width, recomputable=rec, **stats)
    return out


# --- column kinds (issue 12): every published table says what each column is, so that an audit
# (ebpm_analysis.audit, `ebpm audit`) can check the rules on what was actually published.

PERSONS = "person_count"   #: count of persons or of their health/care events (children, teeth, calls, trips)
PUBLIC = "public_count"    #: count from records that are public at source (police 本票): no threshold
COUNT = "count"            #: count of things that are not persons (facilities, vehicles' probe trips, days)
LABEL = "label"            #: identifier or name (codes, names, categories)
OTHER = "other"            #: a number that reveals no count (coefficients, p-values, dates, years, ranks)
RATE, SHARE, INTERVAL, EXPECTED = "rate", "share", "interval", "expected"
KINDS = (PERSONS, PUBLIC, COUNT, LABEL, OTHER, RATE, SHARE, INTERVAL, EXPECTED)
DERIVED = (RATE, SHARE, INTERVAL, EXPECTED)


def rate(of: str | list[str]) -> dict:
    """A rate computed from the count column(s) ``of`` (hidden wherever one of them is hidden)."""
    return {"kind": RATE, "of": [of] if isinstance(of, str) else list(of)}


def share(of: str | list[str]) -> dict:
    """A share (percentage, composition) of the count column(s) ``of``."""
    return {"kind": SHARE, "of": [of] if isinstance(of, str) else list(of)}


def interval(of: str | list[str]) -> dict:
    """A confidence-interval bound computed from the count column(s) ``of``."""
    return {"kind": INTERVAL, "of": [of] if isinstance(of, str) else list(of)}


def expected(of: str | list[str]) -> dict:
    """An expected value, EB estimate or model input that, with the other columns, reveals ``of``."""
    return {"kind": EXPECTED, "of": [of] if isinstance(of, str) else list(of)}


def kind_spec(spec) -> dict:
    """Normalise a declaration (``"person_count"`` or ``rate("n")``) to ``{"kind": …, "of": […]}``."""
    if isinstance(spec, str):
        spec = {"kind": spec}
    if not isinstance(spec, dict) or spec.get("kind") not in KINDS:
        raise ValueError(f"column kind must be one of {', '.join(KINDS)} (or rate(col), share(col), …), not {spec!r}")
    if spec["kind"] in DERIVED and not spec.get("of"):
        raise ValueError(f"a {spec['kind']} column must name the count column(s) it comes from: {spec!r}")
    return {"kind": spec["kind"], **({"of": list(spec["of"])} if spec.get("of") else {})}


@dataclass
class Schema:
    """What a published table holds, for the audit.

    ``kinds``: {column: kind}. ``sums``: row-wise identities ``(total, [parts…])`` between count columns
    (a hidden part must not be the only unknown). ``linear``: the table is the long form of a
    hierarchical table (``dims``, ``value`` column, ``trees`` as for :func:`hierarchical_table`); the audit
    bounds its hidden cells by linear programming."""

    kinds: dict = field(default_factory=dict)
    sums: list = field(default_factory=list)
    linear: dict | None = None
    note: str = ""
    default: str | None = None   #: kind of every column not in ``kinds`` (else: a whole-number column is persons)

    @classmethod
    def of(cls, decl) -> "Schema":
        if isinstance(decl, Schema):
            return decl
        if isinstance(decl, dict):
            return cls(kinds=dict(decl))
        raise ValueError(f"a table's declaration is a {{column: kind}} dict or a Schema, not {type(decl).__name__}")

    def to_json(self, columns) -> dict:
        columns = [str(c) for c in columns]
        kinds = {str(c): kind_spec(k) for c, k in self.kinds.items()}
        unknown = [c for c in kinds if c not in columns]
        if unknown:
            raise ValueError(f"declared column(s) {unknown} are not in the table (columns: {columns})")
        for c, k in kinds.items():
            missing = [x for x in k.get("of", []) if x not in columns]
            if missing:
                raise ValueError(f"column {c!r} is a {k['kind']} of {missing}, which the table does not hold: "
                                 "publish the count (suppressed where small) beside it so that the audit can check it")
        out = {"kinds": kinds}
        if self.sums:
            out["sums"] = [{"total": t, "parts": list(p)} for t, p in self.sums]
        if self.linear:
            out["linear"] = self.linear
        if self.note:
            out["note"] = self.note
        if self.default is not None:
            out["default"] = kind_spec(self.default)["kind"]
        return out


def no_persons(note: str, **kinds) -> Schema:
    """A table that holds no count of persons (file checks, model coefficients, staffing plans): every
    column not named in ``kinds`` is ``other``. ``note`` says why, for the reader of the sidecar."""
    return Schema(kinds=dict(kinds), note=note, default=OTHER)


def public_records(note: str, **kinds) -> Schema:
    """A table computed from records public at source (the police 本票): every column not named in ``kinds``
    is a ``public_count`` (whole numbers) or ``other``."""
    return Schema(kinds=dict(kinds), note=note, default=PUBLIC)


def suppress_table(df: pd.DataFrame, kinds, min_cell: int = 10) -> pd.DataFrame:
    """Apply the published-table rules before a table leaves (the same rules ``ebpm audit`` checks):

    person counts 1 … ``min_cell`` − 1 hidden; a declared row identity (total = parts) with exactly one
    hidden member also hides its smallest other published member; every rate, share, interval bound or
    expected value declared ``of`` a hidden count hidden in that row. Columns keep whole numbers as Int64."""
    schema = Schema.of(kinds)
    specs = {c: kind_spec(k) for c, k in schema.kinds.items()}
    out = df.copy()
    counts = {"small": 0, "complement": 0, "reveals": 0}
    for c, k in specs.items():
        if k["kind"] == PERSONS:
            col = pd.to_numeric(out[c], errors="coerce")
            hidden, mask = suppress_small(col, min_cell)
            counts["small"] += int(mask.sum())
            whole = bool((col.dropna() % 1 == 0).all())
            out[c] = hidden.round().astype("Int64") if whole else hidden
    for _ in range(len(out.columns) + 1):
        changed = False
        for total, parts in schema.sums:
            members = [total, *parts]
            na = out[members].isna()
            for i in np.flatnonzero((na.sum(axis=1) == 1).to_numpy()):
                row = out.index[i]
                cand = [m for m in parts if not na.iloc[i][m] and specs.get(m, {}).get("kind") != PUBLIC]
                cand = cand or [total]
                pick = min(cand, key=lambda m: (out.at[row, m] <= 0, out.at[row, m]))
                out[pick] = out[pick].astype("Float64") if out[pick].dtype.kind == "f" else out[pick]
                out.at[row, pick] = pd.NA
                counts["complement"] += 1
                changed = True
        if not changed:
            break
    for c, k in specs.items():
        if k["kind"] in DERIVED:
            srcs = [s for s in k["of"] if specs.get(s, {}).get("kind") != PUBLIC]
            mask = out[srcs].isna().any(axis=1) if srcs else pd.Series(False, index=out.index)
            counts["reveals"] += int((mask & out[c].notna()).sum())
            if mask.any():
                out[c] = out[c].astype("Float64") if pd.api.types.is_float_dtype(out[c]) else out[c].astype(object)
                out.loc[mask, c] = pd.NA
    out.attrs["suppressed"] = counts
    return out


def suppression_counts(*frames) -> dict[str, int]:
    """Cells hidden by :func:`suppress_table` over several tables, by rule (small, complement, reveals)."""
    total = {"small": 0, "complement": 0, "reveals": 0}
    for f in frames:
        for k, v in f.attrs.get("suppressed", {}).items():
            total[k] = total.get(k, 0) + int(v)
    return total


def suppression_sentence(counts: dict[str, int], min_cell: int, *, tables: int, lp: dict | None = None) -> str:
    """The method section's closing sentence: what was hidden, how many cells, by which rule."""
    parts = [f"{min_cell}人（件）未満の人数 {counts.get('small', 0):,}セル（最小セル規則）"]
    if counts.get("complement"):
        parts.append(f"合計との差し引きで分かる人数 {counts['complement']:,}セル（補完秘匿）")
    if lp:
        parts.append(f"線形計画で{lp['width']:g}未満の幅に絞り込めた秘匿セルを広げるための追加 {lp['added']:,}セル"
                     "（区間保護）")
    parts.append(f"秘匿した人数を逆算できる率・割合・区間・期待値・推定値 {counts.get('reveals', 0):,}セル（逆算防止）")
    return (f"**秘匿の内訳**：公開する表と出力ファイル（{tables}表）で、" + "、".join(parts)
            + "を秘匿しました（表では「—」又は空欄）。"
            "公開前に、全ての表がこの規則を守っていることを自動の点検で確かめています。")


def renamed(kinds: dict, columns: dict[str, str], *, only_shown: bool = True) -> dict:
    """Column kinds after ``DataFrame.rename(columns=columns)``: keys and the counts named in ``of``
    renamed; with ``only_shown`` the kinds of columns not in ``columns`` are dropped (a shown table
    often has fewer columns than the export)."""
    out = {}
    for c, k in kinds.items():
        if only_shown and c not in columns:
            continue
        k = kind_spec(k)
        if "of" in k:
            k = {**k, "of": [columns.get(x, x) for x in k["of"]]}
        out[columns.get(c, c)] = k
    return out
