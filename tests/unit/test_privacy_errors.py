import pickle
import traceback

import pandas as pd
import pandera.pandas as pa
import pytest
import requests
from sqlalchemy import text

from privacy.errors import SanitisedError, sanitised
from privacy.operators import OperatorNotAuthorised
from store.db import make_engine

CANARY = "123456789018"  # check-digit-valid synthetic My Number
NAME = "カナリア花子"


def _all_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + repr(exc) + str(pickle.loads(pickle.dumps(exc)))


class Residents(pa.DataFrameModel):
    my_number: str = pa.Field(str_matches=r"^\d{11}$")
    age: int = pa.Field(ge=0)

    class Config:
        strict = True
        coerce = True


def test_pandera_errors_become_counts_per_column_and_check():
    frame = pd.DataFrame({"my_number": [CANARY, CANARY, "1"], "age": [-1, 3, 4], NAME: [1, 2, 3]})

    @sanitised(stage="intake")
    def validate():
        Residents.validate(frame, lazy=True)

    with pytest.raises(SanitisedError) as info:
        validate()
    err = info.value
    assert err.code == "SCHEMA_ERRORS" and err.stage == "intake"
    assert err.counts["my_number:str_matches('^\\d{11}$')"] == 3
    assert err.counts["age:greater_than_or_equal_to(0)"] == 1
    text_ = _all_text(err)
    assert CANARY not in text_ and NAME not in text_
    assert err.__cause__ is None and err.__suppress_context__ and err.__context__ is None


def test_single_schema_error_via_context_manager():
    with pytest.raises(SanitisedError) as info, sanitised(stage="intake"):
        Residents.validate(pd.DataFrame({"my_number": [CANARY], "age": [1]}))
    assert info.value.code == "SCHEMA_ERROR" and "my_number" in str(info.value)
    assert CANARY not in "".join(traceback.format_exception(info.value))


def test_integrity_error_keeps_only_class_and_constraint(db_url):
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (h VARCHAR(20), CONSTRAINT uq_t_h UNIQUE (h))"))
        conn.execute(text("INSERT INTO t VALUES (:h)"), {"h": CANARY})
    with pytest.raises(SanitisedError) as info, sanitised(), engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (:h)"), {"h": CANARY})
    engine.dispose()
    err = info.value
    assert err.code == "DB_INTEGRITY"
    assert "uq_t_h" in err.detail or "t.h" in err.detail
    assert CANARY not in _all_text(err)


def test_requests_error_keeps_status_only():
    response = requests.Response()
    response.status_code = 500
    response._content = f'{{"myNumber": "{CANARY}"}}'.encode()
    response.url = f"https://pmh.example/persons/{CANARY}"

    @sanitised
    def call():
        response.raise_for_status()

    with pytest.raises(SanitisedError) as info:
        call()
    assert str(info.value) == "HTTP_STATUS: HTTP 500"

    @sanitised
    def down():
        raise requests.ConnectionError(f"cannot reach https://pmh.example/{CANARY}")

    with pytest.raises(SanitisedError, match="HTTP_ERROR: ConnectionError"):
        down()


def test_any_other_exception_keeps_class_and_location_only():
    @sanitised
    def boom():
        raise ValueError(f"bad value {CANARY} for {NAME}")

    with pytest.raises(SanitisedError) as info:
        boom()
    assert info.value.code == "INTERNAL" and "ValueError at test_privacy_errors.py:" in info.value.detail
    assert CANARY not in _all_text(info.value) and NAME not in _all_text(info.value)


def test_safe_errors_and_base_exceptions_pass_through():
    with pytest.raises(OperatorNotAuthorised), sanitised():
        raise OperatorNotAuthorised("x", "run", "unknown operator")
    with pytest.raises(KeyboardInterrupt), sanitised():
        raise KeyboardInterrupt
    with pytest.raises(SanitisedError, match=r"\[MYNUMBER\]"):
        raise SanitisedError("X", f"detail mentioning {CANARY}")


def test_schema_object_messages_are_kept_but_values_are_not(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(SanitisedError) as info, sanitised(), engine.begin() as conn:
        conn.execute(text("SELECT * FROM run"))
    assert "no such table: run" in str(info.value)
    with pytest.raises(SanitisedError) as info, sanitised(), engine.begin() as conn:
        conn.execute(text(f"SELECT * FROM t WHERE x = '{CANARY}' AND"))  # syntax error quoting a value
    assert CANARY not in _all_text(info.value) and info.value.code == "DB_ERROR"
    engine.dispose()


def test_raw_driver_errors_are_sanitised(tmp_path):
    import sqlite3

    conn = sqlite3.connect(tmp_path / "raw.db")
    conn.execute("CREATE TABLE t (v TEXT UNIQUE)")
    conn.execute("INSERT INTO t VALUES (?)", (CANARY,))
    with pytest.raises(SanitisedError) as info, sanitised():
        conn.execute("INSERT INTO t VALUES (?)", (CANARY,))
    conn.close()
    assert info.value.code == "DB_ERROR" and "constraint=t.v" in info.value.detail
    assert CANARY not in _all_text(info.value)
