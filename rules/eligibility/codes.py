"""Status, end-reason and reason-code registry of the eligibility periods.

Every period carries the reason codes of the rules that shaped it (``RULE:parameter=value@effective_from``)
and, position by position, the domain.md source ids of each code (S1, S9 …; the parameter references of
``policy/parameters/**``). Codes are bits of an int64 mask so that pieces can be merged with a vectorised
bitwise or. End reasons are ranked by precedence for periods where two components end on the same day.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

ELIGIBLE = "ELIGIBLE"
SUSPENDED_INCOME = "SUSPENDED_INCOME"
STATUSES = (ELIGIBLE, SUSPENDED_INCOME)

#: End reasons, in order of precedence when two components end on the same day. ``INCOME`` marks a
#: period followed the next day by a period of the other status (the income test result changed).
END_REASONS = ("DEATH", "MOVE_OUT", "AGE", "WELFARE", "PLACEMENT", "INSURANCE", "INCOME", "OPEN")
END_RANK = {reason: rank for rank, reason in enumerate(END_REASONS)}
BOUNDARY_RANK = len(END_REASONS)  # a piece boundary that is not an end (era or income-cycle boundary)

#: columns that identify a stored eligibility period (table eligibility_period, which stores the reason codes
#: as an id into a lookup: services.eligibility.reason_sets)
STORED_PERIOD_COLUMNS = ["person_id", "valid_from", "valid_to", "status", "end_reason", "reason_codes"]
#: columns of the frame determine_eligibility returns: the stored ones plus the source ids of the codes
PERIOD_COLUMNS = [*STORED_PERIOD_COLUMNS, "sources"]

_SOURCE_ID = re.compile(r"\bS\d+\b")


def source_ids(reference: str | None) -> str:
    """The domain.md source ids (``S1``, ``S9`` …) named in a reference, comma-joined."""
    if reference is None or pd.isna(reference):
        return ""
    found = list(dict.fromkeys(_SOURCE_ID.findall(str(reference))))
    return ",".join(found) if found else str(reference).replace(";", ",")


def format_code(rule: str, parameter: str | None = None, value: Any = None, effective_from: Any = None) -> str:
    """``RULE:parameter=value@YYYY-MM-DD`` (or just ``RULE`` for a rule without a parameter)."""
    if parameter is None:
        return rule
    shown = "None" if value is None or (not isinstance(value, str) and pd.isna(value)) else value
    when = "" if effective_from is None or pd.isna(effective_from) else f"@{pd.Timestamp(effective_from):%Y-%m-%d}"
    return f"{rule}:{parameter}={shown}{when}"


_CATEGORY_ORDER = {
    "REGISTRATION_WINDOW": 0,
    "REGISTRATION_LATE": 0,
    "AGE_LIMIT": 1,
    "INCOME_WITHIN_LIMIT": 2,
    "INCOME_OVER_LIMIT": 2,
    "INCOME_UNKNOWN": 2,
    "NO_INCOME_TEST": 2,
    "WELFARE_EXCLUSION": 3,
    "PLACEMENT_EXCLUSION": 3,
    "INSURANCE_REQUIRED": 3,
}


class ReasonCodes:
    """Assigns one bit per distinct reason code (at most 63 per run)."""

    def __init__(self) -> None:
        self._bit: dict[str, int] = {}
        self._source: dict[str, str] = {}

    def mask(self, code: str, sources: str) -> int:
        if code not in self._bit:
            if len(self._bit) >= 63:
                raise ValueError("more than 63 distinct reason codes in one run")
            self._bit[code] = len(self._bit)
            self._source[code] = sources
        return 1 << self._bit[code]

    def render(self, masks: pd.Series) -> tuple[pd.Series, pd.Series]:
        """``;``-joined codes and, position by position, their sources, for each mask."""
        unique = pd.unique(masks.to_numpy(dtype=np.int64))
        ordered = sorted(
            self._bit, key=lambda c: (_CATEGORY_ORDER.get(c.split(":")[0], 9), c.split("@")[-1], c)
        )
        codes_of: dict[int, str] = {}
        sources_of: dict[int, str] = {}
        for mask in unique:  # one iteration per distinct combination of codes, not per record
            chosen = [c for c in ordered if int(mask) >> self._bit[c] & 1]
            codes_of[int(mask)] = ";".join(chosen)
            sources_of[int(mask)] = ";".join(self._source[c] for c in chosen)
        return masks.map(codes_of).astype("string"), masks.map(sources_of).astype("string")

#: The yearly renewal day of the 受給者証 ("MM-DD"): a certificate is valid until the day before the next one.
RENEWAL_PARAMETER = "certificate.renewal_month_day"
