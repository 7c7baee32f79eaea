"""The simulator's fast validator accepts only what the strict pydantic schema accepts (same effects)."""

from __future__ import annotations

import copy

import orjson
import pandas as pd
import pytest
from pydantic import ValidationError

from devtools.pmh_simulator import _BATCH, _fast_entries, _fast_record_ok, _model_entries
from devtools.pmh_synthetic import PUBLIC_PAYER_NUMBER, synthetic_my_numbers
from rules.checkdigits import with_modulus10_w21
from services.pmh.payload import ProgramConfig, build_records


def _records(n: int = 4) -> list[dict]:
    frame = pd.DataFrame({
        "person_id": [f"{i:010d}" for i in range(1, n + 1)],
        "change_type": ["1", "2"] * (n // 2), "reason": "NEW",
        "event_date": pd.Timestamp("2026-05-01"), "valid_from": pd.Timestamp("2026-04-01"),
        "valid_to": pd.Timestamp("2027-03-31"),
        "recipient_no": [with_modulus10_w21(f"{i:06d}") for i in range(1, n + 1)],
        "my_number": synthetic_my_numbers(1, n), "name": "試験 太郎", "name_kana": "シケン タロウ",
        "address": "宮城県仙台市青葉区1-1", "birth_date": pd.Timestamp("2019-01-01"), "sex_code": "1",
        "dv_support_flag": False, "public_payer_number": PUBLIC_PAYER_NUMBER,
    })
    return build_records(frame, ProgramConfig())


def test_valid_batch_gives_the_same_entries_on_both_paths():
    body = orjson.dumps(_records())
    assert _fast_entries(body) == _model_entries(_BATCH.validate_json(body))


def _set(path, value):
    def mutate(record):
        target = record
        for part in path[:-1]:
            target = target[part]
        if value is KeyError:
            del target[path[-1]]
        else:
            target[path[-1]] = value
    return mutate


MUTATIONS = [
    _set(["myNumber"], "123456789012"), _set(["myNumber"], 123456789012), _set(["myNumber"], "１２３"),
    _set(["modificationSeg"], "3"), _set(["modificationSeg"], 1), _set(["modificationSeg"], []),
    _set(["basicFiveInfo", "sex"], {}), _set(["validFrom"], []), _set(["segment"], {}), _set(["municipalityIdentityKey"], ""),
    _set(["municipalityIdentityKey"], "x" * 101), _set(["orgSpecificCertificateTypeId"], "A-1"),
    _set(["orgSpecificCertificateTypeId"], "A\n"), _set(["basicFiveInfo", "name"], ""),
    _set(["basicFiveInfo", "name"], "x" * 101), _set(["basicFiveInfo", "address"], "x" * 201),
    _set(["basicFiveInfo", "sex"], "9"), _set(["basicFiveInfo", "sex"], 1),
    _set(["basicFiveInfo", "dateOfBirth"], "2019-02-30"), _set(["basicFiveInfo", "dateOfBirth"], "20190101"),
    _set(["basicFiveInfo", "extra"], "x"), _set(["basicFiveInfo", "nameKana"], KeyError),
    _set(["isNotDisclosed"], "false"), _set(["isNotDisclosed"], 0),
    _set(["medicalSubsidyInsurerNumber"], "88041001"), _set(["medicalSubsidyInsurerNumber"], "8804100"),
    _set(["medicalSubsidyRecipientNumber"], "x" * 31), _set(["medicalSubsidyRecipientNumber"], 5),
    _set(["certificationName"], ""), _set(["segment"], "x" * 51), _set(["isAlwaysReimbursement"], "2"),
    _set(["maxCopaymentAmount"], []), _set(["validFrom"], "2027-04-01"), _set(["validTo"], None),
    _set(["validTo"], KeyError), _set(["certificationDetail"], [1]), _set(["certificationDetail"], {}),
    _set(["modificationDate"], None), _set(["modificationDate"], "2026-13-01"), _set(["unexpected"], "x"),
]


@pytest.mark.parametrize("mutation", range(len(MUTATIONS)))
def test_fast_path_never_accepts_what_pydantic_refuses(mutation):
    for index in (0, 1):  # a registration and a delete
        batch = _records()
        record = copy.deepcopy(batch[index])
        MUTATIONS[mutation](record)
        batch[index] = record
        body = orjson.dumps(batch)
        try:
            expected = _model_entries(_BATCH.validate_json(body))
        except ValidationError:
            expected = None
        assert _fast_record_ok(orjson.loads(orjson.dumps(record))) is False or expected is not None
        if expected is not None and _fast_entries(body) is not None:
            assert _fast_entries(body) == expected
    assert _fast_entries(b"{}") is None and _fast_entries(b"not json") is None
