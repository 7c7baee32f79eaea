"""``welfare.csv``: 生活保護 cases, one row per household and 保護 period (docs/formats/welfare.md).

A household receiving 生活保護 is excluded from the subsidy (domain.md §1.8; S56, S11).
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from schemas.checks import ID10, MIN_DATE, OPEN_END, RECORD_ID, column_check, not_after_reference, not_before, row_check


class WelfareSchema(pa.DataFrameModel):
    """One 生活保護 period of a household (welfare.csv)."""

    case_id: str = pa.Field(matches_format={"pattern": RECORD_ID}, description="ケース番号 of the 保護 period")
    household_id: str = pa.Field(matches_format={"pattern": ID10}, description="世帯番号 of the protected household")
    start_date: pd.Timestamp = pa.Field(ge=MIN_DATE, description="保護開始日 (YYYY-MM-DD)")
    end_date: pd.Timestamp = pa.Field(
        nullable=True, ge=MIN_DATE, metadata={OPEN_END: True},
        description="保護廃止日 (YYYY-MM-DD); empty or 9999-12-31 while the case is open"
    )
    source_row: int = pa.Field(ge=1, description="row number in the source file")

    class Config:
        """Strict columns, coerced types, one row per (case_id, start_date)."""

        strict = True
        coerce = True
        unique = ["case_id", "start_date"]

    @column_check("start_date", "start_date_not_in_future", "保護 starts after the extract date")
    @classmethod
    def start_date_not_in_future(cls, values: Series[pd.Timestamp]) -> Series[bool]:
        return not_after_reference(values)

    @row_check("end_not_before_start", ("end_date",), "end date is before the start date")
    @classmethod
    def end_not_before_start(cls, frame: pd.DataFrame) -> Series[bool]:
        return not_before(frame["end_date"], frame["start_date"])
