"""``kodomo claims`` and ``kodomo receivables`` from the shell (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from cli.main import main
from config.settings import get_settings
from services.receivables.ledger import payment_number
from store import benefit_models as bm
from store.bulk import insert_frame
from store.db import make_engine, session_scope
from store.migrate import upgrade
from tests.integration.test_uke_claims import _seed, june_file


@pytest.fixture
def cli_env(db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("KODOMO_HOME", str(tmp_path))
    monkeypatch.setenv("KODOMO_DATABASE_URL", db_url)
    get_settings.cache_clear()
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


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_claims_and_receivables_commands(cli_env, capsys):
    home = cli_env
    assert _run(capsys, "keys", "init", "--operator", "demo-admin")[0] == 0
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

    def receivables(*argv):
        return _run(capsys, "receivables", *argv)

    code, out, _ = receivables("issue", "--notice-date", "2025-09-01", "--operator", "demo-operator")
    assert code == 0 and json.loads(out)["issued"] == 1
    bank = home / "bank.csv"
    bank.write_text(f"payment_ref,paid_date,payment_number,amount\nN1,2025-09-10,{payment_number(1)},300\n",
                    encoding="utf-8")
    code, out, _ = receivables("import-payments", str(bank), "--operator", "demo-operator")
    assert code == 0 and json.loads(out)["partial"] == 1
    code, out, _ = receivables("remind", "--date", "2025-10-11", "--operator", "demo-operator")
    assert code == 0 and json.loads(out)["reminders"] == 1
    code, _, err = receivables("write-off", "1", "--ground", "WAIVED", "--approval-id", "議決-1",
                               "--operator", "demo-operator")
    assert code == 1 and "may not 'admin'" in err
    code, out, _ = receivables("write-off", "1", "--ground", "WAIVED", "--approval-id", "議決-1", "--date",
                               "2025-12-01", "--operator", "demo-admin")
    assert code == 0 and json.loads(out)["written_off_amount"] == 700
    code, out, _ = receivables("show", "1", "--operator", "demo-viewer")
    assert code == 0 and [e["kind"] for e in json.loads(out)["events"]] == ["NOTICE", "PAYMENT", "REMINDER",
                                                                            "WRITE_OFF"]
    code, out, _ = receivables("ledger", "--as-of", str(dt.date(2025, 12, 1)), "--operator", "demo-viewer")
    book = pd.read_csv(home / "outbox" / "saiken_kanribo_2025-12-01.csv", encoding="cp932", dtype=str)
    assert code == 0 and book[["収入済額", "不納欠損額", "状態"]].values.tolist() == [["300", "700", "不納欠損"]]
