"""``applications.csv``: 資格登録届 (registration applications), one row per application.

See docs/formats/applications.md. Registration within 30 days of birth or move-in covers the child
from that date (domain.md §1.6, S12).
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from schemas.checks import ID10, MIN_DATE, RECORD_ID, column_check, not_after_reference


class ApplicationSchema(pa.DataFrameModel):
    """One 資格登録届 (applications.csv)."""

    application_id: str = pa.Field(
        matches_format={"pattern": RECORD_ID}, unique=True, description="受付番号 of the application, unique"
    )
    child_person_id: str = pa.Field(matches_format={"pattern": ID10}, description="宛名番号 of the child to register")
    guardian_person_id: str = pa.Field(
        nullable=True,
        matches_format={"pattern": ID10},
        description="宛名番号 of the applying 保護者; empty when a child of 15+ without a 保護者 applies "
        "(規則第4条, 2026-04)",
    )
    spouse_person_id: str = pa.Field(
        nullable=True,
        matches_format={"pattern": ID10},
        description="宛名番号 of the applicant's spouse (the other 保護者, income-tested); empty = none stated "
        "(the 住記 is used)",
    )
    application_date: pd.Timestamp = pa.Field(ge=MIN_DATE, description="申請日 (受付日, YYYY-MM-DD)")
    source_row: int = pa.Field(ge=1, description="row number in the source file")

    class Config:
        """Strict columns, coerced types."""

        strict = True
        coerce = True

    @column_check("application_date", "application_date_not_in_future", "application date is after the extract date")
    @classmethod
    def application_date_not_in_future(cls, values: Series[pd.Timestamp]) -> Series[bool]:
        return not_after_reference(values)
