"""Synthetic PMH subjects for tests and the benchmark (only invented data; never real persons).

:func:`create_subjects` bulk-inserts children into ``person`` (My Number and profile encrypted as in
production), their ``recipient`` rows, and one PENDING registration per child through
:func:`services.pmh.outbox.enqueue_changes`. Vectorised/bulk: 150,000 subjects take a few seconds.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import orjson
import pandas as pd
from sqlalchemy import Engine

from privacy.crypto import KeyRing
from rules.checkdigits import assign_recipient_numbers, with_modulus10_w21, with_my_number_check_digit
from services.pmh.outbox import enqueue_changes
from store.bulk import insert_frame
from store.db import session_scope
from store.models import Person, Recipient

PUBLIC_PAYER_NUMBER = with_modulus10_w21("8804100")  # synthetic 公費負担者番号 (法別 88, 宮城 04)


def synthetic_my_numbers(start: int, count: int) -> list[str]:
    """``count`` check-digit-valid synthetic My Numbers from body ``start`` (prefix 9, never issued here)."""
    return [with_my_number_check_digit(f"9{n:010d}") for n in range(start, start + count)]


def create_subjects(engine: Engine, ring: KeyRing, count: int, *, start: int = 1, run_id: str = "synthetic",
                    valid_from: dt.date = dt.date(2026, 4, 1), valid_to: dt.date = dt.date(2027, 3, 31),
                    enqueue: bool = True) -> pd.DataFrame:
    """Insert ``count`` children (person ids ``start``…) and queue their registrations; returns the changes."""
    numbers = np.arange(start, start + count)
    person_ids = [f"{n:010d}" for n in numbers]
    my_numbers = synthetic_my_numbers(start, count)
    profiles = [orjson.dumps({"name": f"仙台 子{n}", "name_kana": f"センダイ コ{n}",
                              "address": f"宮城県仙台市青葉区国分町三丁目{n % 100}番{n % 7 + 1}号"}).decode()
                for n in numbers]
    births = pd.Timestamp("2015-01-01") + pd.to_timedelta(numbers % 3000, unit="D")
    person = pd.DataFrame({
        "person_id": person_ids,
        "household_id": [f"H{n:09d}" for n in numbers],
        "relationship_code": "03",
        "my_number_hmac": ring.blind_index_many(my_numbers),
        "my_number_enc": ring.encrypt_many(my_numbers, table="person", column="my_number", row_keys=person_ids),
        "profile_enc": ring.encrypt_many(profiles, table="person", column="profile", row_keys=person_ids),
        "birth_date": births,
        "sex_code": np.where(numbers % 2 == 0, "2", "1"),
        "dv_support_flag": numbers % 97 == 0,
        "row_digest": ring.blind_index_many(person_ids, purpose="row_digest"),
    })
    recipients = pd.DataFrame({
        "person_id": person_ids,
        "recipient_no": assign_recipient_numbers(int(start), count),
        "public_payer_number": PUBLIC_PAYER_NUMBER,
        "assigned_run_id": run_id,
    })
    changes = pd.DataFrame({
        "person_id": person_ids,
        "change_type": "1",
        "reason": "NEW",
        "event_date": pd.Timestamp(valid_from),
        "valid_from": pd.Timestamp(valid_from),
        "valid_to": pd.Timestamp(valid_to),
        "recipient_no": recipients["recipient_no"],
    })
    with session_scope(engine) as session:
        conn = session.connection()
        insert_frame(conn, Person.__table__, person)
        insert_frame(conn, Recipient.__table__, recipients)
        if enqueue:
            enqueue_changes(session, changes, run_id)
    return changes
