"""Anonymisation kit: a record-level file → a shareable extract (issue 12, item 4).

The steps follow the processing standards for 匿名加工情報 / 行政機関等匿名加工情報
(docs/sources.md#anonymisation-rules):

1. **Direct identifiers are deleted** (names, addresses, crew names, exact times and coordinates).
2. **Record IDs become keyed pseudonyms**: HMAC-SHA256 of the ID under a secret key taken from an
   environment variable (``EBPM_ANON_KEY``) or a key file. The key is never written anywhere; a
   new key gives unrelated pseudonyms, so two extracts cannot be linked to each other or back to
   the source by anyone without the key (no linkage keys). Without a key the kit refuses to run.
3. **Quasi-identifiers are generalised** along a ladder per column (age → bands; dates → week →
   month; coordinates → district → ward, or 1 km → 10 km mesh; outlying values top/bottom coded).
4. **k-anonymity and l-diversity are measured** on the chosen quasi-identifiers (every
   combination of their values must be shared by at least ``k`` records and carry at least ``l``
   distinct values of the sensitive attribute), and the ladders are climbed greedily — always the
   step that leaves the fewest records at risk — until at most ``max_suppression`` of the records
   sit in too-small classes; those records are then suppressed (deleted). The risk summary says
   what was done and what remains.

The measures are written here, not taken from a library: pyCANON (the maintained k/l/t-closeness
checker on PyPI, 1.3.6) pins pandas==2.3.3, numpy==2.0.2 and scipy==1.15.3 exactly, which conflicts
with this project's pandas 3 / numpy 2.4; and the two measures are a group-by each
(:func:`class_sizes`, :func:`l_diversity`), tested on tables worked out by hand. The mesh codes
come from :func:`ebpm_analysis.cases.probe.mesh_code` (one definition).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .errors import EbpmError, InputFileError, ParameterError

KEY_ENV = "EBPM_ANON_KEY"
MIN_KEY_BYTES = 16
MISSING = "不明"


# ------------------------------------------------------------------------------------------ key
def load_key(key_file: str | os.PathLike | None = None, *, env: str = KEY_ENV) -> bytes:
    """The pseudonymisation key: the contents of ``key_file`` or of the environment variable ``env``.

    Raises :class:`ParameterError` when neither gives at least 16 bytes; the message says where the
    key is expected. The key is only ever held in memory."""
    if key_file:
        p = Path(key_file)
        if not p.is_file():
            raise ParameterError("key_file", f"{p} does not exist",
                                 expected=f"a file holding a secret of at least {MIN_KEY_BYTES} bytes")
        key = p.read_bytes().strip()
        where = f"key file {p}"
    else:
        key = os.environ.get(env, "").strip().encode("utf-8")
        where = f"environment variable {env}"
        if not key:
            raise ParameterError("key", f"no pseudonymisation key: {env} is not set and no key file was given",
                                 expected=f"a secret of at least {MIN_KEY_BYTES} bytes in {env} or "
                                          "--key-file FILE (kept by the data steward; never written to the extract)")
    if len(key) < MIN_KEY_BYTES:
        raise ParameterError("key", f"the {where} holds {len(key)} bytes",
                             expected=f"at least {MIN_KEY_BYTES} bytes of secret")
    return key


def pseudonymise(values: pd.Series, key: bytes, *, prefix: str = "", length: int = 16) -> pd.Series:
    """Keyed pseudonyms: ``prefix`` + the first ``length`` hex digits of HMAC-SHA256(key, value).

    The same value under the same key always gives the same pseudonym (records of one person stay
    together within the extract); without the key the value cannot be recovered or re-derived."""
    def one(v) -> str:
        return prefix + hmac.new(key, str(v).encode("utf-8"), hashlib.sha256).hexdigest()[:length]
    return values.map(one, na_action="ignore")


# ------------------------------------------------------------------------------- generalisation
def age_band(age: pd.Series, width: int = 5, *, top: int | None = 90, bottom: int | None = None) -> pd.Series:
    """Ages in bands of ``width`` years (``30–34``), top-coded (``90+``) and bottom-coded (``<15``)."""
    a = pd.to_numeric(age, errors="coerce")
    lo = (a // width) * width
    out = lo.astype("Int64").astype(str) + "–" + (lo + width - 1).astype("Int64").astype(str)
    if top is not None:
        out = out.where(a < top, f"{top}+")
    if bottom is not None:
        out = out.where(a >= bottom, f"<{bottom}")
    return out.where(a.notna(), MISSING)


def top_bottom_code(x: pd.Series, *, lower: float | None = None, upper: float | None = None) -> pd.Series:
    """Numbers clipped to [lower, upper]: rare extreme values no longer single a record out."""
    return pd.to_numeric(x, errors="coerce").clip(lower=lower, upper=upper)


def to_week(ts: pd.Series) -> pd.Series:
    """ISO week of each timestamp (``2024-W05``)."""
    iso = pd.to_datetime(ts).dt.isocalendar()
    return (iso["year"].astype(str) + "-W" + iso["week"].astype(str).str.zfill(2)).where(ts.notna(), MISSING)


def to_month(ts: pd.Series) -> pd.Series:
    t = pd.to_datetime(ts)
    return t.dt.strftime("%Y-%m").where(t.notna(), MISSING)


def to_quarter(ts: pd.Series) -> pd.Series:
    t = pd.to_datetime(ts)
    return (t.dt.year.astype("Int64").astype(str) + "-Q" + t.dt.quarter.astype("Int64").astype(str)).where(
        t.notna(), MISSING)


def to_mesh(lat: pd.Series, lon: pd.Series, level: int = 3) -> pd.Series:
    """JIS X 0410 mesh code (level 3: 1 km, 2: 10 km, 1: 80 km) of each point; ``不明`` when missing."""
    from .cases.probe import mesh_code

    ok = lat.notna() & lon.notna()
    out = pd.Series(MISSING, index=lat.index, dtype=object)
    if ok.any():
        out[ok] = mesh_code(lat[ok].astype(float), lon[ok].astype(float), level).astype(str)
    return out


def to_district(lat: pd.Series, lon: pd.Series, districts, *, code: str = "district_code") -> pd.Series:
    """The district polygon (``districts``, a GeoDataFrame) each point lies in; ``不明`` outside."""
    import geopandas as gpd

    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon.astype(float), lat.astype(float)), index=lat.index,
                           crs=4326).to_crs(districts.crs)
    joined = gpd.sjoin(pts, districts[[code, "geometry"]], how="left", predicate="within")
    joined = joined[~joined.index.duplicated()]
    return joined[code].reindex(lat.index).fillna(MISSING).astype(str)


# ---------------------------------------------------------------------------------- measures
def class_sizes(df: pd.DataFrame, qi: list[str]) -> pd.Series:
    """Size of the equivalence class (records sharing all quasi-identifier values) of each record."""
    if not qi:
        return pd.Series(len(df), index=df.index)
    return df.groupby(qi, dropna=False, observed=True)[qi[0]].transform("size")


def k_anonymity(df: pd.DataFrame, qi: list[str]) -> int:
    """The k for which ``df`` is k-anonymous on ``qi``: the smallest equivalence class (0 when empty)."""
    return int(class_sizes(df, qi).min()) if len(df) else 0


def l_diversity(df: pd.DataFrame, qi: list[str], sensitive: str) -> int:
    """Distinct l-diversity: the fewest distinct values of ``sensitive`` in any equivalence class."""
    if not len(df):
        return 0
    if not qi:
        return int(df[sensitive].nunique(dropna=False))
    return int(df.groupby(qi, dropna=False, observed=True)[sensitive].nunique(dropna=False).min())


def class_diversity(df: pd.DataFrame, qi: list[str], sensitive: str) -> pd.Series:
    """Distinct values of ``sensitive`` in each record's equivalence class."""
    if not qi:
        return pd.Series(df[sensitive].nunique(dropna=False), index=df.index)
    return df.groupby(qi, dropna=False, observed=True)[sensitive].transform(lambda s: s.nunique(dropna=False))


def at_risk(df: pd.DataFrame, qi: list[str], k: int, sensitive: str | None = None, l: int = 1) -> pd.Series:  # noqa: E741
    """Records in a class smaller than ``k`` or (with ``sensitive``) with fewer than ``l`` distinct values."""
    risk = class_sizes(df, qi) < k
    if sensitive is not None and l > 1:
        risk |= class_diversity(df, qi, sensitive) < l
    return risk


def risk_summary(df: pd.DataFrame, qi: list[str], k: int, sensitive: str | None = None, l: int = 1) -> dict:  # noqa: E741
    """Records, classes, k and l achieved, and the records (and classes) below k or l."""
    sizes = class_sizes(df, qi)
    risky = at_risk(df, qi, k, sensitive, l)
    n_classes = int(df.groupby(qi, dropna=False, observed=True).ngroups) if qi and len(df) else int(len(df) > 0)
    small = df.loc[sizes < k]
    out = {
        "records": int(len(df)),
        "classes": n_classes,
        "k_target": int(k),
        "k_achieved": k_anonymity(df, qi),
        "records_in_classes_below_k": int((sizes < k).sum()),
        "classes_below_k": int(small.groupby(qi, dropna=False, observed=True).ngroups) if qi and len(small) else 0,
        "share_below_k": float((sizes < k).mean()) if len(df) else 0.0,
        "records_at_risk": int(risky.sum()),
    }
    if sensitive is not None:
        out.update({"sensitive": sensitive, "l_target": int(l), "l_achieved": l_diversity(df, qi, sensitive)})
    return out


# ----------------------------------------------------------------------------- generalise + suppress
@dataclass
class Ladder:
    """One quasi-identifier: ``levels`` are functions of the source frame, finest first."""

    column: str
    levels: list[tuple[str, Callable[[pd.DataFrame], pd.Series]]]


@dataclass
class Result:
    extract: pd.DataFrame
    before: dict
    after: dict
    levels: dict[str, str]
    steps: list[str] = field(default_factory=list)
    suppressed: int = 0

    def summary(self) -> dict:
        return {"quasi_identifiers": list(self.levels), "levels": self.levels, "steps": self.steps,
                "suppressed_records": self.suppressed, "before": self.before, "after": self.after}


def enforce(source: pd.DataFrame, base: pd.DataFrame, ladders: list[Ladder], *, k: int = 5,
            sensitive: str | None = None, l: int = 1, max_suppression: float = 0.05,  # noqa: E741
            keep: tuple[str, ...] = ()) -> Result:
    """Generalise the quasi-identifiers of ``ladders`` (computed from ``source``) and suppress records
    until the extract is k-anonymous (and l-diverse on ``sensitive`` when ``l`` > 1).

    Greedy global recoding: while more than ``max_suppression`` of the records are at risk and a
    ladder has a coarser level, take the single step that leaves the fewest records at risk; then
    delete the records still at risk. ``base`` holds the non-identifying columns of the extract;
    quasi-identifiers named in ``keep`` stay at their finest level (other columns give way)."""
    if k < 1 or l < 1:
        raise ParameterError("k" if k < 1 else "l", f"must be at least 1, got {k if k < 1 else l}")
    if not 0 <= max_suppression < 1:
        raise ParameterError("max_suppression", f"got {max_suppression}", expected="a share in [0, 1)")
    qi = [ld.column for ld in ladders]
    unknown = sorted(set(keep) - set(qi))
    if unknown:
        raise ParameterError("keep", f"{unknown} are not quasi-identifiers of this extract", expected=f"some of {qi}")
    level = {ld.column: 0 for ld in ladders}
    cache: dict[tuple[str, int], pd.Series] = {}

    def column(ld: Ladder, i: int) -> pd.Series:
        if (ld.column, i) not in cache:
            cache[(ld.column, i)] = ld.levels[i][1](source).astype(str)
        return cache[(ld.column, i)]

    def frame(lv: dict[str, int]) -> pd.DataFrame:
        cols = {ld.column: column(ld, lv[ld.column]) for ld in ladders}
        ids = [c for c in base.columns if c.endswith("ID")]
        return pd.concat([base[ids], pd.DataFrame(cols, index=source.index), base.drop(columns=ids)], axis=1)

    current = frame(level)
    before = risk_summary(current, qi, k, sensitive, l)
    steps = []
    while True:
        risky = at_risk(current, qi, k, sensitive, l)
        if risky.mean() <= max_suppression:
            break
        options = []
        for ld in ladders:
            if ld.column not in keep and level[ld.column] + 1 < len(ld.levels):
                trial = {**level, ld.column: level[ld.column] + 1}
                options.append((int(at_risk(frame(trial), qi, k, sensitive, l).sum()), ld.column, trial))
        if not options:
            break
        n, col, level = min(options, key=lambda o: o[0])
        current = frame(level)
        lad = next(ld for ld in ladders if ld.column == col)
        steps.append(f"{col}: {lad.levels[level[col] - 1][0]} → {lad.levels[level[col]][0]} "
                     f"(records at risk {int(risky.sum()):,} → {n:,})")
    risky = at_risk(current, qi, k, sensitive, l)
    extract = current.loc[~risky].reset_index(drop=True)
    if risky.any():
        steps.append(f"suppressed {int(risky.sum()):,} records in classes below k={k}"
                     + (f" or l={l}" if sensitive is not None and l > 1 else ""))
    after = risk_summary(extract, qi, k, sensitive, l)
    names = {ld.column: ld.levels[level[ld.column]][0] for ld in ladders}
    return Result(extract, before, after, names, steps, int(risky.sum()))


# ------------------------------------------------------------------------------------ presets
def _require(df: pd.DataFrame, cols, path, kind: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise InputFileError(path, f"missing column(s) {missing} for --kind {kind}",
                             expected=f"a header with {list(cols)}", column=missing[0])


def _blank_to_na(s: pd.Series) -> pd.Series:
    return s.where(s.astype("string").str.strip() != "")


def _minutes(later: pd.Series, earlier: pd.Series) -> pd.Series:
    return (later - earlier).dt.total_seconds() / 60.0


def _times(df: pd.DataFrame, col: str, path) -> pd.Series:
    t = pd.to_datetime(df[col].str.strip(), format="mixed", errors="coerce")
    bad = t.isna() & df[col].notna() & (df[col].str.strip() != "")
    if bad.any():
        from .io.common import bad_rows

        raise InputFileError(path, "unreadable date/time", column=col, rows=bad_rows(bad),
                             expected="YYYY/MM/DD HH:MM:SS or YYYY-MM-DD HH:MM:SS")
    return t


# FDMA 年齢区分 (io.dispatch_log.AGE_GROUPS): 新生児・乳幼児・少年 are all under 18
DISPATCH_AGE_LADDER = {"新生児": "18歳未満", "乳幼児": "18歳未満", "少年": "18歳未満",
                       "成人": "成人", "高齢者": "高齢者"}


def dispatch_extract(df: pd.DataFrame, key: bytes, *, path="dispatch log", districts=None) -> tuple:
    """Dispatch log (io.dispatch_log layout) → (source, base, ladders, sensitive).

    Kept: keyed 事案ID, 事故種別, 傷病程度 (sensitive), minutes 覚知→現着 (top-coded at 60) and
    覚知→病院着 (top-coded at 240). Deleted: 事案番号, exact times, 出場隊 and 出場署所 (a crew or
    station locates the call more finely than the district), coordinates and 町丁コード.
    Quasi-identifiers: 年齢 (年齢区分 → 18歳未満/成人/高齢者 → 全年齢; exact 年齢 → 5-year bands
    → 10-year → all), 性別 when the file has it, 地区 (the district polygon of the coordinates when
    ``districts`` is given → its ward; otherwise 1 km mesh → 10 km mesh), 覚知時期 (週 → 月 → 四半期)."""
    _require(df, ["事案番号", "覚知日時", "現着日時", "事故種別", "傷病程度", "緯度", "経度"], path, "dispatch")
    if "年齢区分" not in df.columns and "年齢" not in df.columns:
        _require(df, ["年齢区分"], path, "dispatch")
    t_call = _times(df, "覚知日時", path)
    t_scene = _times(df, "現着日時", path)
    base = pd.DataFrame({"事案ID": pseudonymise(df["事案番号"], key, prefix="E")})
    base["事故種別"] = _blank_to_na(df["事故種別"]).fillna(MISSING)
    base["傷病程度"] = _blank_to_na(df["傷病程度"]).fillna("不搬送")  # blank 傷病程度 = not transported
    base["現着所要分"] = top_bottom_code(_minutes(t_scene, t_call).round(0), lower=0, upper=60)
    if "病院着日時" in df.columns:
        base["病院着所要分"] = top_bottom_code(_minutes(_times(df, "病院着日時", path), t_call).round(0),
                                          lower=0, upper=240)
    src = df.assign(_t=t_call, _lat=pd.to_numeric(df["緯度"], errors="coerce"),
                    _lon=pd.to_numeric(df["経度"], errors="coerce"))
    ladders = []
    if "年齢" in df.columns:
        ladders.append(Ladder("年齢", [("5歳階級", lambda s: age_band(s["年齢"], 5)),
                                       ("10歳階級", lambda s: age_band(s["年齢"], 10, top=80)),
                                       ("全年齢", lambda s: pd.Series("全年齢", index=s.index))]))
    else:
        ladders.append(Ladder("年齢", [("年齢区分", lambda s: s["年齢区分"].fillna(MISSING)),
                                       ("3区分", lambda s: s["年齢区分"].map(DISPATCH_AGE_LADDER).fillna(MISSING)),
                                       ("全年齢", lambda s: pd.Series("全年齢", index=s.index))]))
    if "性別" in df.columns:
        ladders.append(Ladder("性別", [("性別", lambda s: s["性別"].fillna(MISSING)),
                                       ("全体", lambda s: pd.Series("全体", index=s.index))]))
    if districts is not None:
        ward = dict(zip(districts["district_code"].astype(str), districts["ward_code"].astype(str), strict=True))
        district = to_district(src["_lat"], src["_lon"], districts)  # once: both levels derive from it
        ladders.append(Ladder("地区", [("地区", lambda s: district),
                                       ("区", lambda s: district.map(ward).fillna(MISSING))]))
    else:
        ladders.append(Ladder("地区", [("1kmメッシュ", lambda s: to_mesh(s["_lat"], s["_lon"], 3)),
                                       ("10kmメッシュ", lambda s: to_mesh(s["_lat"], s["_lon"], 2))]))
    ladders.append(Ladder("覚知時期", [("週", lambda s: to_week(s["_t"])), ("月", lambda s: to_month(s["_t"])),
                                      ("四半期", lambda s: to_quarter(s["_t"]))]))
    return src, base, ladders, "傷病程度"


def dental_extract(df: pd.DataFrame, key: bytes, *, path="checkups", facilities=None) -> tuple:
    """Dental checkup sheet (io.dental_sheet layout) → (source, base, ladders, sensitive).

    Kept: keyed 児童ID, the tooth columns and the questionnaire answers. Deleted: 児童番号, 施設コード
    (replaced by the facility's ward when a facilities list is given), 健診日. Quasi-identifiers:
    年齢 (→ 全年齢), 性別 when present, 区 (from the facilities list; else not released), 健診月 → 年度."""
    _require(df, ["施設コード", "児童番号", "健診日", "年齢"], path, "dental")
    t = _times(df, "健診日", path)
    drop = {"施設コード", "児童番号", "健診日", "年齢", "性別", "氏名", "生年月日", "住所", "保護者氏名"}
    base = pd.DataFrame({"児童ID": pseudonymise(df["児童番号"], key, prefix="C")})
    for c in df.columns:
        if c not in drop:
            base[c] = df[c]
    src = df.assign(_t=t)
    ladders = [Ladder("年齢", [("年齢", lambda s: s["年齢"].astype(str).str.strip()),
                               ("全年齢", lambda s: pd.Series("3–5歳", index=s.index))])]
    if "性別" in df.columns:
        ladders.append(Ladder("性別", [("性別", lambda s: s["性別"].fillna(MISSING)),
                                       ("全体", lambda s: pd.Series("全体", index=s.index))]))
    if facilities is not None:
        ward = dict(zip(facilities["施設コード"].astype(str), facilities["区名"].astype(str), strict=True))
        ladders.append(Ladder("区", [("区", lambda s: s["施設コード"].astype(str).map(ward).fillna(MISSING)),
                                     ("市全体", lambda s: pd.Series("市全体", index=s.index))]))
    ladders.append(Ladder("健診月", [("月", lambda s: to_month(s["_t"])),
                                     ("年度", lambda s: (s["_t"] - pd.DateOffset(months=3)).dt.year.astype(str)
                                      + "年度")]))
    return src, base, ladders, None


KINDS = {"dispatch": dispatch_extract, "dental": dental_extract}


def anonymise_file(path: str | os.PathLike, kind: str, key: bytes, *, k: int = 5, l: int = 1,  # noqa: E741
                   max_suppression: float = 0.05, encoding: str = "auto", districts_path=None,
                   facilities_path=None, keep: tuple[str, ...] = ()) -> Result:
    """Read a record-level CSV of ``kind`` ('dispatch' or 'dental') and return the anonymised extract."""
    from .io.common import read_csv, resolve_encoding

    if kind not in KINDS:
        raise ParameterError("kind", f"got {kind!r}", expected=" or ".join(repr(x) for x in KINDS)
                             + " (school-route fixes are trajectories: share the aggregated tables of 05 instead)")
    p = Path(path)
    if not p.is_file():
        raise InputFileError(p, "file not found", expected=f"a {kind} CSV")
    df = read_csv(p, encoding=resolve_encoding(p, encoding), record=False)
    if kind == "dispatch":
        districts = None
        if districts_path:
            import geopandas as gpd

            districts = gpd.read_file(districts_path)
            _require(districts, ["district_code", "ward_code"], districts_path, "dispatch --districts")
        src, base, ladders, sensitive = dispatch_extract(df, key, path=p, districts=districts)
    else:
        facilities = None
        if facilities_path:
            facilities = read_csv(Path(facilities_path), encoding=resolve_encoding(facilities_path, encoding),
                                  record=False)
            _require(facilities, ["施設コード", "区名"], facilities_path, "dental --facilities")
        src, base, ladders, sensitive = dental_extract(df, key, path=p, facilities=facilities)
    return enforce(src, base, ladders, k=k, sensitive=sensitive, l=l, max_suppression=max_suppression, keep=keep)


def write_extract(result: Result, out: str | os.PathLike, risk_path: str | os.PathLike | None = None) -> Path:
    """Write the extract (CSV, formula-safe) and the risk summary (JSON) beside it."""
    from .io.common import atomic_path, write_csv

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_csv(result.extract, out)
    risk = Path(risk_path) if risk_path else out.with_suffix(".risk.json")
    with atomic_path(risk) as tmp:
        tmp.write_text(json.dumps(result.summary(), ensure_ascii=False, indent=2), encoding="utf-8")
    return risk


__all__ = ["EbpmError", "KEY_ENV", "Ladder", "Result", "age_band", "anonymise_file", "at_risk", "class_sizes",
           "enforce", "k_anonymity", "l_diversity", "load_key", "pseudonymise", "risk_summary", "to_district",
           "to_mesh", "to_month", "to_week", "top_bottom_code", "write_extract"]
