"""ebpm_analysis — shared helpers for the EBPM analysis notebooks.

Data flows one way: raw file → ``io`` (validated, tidy) → ``cases`` (analysis) →
notebook (narrative, figures) → ``pipeline`` (report). See README.md.
"""

__version__ = "0.1.0"
