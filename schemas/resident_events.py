"""``resident_events.csv``: 住民異動 events, one row per event (docs/formats/resident_events.md).

Each event carries the person's record as it stands after the event, plus the 異動事由 class
(住民記録システム標準仕様書 1.2.2), the 異動日 and the 届出日.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from schemas.checks import EVENT_CODES, ID10, MIN_DATE, RECORD_ID, column_check, not_after_reference, row_check
from schemas.residents import PersonRecordSchema

#: Events whose 届出 cannot precede the 異動: 転入 (住基法22条), 出生 and 死亡 (戸籍法), 転居, 氏名変更.
#: 転出 (D1/D2) may be notified in advance (住基法24条); 職権 entries have no 届出 of their own.
NOTIFIED_AFTER_EVENT_CODES = ["A1", "A2", "A3", "D3", "M1", "M2", "M3"]


class ResidentEventSchema(PersonRecordSchema):
    """One 異動 event (resident_events.csv)."""

    event_id: str = pa.Field(
        matches_format={"pattern": RECORD_ID}, unique=True, description="event id, unique in the file"
    )
    person_id: str = pa.Field(matches_format={"pattern": ID10}, description="宛名番号 of the person concerned")
    event_code: str = pa.Field(
        isin=EVENT_CODES,
        description="異動事由: A1 国内転入, A2 国外転入, A3 出生, A9 職権記載, D1 国内転出, D2 国外転出, "
        "D3 死亡, D9 職権消除, M1 転居, M2 氏名変更, M3 世帯変更, M9 職権修正",
    )
    event_date: pd.Timestamp = pa.Field(ge=MIN_DATE, description="異動日 (YYYY-MM-DD)")
    notified_date: pd.Timestamp = pa.Field(ge=MIN_DATE, description="届出日 / 職権処理日 (YYYY-MM-DD)")
    source_row: int = pa.Field(ge=1, description="row number in the source file")

    @column_check("event_date", "event_date_not_in_future", "event date is after the extract date")
    @classmethod
    def event_date_not_in_future(cls, values: Series[pd.Timestamp]) -> Series[bool]:
        return not_after_reference(values)

    @column_check("notified_date", "notified_date_not_in_future", "notified date is after the extract date")
    @classmethod
    def notified_date_not_in_future(cls, values: Series[pd.Timestamp]) -> Series[bool]:
        return not_after_reference(values)

    @row_check("event_not_before_birth", ("event_date",), "event date is before the birth date")
    @classmethod
    def event_not_before_birth(cls, frame: pd.DataFrame) -> Series[bool]:
        return ~(frame["event_date"] < frame["birth_date"])

    @row_check("birth_event_on_birth_date", ("event_date",), "出生 (A3) event date differs from the birth date")
    @classmethod
    def birth_event_on_birth_date(cls, frame: pd.DataFrame) -> Series[bool]:
        differs = (frame["event_code"] == "A3") & (frame["event_date"] != frame["birth_date"])
        return ~differs | frame["event_date"].isna() | frame["birth_date"].isna()

    @row_check("notified_not_before_event", ("notified_date",), "notified before the event for this event code")
    @classmethod
    def notified_not_before_event(cls, frame: pd.DataFrame) -> Series[bool]:
        needs_order = frame["event_code"].isin(NOTIFIED_AFTER_EVENT_CODES)
        return ~(needs_order & (frame["notified_date"] < frame["event_date"]))
