"""How a notebook becomes a report. Knows nothing about any case.

params (YAML sets, validation) → execute (papermill + provenance) → render (Quarto when on
PATH, else nbconvert honouring Quarto cell options) → index (reports/index.html).
"""
