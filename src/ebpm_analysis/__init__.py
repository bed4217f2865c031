"""ebpm_analysis — shared helpers for the EBPM analysis notebooks.

Data flows one way: raw file → ``io`` (validated, tidy) → ``cases`` (analysis) →
notebook (narrative, figures) → ``pipeline`` (report). See README.md.
"""

__version__ = "0.1.0"

import sys as _sys

# jsonschema (imported by nbformat, which every run imports) loads ``rfc3987_syntax`` when it is installed (it
# comes with jupyter-events' jsonschema[format-nongpl]); that module compiles a Lark grammar at import time:
# ~2.5 s of CPU in every `ebpm` process, for IRI format checks no notebook schema uses. Marking it absent
# makes jsonschema skip those two checks (it imports it under ``suppress(ImportError)``).
_sys.modules.setdefault("rfc3987_syntax", None)
