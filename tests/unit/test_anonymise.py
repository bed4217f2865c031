"""Anonymisation kit (issue 12, item 4): measures on tables worked out by hand, keyed pseudonyms,
generalisation until k holds, clear errors, and `ebpm anonymise` on the synthetic dispatch log."""

from __future__ import annotations

import hashlib
import hmac
import json

import pandas as pd
import pytest

from ebpm_analysis import anonymise as A
from ebpm_analysis import cli
from ebpm_analysis.errors import InputFileError, ParameterError

KEY1 = b"first-secret-key-0123456789"
KEY2 = b"second-secret-key-9876543210"


@pytest.fixture
def table():
    # (age band, sex) classes:  30–34/F: 3 records, diseases {flu, cold}      → size 3, l 2
    #                           30–34/M: 2 records, {flu}                     → size 2, l 1
    #                           35–39/F: 3 records, {cancer}                  → size 3, l 1
    return pd.DataFrame({"age": ["30–34"] * 5 + ["35–39"] * 3,
                         "sex": ["F", "F", "F", "M", "M", "F", "F", "F"],
                         "disease": ["flu", "flu", "cold", "flu", "flu", "cancer", "cancer", "cancer"]})


def test_k_and_l_by_hand(table):
    qi = ["age", "sex"]
    assert A.class_sizes(table, qi).tolist() == [3, 3, 3, 2, 2, 3, 3, 3]
    assert A.k_anonymity(table, qi) == 2
    assert A.l_diversity(table, qi, "disease") == 1
    assert A.k_anonymity(table, ["age"]) == 3 and A.k_anonymity(table, []) == 8
    assert A.at_risk(table, qi, k=3).tolist() == [False, False, False, True, True, False, False, False]
    assert A.at_risk(table, qi, k=2, sensitive="disease", l=2).sum() == 5  # 30–34/M and 35–39/F
    s = A.risk_summary(table, qi, k=3, sensitive="disease", l=2)
    assert s == {"records": 8, "classes": 3, "k_target": 3, "k_achieved": 2, "records_in_classes_below_k": 2,
                 "classes_below_k": 1, "share_below_k": 0.25, "records_at_risk": 5, "sensitive": "disease",
                 "l_target": 2, "l_achieved": 1}


def test_l_diversity_by_sex_only():
    # F: flu, cold, cancer (3 distinct); M: flu (1 distinct) → l = 1; without M → 3
    t = pd.DataFrame({"sex": list("FFFMM"), "d": ["flu", "cold", "cancer", "flu", "flu"]})
    assert A.l_diversity(t, ["sex"], "d") == 1
    assert A.l_diversity(t[t.sex == "F"], ["sex"], "d") == 3


def _age_ladder():
    return [A.Ladder("年齢", [("歳", lambda s: s["age"].astype(str)),
                              ("5歳階級", lambda s: A.age_band(s["age"], 5)),
                              ("全年齢", lambda s: pd.Series("全年齢", index=s.index))])]


def test_enforce_generalises_then_suppresses_by_hand():
    # ages 31 32 33 36 37 41: exact ages are all unique (6 at risk for k=2); 5-year bands give
    # 30–34 ×3, 35–39 ×2, 40–44 ×1 → 1 at risk (1/6 = 16.7 %)
    src = pd.DataFrame({"age": [31, 32, 33, 36, 37, 41]})
    base = pd.DataFrame({"x": range(6)})
    r = A.enforce(src, base, _age_ladder(), k=2, max_suppression=0.2)
    assert r.levels == {"年齢": "5歳階級"} and r.suppressed == 1
    assert r.extract["x"].tolist() == [0, 1, 2, 3, 4] and r.extract["年齢"].tolist()[-1] == "35–39"
    assert r.before["records_in_classes_below_k"] == 6 and r.after["k_achieved"] == 2
    assert r.steps[0] == "年齢: 歳 → 5歳階級 (records at risk 6 → 1)"
    # no suppression allowed: one more step, to a single class
    r0 = A.enforce(src, base, _age_ladder(), k=2, max_suppression=0.0)
    assert r0.levels == {"年齢": "全年齢"} and r0.suppressed == 0 and r0.after["k_achieved"] == 6
    # a kept quasi-identifier is never generalised: everything at risk is suppressed
    rk = A.enforce(src, base, _age_ladder(), k=2, keep=("年齢",))
    assert rk.suppressed == 6 and rk.extract.empty
    with pytest.raises(ParameterError, match="keep"):
        A.enforce(src, base, _age_ladder(), k=2, keep=("地区",))


def test_enforce_l_diversity_suppresses_homogeneous_classes(table):
    src = table.rename(columns={"age": "a"})
    ladders = [A.Ladder("age", [("band", lambda s: s["a"])]), A.Ladder("sex", [("sex", lambda s: s["sex"])])]
    r = A.enforce(src, table[["disease"]], ladders, k=2, sensitive="disease", l=2, max_suppression=0.9)
    assert len(r.extract) == 3 and set(r.extract["disease"]) == {"flu", "cold"}  # only 30–34/F is 2-diverse
    assert r.after["l_achieved"] == 2


def test_generalisers():
    ages = pd.Series([0, 34, 35, 89, 90, 104, None])
    assert A.age_band(ages, 5).tolist() == ["0–4", "30–34", "35–39", "85–89", "90+", "90+", "不明"]
    assert A.age_band(pd.Series([3, 20]), 5, bottom=15).tolist() == ["<15", "20–24"]
    ts = pd.Series(pd.to_datetime(["2024-01-01 00:00", "2021-01-01 23:00", "2024-12-30 12:00"]))
    assert A.to_week(ts).tolist() == ["2024-W01", "2020-W53", "2025-W01"]
    assert A.to_month(ts).tolist() == ["2024-01", "2021-01", "2024-12"]
    assert A.to_quarter(ts).tolist() == ["2024-Q1", "2021-Q1", "2024-Q4"]
    # 熊本市役所 32.8031 N 130.7079 E: 1.5×lat = 49.20465 → 49, lon − 100 = 30; ×8: 1.637 / 5.663 → 1, 5;
    # ×10 of the remainders: 6.37 / 6.63 → 6, 6
    m = A.to_mesh(pd.Series([32.8031, None]), pd.Series([130.7079, 130.0]), 3)
    assert m.tolist() == ["49301566", "不明"]
    assert A.to_mesh(pd.Series([32.8031]), pd.Series([130.7079]), 2).tolist() == ["493015"]
    assert A.top_bottom_code(pd.Series([-3, 10, 500]), lower=0, upper=60).tolist() == [0, 10, 60]


def test_pseudonyms_are_keyed():
    ids = pd.Series(["R2020-000001", "R2020-000002", "R2020-000001", None])
    p1, p2 = A.pseudonymise(ids, KEY1, prefix="E"), A.pseudonymise(ids, KEY2, prefix="E")
    assert p1[0] == p1[2] and p1[0] != p1[1] and pd.isna(p1[3])
    assert not set(p1.dropna()) & set(p2.dropna())  # another key: unrelated pseudonyms
    assert p1[0] == "E" + hmac.new(KEY1, b"R2020-000001", hashlib.sha256).hexdigest()[:16]
    assert p1[0][1:] != hashlib.sha256(b"R2020-000001").hexdigest()[:16]  # not a plain (re-derivable) hash


def test_key_errors(monkeypatch, tmp_path):
    monkeypatch.delenv(A.KEY_ENV, raising=False)
    with pytest.raises(ParameterError, match=r"EBPM_ANON_KEY.*--key-file"):
        A.load_key()
    monkeypatch.setenv(A.KEY_ENV, "short")
    with pytest.raises(ParameterError, match="at least 16 bytes"):
        A.load_key()
    with pytest.raises(ParameterError, match="does not exist"):
        A.load_key(tmp_path / "nokey")
    (tmp_path / "key").write_bytes(KEY1 + b"\n")
    assert A.load_key(tmp_path / "key") == KEY1
    monkeypatch.setenv(A.KEY_ENV, KEY2.decode())
    assert A.load_key() == KEY2


def _dispatch_rows(n=40):
    rows = []
    for i in range(n):
        rows.append({"事案番号": f"R2024-{i:06d}", "覚知日時": f"2024/01/{1 + i % 14:02d} 10:00:00",
                     "現着日時": f"2024/01/{1 + i % 14:02d} 10:{8 + i % 50:02d}:00", "病院着日時": "",
                     "出場隊": "中央救急1", "出場署所": "S01", "事故種別": ["急病", "一般負傷"][i % 2],
                     "傷病程度": ["軽症", "中等症", ""][i % 3], "年齢区分": ["成人", "高齢者", "少年", "新生児"][i % 4],
                     "性別": "男女"[i % 2], "緯度": "32.8031", "経度": "130.7079", "町丁コード": "43101-D01"})
    return pd.DataFrame(rows)


def test_dispatch_preset_with_sex_and_mesh(tmp_path):
    df = _dispatch_rows()
    src, base, ladders, sensitive = A.dispatch_extract(df, KEY1)
    assert [ld.column for ld in ladders] == ["年齢", "性別", "地区", "覚知時期"] and sensitive == "傷病程度"
    r = A.enforce(src, base, ladders, k=5)
    assert r.after["k_achieved"] >= 5 and r.after["records"] + r.suppressed == 40
    ex = r.extract
    for gone in ("事案番号", "覚知日時", "現着日時", "出場隊", "出場署所", "緯度", "経度", "町丁コード"):
        assert gone not in ex.columns
    assert ex["地区"].isin(["49301566", "493015"]).all()
    assert ex["現着所要分"].between(0, 60).all() and set(ex["傷病程度"]) <= {"軽症", "中等症", "不搬送"}
    assert A.k_anonymity(ex, list(r.levels)) >= 5


def test_bad_input_names_what_is_expected(tmp_path, monkeypatch):
    df = _dispatch_rows().drop(columns=["覚知日時"])
    p = tmp_path / "log.csv"
    df.to_csv(p, index=False, encoding="cp932")
    with pytest.raises(InputFileError, match=r"log\.csv.*覚知日時.*Expected: a header with"):
        A.anonymise_file(p, "dispatch", KEY1)
    bad = _dispatch_rows()
    bad.loc[3, "覚知日時"] = "昨日"
    bad.to_csv(p, index=False, encoding="cp932")
    with pytest.raises(InputFileError, match=r"覚知日時.*rows 5"):
        A.anonymise_file(p, "dispatch", KEY1)
    with pytest.raises(ParameterError, match="kind.*'dispatch' or 'dental'"):
        A.anonymise_file(p, "school", KEY1)
    monkeypatch.delenv(A.KEY_ENV, raising=False)
    assert cli.main(["anonymise", str(p), "--kind", "dispatch", "--out", str(tmp_path / "x.csv")]) == 2
    assert not (tmp_path / "x.csv").exists()


def _hand_dispatch():
    """Ten dispatches at one point (one 1 km mesh) in one ISO week (2024-W02), classes on (年齢, 性別, 地区, 週):
    高齢者/男 ×4 (傷病程度 軽症, 中等症, 軽症, 重症: l 3), 高齢者/女 ×3 (軽症 ×3: l 1),
    成人/男 ×2 (中等症, 不搬送: l 2), 成人/女 ×1 (軽症: l 1)."""
    cls = [("高齢者", "男", ["軽症", "中等症", "軽症", "重症"]), ("高齢者", "女", ["軽症"] * 3),
           ("成人", "男", ["中等症", ""]), ("成人", "女", ["軽症"])]
    rows = [(age, sex, sev) for age, sex, sevs in cls for sev in sevs]
    return pd.DataFrame([{"事案番号": f"R2024-{i:06d}", "覚知日時": f"2024/01/{8 + i % 5:02d} 10:00:00",
                          "現着日時": f"2024/01/{8 + i % 5:02d} 10:09:00", "事故種別": "急病", "傷病程度": sev,
                          "年齢区分": age, "性別": sex, "緯度": "32.8031", "経度": "130.7079"}
                         for i, (age, sex, sev) in enumerate(rows)])


def test_dispatch_k_and_l_with_sex_by_hand():
    src, base, ladders, sensitive = A.dispatch_extract(_hand_dispatch(), KEY1)
    qi = [ld.column for ld in ladders]
    assert qi == ["年齢", "性別", "地区", "覚知時期"] and sensitive == "傷病程度"
    # everything pinned at its finest level: k = 1 (成人/女), l = 1; k=3 suppresses 成人/男 and 成人/女 (3 records)
    r = A.enforce(src, base, ladders, k=3, sensitive=sensitive, keep=tuple(qi))
    assert r.before["k_achieved"] == 1 and r.before["l_achieved"] == 1 and r.before["classes"] == 4
    assert r.before["records_in_classes_below_k"] == 3 and r.before["classes_below_k"] == 2
    assert r.suppressed == 3 and r.after["k_achieved"] == 3 and r.after["l_achieved"] == 1
    assert r.extract["年齢"].eq("高齢者").all() and r.extract["覚知時期"].eq("2024-W02").all()
    # l=2 as well: 高齢者/女 (three 軽症) goes too; only 高齢者/男 is left (k 4, l 3)
    r = A.enforce(src, base, ladders, k=3, sensitive=sensitive, l=2, keep=tuple(qi))
    assert r.suppressed == 6 and (r.after["k_achieved"], r.after["l_achieved"]) == (4, 3)
    assert r.extract["性別"].eq("男").all()
    # free to generalise, no suppression allowed: 年齢区分 → 3区分, 1 km → 10 km mesh and 週 → 月 change nothing
    # (3 records stay at risk); 性別 → 全体 leaves 高齢者 ×7 (l 3) and 成人 ×3 (中等症, 不搬送, 軽症: l 3) → k 3, l 3
    r = A.enforce(src, base, ladders, k=3, sensitive=sensitive, max_suppression=0.0)
    assert r.levels == {"年齢": "年齢区分", "性別": "全体", "地区": "1kmメッシュ", "覚知時期": "週"}
    assert r.steps == ["性別: 性別 → 全体 (records at risk 3 → 0)"] and r.suppressed == 0
    assert (r.after["k_achieved"], r.after["l_achieved"], r.after["classes"]) == (3, 3, 2)


def test_cli_on_the_synthetic_dispatch_log(tmp_path, monkeypatch, capsys):
    """Issue 12 Must-show: `ebpm anonymise` on the synthetic dispatch log gives an extract with k ≥ 5 on
    (age band 年齢区分, sex 性別, district 地区, week 覚知時期), all four pinned at their finest level so that the
    records of too-small classes are suppressed, and says how many (terminal and risk summary); the keyed
    pseudonyms are stable under one key and unrelated under another; the key is written nowhere."""
    from ebpm_analysis.io.dispatch_log import AGE_GROUPS, SEXES
    from ebpm_analysis.synth.emergency import ensure_emergency

    src = ensure_emergency(42, city_code="43100", start="2023-01-01", end="2024-12-31", n_districts=20)
    raw = pd.read_csv(src / "dispatch_log.csv", encoding="cp932", dtype=str)
    assert set(raw["性別"]) == set(SEXES)
    qi = ["年齢", "性別", "地区", "覚知時期"]
    outs, printed = {}, {}
    for name, key in (("a", KEY1), ("b", KEY2), ("a_again", KEY1)):
        monkeypatch.setenv("EBPM_ANON_KEY", key.decode())
        out = tmp_path / f"extract_{name}.csv"
        assert cli.main(["anonymise", str(src / "dispatch_log.csv"), "--kind", "dispatch", "--out", str(out),
                         "--districts", str(src / "districts.geojson"), "--keep", *qi]) == 0
        outs[name], printed[name] = out, capsys.readouterr()
    a, b, a2 = (pd.read_csv(outs[n], dtype=str, encoding="utf-8-sig") for n in ("a", "b", "a_again"))
    # k ≥ 5 on the four quasi-identifiers at their finest level, counted here without the kit's own measure
    assert a.groupby(qi).size().min() >= 5 and A.k_anonymity(a, qi) >= 5
    assert {"成人", "高齢者"} <= set(a["年齢"]) <= set(AGE_GROUPS) and {"男", "女"} <= set(a["性別"]) <= set(SEXES)
    assert a["覚知時期"].str.match(r"^\d{4}-W\d{2}$").all() and a["地区"].str.match(r"^43\d{3}-D\d{2}$").all()
    assert a["地区"].nunique() == 20
    # the risk summary: nothing generalised, so exactly the records of classes below k were suppressed
    risk = json.loads(outs["a"].with_suffix(".risk.json").read_text(encoding="utf-8"))
    assert risk["levels"] == {"年齢": "年齢区分", "性別": "性別", "地区": "地区", "覚知時期": "週"}
    below = risk["before"]["records_in_classes_below_k"]
    assert risk["before"]["records"] == len(raw) and 0 < below < len(raw) / 2
    assert risk["suppressed_records"] == below == len(raw) - len(a)
    assert risk["after"]["k_achieved"] >= 5 and risk["after"]["records_in_classes_below_k"] == 0
    assert risk["steps"] == [f"suppressed {below:,} records in classes below k=5"]
    out = printed["a"].out
    assert f"{below:,} records in classes below k=5" in out and "after:" in out and ", k=" in out
    assert "the key is not written anywhere" in out
    # pseudonyms: one per record, never the source ID; the same under the same key, unrelated under another
    assert a["事案ID"].is_unique and not set(a["事案ID"]) & set(raw["事案番号"])
    pd.testing.assert_frame_equal(a, a2)
    pd.testing.assert_frame_equal(a.drop(columns="事案ID"), b.drop(columns="事案ID"))  # same records, same order
    assert not set(a["事案ID"]) & set(b["事案ID"])
    for key in (KEY1, KEY2):
        for f in tmp_path.iterdir():
            assert key not in f.read_bytes()
        assert all(key.decode() not in p.out + p.err for p in printed.values())


def test_dental_preset_by_hand():
    # 中央区 (facility A): three 3-year-old boys, two 4-year-old girls; 東区 (B): four 5-year-old boys.
    # k=3: the two girls are at risk (2 of 9). Every first step leaves them at risk (a tie: the first
    # ladder, 年齢 → 3–5歳, is taken); then 性別 → 全体 merges 中央区 into one class of 5: none at risk.
    df = pd.DataFrame({"施設コード": ["A"] * 5 + ["B"] * 4, "児童番号": [f"K{i}" for i in range(9)],
                       "健診日": ["2026/05/18"] * 9, "年齢": ["3", "3", "3", "4", "4", "5", "5", "5", "5"],
                       "性別": ["男", "男", "男", "女", "女", "男", "男", "男", "男"], "51": ["C"] + ["/"] * 8})
    fac = pd.DataFrame({"施設コード": ["A", "B"], "区名": ["中央区", "東区"]})
    src, base, ladders, sensitive = A.dental_extract(df, KEY1, facilities=fac)
    assert [ld.column for ld in ladders] == ["年齢", "性別", "区", "健診月"] and sensitive is None
    r = A.enforce(src, base, ladders, k=3)
    assert r.before["records_in_classes_below_k"] == 2 and r.suppressed == 0
    assert r.levels == {"年齢": "全年齢", "性別": "全体", "区": "区", "健診月": "月"}
    assert r.extract.groupby("区").size().to_dict() == {"中央区": 5, "東区": 4}
    assert list(r.extract.columns) == ["児童ID", "年齢", "性別", "区", "健診月", "51"]
    assert r.extract["51"].tolist()[0] == "C" and r.extract["健診月"].eq("2026-05").all()
