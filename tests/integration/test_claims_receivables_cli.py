"""``kodomo claims`` and ``kodomo receivables`` from the shell (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess

import pandas as pd
import pytest
from sqlalchemy import update

from cli.main import main
from config.settings import get_settings
from devtools.credentials import enrol_demo_operators
from privacy.crypto import load_key_ring
from services.receivables.ledger import payment_number
from store import benefit_models as bm
from store import models
from store.bulk import insert_frame
from store.db import make_engine, session_scope
from store.migrate import upgrade
from tests.integration.test_uke_claims import CHILD_A, _seed, june_file

GUARDIAN = "1000000009"


@pytest.fixture
def cli_env(db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("KODOMO_HOME", str(tmp_path))
    monkeypatch.setenv("KODOMO_DATABASE_URL", db_url)
    get_settings.cache_clear()
    enrol_demo_operators()  # the demo principals prove themselves with their key files (privacy.operators)
    upgrade(db_url)
    engine = make_engine(db_url)
    with session_scope(engine) as session:
        conn = session.connection()
        _seed(conn)
        insert_frame(conn, bm.Receivable.__table__, pd.DataFrame([{
            "receivable_key": "C1|2025-08", "claim_id": "C1", "person_id": "1000000001", "recipient_no": "0000018",
            "service_month": "2025-06", "issued_month": "2025-08", "amount": 1_000, "paid_amount": 0,
            "written_off_amount": 0, "status": "ISSUED", "reason_code": "NOT_ELIGIBLE_ON_SERVICE_DATE",
            "ineligibility_cause": "MOVE_OUT", "run_id": "seed"}]))
    engine.dispose()
    yield tmp_path
    get_settings.cache_clear()


def _guardian(settings) -> None:
    """Child A's guardian (synthetic), with encrypted names and address, for the printed forms."""
    ring = load_key_ring(settings, create=False)
    profiles = {CHILD_A: {"name": "試験 太郎", "name_kana": "ｼｹﾝ ﾀﾛｳ", "address": "仙台市青葉区試験町1-1"},
                GUARDIAN: {"name": "試験 花子", "name_kana": "ｼｹﾝ ﾊﾅｺ", "address": "仙台市青葉区試験町1-1"}}
    blobs = ring.encrypt_many([json.dumps(p, ensure_ascii=False) for p in profiles.values()], table="person",
                              column="profile", row_keys=list(profiles))
    engine = make_engine(settings.resolved_database_url)
    with session_scope(engine) as session:
        conn = session.connection()
        insert_frame(conn, models.Person.__table__, pd.DataFrame([{
            "person_id": GUARDIAN, "household_id": "2000000001", "relationship_code": "02",
            "birth_date": dt.date(1985, 1, 1), "sex_code": "2", "dv_support_flag": False, "row_digest": "x"}]))
        person = models.Person.__table__
        for person_id, blob in zip(profiles, blobs, strict=True):
            conn.execute(update(person).where(person.c.person_id == person_id).values(profile_enc=blob))
        insert_frame(conn, models.Application.__table__, pd.DataFrame([{
            "application_id": "AP1", "child_person_id": CHILD_A, "guardian_person_id": GUARDIAN,
            "application_date": dt.date(2020, 1, 6)}]))
    engine.dispose()


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_claims_and_receivables_commands(cli_env, capsys):
    home = cli_env
    assert _run(capsys, "keys", "init", "--operator", "demo-admin")[0] == 0
    _guardian(get_settings())
    inbox = home / "uke"
    inbox.mkdir()
    (inbox / "0410712368.UKE").write_bytes(june_file().encode("cp932"))
    (inbox / "broken.UKE").write_bytes(june_file().replace("GO,8,", "GO,7,").encode("cp932"))
    code, out, _ = _run(capsys, "claims", "ingest", str(inbox), "--operator", "demo-operator")
    results = {r["file"]: r for r in json.loads(out)}
    assert code == 1 and "GO 総件数" in results["broken.UKE"]["refused"]  # the bad file is named, the rest read
    assert (results["0410712368.UKE"]["approved"], results["0410712368.UKE"]["review"]) == (3, 2)
    code, out, _ = _run(capsys, "claims", "close", "--payer", "KOKUHO", "--month", "2025-07", "--paid-on",
                        "2025-07-31", "--operator", "demo-operator")
    assert code == 0 and json.loads(out)[0]["payment_amount"] == 1_000 + 21_500 + 57_600
    assert (home / "outbox" / "uke_bill_KOKUHO_2025-07.csv").exists()
    code, out, _ = _run(capsys, "claims", "review", "--month", "2025-07", "--operator", "demo-viewer")
    assert code == 0 and json.loads(out) == [{"review": 2, "disputed": 1}]
    code, _, err = _run(capsys, "claims", "withdraw", "UK0410712368202506-1", "--payer", "KOKUHO", "--month",
                        "2025-07", "--operator", "demo-operator")
    assert code == 1 and "already closed" in err  # a paid bill takes no 取下げ: it goes to the next one
    code, out, _ = _run(capsys, "claims", "withdraw", "UK0410712368202506-1", "--payer", "KOKUHO", "--month",
                        "2025-08", "--operator", "demo-operator")
    assert code == 0 and json.loads(out) == [{"reversals": 1}]

    def receivables(*argv):
        return _run(capsys, "receivables", *argv)

    code, out, err = receivables("issue", "--notice-date", "2025-09-01", "--print", "--operator", "demo-operator")
    assert code == 0, err
    issued = json.loads(out)
    assert code == 0 and issued["issued"] == 1 and issued["pdf"]["pages"] == 1
    pdf = home / "print" / "2025-09" / "返還請求書_2025-09-01.pdf"
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, check=True, text=True).stdout
    assert "試験 花子" in text and payment_number(1) in text and "1,000" in text
    bank = home / "bank.csv"
    bank.write_text(f"payment_ref,paid_date,payment_number,amount\nN1,2025-09-10,{payment_number(1)},300\n",
                    encoding="utf-8")
    code, out, _ = receivables("import-payments", str(bank), "--operator", "demo-operator")
    assert code == 0 and json.loads(out)["partial"] == 1
    code, out, _ = receivables("remind", "--date", "2025-10-11", "--print", "--operator", "demo-operator")
    reminded = json.loads(out)
    assert code == 0 and reminded["reminders"] == 1 and reminded["pdf"]["kinds"] == {"refund_demand": 1}
    index = pd.read_csv(home / "print" / "2025-10" / "督促状_2025-10-11_index.csv", encoding="cp932", dtype=str)
    assert index["書類"].tolist() == ["督促状"]
    code, _, err = receivables("write-off", "1", "--ground", "WAIVED", "--approval-id", "議決-1",
                               "--operator", "demo-operator")
    assert code == 1 and "may not 'admin'" in err
    code, out, _ = receivables("write-off", "1", "--ground", "WAIVED", "--approval-id", "議決-1", "--date",
                               "2025-12-01", "--operator", "demo-admin")
    assert code == 0 and json.loads(out)["written_off_amount"] == 700
    code, out, _ = receivables("list", "--as-of", "2025-12-01", "--operator", "demo-viewer")
    listed = json.loads(out)
    assert code == 0 and listed["totals"]["written_off_amount"] == 700 and listed["receivables"][0]["kind"] == "PRIVATE"
    code, out, _ = receivables("show", "1", "--operator", "demo-viewer")
    assert code == 0 and [e["kind"] for e in json.loads(out)["events"]] == ["NOTICE", "PAYMENT", "REMINDER",
                                                                            "WRITE_OFF"]
    code, out, _ = receivables("ledger", "--as-of", str(dt.date(2025, 12, 1)), "--operator", "demo-viewer")
    book = pd.read_csv(home / "outbox" / "saiken_kanribo_2025-12-01.csv", encoding="cp932", dtype=str)
    assert code == 0 and book[["収入済額", "不納欠損額", "状態"]].values.tolist() == [["300", "700", "不納欠損"]]
