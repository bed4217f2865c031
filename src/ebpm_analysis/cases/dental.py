"""Case 2 — preschool dental checkups: facilities, teeth and clusters (Adachi model → Kumamoto).

Pure functions over the tidy frames of :mod:`ebpm_analysis.io.dental_sheet` (``exams``: one
row per child exam with ``d``, ``f``, ``dmft``, ``caries``; ``teeth``: one row per tooth) and
the facility list. No file reading, no plotting.

Definitions (docs/sources.md#dental-notation): a child *has caries experience* (有病者) when dmft > 0, where dmft
counts untreated (``C``) and treated (``〇``) primary teeth; ``CO`` and ``×`` are not caries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from .. import geo
from ..errors import ParameterError
from ..io.dental_sheet import FDI_TEETH, FDI_TO_JP, TOOTH_KIND
from ..stats import disclosure as D
from ..stats.disclosure import suppress_small
from ..stats.funnel import binomial_limits, eb_poisson_gamma, overdispersion, z_scores
from ..stats.hotspots import gi_star, knn_weights
from ..stats.intervals import wilson_ci

ANTERIOR_UPPER = {51, 52, 53, 61, 62, 63}
MOLARS = {54, 55, 64, 65, 74, 75, 84, 85}
SIGNAL_ORDER = ["99.8%超", "95%超", "範囲内", "95%未満", "99.8%未満"]


# --- descriptive ---------------------------------------------------------------------------
def add_facility_info(exams: pd.DataFrame, facilities: pd.DataFrame) -> pd.DataFrame:
    """Attach facility type and ward to each exam; exams from unknown facilities are an error."""
    info = facilities[["facility_code", "facility_type", "ward_code", "ward_name"]]
    out = exams.merge(info, on="facility_code", how="left", validate="many_to_one")
    unknown = out["facility_type"].isna()
    if unknown.any():
        codes = out.loc[unknown, "facility_code"].unique()[:5].tolist()
        raise ValueError(f"exams reference facility codes missing from the facility list: {codes}")
    return out


def prevalence_by(exams: pd.DataFrame, by: list[str] | str, min_cell: int = 10, alpha: float = 0.05) -> pd.DataFrame:
    """有病者率 (Wilson interval) and mean dmft (t interval) per group; small counts suppressed.

    Columns: group keys, ``examined``, ``with_caries``, ``prevalence`` / ``prev_lo`` / ``prev_hi`` (%),
    ``dmft_mean`` / ``dmft_lo`` / ``dmft_hi``, ``untreated_share`` (% of children with caries who
    still have an untreated tooth). Rows with fewer than ``min_cell`` examined children are
    withheld (values NA, ``suppressed`` True); counts 1..min_cell-1 of children with caries are
    suppressed too.
    """
    by = [by] if isinstance(by, str) else list(by)
    g = exams.groupby(by, observed=True)
    out = g.agg(examined=("caries", "size"), with_caries=("caries", "sum"), dmft_mean=("dmft", "mean"),
                dmft_sd=("dmft", "std"), untreated=("d", lambda s: int((s > 0).sum()))).reset_index()
    lo, hi = wilson_ci(out["with_caries"], out["examined"], alpha)
    out["prevalence"] = 100 * out["with_caries"] / out["examined"]
    out["prev_lo"], out["prev_hi"] = 100 * lo, 100 * hi
    t = sps.t.ppf(1 - alpha / 2, np.maximum(out["examined"] - 1, 1))
    se = out["dmft_sd"].fillna(0) / np.sqrt(out["examined"])
    out["dmft_lo"] = (out["dmft_mean"] - t * se).clip(lower=0)
    out["dmft_hi"] = out["dmft_mean"] + t * se
    with np.errstate(invalid="ignore", divide="ignore"):
        out["untreated_share"] = 100 * out["untreated"] / out["with_caries"].where(out["with_caries"] > 0)
    out = out.drop(columns=["dmft_sd"])
    out["suppressed"] = out["examined"] < min_cell
    return D.suppress_table(out, GROUP_KINDS, min_cell)


#: Column kinds of a :func:`prevalence_by` table (group keys are labels).
GROUP_KINDS = {"examined": D.PERSONS, "with_caries": D.PERSONS, "untreated": D.PERSONS,
               "prevalence": D.rate(["with_caries", "examined"]), "prev_lo": D.interval(["with_caries", "examined"]),
               "prev_hi": D.interval(["with_caries", "examined"]), "dmft_mean": D.rate("examined"),
               "dmft_lo": D.interval("examined"), "dmft_hi": D.interval("examined"),
               "untreated_share": D.share(["untreated", "with_caries"]), "suppressed": D.OTHER}


def group_kinds(keys) -> dict:
    """:data:`GROUP_KINDS` with the group key columns as labels (``age`` too)."""
    return {**{k: D.LABEL for k in ([keys] if isinstance(keys, str) else keys)}, **GROUP_KINDS}


def suppress_counts(counts: pd.Series, min_cell: int = 10) -> pd.Series:
    """Counts 1..min_cell-1 → NA, as whole numbers (Int64) for display."""
    return suppress_small(counts, min_cell)[0].round().astype("Int64")


def facility_summary(exams: pd.DataFrame, teeth: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per facility: examined, children with caries, d/f totals, age mix, questionnaire
    shares and (if ``teeth`` given) counts of carious upper-anterior and molar teeth."""
    e = exams
    g = e.groupby("facility_code", observed=True)
    out = g.agg(examined=("caries", "size"), with_caries=("caries", "sum"), d_teeth=("d", "sum"),
                f_teeth=("f", "sum"), dmft_sum=("dmft", "sum"),
                untreated_children=("d", lambda s: int((s > 0).sum()))).reset_index()
    ages = pd.crosstab(e["facility_code"], e["age"]).add_prefix("n_age")
    out = out.merge(ages, left_on="facility_code", right_index=True, how="left")
    if "finishing_brushing" in e:
        ans = e["finishing_brushing"].notna()
        nd = (e["finishing_brushing"].isin(["ときどき", "していない"]) & ans)
        q = pd.DataFrame({"facility_code": e["facility_code"], "nd": nd, "ans": ans})
        s = q.groupby("facility_code")[["nd", "ans"]].sum()
        out = out.merge((s["nd"] / s["ans"].where(s["ans"] > 0)).rename("not_daily_brushing"),
                        left_on="facility_code", right_index=True, how="left")
    if "snacks_per_day" in e:
        out = out.merge(e.groupby("facility_code")["snacks_per_day"].mean().astype(float).rename("snacks_mean"),
                        left_on="facility_code", right_index=True, how="left")
    if "fluoride" in e:
        fl = e["fluoride"].notna()
        q = pd.DataFrame({"facility_code": e["facility_code"], "yes": (e["fluoride"] == "あり") & fl, "ans": fl})
        s = q.groupby("facility_code")[["yes", "ans"]].sum()
        out = out.merge((s["yes"] / s["ans"].where(s["ans"] > 0)).rename("fluoride_share"),
                        left_on="facility_code", right_index=True, how="left")
    if teeth is not None:
        t = teeth[teeth["status"].isin(["decayed", "filled"])]
        t = t.merge(e[["child_id", "exam_date", "facility_code"]], on=["child_id", "exam_date"], how="left")
        ant = t["tooth"].isin(list(ANTERIOR_UPPER))
        mol = t["tooth"].isin(list(MOLARS))
        c = pd.DataFrame({"facility_code": t["facility_code"], "anterior_teeth": ant, "molar_teeth": mol})
        c = c.groupby("facility_code")[["anterior_teeth", "molar_teeth"]].sum()
        out = out.merge(c, left_on="facility_code", right_index=True, how="left")
        out[["anterior_teeth", "molar_teeth"]] = out[["anterior_teeth", "molar_teeth"]].fillna(0).astype(int)
    return out


# --- facility vs city: funnel and EB ------------------------------------------------------
def funnel_analysis(exams: pd.DataFrame, fac: pd.DataFrame, *, min_examined: int = 10,
                    adjust_overdispersion: bool = False, levels=(0.95, 0.998)) -> tuple[pd.DataFrame, dict]:
    """Compare each facility with the city, standardised for age.

    Expected cases E = Σ_age n_age × city rate_age; the age-adjusted rate is (O/E) × city rate.
    Control limits around the city rate at each facility's size: exact binomial at ``levels``;
    if ``adjust_overdispersion`` they are widened by Spiegelhalter's additive random-effects τ²
    (estimated from winsorised z-scores), so ordinary between-facility variation is not flagged.
    Facilities with fewer than ``min_examined`` children get no rate or signal (``small`` True).

    Empirical Bayes (:func:`~ebpm_analysis.stats.funnel.eb_poisson_gamma`) shrinks the standardised ratio
    O/E towards the prior mean: ``eb_rate`` = p0 × posterior mean (an age-adjusted rate), ``eb_lo``/``eb_hi``
    its 95 % posterior interval, ``shrinkage`` the weight on the prior, ``p_above`` = P(O/E > 1).

    Returns (facility frame with ``expected``, ``oe``, ``adj_rate``, ``z``, limits, ``signal``,
    EB columns; info dict with p0, φ, τ², the gamma prior ``prior_alpha`` (shape) and ``prior_beta`` (rate,
    in expected cases)).
    """
    city_age = exams.groupby("age")["caries"].mean()
    p0 = float(exams["caries"].mean())
    out = fac.copy()
    age_cols = [c for c in out.columns if c.startswith("n_age")]
    e_cols = np.zeros(len(out))
    v_cols = np.zeros(len(out))
    for c in age_cols:
        a = int(c.removeprefix("n_age"))
        pa = float(city_age.get(a, p0))
        e_cols += out[c].fillna(0).to_numpy() * pa
        v_cols += out[c].fillna(0).to_numpy() * pa * (1 - pa)
    out["expected"] = e_cols
    out["oe"] = out["with_caries"] / out["expected"]
    out["adj_rate"] = (out["oe"] * p0).clip(upper=1)
    out["z"] = z_scores(out["with_caries"], out["expected"], v_cols)
    out["small"] = out["examined"] < min_examined
    big = ~out["small"]
    od = overdispersion(out.loc[big, "z"], out.loc[big, "examined"], p0)
    tau2 = od["tau2"] if adjust_overdispersion else 0.0
    for lv in levels:
        lo, hi = binomial_limits(out["examined"], p0, lv, tau2=tau2)
        tag = f"{lv * 100:g}"
        out[f"lo{tag}"], out[f"hi{tag}"] = lo, hi
    l95, l998 = (f"{lv * 100:g}" for lv in levels)
    sig = np.select(
        [out["adj_rate"] > out[f"hi{l998}"], out["adj_rate"] > out[f"hi{l95}"],
         out["adj_rate"] < out[f"lo{l998}"], out["adj_rate"] < out[f"lo{l95}"]],
        [SIGNAL_ORDER[0], SIGNAL_ORDER[1], SIGNAL_ORDER[4], SIGNAL_ORDER[3]], default=SIGNAL_ORDER[2])
    out["signal"] = pd.Categorical(np.where(out["small"], None, sig), categories=SIGNAL_ORDER)
    # Empirical Bayes on the age-standardised ratio O/E (Poisson–gamma): the prior is fitted on the facilities
    # assessed one by one and applied to all; eb_rate = p0 × posterior mean of O/E is an age-adjusted rate like
    # adj_rate, and p_above = P(O/E > 1 | data) asks "above the city at the city's age-specific rates", so a
    # facility with many 5-year-olds is not ranked high for its age mix alone (issue 13).
    eb = eb_poisson_gamma(out.loc[big, "with_caries"], out.loc[big, "expected"])
    prior = (eb.attrs["alpha"], eb.attrs["beta"])
    eb_all = eb_poisson_gamma(out["with_caries"], out["expected"], prior=prior)
    out["eb_rate"] = (p0 * eb_all["eb_ratio"]).clip(upper=1).to_numpy()
    out["eb_lo"] = (p0 * eb_all["eb_ratio_lo"]).clip(upper=1).to_numpy()
    out["eb_hi"] = (p0 * eb_all["eb_ratio_hi"]).clip(upper=1).to_numpy()
    out["shrinkage"] = eb_all["shrinkage"].to_numpy()
    out["p_above"] = eb_all["p_above"].to_numpy()
    info = {"p0": p0, "city_age_rate": city_age.to_dict(), "phi": od["phi"], "tau2": tau2,
            "tau2_estimated": od["tau2"], "adjusted": adjust_overdispersion, "prior_alpha": prior[0],
            "prior_beta": prior[1], "levels": tuple(levels)}
    return out, info


def funnel_curves(info: dict, n_max: int, n_min: int = 5, points: int = 200) -> pd.DataFrame:
    """Control-limit curves for drawing a funnel plot (columns n, lo/hi per level)."""
    n = np.unique(np.round(np.geomspace(n_min, max(n_max, n_min + 1), points)))
    out = pd.DataFrame({"n": n})
    for lv in info["levels"]:
        lo, hi = binomial_limits(n, info["p0"], lv, tau2=info["tau2"])
        tag = f"{lv * 100:g}"
        out[f"lo{tag}"], out[f"hi{tag}"] = lo, hi
    return out


# --- teeth ---------------------------------------------------------------------------------
def tooth_shares(teeth: pd.DataFrame, exams: pd.DataFrame) -> pd.DataFrame:
    """Caries share per tooth and age: carious (C or 〇) / teeth present, and per child examined.

    Columns: age, tooth, present, carious, share (% of present teeth), per_child (% of children).
    """
    t = teeth.merge(exams[["child_id", "exam_date", "age"]], on=["child_id", "exam_date"], how="left")
    t["present"] = t["status"] != "absent"
    t["carious"] = t["status"].isin(["decayed", "filled"])
    out = t.groupby(["age", "tooth"], observed=True)[["present", "carious"]].sum().reset_index()
    n_age = exams.groupby("age").size()
    out["share"] = 100 * out["carious"] / out["present"].where(out["present"] > 0)
    out["per_child"] = 100 * out["carious"] / out["age"].map(n_age)
    return out


def tooth_ranking(shares: pd.DataFrame, top: int = 5) -> pd.DataFrame:
    """Ranking of caries-prone teeth per age (by share of present teeth), with Japanese names."""
    s = shares.sort_values(["age", "share", "tooth"], ascending=[True, False, True]).copy()
    s["rank"] = s.groupby("age").cumcount() + 1
    s["jp"] = s["tooth"].map(FDI_TO_JP)
    s["kind"] = s["tooth"].map(lambda t: ("上顎" if t // 10 in (5, 6) else "下顎") + TOOTH_KIND[t % 10])
    return s[s["rank"] <= top].reset_index(drop=True)


def tooth_pair_ranking(shares: pd.DataFrame) -> pd.DataFrame:
    """Ranking of mirror-tooth pairs (e.g. 51+61 = 上顎乳中切歯) per age, pooling left and right."""
    s = shares.copy()
    s["jaw"] = np.where(s["tooth"] // 10 <= 6, "上顎", "下顎")
    s["kind_no"] = s["tooth"] % 10
    g = s.groupby(["age", "jaw", "kind_no"])[["present", "carious"]].sum().reset_index()
    g["share"] = 100 * g["carious"] / g["present"]
    g["kind"] = g["jaw"] + g["kind_no"].map(TOOTH_KIND)
    g["teeth"] = [tuple(sorted(t for t in FDI_TEETH if t % 10 == k and ((t // 10 <= 6) == (j == "上顎"))))
                  for j, k in zip(g["jaw"], g["kind_no"], strict=True)]
    g = g.sort_values(["age", "share"], ascending=[True, False])
    g["rank"] = g.groupby("age").cumcount() + 1
    return g.reset_index(drop=True)


def top_teeth(shares: pd.DataFrame) -> dict[int, tuple[int, ...]]:
    """The most caries-prone mirror pair at each age, e.g. {3: (51, 61), 5: (75, 85)}."""
    r = tooth_pair_ranking(shares)
    return {int(a): tuple(g.iloc[0]["teeth"]) for a, g in r.groupby("age")}


def caries_pattern_type(teeth: pd.DataFrame, exams: pd.DataFrame, age: int = 3) -> pd.DataFrame:
    """う蝕罹患型 (O, A, B, C) at ``age``; C = molars and lower front teeth involved.

    Types as defined in docs/sources.md#dental-notation.
    """
    ids = exams.loc[exams["age"] == age, ["child_id", "exam_date"]]
    t = teeth.merge(ids, on=["child_id", "exam_date"])
    t = t[t["status"].isin(["decayed", "filled"])]
    k = t["tooth"] % 10
    upper = t["tooth"] // 10 <= 6
    flags = pd.DataFrame({"child_id": t["child_id"], "exam_date": t["exam_date"],
                          "upper_front": upper & (k <= 3), "lower_front": ~upper & (k <= 3), "molar": k >= 4})
    f = flags.groupby(["child_id", "exam_date"])[["upper_front", "lower_front", "molar"]].any()
    typ = np.where(f["lower_front"] & f["molar"], "C",
                   np.where(f["upper_front"] & f["molar"], "B", "A"))
    counts = pd.Series(typ).value_counts()
    n = len(ids)
    out = pd.DataFrame({"type": ["O", "A", "B", "C"]})
    out["children"] = out["type"].map(lambda x: int(n - len(f)) if x == "O" else int(counts.get(x, 0)))
    out["share"] = 100 * out["children"] / n
    return out


# --- clustering ----------------------------------------------------------------------------
def pattern_features(fac: pd.DataFrame, prior_teeth: float = 10.0) -> pd.DataFrame:
    """Facility caries-pattern features: EB prevalence, dmft per child, shrunken upper-anterior
    and molar shares of carious teeth (``prior_teeth`` pseudo-teeth at the city share), and
    untreated share of carious teeth."""
    carious = fac["d_teeth"] + fac["f_teeth"]
    city_ant = fac["anterior_teeth"].sum() / carious.sum()
    city_mol = fac["molar_teeth"].sum() / carious.sum()
    city_d = fac["d_teeth"].sum() / carious.sum()
    return pd.DataFrame({
        "prevalence": fac["eb_rate"] * 100 if "eb_rate" in fac else 100 * fac["with_caries"] / fac["examined"],
        "dmft": fac["dmft_sum"] / fac["examined"],
        "anterior_share": 100 * (fac["anterior_teeth"] + prior_teeth * city_ant) / (carious + prior_teeth),
        "molar_share": 100 * (fac["molar_teeth"] + prior_teeth * city_mol) / (carious + prior_teeth),
        "untreated_share": 100 * (fac["d_teeth"] + prior_teeth * city_d) / (carious + prior_teeth),
    }, index=fac.index)


def cluster_facilities(features: pd.DataFrame, k_range=range(2, 7), method: str = "kmeans",
                       seed: int = 0) -> tuple[np.ndarray, pd.DataFrame, int]:
    """Group facilities by standardised caries-pattern features; k chosen by the best mean
    silhouette. ``method`` 'kmeans' or 'ward' (hierarchical). Returns (labels numbered by
    rising mean prevalence, silhouette table, chosen k)."""
    from sklearn.cluster import AgglomerativeClustering, KMeans
    from sklearn.metrics import silhouette_score
    from sklearn.preprocessing import StandardScaler

    X = StandardScaler().fit_transform(features.to_numpy(float))
    rows, labels_by_k = [], {}
    for k in k_range:
        if k >= len(X):
            break
        if method == "kmeans":
            lab = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(X)
        elif method == "ward":
            lab = AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(X)
        else:
            raise ValueError(f"method must be 'kmeans' or 'ward', not {method!r}")
        labels_by_k[k] = lab
        rows.append({"k": k, "silhouette": float(silhouette_score(X, lab))})
    sil = pd.DataFrame(rows)
    k_best = int(sil.loc[sil["silhouette"].idxmax(), "k"])
    lab = labels_by_k[k_best]
    order = features.groupby(lab)["prevalence"].mean().sort_values().index
    remap = {old: new + 1 for new, old in enumerate(order)}
    return np.array([remap[x] for x in lab]), sil, k_best


def cluster_profiles(features: pd.DataFrame, labels: np.ndarray) -> pd.DataFrame:
    prof = features.groupby(labels).mean()
    prof.insert(0, "facilities", pd.Series(labels).value_counts().sort_index().to_numpy())
    prof.index.name = "cluster"
    return prof.reset_index()


def describe_cluster(row: pd.Series, city: pd.Series) -> str:
    """A short Japanese label for a cluster profile, from its numbers relative to the city mean."""
    parts = []
    parts.append("高有病" if row["prevalence"] > 1.15 * city["prevalence"] else
                 "低有病" if row["prevalence"] < 0.85 * city["prevalence"] else "平均的有病")
    if row["anterior_share"] > city["anterior_share"] + 5:
        parts.append("前歯型")
    elif row["molar_share"] > city["molar_share"] + 5:
        parts.append("臼歯型")
    if row["untreated_share"] > city["untreated_share"] + 7:
        parts.append("未処置多")
    return "・".join(parts)


# --- spatial hot spots ---------------------------------------------------------------------
def hotspots(points, value: str, k: int = 8, permutations: int = 999, seed: int = 0,
             alpha: float = 0.05) -> pd.DataFrame:
    """Getis–Ord Gi* (:func:`ebpm_analysis.stats.hotspots.gi_star`) on facility values with
    k-nearest-neighbour weights and conditional permutation inference.

    ``points`` is a GeoDataFrame in a metre CRS. Returns ``gi_z``, ``gi_p`` and ``hotspot``
    ('ホットスポット', 'コールドスポット', '有意差なし'). esda's permutation p is folded (one-sided in the
    tail the facility lies in), and the report labels both hot and cold spots, so the flags use the
    two-sided p = 2 × that (a 5 % test, not 10 %), adjusted over all facilities by Benjamini–Hochberg
    (false discovery rate ``alpha``): ``gi_p`` is that adjusted two-sided p.
    """
    res = gi_star(points[value], knn_weights(points, k), inference="permutation", permutations=permutations,
                  seed=seed, alpha=alpha, sided="two", correction="fdr_bh")
    return pd.DataFrame({"gi_z": res.z, "gi_p": res.p, "hotspot": res.label}, index=points.index)


# --- behaviour -----------------------------------------------------------------------------
def behaviour_model(exams: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Logistic regression of caries experience on 仕上げみがき, snacks per day and fluoride,
    adjusted for age (complete cases), with cluster-robust SEs by facility.

    Returns (odds-ratio table in Japanese, info with n and pseudo R²).
    """
    import statsmodels.formula.api as smf

    cols = ["caries", "age", "finishing_brushing", "snacks_per_day", "fluoride", "facility_code"]
    missing = [c for c in cols if c not in exams]
    if missing:
        raise ValueError(f"behaviour_model needs the questionnaire columns; missing {missing} "
                         "(sheets without 仕上げみがき/間食回数/フッ化物 cannot be used for this model)")
    d = exams[cols].dropna().copy()
    d["caries"] = d["caries"].astype(int)
    d["snacks"] = d["snacks_per_day"].astype(float)
    d["brushing"] = pd.Categorical(d["finishing_brushing"].astype(str), categories=["毎日", "ときどき", "していない"])
    d["fluoride_yes"] = (d["fluoride"].astype(str) == "あり").astype(int)
    groups = pd.factorize(d["facility_code"])[0]
    m = smf.logit("caries ~ C(age) + C(brushing) + snacks + fluoride_yes", data=d).fit(
        disp=False, cov_type="cluster", cov_kwds={"groups": groups})
    ci = m.conf_int()
    names = {"C(brushing)[T.ときどき]": "仕上げみがき：ときどき（対 毎日）",
             "C(brushing)[T.していない]": "仕上げみがき：していない（対 毎日）",
             "snacks": "間食回数（1回/日増えるごと）", "fluoride_yes": "フッ化物利用：あり（対 なし）",
             "C(age)[T.4]": "4歳（対 3歳）", "C(age)[T.5]": "5歳（対 3歳）"}
    rows = []
    for term, label in names.items():
        if term in m.params:
            rows.append({"要因": label, "term": term, "オッズ比": float(np.exp(m.params[term])),
                         "95%CI下限": float(np.exp(ci.loc[term, 0])), "95%CI上限": float(np.exp(ci.loc[term, 1])),
                         "p値": float(m.pvalues[term])})
    return pd.DataFrame(rows), {"n": int(m.nobs), "pseudo_r2": float(m.prsquared),
                                "dropped": int(len(exams) - m.nobs)}


# --- priority table ------------------------------------------------------------------------
def priority_table(fac: pd.DataFrame, *, untreated_margin: float = 10.0, brushing_margin: float = 5.0,
                   snack_margin: float = 0.2, min_p_above: float = 0.9, min_cell: int = 10) -> pd.DataFrame:
    """Facilities needing attention and the suggested actions, derived from their numbers.

    A facility enters the table when its age-adjusted rate is above the 99.8 % limit (priority 1), or above
    the 95 % limit with the age-standardised EB posterior P(O/E > 1) ≥ ``min_p_above`` (priority 2): a
    facility inside the funnel limits (範囲内) is never added, whatever its EB probability (issue 13: the
    funnel and the list must tell the same story). Gi* hot-spot status is shown, not used for entry: it
    describes an area, not the facility. Actions:

    - 受診勧奨の追跡 (referral follow-up): share of children with caries who still have an
      untreated tooth ≥ city share + ``untreated_margin`` points;
    - 仕上げみがき指導: share not finishing-brushing daily ≥ city + ``brushing_margin`` points, or
      the upper-anterior share of carious teeth ≥ city + 5 points;
    - おやつ（間食）指導: mean snacks per day ≥ city + ``snack_margin``;
    - none of these → 個別に要因確認（歯科医・園と協議）.
    Facilities with ``small`` True are never listed (aggregate only). A reason computed from a count
    under ``min_cell`` (children with an untreated tooth, carious upper-anterior teeth) names the
    reason without its percentage, which would reveal the count.
    """
    f = fac[~fac["small"]].copy()
    few = lambda n: pd.notna(n) and 0 < n < min_cell  # noqa: E731
    city_untreated = 100 * f["untreated_children"].sum() / max(f["with_caries"].sum(), 1)
    f["untreated_pct"] = 100 * f["untreated_children"] / f["with_caries"].where(f["with_caries"] > 0)
    carious = f["d_teeth"] + f["f_teeth"]
    f["carious_teeth"] = carious
    f["anterior_pct"] = 100 * f["anterior_teeth"] / carious.where(carious > 0) if "anterior_teeth" in f else np.nan
    city_ant = 100 * f["anterior_teeth"].sum() / max(carious.sum(), 1) if "anterior_teeth" in f else np.nan
    w = f["examined"]
    city_brush = float(np.average(f["not_daily_brushing"].fillna(0),
                                  weights=w)) * 100 if "not_daily_brushing" in f else np.nan
    city_snack = float(np.average(f["snacks_mean"].fillna(f["snacks_mean"].mean()),
                                  weights=w)) if "snacks_mean" in f else np.nan
    sel = (f["signal"] == SIGNAL_ORDER[0]) | ((f["signal"] == SIGNAL_ORDER[1]) & (f["p_above"] >= min_p_above))
    f = f[sel].copy()
    actions, reasons = [], []
    for _, r in f.iterrows():
        a, why = [], []
        if pd.notna(r["untreated_pct"]) and r["untreated_pct"] >= city_untreated + untreated_margin:
            a.append("受診勧奨の追跡")
            why.append("未処置あり（少数のため割合は秘匿）" if few(r["untreated_children"]) or few(r["with_caries"])
                       else f"未処置あり{r['untreated_pct']:.0f}%（全体{city_untreated:.0f}%）")
        brush = 100 * r.get("not_daily_brushing", np.nan)
        if (pd.notna(brush) and brush >= city_brush + brushing_margin) or \
                (pd.notna(r.get("anterior_pct")) and r["anterior_pct"] >= city_ant + 5):
            a.append("仕上げみがき指導")
            if pd.notna(brush) and brush >= city_brush + brushing_margin:
                why.append(f"毎日でない{brush:.0f}%（全体{city_brush:.0f}%）")
            else:
                hidden = few(r.get("anterior_teeth")) or few(r["carious_teeth"])
                why.append("上顎前歯が多い（少数のため割合は秘匿）" if hidden
                           else f"上顎前歯の割合{r['anterior_pct']:.0f}%（全体{city_ant:.0f}%）")
        if pd.notna(r.get("snacks_mean")) and r["snacks_mean"] >= city_snack + snack_margin:
            a.append("おやつ（間食）指導")
            why.append(f"間食{r['snacks_mean']:.1f}回/日（全体{city_snack:.1f}）")
        if not a:
            a.append("個別に要因確認")
        actions.append("・".join(a))
        reasons.append("、".join(why) if why else "行動指標は全体の平均並み")
    f["action"] = pd.Series(actions, index=f.index, dtype=object)
    f["reason"] = pd.Series(reasons, index=f.index, dtype=object)
    f["priority"] = np.where(f["signal"] == SIGNAL_ORDER[0], 1, 2)
    f = f.sort_values(["priority", "z"], ascending=[True, False])
    f.attrs.update(city_untreated=city_untreated, city_brush=city_brush, city_snack=city_snack, city_ant=city_ant)
    return f.reset_index(drop=True)


def facility_power(fac: pd.DataFrame, info: dict, *, odds_ratios=(1.5, 2.0, 2.5), volumes=(1.0, 2.0, 4.0),
                   n_planted: int = 8, replicates: int = 5, re_sd: float = 0.15, seed: int = 0,
                   min_p_above: float = 0.9) -> pd.DataFrame:
    """Power of the facility flags by simulation on the run's own facilities: recall and false flags of the
    99.8 % limit and of the priority list (99.8 %, or 95 % with P(O/E > 1) ≥ ``min_p_above``) against the
    planted odds ratio and the number of children (``volumes`` × each facility's children, e.g. 2 = two years
    of checkups pooled).

    ``fac``: :func:`funnel_analysis` output (facilities with ``small`` False are used, with their ``n_age*``
    columns); ``info``: its info dict (``city_age_rate``). Each replicate draws every facility's children with
    caries, age by age, at the city's age-specific rate with a facility random effect (normal, sd ``re_sd`` on
    the log-odds: the ordinary spread between facilities) and, for ``n_planted`` random facilities, the planted
    odds ratio; then the funnel, the age-standardised EB and the list are computed as in the report. Returns one
    row per (odds_ratio, volume): ``recall_998``, ``false_998``, ``recall_priority``, ``false_priority`` (false
    flags: mean number of flagged facilities that were not planted), ``replicates``.
    """
    from scipy.special import expit, logit

    f = fac[~fac["small"]].reset_index(drop=True)
    ages = sorted(int(c.removeprefix("n_age")) for c in f.columns if c.startswith("n_age"))
    if len(f) <= n_planted:
        raise ParameterError("fac", f"{len(f)} facilities", expected=f"more than the {n_planted} planted")
    rate = np.array([info["city_age_rate"].get(a, np.nan) for a in ages], dtype=float)
    counts = f[[f"n_age{a}" for a in ages]].fillna(0).to_numpy(float)
    rng = np.random.default_rng(seed)
    rows = []
    for o_r in odds_ratios:
        for vol in volumes:
            n_age = np.round(counts * vol).astype(np.int64)
            n = n_age.sum(axis=1)
            res = {"recall_998": [], "false_998": [], "recall_priority": [], "false_priority": []}
            for _ in range(replicates):
                planted = np.zeros(len(f), bool)
                planted[rng.choice(len(f), size=n_planted, replace=False)] = True
                eff = rng.normal(0, re_sd, len(f)) + np.where(planted, np.log(o_r), 0.0)
                p = expit(logit(rate)[None, :] + eff[:, None])
                k_age = rng.binomial(n_age, p)
                # city rates from the simulated children, as funnel_analysis computes them
                o = k_age.sum(axis=1)
                p0 = o.sum() / n.sum()
                pa = k_age.sum(axis=0) / np.maximum(n_age.sum(axis=0), 1)
                e = (n_age * pa[None, :]).sum(axis=1)
                adj = np.clip(o / e * p0, 0, 1)
                hi95 = binomial_limits(n, p0, 0.95)[1]
                hi998 = binomial_limits(n, p0, 0.998)[1]
                eb = eb_poisson_gamma(o, e)
                s998 = adj > hi998
                prio = s998 | ((adj > hi95) & (eb["p_above"].to_numpy() >= min_p_above))
                for name, flag in (("998", s998), ("priority", prio)):
                    res[f"recall_{name}"].append(flag[planted].mean())
                    res[f"false_{name}"].append(int((flag & ~planted).sum()))
            rows.append({"odds_ratio": float(o_r), "volume": float(vol),
                         **{k: float(np.mean(v)) for k, v in res.items()}, "replicates": int(replicates)})
    return pd.DataFrame(rows)


def facility_power_table(power: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """:func:`facility_power` for the report: one row per odds ratio, one column per volume, each cell
    「検出率%（誤検出 x.x）」 of the priority list; and the column kinds (no count of children)."""
    from ..stats.power import recovery_grid
    t = recovery_grid(power, effect="odds_ratio", recall="recall_priority", false="false_priority",
                      effect_label="高リスク施設のオッズ比", effect_text=lambda r: f"{r:g}", volume_label="受診児")
    return t, {c: D.LABEL if c.startswith("高リスク") else D.OTHER for c in t.columns}


def hotspot_recovery_sentence(h: dict) -> str:
    """The Gi* part of the validation paragraph: ``h`` = ``recovery()["hot"]`` (n hot spots, how many lie in the
    planted cluster, the cluster's share found). With no hot spot it says so ("0 施設のうち 0 施設が集積内" read
    wrongly)."""
    if not h["n"]:
        return ("Gi* ホットスポットは 0 施設で、埋め込んだ集積は見つかりませんでした。"
                "この大きさの集積は施設単位の検定では見えにくいことを示します。")
    note = "で、この大きさの集積は施設単位の検定では見えにくいことを示します。" if h["recall"] < 0.5 else "です。"
    return (f"Gi* ホットスポット {h['n']} 施設のうち {h['cluster']} 施設が集積内（集積の {100 * h['recall']:.0f}%）"
            + note)


def facility_power_sentence(power: pd.DataFrame, n_planted: int) -> str:
    """What :func:`facility_power` says, in Japanese."""
    one = power[power["volume"] == power["volume"].min()].set_index("odds_ratio")
    parts = [f"オッズ比 {o:g} の施設の {100 * r:.0f}%" for o, r in one["recall_priority"].items()]
    big = power[power["volume"] == power["volume"].max()]
    return (f"この市の施設の規模と年齢構成のまま、{n_planted}施設を無作為に高リスクにする模擬実験では、"
            "優先施設の一覧は " + "、".join(parts) + " を捉えました（誤検出は平均 "
            f"{one['false_priority'].min():.1f}〜{one['false_priority'].max():.1f}施設）。受診児が"
            f"{power['volume'].max():g}倍（例えば{power['volume'].max():g}年分をまとめる）なら検出率は "
            f"{100 * big['recall_priority'].min():.0f}〜{100 * big['recall_priority'].max():.0f}% に上がりますが、"
            "施設の通常のばらつきも検出されて誤検出が増えます（そのときは管理限界を過分散の分だけ広げる設定が適します）。")


def small_facility_aggregate(fac: pd.DataFrame, min_cell: int = 10) -> dict:
    """Facilities below ``min_examined`` reported together only: count, children, prevalence
    (withheld if the pooled number of children is itself below ``min_cell``)."""
    s = fac[fac["small"]]
    n = int(s["examined"].sum())
    k = int(s["with_caries"].sum())
    return {"facilities": int(len(s)), "examined": n, "with_caries": k,
            "prevalence": (100 * k / n) if n >= min_cell and not 0 < k < min_cell else None}


# --- one call per input kind (the notebook stays thin) ---------------------------------------
@dataclass
class DentalResult:
    """Everything the dental checkup report shows, from one call of :func:`analyse_sheets`.

    Percentages are in % (0–100) as in the tables; ``eb_rate``/``adj_rate`` columns are shares.

    Attributes
    ----------
    exams : DataFrame
        One row per child exam with facility type and ward (:func:`add_facility_info`).
    teeth : DataFrame
        One row per tooth (from the sheets).
    overall : Series
        :func:`prevalence_by` of all children (``examined, prevalence, prev_lo, prev_hi, dmft_mean,
        untreated_share`` …).
    by_age, by_type, by_type_age, by_ward : DataFrame
        :func:`prevalence_by` by age, facility type, both, and ward (small counts suppressed).
    ages : list of int
        Ages examined, ascending.
    facilities : DataFrame
        Every facility: :func:`funnel_analysis` merged with the facility list (``small`` True
        when fewer than ``min_examined`` children).
    funnel_info : dict
        Funnel and empirical-Bayes parameters (``prior_alpha``, ``prior_beta``, ``phi``, ``adjusted``).
    funnel_curves : DataFrame
        Control limits by number examined (:func:`funnel_curves`).
    shown : DataFrame
        Facilities assessed one by one (not small), with ``cluster``, ``gi_z``, ``gi_p``, ``hotspot``.
    points : GeoDataFrame
        ``shown`` as points in EPSG:6670 with ``eb_pct`` (EB rate in %).
    small : dict
        :func:`small_facility_aggregate` of the small facilities.
    flagged : DataFrame
        Facilities above the 99.8 % limit, highest z first.
    tooth_shares, tooth_ranking, tooth_pairs : DataFrame
        :func:`tooth_shares`, its top 5 per age, and left–right pairs.
    top_teeth : dict of int to tuple
        The most caries-prone tooth (pair) per age.
    features : DataFrame
        :func:`pattern_features` of the shown facilities.
    cluster_labels : ndarray
        Type (cluster) of each shown facility.
    silhouette : DataFrame
        Mean silhouette per k tried; ``k_best`` the chosen k.
    cluster_profiles : DataFrame
        Mean features per type; ``cluster_names`` a description of each from the numbers.
    behaviour, behaviour_info : DataFrame, dict or None
        :func:`behaviour_model` (``None`` when the sheets have no questionnaire columns).
    priority : DataFrame
        :func:`priority_table` with suggested actions.
    """

    exams: pd.DataFrame
    teeth: pd.DataFrame
    overall: pd.Series
    by_age: pd.DataFrame
    by_type: pd.DataFrame
    by_type_age: pd.DataFrame
    by_ward: pd.DataFrame
    ages: list
    facilities: pd.DataFrame
    funnel_info: dict
    funnel_curves: pd.DataFrame
    shown: pd.DataFrame
    points: object
    small: dict
    flagged: pd.DataFrame
    tooth_shares: pd.DataFrame
    tooth_ranking: pd.DataFrame
    tooth_pairs: pd.DataFrame
    top_teeth: dict
    features: pd.DataFrame
    cluster_labels: np.ndarray
    silhouette: pd.DataFrame
    k_best: int
    cluster_profiles: pd.DataFrame
    cluster_names: dict
    behaviour: pd.DataFrame | None
    behaviour_info: dict | None
    priority: pd.DataFrame
    min_cell: int = 10

    @property
    def has_questionnaire(self) -> bool:
        """The sheets carry the questionnaire (仕上げみがき・間食回数・フッ化物)."""
        return self.behaviour is not None

    @property
    def n_hot(self) -> int:
        """Facilities in a Gi* hot spot."""
        return int((self.shown["hotspot"] == "ホットスポット").sum())

    @property
    def hot_wards(self) -> pd.Series:
        """Hot-spot facilities per ward name, most first."""
        return self.shown.loc[self.shown["hotspot"] == "ホットスポット", "ward_name"].value_counts()

    def eb_weight(self, examined: int) -> float:
        """Weight the empirical-Bayes estimate gives a facility's own O/E when it examines ``examined``
        children of the city's age mix: E / (E + β) with E = examined × city rate."""
        e = examined * self.funnel_info["p0"]
        return float(e / (e + self.funnel_info["prior_beta"]))

    def priority_text(self, min_examined: int) -> str:
        """The sentence under the priority table: actions by count, and the small facilities in total."""
        acts = self.priority["action"].astype(str).str.split("・").explode().value_counts()
        head = ("提案の内訳：" + "、".join(f"{k} {v}施設" for k, v in acts.items()) + "。" if len(acts)
                else "管理限界を超える施設はなく、優先施設はありません。")
        small = self.small
        rate = (f"、有病者率 {small['prevalence']:.1f}%" if small["prevalence"] is not None
                else "、人数が少ないため率は秘匿")
        return (head + f"受診児{min_examined}人未満の{small['facilities']}施設（計{small['examined']}人{rate}）は"
                "個別に評価せず、合計のみ示します。")

    def recovery(self, truth: dict) -> dict:
        """What the methods found of the planted truth (``truth.json`` of :mod:`ebpm_analysis.synth.dental`).

        For the 99.8 % flags (``flagged``), the priority list (``priority``) and the Gi* hot spots: how many
        facilities, how many of the planted high-risk facilities / cluster members, and false flags (neither
        planted high-risk nor in the cluster: those are truly at higher risk by construction). Recall is over
        the planted high-risk facilities assessed one by one (hot spots: over the cluster members shown).
        """
        hr = set(truth["high_risk_facilities"]) & set(self.shown["facility_code"])
        cl = set(truth["cluster"]["members"]) & set(self.shown["facility_code"])
        out = {"high_risk": len(hr), "cluster": len(cl), "cluster_or": float(np.exp(truth["cluster"]["log_or"])),
               "high_risk_or": [float(v) for k, v in truth.get("high_risk_or", {}).items() if k in hr]}
        sets = {"flagged": set(self.flagged["facility_code"]), "priority": set(self.priority["facility_code"]),
                "hot": set(self.shown.loc[self.shown["hotspot"] == "ホットスポット", "facility_code"])}
        for name, got in sets.items():
            target = cl if name == "hot" else hr
            out[name] = {"n": len(got), "high_risk": len(got & hr), "cluster": len(got & cl),
                         "false": len(got - hr - cl), "recall": len(got & target) / max(len(target), 1)}
        return out

    def recovery_text(self, truth: dict) -> str:
        """The validation paragraph of a synthetic run: what was planted and what each method found
        (:meth:`recovery`), and whether the top caries-prone teeth equal the truth."""
        rec = self.recovery(truth)
        f, p, h = rec["flagged"], rec["priority"], rec["hot"]
        ors = rec["high_risk_or"] or [float("nan")]
        tt = {int(a): tuple(v) for a, v in truth["top_teeth"].items()}
        a0, a1 = self.ages[0], self.ages[-1]
        same = self.top_teeth[a0] == tt.get(a0) and self.top_teeth[a1] == tt.get(a1)
        cl_or = rec["cluster_or"]
        teeth = lambda t: "・".join(map(str, t)) if t else "—"  # noqa: E731  (51, 61) → 51・61
        return (
            f"合成データには、受診児15人以上のさまざまな規模の高リスク施設 {rec['high_risk']} 施設"
            f"（オッズ比 {min(ors):.1f}〜{max(ors):.1f}）と半径 {truth['cluster']['radius_km']} km の"
            f"地理的集積（{rec['cluster']} 施設、オッズ比 {cl_or:.2f}）を埋め込み、"
            "施設ごとに年齢構成を変えてあります（4・5歳児だけの幼稚園を含む）。"
            f"99.8%管理限界超の {f['n']} 施設のうち {f['high_risk']} 施設が埋め込んだ高リスク施設"
            f"（検出率 {100 * f['recall']:.0f}%）、{f['cluster']} 施設が集積内、"
            f"どちらでもない誤検出は {f['false']} 施設でした。"
            f"優先施設 {p['n']} 施設では高リスク施設の検出率 {100 * p['recall']:.0f}%、誤検出 {p['false']} 施設です。"
            + hotspot_recovery_sentence(h)
            + f"最もむし歯になりやすい歯の推定（{a0}歳 {teeth(self.top_teeth[a0])}、"
            f"{a1}歳 {teeth(self.top_teeth[a1])}）は、"
            f"生成に用いた真値（{a0}歳 {teeth(tt.get(a0))}、{a1}歳 {teeth(tt.get(a1))}）と"
            + ("一致しました。" if same else "一致しませんでした。"))

    def prevalence_at(self, age: int) -> float:
        """Prevalence (%) at ``age`` (NaN when suppressed)."""
        return self.by_age.set_index("age").loc[age, "prevalence"]

    def teeth_label(self, teeth: tuple) -> str:
        """``51・61（上顎乳中切歯）``: FDI numbers of a tooth pair and its kind."""
        kind = self.tooth_pairs[self.tooth_pairs["teeth"] == teeth]["kind"].iloc[0]
        return "・".join(str(x) for x in teeth) + f"（{kind}）"

    def odds_ratio(self, term: str) -> float:
        """Odds ratio of a :func:`behaviour_model` term (NaN without the questionnaire or the term)."""
        if self.behaviour is None:
            return float("nan")
        b = self.behaviour.set_index("term")
        return float(b.loc[term, "オッズ比"]) if term in b.index else float("nan")

    def daily_brushing_share(self) -> float:
        """Share of answered children finishing-brushed every day (NaN without the questionnaire)."""
        if not self.has_questionnaire:
            return float("nan")
        return float((self.exams["finishing_brushing"].dropna() == "毎日").mean())

    def caries_pattern(self, age: int | None = None) -> pd.DataFrame:
        """:func:`caries_pattern_type` at ``age`` (default the youngest)."""
        return caries_pattern_type(self.teeth, self.exams, age=self.ages[0] if age is None else age)

    def drawn(self, *, suppress: bool = True) -> pd.DataFrame:
        """The facilities the funnel, shrinkage and facility-map figures draw: :attr:`shown`, and in a public
        run (``suppress``) only those whose count of children with caries ``facility_rates.csv`` publishes. A
        point's rate and number examined (or expected count) read off a figure would give a hidden count back
        (a facility with 30 examined and a crude rate read to ±0.5 % has its count to ±0.15)."""
        if not suppress:
            return self.shown
        pub = self.exports()["facility_rates.csv"]
        keep = pub[["with_caries", "adj_rate", "eb_rate"]].notna().all(axis=1).to_numpy()
        return self.shown[keep]

    def exports(self, *, suppress: bool = True) -> dict[str, pd.DataFrame]:
        """The aggregated tables a run writes (file name → frame, for :func:`ebpm_analysis.io.write_tables`
        with ``kinds=`` :meth:`export_kinds`), passed through :func:`~ebpm_analysis.stats.disclosure.suppress_table`:
        no count of children or teeth under ``min_cell``, and no rate, EB estimate, interval or share that
        would give a hidden count back (each is published beside the count it comes from)."""
        pub = self.shown[["facility_code", "facility_name", "facility_type", "ward_code", "ward_name", "examined",
                          "with_caries", "expected", "adj_rate", "eb_rate", "eb_lo", "eb_hi", "p_above", "signal",
                          "cluster", "hotspot"]].copy()
        pub["signal"] = pub["signal"].astype(str)
        small = self.small
        out = {"facility_rates.csv": pub, "prevalence_by_age.csv": self.by_age,
               "prevalence_by_type_age.csv": self.by_type_age, "prevalence_by_ward.csv": self.by_ward,
               "tooth_shares.csv": self.tooth_shares,
               "priority_facilities.csv": self.priority[[c for c in PRIORITY_EXPORT if c in self.priority.columns]]}
        if self.has_questionnaire:
            out["behaviour_odds_ratios.csv"] = self.behaviour
        out["small_facilities_aggregate.csv"] = pd.DataFrame([{
            "facilities": small["facilities"], "examined": small["examined"], "with_caries": small["with_caries"],
            "prevalence": small["prevalence"]}])
        if not suppress:   # an internal (庁内限り) run: staff see the counts
            return out
        kinds = self.export_kinds()
        return {name: D.suppress_table(df, kinds[name], self.min_cell) for name, df in out.items()}

    def export_kinds(self) -> dict[str, dict]:
        """Column kinds of :meth:`exports` (stored beside each file for ``ebpm audit``)."""
        fac = {"facility_code": D.LABEL, "facility_name": D.LABEL, "facility_type": D.LABEL, "ward_code": D.LABEL,
               "ward_name": D.LABEL, "examined": D.PERSONS, "with_caries": D.PERSONS,
               "expected": D.expected("examined"), "adj_rate": D.rate("with_caries"),
               "eb_rate": D.expected("with_caries"), "eb_lo": D.expected("with_caries"),
               "eb_hi": D.expected("with_caries"), "p_above": D.expected("with_caries"), "signal": D.LABEL,
               "cluster": D.LABEL, "hotspot": D.LABEL}
        prio = {**fac, "priority": D.OTHER, "untreated_children": D.PERSONS, "anterior_teeth": D.PERSONS,
                "carious_teeth": D.PERSONS, "untreated_pct": D.share(["untreated_children", "with_caries"]),
                "anterior_pct": D.share(["anterior_teeth", "carious_teeth"]), "z": D.expected("with_caries"),
                "action": D.LABEL, "reason": D.LABEL}
        out = {"facility_rates.csv": fac,
               "priority_facilities.csv": {c: k for c, k in prio.items() if c in PRIORITY_EXPORT
                                           and c in self.priority.columns},
               "prevalence_by_age.csv": group_kinds("age"),
               "prevalence_by_type_age.csv": group_kinds(["facility_type", "age"]),
               "prevalence_by_ward.csv": group_kinds(["ward_code", "ward_name"]),
               "tooth_shares.csv": {"age": D.LABEL, "tooth": D.LABEL, "present": D.PERSONS, "carious": D.PERSONS,
                                    "share": D.share(["carious", "present"]), "per_child": D.share("carious")},
               "small_facilities_aggregate.csv": {"facilities": D.COUNT, "examined": D.PERSONS,
                                                  "with_caries": D.PERSONS,
                                                  "prevalence": D.rate(["with_caries", "examined"])}}
        if self.has_questionnaire:
            out["behaviour_odds_ratios.csv"] = {c: D.LABEL if c in ("要因", "term") else D.OTHER
                                                for c in self.behaviour.columns}
        return out


#: Columns of the public priority list (the tooth and age detail stays with staff: internal audience).
PRIORITY_EXPORT = ["priority", "facility_code", "facility_name", "facility_type", "ward_code", "ward_name",
                   "examined", "with_caries", "expected", "adj_rate", "z", "signal", "eb_rate", "eb_lo", "eb_hi",
                   "p_above", "hotspot", "cluster", "untreated_children", "untreated_pct", "anterior_teeth",
                   "carious_teeth", "anterior_pct", "action", "reason"]


def analyse_sheets(sheets, facilities: pd.DataFrame, *, min_cell: int = 10, min_examined: int = 10,
                   adjust_overdispersion: bool = False, cluster_method: str = "kmeans", k_max: int = 6,
                   hotspot_k: int = 8, permutations: int = 9999, seed: int = 2026,
                   plane_crs: str | None = None) -> DentalResult:
    """Preschool dental checkups from the sheets and the facility list.

    Parameters
    ----------
    sheets : DentalSheets
        :func:`ebpm_analysis.io.dental_sheet.read_checkup_sheets` (``exams`` and ``teeth``).
    facilities : DataFrame
        :func:`ebpm_analysis.io.dental_sheet.read_facilities`.
    min_cell : int
        Counts below this are suppressed in tables.
    min_examined : int
        Facilities with fewer examined children are shown only in total.
    adjust_overdispersion : bool
        Widen the funnel limits by the between-facility overdispersion.
    cluster_method : {"kmeans", "ward"}
        Typing of facilities by caries pattern; k = 2 … ``k_max`` chosen by silhouette.
    hotspot_k, permutations : int
        Gi* k-nearest neighbours and permutations (the false-discovery-rate adjustment over ~160 facilities
        needs p-values finer than 999 permutations give: the smallest two-sided p is 2 / (permutations + 1)).
    seed : int
        Seed of clustering and permutations.
    plane_crs : str, optional
        CRS the facility distances are computed in (:func:`ebpm_analysis.geo.plane_crs` of the city;
        default: that of the municipality most facilities' 区コード name).

    Returns
    -------
    DentalResult

    Raises
    ------
    ParameterError
        A parameter is out of range.
    """
    if cluster_method not in ("kmeans", "ward"):
        raise ParameterError("cluster_method", f"got {cluster_method!r}", expected="'kmeans' or 'ward'")
    for name, v in (("min_examined", min_examined), ("min_cell", min_cell)):
        if int(v) < 1:
            raise ParameterError(name, f"got {v!r}", expected="an integer ≥ 1 (default 10)")
    exams = add_facility_info(sheets.exams, facilities)
    by = {k: prevalence_by(exams, b, min_cell) for k, b in (
        ("age", "age"), ("type_age", ["facility_type", "age"]), ("type", "facility_type"),
        ("ward", ["ward_code", "ward_name"]))}
    overall = prevalence_by(exams.assign(all="全体"), "all", min_cell).iloc[0]
    fac = facility_summary(exams, sheets.teeth)
    fa, finfo = funnel_analysis(exams, fac, min_examined=min_examined, adjust_overdispersion=adjust_overdispersion)
    fa = fa.merge(facilities, on="facility_code", how="left")
    curves = funnel_curves(finfo, int(fa["examined"].max()), n_min=min_examined)
    shown = fa[~fa["small"]].copy()
    shares = tooth_shares(sheets.teeth, exams)
    pairs = tooth_pair_ranking(shares)
    feat = pattern_features(shown)
    labels, sil, k_best = cluster_facilities(feat, range(2, k_max + 1), method=cluster_method, seed=seed)
    profiles = cluster_profiles(feat, labels)
    city_feat = feat.mean()
    shown["cluster"] = labels
    crs = plane_crs or geo.plane_crs(str(facilities["ward_code"].astype(str).mode().iloc[0]))
    pts = geo.points_frame(shown).to_crs(crs)
    pts["eb_pct"] = 100 * pts["eb_rate"]
    hs = hotspots(pts, "eb_pct", k=hotspot_k, permutations=permutations, seed=seed)
    pts = pts.join(hs)
    shown = shown.join(hs)
    has_q = all(c in exams for c in ("finishing_brushing", "snacks_per_day", "fluoride"))
    or_tab, or_info = behaviour_model(exams) if has_q else (None, None)
    return DentalResult(
        exams=exams, teeth=sheets.teeth, overall=overall, by_age=by["age"], by_type=by["type"],
        by_type_age=by["type_age"], by_ward=by["ward"], ages=sorted(exams["age"].unique()), facilities=fa,
        funnel_info=finfo, funnel_curves=curves, shown=shown, points=pts,
        small=small_facility_aggregate(fa, min_cell),
        flagged=shown[shown["signal"] == "99.8%超"].sort_values("z", ascending=False),
        tooth_shares=shares, tooth_ranking=tooth_ranking(shares, top=5), tooth_pairs=pairs,
        top_teeth=top_teeth(shares), features=feat, cluster_labels=labels, silhouette=sil, k_best=k_best,
        cluster_profiles=profiles,
        cluster_names={int(r["cluster"]): describe_cluster(r, city_feat) for _, r in profiles.iterrows()},
        behaviour=or_tab, behaviour_info=or_info, priority=priority_table(shown, min_cell=int(min_cell)),
        min_cell=int(min_cell))
