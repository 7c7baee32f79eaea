"""PMH outbox keys, client-side validation and record layout (pure, no DB, no HTTP)."""

from __future__ import annotations

import datetime as dt
import json
import os

import pandas as pd
import pytest

from connectors.pmh import FilePmhClient, PmhRetry, RateLimiter
from devtools.pmh_synthetic import PUBLIC_PAYER_NUMBER, synthetic_my_numbers
from rules.checkdigits import with_modulus10_w21
from services.pmh.outbox import batch_key, record_keys
from services.pmh.payload import ProgramConfig, build_records, validate_subjects


def changes(**overrides):
    base = {
        "person_id": ["0000000001", "0000000002"],
        "change_type": ["1", "2"],
        "reason": ["NEW", "LOSS_MOVE_OUT"],
        "event_date": pd.to_datetime(["2026-04-01", "2026-06-15"]),
        "valid_from": pd.to_datetime(["2026-04-01", "2026-04-01"]),
        "valid_to": pd.to_datetime(["2027-03-31", "2026-06-15"]),
        "recipient_no": [with_modulus10_w21("000001"), with_modulus10_w21("000002")],
    }
    base.update(overrides)
    return pd.DataFrame(base)


def test_record_keys_are_deterministic_and_depend_on_the_business_identity():
    first = record_keys(changes())
    assert first.tolist() == record_keys(changes()).tolist()
    assert first.str.len().eq(64).all() and first.nunique() == 2
    moved = record_keys(changes(event_date=pd.to_datetime(["2026-04-01", "2026-06-16"])))
    assert moved.iloc[0] == first.iloc[0] and moved.iloc[1] != first.iloc[1]
    assert "0000000001" not in first.iloc[0]


def test_batch_key_ignores_order():
    assert batch_key(["b", "a", "c"]) == batch_key(["c", "b", "a"]) != batch_key(["a", "b"])


def subjects(n=4):
    frame = changes(
        person_id=[f"{i:010d}" for i in range(1, n + 1)], change_type=["1"] * n, reason=["NEW"] * n,
        event_date=pd.to_datetime(["2026-04-01"] * n), valid_from=pd.to_datetime(["2026-04-01"] * n),
        valid_to=pd.to_datetime(["2027-03-31"] * n),
        recipient_no=[with_modulus10_w21(f"{i:06d}") for i in range(1, n + 1)],
    )
    frame["my_number"] = synthetic_my_numbers(1, n)
    frame["name"] = "仙台 花子"
    frame["name_kana"] = "センダイ ハナコ"
    frame["address"] = "宮城県仙台市青葉区国分町三丁目7番1号"
    frame["birth_date"] = pd.Timestamp("2020-05-05")
    frame["sex_code"] = "2"
    frame["dv_support_flag"] = [False, True, False, False][:n]
    frame["public_payer_number"] = PUBLIC_PAYER_NUMBER
    return frame


def test_valid_subjects_pass_and_each_check_has_its_code():
    frame = subjects(4)
    assert validate_subjects(frame, ProgramConfig()).isna().all()
    bad = subjects(4)
    bad.loc[0, "my_number"] = bad.loc[0, "my_number"][:-1] + str((int(bad.loc[0, "my_number"][-1]) + 1) % 10)
    bad.loc[1, "public_payer_number"] = "88041002"
    bad.loc[2, "valid_to"] = pd.Timestamp("2026-03-31")
    bad.loc[3, "name"] = "あ" * 101
    codes = validate_subjects(bad, ProgramConfig()).tolist()
    assert codes == ["LOCAL_MY_NUMBER_CHECK_DIGIT", "LOCAL_PAYER_NUMBER_INVALID",
                     "LOCAL_VALIDITY_DATES_INVALID", "LOCAL_LENGTH_EXCEEDED"]


def test_recipient_number_and_missing_subject_are_refused():
    frame = subjects(2)
    frame.loc[0, "recipient_no"] = "1234567"
    frame.loc[1, "my_number"] = None
    assert validate_subjects(frame, ProgramConfig()).tolist() == [
        "LOCAL_RECIPIENT_NUMBER_INVALID", "LOCAL_SUBJECT_MISSING"]


def test_delete_needs_a_modification_date_and_carries_it():
    frame = subjects(2)
    frame["change_type"] = ["2", "2"]
    frame.loc[1, "event_date"] = pd.NaT
    assert validate_subjects(frame, ProgramConfig()).tolist() == [None, "LOCAL_EVENT_DATE_MISSING"]
    record = build_records(frame.iloc[:1], ProgramConfig())[0]
    assert record["modificationSeg"] == "2" and record["modificationDate"] == "2026-04-01"


def test_record_layout_has_the_registration_api_fields():
    record = build_records(subjects(2), ProgramConfig())[1]
    assert set(record) >= {
        "orgSpecificCertificateTypeId", "myNumber", "basicFiveInfo", "isNotDisclosed",
        "medicalSubsidyInsurerNumber", "certificationName", "medicalSubsidyRecipientNumber", "segment",
        "incomeSegment", "additionalConditions", "isAlwaysReimbursement", "maxCopaymentAmount", "validFrom",
        "validTo", "certificationDetail", "modificationSeg", "municipalityIdentityKey"}
    assert record["basicFiveInfo"] == {"name": "仙台 花子", "nameKana": "センダイ ハナコ",
                                       "address": "宮城県仙台市青葉区国分町三丁目7番1号",
                                       "dateOfBirth": "2020-05-05", "sex": "2"}
    assert record["isNotDisclosed"] is True and record["municipalityIdentityKey"] == "0000000002"
    assert record["validFrom"] == "2026-04-01" and record["validTo"] == "2027-03-31"
    assert "modificationDate" not in record


def test_file_client_writes_complete_files_atomically(tmp_path):
    client = FilePmhClient(tmp_path, today=lambda: dt.date(2026, 11, 2))
    records = build_records(subjects(2), ProgramConfig())
    receipt = client.submit(records, "k" * 64)
    path = tmp_path / "pmh" / "2026-11-02" / f"batch-{'k' * 64}.json"
    assert receipt.task_id is None and receipt.location == f"pmh/2026-11-02/batch-{'k' * 64}.json"
    data = json.loads(path.read_text())
    assert data["recordCount"] == 2 and data["records"] == records
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    client.submit(records, "k" * 64)  # re-writing the same batch is harmless
    assert sorted(os.listdir(path.parent)) == [path.name]


def test_retry_accepts_decimal_and_rfc_retry_after():
    retry = PmhRetry(total=1)
    assert retry.parse_retry_after("0.25") == pytest.approx(0.25)
    assert retry.parse_retry_after("2") == 2


def test_rate_limiter_spaces_acquisitions():
    import time

    limiter = RateLimiter(200.0)
    start = time.monotonic()
    for _ in range(21):
        limiter.acquire()
    assert time.monotonic() - start >= 0.095


def test_rejection_keeps_only_codes():
    from connectors.pmh import PmhRejected

    errors = [{"index": 1, "field": "basicFiveInfo.name", "code": "x 123456789012"}, "junk"]
    exc = PmhRejected(400, "SCHEMA ERROR 仙台 花子", errors)
    assert exc.code == "SCHEMAERROR" and exc.errors == [
        {"index": 1, "field": "basicFiveInfo.name", "code": "x123456789012"}]
    assert "仙台" not in str(exc)


def _rows_of(frame, ring):
    """The relay's claim rows (services.pmh.payload.ROW_FIELDS) for a subjects frame, personal data encrypted."""
    from services.pmh.payload import ROW_FIELDS, ClaimRow

    keys = frame["person_id"].tolist()
    profiles = [None if n is None else json.dumps({"name": n, "name_kana": k, "address": a}, ensure_ascii=False)
                for n, k, a in zip(frame["name"], frame["name_kana"], frame["address"], strict=True)]
    frame = frame.assign(
        id=range(1, len(frame) + 1), idempotency_key="k", batch_id=None,
        my_number_enc=ring.encrypt_many([None if pd.isna(m) else m for m in frame["my_number"]], table="person",
                                        column="my_number", row_keys=keys),
        profile_enc=ring.encrypt_many(profiles, table="person", column="profile", row_keys=keys))
    for column in ("event_date", "valid_from", "valid_to", "birth_date"):  # as SQLite's driver returns them
        frame[column] = [None if pd.isna(v) else v.strftime("%Y-%m-%d") for v in frame[column]]
    return [ClaimRow._make(None if (not isinstance(v, (bytes, str, bool)) and pd.isna(v)) else v for v in row)
            for row in frame[list(ROW_FIELDS)].itertuples(index=False)]


@pytest.mark.parametrize("case", ["valid", "bad", "missing", "delete", "sex", "dv", "no_payer"])
def test_row_wise_preparation_matches_the_vectorised_checks_and_records(case):
    from privacy.crypto import KeyRing
    from services.pmh.payload import prepare_rows

    frame = subjects(4)
    if case == "bad":
        frame.loc[0, "my_number"] = frame.loc[0, "my_number"][:-1] + str((int(frame.loc[0, "my_number"][-1]) + 1) % 10)
        frame.loc[1, "public_payer_number"] = "88041002"
        frame.loc[2, "valid_to"] = pd.Timestamp("2026-03-31")
        frame.loc[3, "name"] = "あ" * 101
    elif case == "missing":
        frame.loc[0, "recipient_no"] = "1234567"
        frame.loc[1, "my_number"] = None
        frame.loc[2, "birth_date"] = pd.NaT
        frame.loc[3, "address"] = "あ" * 201
    elif case == "delete":
        frame["change_type"] = ["2", "2", "2", "1"]
        frame.loc[1, "event_date"] = pd.NaT
        frame.loc[2, "recipient_no"] = None
        frame.loc[3, "valid_from"] = pd.NaT
    elif case == "sex":
        frame["sex_code"] = ["1", "3", None, "2"]
    elif case == "dv":
        frame["dv_support_flag"] = [True, None, False, True]
    elif case == "no_payer":
        frame.loc[0, "public_payer_number"] = None
    program = ProgramConfig(public_payer_number=PUBLIC_PAYER_NUMBER if case == "no_payer" else None)
    ring = KeyRing.generate()
    prepared = prepare_rows(_rows_of(frame, ring), ring, program)
    codes = validate_subjects(frame, program)
    assert [c for c, _ in prepared] == codes.tolist()
    assert [r for _, r in prepared if r is not None] == build_records(frame.loc[codes.isna()], program)
