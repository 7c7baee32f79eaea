"""Registration records for PMH: load the subjects of outbox rows, validate them, build the JSON records.

Record layout = 医療費助成対象者情報登録API(自治体) 0.1.1 (pmh_interfaces.md §1.2) plus the change
semantics of the newer PMH v1 APIs (§1.2 "Newer pattern"): ``modificationSeg`` "1" 登録/更新, "2" 削除 with
``modificationDate`` (消除の異動日), and ``municipalityIdentityKey`` (自治体別本人キー) = 宛名番号.
Field limits the sources leave open (name/kana/address lengths) are assumptions, listed in docs/pmh.md.

Validation happens *before* sending (issue 4 §7): rows that fail get ``REJECTED_LOCAL`` with one code and
never leave the city. Checks are vectorised (rules.checkdigits): My Number check digit (総務省令第85号 第5条),
公費負担者番号 and 公費受給者番号 モジュラス10 ウエイト2・1 (厚労省 別添２, domain.md §5), ISO dates with
valid_from ≤ valid_to, a 異動日 on deletes, sex code 1/2 and lengths.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import orjson
import pandas as pd
from sqlalchemy import Connection, select

from privacy.crypto import KeyRing
from rules.checkdigits import (
    modulus10_w21_ok,
    valid_my_number,
    valid_public_payer_number,
    valid_recipient_number,
)
from store.models import Person, Recipient

NAME_MAX = 100
KANA_MAX = 100
ADDRESS_MAX = 200
KEY_MAX = 100


@dataclass(frozen=True)
class ProgramConfig:
    """Program-level constants of the records (configured once in PMH's 制度マスタ)."""

    org_specific_certificate_type_id: str = "SENDAIKODOMO01"
    certification_name: str = "仙台市子ども医療費助成受給者証"
    public_payer_number: str | None = None  # fallback when a child has no recipient row
    segment: str | None = None
    income_segment: str | None = None
    additional_conditions: str | None = None
    is_always_reimbursement: str = "0"


SUBJECT_COLUMNS = ["my_number_enc", "profile_enc", "birth_date", "sex_code", "dv_support_flag"]


def load_subjects(conn: Connection, rows: pd.DataFrame, ring: KeyRing) -> pd.DataFrame:
    """Join outbox ``rows`` with person and recipient data and decrypt the personal fields (in memory).

    ``rows`` may already carry the person columns (:data:`SUBJECT_COLUMNS` + ``public_payer_number``,
    joined in SQL by the relay); then only the decryption happens here.
    """
    if "my_number_enc" in rows.columns:
        return _decrypt(rows.copy(), ring)
    ids = rows["person_id"].drop_duplicates().tolist()
    person_t, recipient_t = Person.__table__, Recipient.__table__
    people, payers = [], []
    for start in range(0, len(ids), 5_000):
        chunk = ids[start:start + 5_000]
        people.extend(conn.execute(select(
            person_t.c.person_id, person_t.c.my_number_enc, person_t.c.profile_enc, person_t.c.birth_date,
            person_t.c.sex_code, person_t.c.dv_support_flag,
        ).where(person_t.c.person_id.in_(chunk))).all())
        payers.extend(conn.execute(select(recipient_t.c.person_id, recipient_t.c.public_payer_number)
                                   .where(recipient_t.c.person_id.in_(chunk))).all())
    person = pd.DataFrame([tuple(r) for r in people], columns=[
        "person_id", "my_number_enc", "profile_enc", "birth_date", "sex_code", "dv_support_flag"])
    payer = pd.DataFrame([tuple(r) for r in payers], columns=["person_id", "public_payer_number"])
    frame = rows.merge(person, on="person_id", how="left").merge(payer, on="person_id", how="left")
    return _decrypt(frame, ring)


def _decrypt(frame: pd.DataFrame, ring: KeyRing) -> pd.DataFrame:
    keys = frame["person_id"].astype(str).tolist()
    def blobs(column: str) -> list[bytes | None]:
        return [b if isinstance(b, (bytes, memoryview)) else None for b in frame[column].tolist()]

    frame["my_number"] = ring.decrypt_many(blobs("my_number_enc"), table="person", column="my_number",
                                           row_keys=keys)
    profiles = ring.decrypt_many(blobs("profile_enc"), table="person", column="profile", row_keys=keys)
    loads = orjson.loads
    parsed = [loads(p) if p is not None else {} for p in profiles]
    frame["name"] = [p.get("name") for p in parsed]
    frame["name_kana"] = [p.get("name_kana") for p in parsed]
    frame["address"] = [p.get("address") for p in parsed]
    return frame.drop(columns=["my_number_enc", "profile_enc"])


def validate_subjects(frame: pd.DataFrame, program: ProgramConfig) -> pd.Series:
    """One error code per row (None = valid); the first failing check wins. Vectorised."""
    register = frame["change_type"].astype(str).eq("1").to_numpy()
    payer = frame["public_payer_number"].astype("string").fillna(program.public_payer_number or "")
    valid_from = pd.to_datetime(frame["valid_from"], errors="coerce")
    valid_to = pd.to_datetime(frame["valid_to"], errors="coerce")
    event = pd.to_datetime(frame["event_date"], errors="coerce")
    birth = pd.to_datetime(frame["birth_date"], errors="coerce")

    def too_long(column: str, limit: int) -> np.ndarray:
        return frame[column].astype("string").str.len().fillna(0).to_numpy() > limit

    checks: list[tuple[str, np.ndarray]] = [
        ("LOCAL_SUBJECT_MISSING", (frame["my_number"].isna() | frame["name"].isna() | birth.isna()).to_numpy()),
        ("LOCAL_MY_NUMBER_CHECK_DIGIT", ~valid_my_number(frame["my_number"]).to_numpy()),
        ("LOCAL_PAYER_NUMBER_INVALID", register & ~valid_public_payer_number(payer).to_numpy()),
        ("LOCAL_RECIPIENT_NUMBER_INVALID",
         register & ~valid_recipient_number(frame["recipient_no"].astype("string").fillna("")).to_numpy()),
        ("LOCAL_VALIDITY_DATES_INVALID",
         (register & (valid_from.isna() | valid_to.isna()).to_numpy())
         | (valid_from > valid_to).fillna(False).to_numpy()),
        ("LOCAL_EVENT_DATE_MISSING", (~register) & event.isna().to_numpy()),
        ("LOCAL_SEX_CODE_INVALID", ~frame["sex_code"].astype("string").isin(["1", "2"]).fillna(False).to_numpy()),
        ("LOCAL_LENGTH_EXCEEDED",
         too_long("name", NAME_MAX) | too_long("name_kana", KANA_MAX) | too_long("address", ADDRESS_MAX)
         | too_long("person_id", KEY_MAX)),
    ]
    codes = np.full(len(frame), None, dtype=object)
    for code, failed in reversed(checks):  # reversed: the first check in the list wins
        codes = np.where(failed, code, codes)
    return pd.Series(codes, index=frame.index, dtype=object)


_PANDAS_MIN, _PANDAS_MAX = pd.Timestamp.min.date(), pd.Timestamp.max.date()


def _iso_one(value: object) -> str | None:
    if value is None or value is pd.NaT or (isinstance(value, float) and value != value):
        return None
    if type(value) is str and len(value) == 10:
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            day = None
        if day is not None and _PANDAS_MIN < day < _PANDAS_MAX:  # what pandas can hold, as before
            return day.isoformat()
    elif type(value) is dt.date and _PANDAS_MIN < value < _PANDAS_MAX:
        return value.isoformat()
    stamp = pd.to_datetime(value, errors="coerce")
    return None if pd.isna(stamp) else stamp.strftime("%Y-%m-%d")


def _iso(values: pd.Series) -> list[str | None]:
    """``YYYY-MM-DD`` text (None when missing or not a date).

    Dates repeat a lot in a claim (validity, birth dates), so each distinct value is converted once.
    """
    cache: dict = {}
    out = []
    for value in values.tolist():
        try:
            text = cache[value]
        except KeyError:
            text = cache[value] = _iso_one(value)
        except TypeError:  # unhashable: convert directly
            text = _iso_one(value)
        out.append(text)
    return out


def build_records(frame: pd.DataFrame, program: ProgramConfig) -> list[dict]:
    """JSON-ready registration records in the order of ``frame`` (validated rows only)."""
    if frame.empty:
        return []
    payer = frame["public_payer_number"].astype("string").fillna(program.public_payer_number or "")
    columns = zip(
        frame["change_type"].astype(str).tolist(), frame["person_id"].astype(str).tolist(),
        frame["my_number"].tolist(), frame["name"].tolist(), frame["name_kana"].tolist(),
        frame["address"].tolist(), _iso(frame["birth_date"]), frame["sex_code"].astype(str).tolist(),
        frame["dv_support_flag"].fillna(False).astype(bool).tolist(), payer.tolist(),
        frame["recipient_no"].astype("string").fillna("").tolist(),
        _iso(frame["valid_from"]), _iso(frame["valid_to"]), _iso(frame["event_date"]),
        strict=True,
    )
    records = []
    for (seg, person_id, my_number, name, kana, address, birth, sex, dv, payer_no, recipient_no,
         valid_from, valid_to, event_date) in columns:
        record = {
            "modificationSeg": seg,
            "municipalityIdentityKey": person_id,
            "orgSpecificCertificateTypeId": program.org_specific_certificate_type_id,
            "myNumber": my_number,
            "basicFiveInfo": {"name": name, "nameKana": kana, "address": address,
                              "dateOfBirth": birth, "sex": sex},
            "isNotDisclosed": dv,
            "medicalSubsidyInsurerNumber": payer_no or None,
            "certificationName": program.certification_name,
            "medicalSubsidyRecipientNumber": recipient_no or None,
            "segment": program.segment,
            "incomeSegment": program.income_segment,
            "additionalConditions": program.additional_conditions,
            "isAlwaysReimbursement": program.is_always_reimbursement,
            "maxCopaymentAmount": None,
            "validFrom": valid_from,
            "validTo": valid_to,
            "certificationDetail": [],
        }
        if seg == "2":
            record["modificationDate"] = event_date
        records.append(record)
    return records


# --------------------------------------------------------------------------------------------------
# Row-wise form for the relay's hot path (same checks, same codes, same records; no frames)
# --------------------------------------------------------------------------------------------------
class ClaimRow(NamedTuple):
    """One row of the relay's claim query: an outbox change joined with its person and recipient.

    Dates are ISO text on SQLite and ``date`` objects on PostgreSQL (the relay runs the query on the
    driver); the ``*_enc`` columns are ciphertext. ``ClaimRow._make`` over the driver's rows costs one
    tuple per row, which keeps the hot path as fast as positional indexing.
    """

    id: int
    idempotency_key: str
    person_id: str
    change_type: str
    reason: str
    event_date: Any
    valid_from: Any
    valid_to: Any
    recipient_no: str | None
    batch_id: str | None
    my_number_enc: bytes | None
    profile_enc: bytes | None
    birth_date: Any
    sex_code: str | None
    dv_support_flag: bool | None
    public_payer_number: str | None


#: column order of :class:`ClaimRow` (the relay's claim query selects exactly these)
ROW_FIELDS = ClaimRow._fields
#: the outbox columns of a claim row; then come the person columns and the recipient's payer number
OUTBOX_ROW_FIELDS = ROW_FIELDS[: ROW_FIELDS.index("my_number_enc")]
assert (*OUTBOX_ROW_FIELDS, *SUBJECT_COLUMNS, "public_payer_number") == ROW_FIELDS


#: ``_iso_one`` of values already seen by :func:`prepare_rows` (dates repeat across claims; bounded)
_ISO_CACHE: dict = {}


def prepare_rows(rows: list[ClaimRow], ring: KeyRing,
                 program: ProgramConfig) -> list[tuple[str | None, dict | None]]:
    """``(error code, record)`` per claimed row, exactly as :func:`validate_subjects` + :func:`build_records`.

    The code is None for a valid row, which then has its record. The relay claims a few thousand rows at
    a time; building frames for them costs more than the checks, so this form works on the driver's rows
    (:class:`ClaimRow`). Decryption happens here, in memory only; values that repeat (dates, the
    payer number) are checked once per distinct value.
    """
    if not rows:
        return []
    keys = [str(row.person_id) for row in rows]

    def blobs(values: Iterable) -> list:
        return [b if isinstance(b, (bytes, memoryview)) else None for b in values]

    my_numbers = ring.decrypt_many(blobs(row.my_number_enc for row in rows), table="person", column="my_number",
                                   row_keys=keys)
    profiles = ring.decrypt_many(blobs(row.profile_enc for row in rows), table="person", column="profile",
                                 row_keys=keys)
    loads = orjson.loads
    if len(_ISO_CACHE) > 100_000:
        _ISO_CACHE.clear()
    dates = _ISO_CACHE
    payers: dict = {}
    fallback_payer = program.public_payer_number or ""

    def iso(value: object) -> str | None:
        try:
            return dates[value]
        except KeyError:
            text = dates[value] = _iso_one(value)
            return text
        except TypeError:
            return _iso_one(value)

    def payer_ok(value: str) -> bool:
        ok = payers.get(value)
        if ok is None:
            ok = payers[value] = modulus10_w21_ok(value, 8)
        return ok

    org, cert, always = (program.org_specific_certificate_type_id, program.certification_name,
                         program.is_always_reimbursement)
    segment, income, conditions = program.segment, program.income_segment, program.additional_conditions
    recipients = ["" if row.recipient_no is None else str(row.recipient_no) for row in rows]
    # the two per-person check digits of the whole claim in one vectorised pass each
    my_number_valid = valid_my_number(pd.Series(my_numbers, dtype=object)).tolist()
    recipient_valid = valid_recipient_number(pd.Series(recipients, dtype=object)).tolist()
    out: list[tuple[str | None, dict | None]] = []
    for row, person_id, my_number, profile, recipient, my_number_checks, recipient_checks in zip(
            rows, keys, my_numbers, profiles, recipients, my_number_valid, recipient_valid, strict=True):
        seg = str(row.change_type)
        register = seg == "1"
        info = loads(profile) if profile is not None else {}
        name, kana, address = info.get("name"), info.get("name_kana"), info.get("address")
        birth, valid_from, valid_to = iso(row.birth_date), iso(row.valid_from), iso(row.valid_to)
        event_date = iso(row.event_date)
        payer = fallback_payer if row.public_payer_number is None else str(row.public_payer_number)
        sex = None if row.sex_code is None else str(row.sex_code)
        if my_number is None or name is None or birth is None:
            code = "LOCAL_SUBJECT_MISSING"
        elif not my_number_checks:
            code = "LOCAL_MY_NUMBER_CHECK_DIGIT"
        elif register and not payer_ok(payer):
            code = "LOCAL_PAYER_NUMBER_INVALID"
        elif register and not recipient_checks:
            code = "LOCAL_RECIPIENT_NUMBER_INVALID"
        elif ((register and (valid_from is None or valid_to is None))
              or (valid_from is not None and valid_to is not None and valid_from > valid_to)):
            code = "LOCAL_VALIDITY_DATES_INVALID"
        elif not register and event_date is None:
            code = "LOCAL_EVENT_DATE_MISSING"
        elif sex not in ("1", "2"):
            code = "LOCAL_SEX_CODE_INVALID"
        elif (len(name) > NAME_MAX or len(kana or "") > KANA_MAX or len(address or "") > ADDRESS_MAX
              or len(person_id) > KEY_MAX):
            code = "LOCAL_LENGTH_EXCEEDED"
        else:
            code = None
        if code is not None:
            out.append((code, None))
            continue
        record = {
            "modificationSeg": seg,
            "municipalityIdentityKey": person_id,
            "orgSpecificCertificateTypeId": org,
            "myNumber": my_number,
            "basicFiveInfo": {"name": name, "nameKana": kana, "address": address, "dateOfBirth": birth,
                              "sex": sex},
            "isNotDisclosed": bool(row.dv_support_flag) if row.dv_support_flag is not None else False,
            "medicalSubsidyInsurerNumber": payer or None,
            "certificationName": cert,
            "medicalSubsidyRecipientNumber": recipient or None,
            "segment": segment,
            "incomeSegment": income,
            "additionalConditions": conditions,
            "isAlwaysReimbursement": always,
            "maxCopaymentAmount": None,
            "validFrom": valid_from,
            "validTo": valid_to,
            "certificationDetail": [],
        }
        if seg == "2":
            record["modificationDate"] = event_date
        out.append((None, record))
    return out
