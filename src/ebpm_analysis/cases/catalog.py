"""Case 0 — the data catalog (データ項目一覧): what the report on the catalog shows.

:func:`validate_catalog` is the one call: the io layer checks every entry against its file(s)
(:func:`ebpm_analysis.io.catalog.check_entries`); this module summarises the findings for the
report (status per dataset and rule, KPIs, one line per dataset with a problem).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..io import catalog as io_catalog

LEVEL_JA = {"ok": "適合", "info": "参考", "warning": "注意", "error": "不一致"}


@dataclass
class CatalogResult:
    """The validated catalog.

    Attributes
    ----------
    entries : list of dict
        Catalog entries as loaded (:func:`ebpm_analysis.io.catalog.load_catalog`).
    findings : DataFrame
        One row per check: ``dataset, level (ok|info|warning|error), check, rule, message``.
    by_dataset : DataFrame
        Counts per dataset and level with the worst level as ``status``.
    by_rule : DataFrame
        Dataset × rule matrix of the worst level (machine-readability view).
    datasets : DataFrame
        One row per dataset (title, nature, format, encoding, coverage, licence, attribution …).
    columns : DataFrame
        One row per column of every dataset (the データ項目一覧).
    """

    entries: list
    findings: pd.DataFrame
    by_dataset: pd.DataFrame
    by_rule: pd.DataFrame
    datasets: pd.DataFrame
    columns: pd.DataFrame

    @property
    def n_datasets(self) -> int:
        return len(self.entries)

    @property
    def n_errors(self) -> int:
        """Datasets that do not match their entry."""
        return int((self.by_dataset["status"] == "error").sum())

    @property
    def n_warnings(self) -> int:
        """Datasets with a machine-readability warning (and no error)."""
        return int((self.by_dataset["status"] == "warning").sum())

    @property
    def n_real(self) -> int:
        return int((self.datasets["nature"] == "real").sum())

    @property
    def n_synthetic(self) -> int:
        return int((self.datasets["nature"] == "synthetic").sum())

    @property
    def n_described(self) -> int:
        """Datasets with a description for every column."""
        return sum(all(c.get("description") for c in e["columns"]) for e in self.entries)

    @property
    def checked_status(self) -> pd.Series:
        """How far each dataset was checked: ``checked`` (its columns were compared with the entry, or a
        check found a mismatch before that), ``not_generated`` (a synthetic file not generated yet) or
        ``format`` (a format whose columns are not checked here: zip, json, headerless CSV)."""
        f = self.findings
        out = {}
        for ds in self.by_dataset["dataset"]:
            g = f[f["dataset"] == ds]
            if (g["check"] == "列").any() or (g["level"] == "error").any():
                out[ds] = "checked"
            elif ((g["check"] == "ファイル") & (g["level"] == "info")).any():
                out[ds] = "not_generated"
            else:
                out[ds] = "format"
        return pd.Series(out, name="checked_status")

    @property
    def n_checked(self) -> int:
        """Datasets actually checked against their entry (see :attr:`checked_status`)."""
        return int((self.checked_status == "checked").sum())

    @property
    def n_not_generated(self) -> int:
        return int((self.checked_status == "not_generated").sum())

    @property
    def n_format_unchecked(self) -> int:
        return int((self.checked_status == "format").sum())

    @property
    def n_matching(self) -> int:
        """Checked datasets without a mismatch (status ok, info or warning). Datasets not checked are not
        counted as matching: 'no mismatch found' is not 'matches' when nothing was compared."""
        st = self.by_dataset.set_index("dataset")["status"]
        checked = self.checked_status == "checked"
        return int((checked & st.reindex(checked.index).isin(["ok", "info", "warning"])).sum())

    def coverage_line(self) -> str | None:
        """One sentence on the datasets that were not checked, or None when every one was."""
        if self.n_checked == self.n_datasets:
            return None
        parts = []
        if self.n_not_generated:
            parts.append(f"合成データで未生成のもの {self.n_not_generated}件"
                         "（該当ノートブックの実行後に次回の一覧作成で検証）")
        if self.n_format_unchecked:
            parts.append(f"列の自動検証の対象外の形式 {self.n_format_unchecked}件"
                         "（zip・json・見出しなし CSV：各ローダーのテストで検証）")
        return (f"全{self.n_datasets}件のうち照合できたのは{self.n_checked}件です。未検証は、" + "、".join(parts)
                + "です。未検証のものは「目録どおり」に数えていません。")

    def n_clean(self, rule: str = "L2-01") -> int:
        """Checked datasets (:attr:`checked_status`) without a finding other than ok for ``rule``."""
        f = self.findings
        flagged = set(f[(f["rule"] == rule) & (f["level"] != "ok")]["dataset"])
        checked = self.checked_status
        return int(sum(1 for ds in checked[checked == "checked"].index if ds not in flagged))

    def problems(self, width: int = 90) -> list[str]:
        """One line per dataset with an error or a warning (a warning's list of columns shortened to about
        ``width`` characters at a column boundary, the rest counted: the full list is in the findings table)."""
        titles = self.datasets.set_index("id")["title"]
        lines = []
        for _, r in self.by_dataset.iterrows():
            if r["status"] not in ("error", "warning"):
                continue
            f = self.findings
            msgs = f[(f.dataset == r["dataset"]) & (f.level == r["status"])]["message"].tolist()
            if r["status"] == "error":
                lines.append(f"**{titles[r['dataset']]}**：目録と一致しません — " + " / ".join(msgs))
            else:
                lines.append(f"{titles[r['dataset']]}：利用上の注意 — " + " / ".join(_shorten(m, width) for m in msgs))
        return lines

    def details(self) -> pd.DataFrame:
        """Findings other than ok, with Japanese headers and levels (注意, 参考, 不一致)."""
        shown = self.findings[self.findings.level.isin(["error", "warning", "info"])]
        return shown.assign(level=shown["level"].map(io_catalog.LEVEL_LABELS)).rename(columns={
            "dataset": "データセット", "level": "区分", "check": "点検", "rule": "ルール", "message": "内容"})


def validate_catalog(entries: list[dict], *, area_codes: set[str] | None = None) -> CatalogResult:
    """Check every catalog entry against its file(s) and summarise the findings.

    Parameters
    ----------
    entries : list of dict
        :func:`ebpm_analysis.io.catalog.load_catalog`.
    area_codes : set of str, optional
        Valid standard area codes (e.g. from :func:`ebpm_analysis.geo.load_areas`) for rule L3-06.

    Returns
    -------
    CatalogResult
    """
    findings = io_catalog.check_entries(entries, area_codes)
    return CatalogResult(entries=entries, findings=findings, by_dataset=io_catalog.status_by_dataset(findings),
                         by_rule=io_catalog.status_by_rule(findings), datasets=io_catalog.datasets_table(entries),
                         columns=io_catalog.columns_table(entries))


def _shorten(message: str, width: int) -> str:
    """``message`` when it fits ``width``; else its leading items (``; ``-separated, at least one, never cut
    inside an item) and 「ほか N 件」."""
    if len(message) <= width or "; " not in message:
        return message
    items = message.split("; ")
    kept = [items[0]]
    for item in items[1:]:
        if len("; ".join([*kept, item])) > width:
            break
        kept.append(item)
    rest = len(items) - len(kept)
    return "; ".join(kept) + (f"; ほか{rest}件" if rest else "")
