"""The quarantined rows of a month, for staff: file, line, column, check, masked value and a Japanese reason.

Read by ``kodomo quarantine`` (viewer role, recorded in the access log) and by the run summary's Prefect
artifact. Values are the masked ones of the quarantine table (schemas.validate.mask_value): at most the last
two characters of a number, no character of a name or address.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Connection, select

from store import models

COLUMNS = ["file_name", "row_number", "column_name", "check_name", "masked_value", "reason_ja"]

#: Japanese reason by check name (exact), for the named checks of schemas/ and the intake.
REASONS_JA = {
    "readable_csv_record": "CSVの1行として読めない（引用符 \" の閉じ忘れ・行の途中の改行）",
    "my_number_collision": "同じ個人番号を別の人が持っている（双方の行を保留）",
    "my_number_unique": "同じ個人番号が複数の人に記載されている",
    "date_in_supported_range": "扱えない日付（1678〜2261年の範囲外。9999-12-31は終期の項目でのみ「終期なし」）",
    "residence_start_not_before_birth": "住民となった日が生年月日より前",
    "event_not_before_birth": "異動日が生年月日より前",
    "birth_event_on_birth_date": "出生の異動日が生年月日と違う",
    "notified_not_before_event": "届出日が異動日より前（この異動事由では不可）",
    "valid_to_not_before_valid_from": "資格の終期が始期より前",
    "end_not_before_start": "廃止日が開始日より前",
    "elderly_within_dependents": "老人扶養親族数が扶養親族数を超える",
}
#: Japanese reason by check-name ending (named checks) or Pandera built-in check (prefix before "(").
SUFFIX_REASONS_JA = {
    "_check_digit": "チェックデジットが誤り",
    "_not_in_future": "抽出日より後の日付",
    "_no_control_characters": "制御文字（NUL・ESC・BEL・改行など）を含む",
    "_format": "書式が違う",
}
BUILTIN_REASONS_JA = {
    "coerce_dtype": "型が違う（日付はYYYY-MM-DD、金額・数は整数）",
    "not_nullable": "必須項目が空欄",
    "field_uniqueness": "一意であるべき値が重複（重複する全行を保留）",
    "multiple_fields_uniqueness": "キーが重複（重複する全行を保留）",
    "str_matches": "書式が違う",
    "matches_format": "書式が違う",
    "isin": "未定義のコード値",
    "greater_than_or_equal_to": "下限より小さい値",
    "less_than_or_equal_to": "上限より大きい値",
    "in_range": "範囲外の値",
    "str_length": "空欄または長すぎる",
}


def reason_ja(check_name: str) -> str:
    """The Japanese reason of a quarantine check (a generic one naming the check when unknown)."""
    if check_name in REASONS_JA:
        return REASONS_JA[check_name]
    base = check_name.split("(", 1)[0]
    if base in BUILTIN_REASONS_JA:
        return BUILTIN_REASONS_JA[base]
    for suffix, reason in SUFFIX_REASONS_JA.items():
        if base.endswith(suffix):
            return reason
    return f"検査に不合格（{check_name}）"


def month_quarantine(conn: Connection, month: str, file_name: str | None = None,
                     run_id: str | None = None) -> pd.DataFrame:
    """Quarantined rows of the input files of ``month``'s runs (or of one run), in file and line order."""
    q, r, i = models.QuarantinedRow.__table__, models.Run.__table__, models.RunInput.__table__
    files = select(i.c.sha256).join(r, r.c.run_id == i.c.run_id)
    files = files.where(r.c.run_id == run_id) if run_id is not None else files.where(r.c.month == month)
    query = (select(q.c.file_name, q.c.row_number, q.c.column_name, q.c.check_name, q.c.masked_value)
             .where(q.c.file_sha256.in_(files)).distinct())
    if file_name is not None:
        query = query.where(q.c.file_name == file_name)
    rows = pd.DataFrame(conn.execute(query).all(),
                        columns=["file_name", "row_number", "column_name", "check_name", "masked_value"])
    rows = rows.sort_values(["file_name", "row_number", "column_name", "check_name"], kind="stable")
    rows["reason_ja"] = rows["check_name"].map(reason_ja) if not rows.empty else pd.Series(dtype=object)
    return rows[COLUMNS].reset_index(drop=True)
