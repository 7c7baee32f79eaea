"""``placements.csv``: 措置 (児童福祉施設入所・里親委託) of children, one row per placement.

Format: docs/formats/placements.md.

A child placed in care whose medical self-pay is borne by the prefecture or city (法別53) is not eligible
(``eligibility.excludes_institutional_placement``; domain.md §1.8, S24).
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from schemas.checks import ID10, MIN_DATE, RECORD_ID, column_check, not_after_reference, not_before, row_check

PLACEMENT_TYPES = ["INSTITUTION", "FOSTER"]


class PlacementSchema(pa.DataFrameModel):
    """One 措置 of a child (placements.csv)."""

    placement_id: str = pa.Field(matches_format={"pattern": RECORD_ID}, unique=True,
                                 description="措置番号 (1-20 ASCII), unique")
    person_id: str = pa.Field(matches_format={"pattern": ID10}, description="宛名番号 of the placed child")
    placement_type: str = pa.Field(isin=PLACEMENT_TYPES, description="INSTITUTION 施設入所, FOSTER 里親委託")
    start_date: pd.Timestamp = pa.Field(ge=MIN_DATE, description="措置開始日 (YYYY-MM-DD)")
    end_date: pd.Timestamp = pa.Field(nullable=True, ge=MIN_DATE,
                                      description="措置解除日 (YYYY-MM-DD, the last placed day); empty while open")
    source_row: int = pa.Field(ge=1, description="row number in the source file")

    class Config:
        """Strict columns, coerced types."""

        strict = True
        coerce = True

    @column_check("start_date", "placement_start_not_in_future", "措置 starts after the extract date")
    @classmethod
    def placement_start_not_in_future(cls, values: Series[pd.Timestamp]) -> Series[bool]:
        return not_after_reference(values)

    @row_check("placement_end_not_before_start", ("end_date",), "end date is before the start date")
    @classmethod
    def placement_end_not_before_start(cls, frame: pd.DataFrame) -> Series[bool]:
        return not_before(frame["end_date"], frame["start_date"])
