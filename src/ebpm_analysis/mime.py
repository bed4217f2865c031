"""The mime types under which report data travel in an executed notebook beside what the page shows (dropped from
the page by the renderer). A module of their own so that the pipeline reads them without importing the notebook
helpers (:mod:`ebpm_analysis.report` imports pandas' Styler and IPython; :mod:`ebpm_analysis.viz` matplotlib)."""

#: A report table's data and column kinds (:func:`ebpm_analysis.report.table`, ``searchable_table``, ``kpis``).
TABLE_MIME = "application/vnd.ebpm.table+json"
#: A displayed figure's recorded data and key numbers, beside its image (:func:`ebpm_analysis.viz.figure_data`;
#: the renderer makes the alt text from them, the pipeline the downloads).
FIGURE_MIME = "application/vnd.ebpm.figure+json"
#: A logic model's KPI rows (label, value as shown, how it is measured), for the KPI register
#: (:mod:`ebpm_analysis.pipeline.kpi`).
KPI_MIME = "application/vnd.ebpm.kpi+json"
