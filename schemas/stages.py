"""Stage frames passed between rules (docs/architecture.md "Stage frames").

These describe frames the pipeline produces, not files: they are strict about columns and types so
that a rule returning a malformed frame fails at the function boundary (``@pa.check_types``).
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from rules.eligibility.codes import END_REASONS, STATUSES
from schemas.checks import ID10, not_before, row_check

RESIDENCE_END_REASONS = ["MOVE_OUT", "DEATH"]
DECISION_TYPES = [
    "NEW", "CHANGE", "RENEWAL", "SUSPEND_INCOME", "LOSS_MOVE_OUT", "LOSS_DEATH", "LOSS_AGE", "LOSS_WELFARE",
    "LOSS_INSURANCE", "LOSS_PLACEMENT",
]


class EligibilityPeriodSchema(pa.DataFrameModel):
    """One eligibility period of a child (rules.eligibility.determine_eligibility)."""

    person_id: str = pa.Field(matches_format={"pattern": ID10}, description="宛名番号 of the child")
    valid_from: pd.Timestamp = pa.Field(description="first day of the period")
    valid_to: pd.Timestamp = pa.Field(nullable=True, description="last day of the period; empty = open")
    status: str = pa.Field(isin=STATUSES, description="ELIGIBLE or SUSPENDED_INCOME")
    end_reason: str = pa.Field(isin=END_REASONS, description="why the period ends (OPEN while it runs)")
    reason_codes: str = pa.Field(
        nullable=True, description="';'-joined rule codes, e.g. AGE_LIMIT:age_limit.inpatient=18@2026-04-01"
    )
    sources: str = pa.Field(
        nullable=True, description="domain.md source ids of each reason code, position by position"
    )

    class Config:
        """Strict columns, coerced types, periods keyed by (person_id, valid_from)."""

        strict = True
        coerce = True
        unique = ["person_id", "valid_from"]

    @row_check("period_ends_after_start", ("valid_to",), "period ends before it starts")
    @classmethod
    def period_ends_after_start(cls, frame: pd.DataFrame) -> Series[bool]:
        return not_before(frame["valid_to"], frame["valid_from"])


class DecisionSchema(pa.DataFrameModel):
    """One monthly decision (rules.decisions.decide_month)."""

    person_id: str = pa.Field(matches_format={"pattern": ID10}, description="宛名番号 of the child")
    decision_type: str = pa.Field(isin=DECISION_TYPES, description="kind of decision")
    effective_date: pd.Timestamp = pa.Field(description="date the decision takes effect")
    valid_from: pd.Timestamp = pa.Field(nullable=True, description="start of the decided period")
    valid_to: pd.Timestamp = pa.Field(nullable=True, description="end of the decided period; empty = open")
    reason_code: str = pa.Field(description="rule code that led to the decision")
    rule: str = pa.Field(description="rule function name")
    parameter: str = pa.Field(nullable=True, description="policy parameter name used, if any")
    source: str = pa.Field(nullable=True, description="legal source of the rule (domain.md source id)")
    status: str = pa.Field(
        isin=["ELIGIBLE", "SUSPENDED_INCOME", "LOST"], description="certificate status after the decision"
    )

    class Config:
        """Strict columns, coerced types."""

        strict = True
        coerce = True
