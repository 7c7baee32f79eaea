"""The life of a receivable (SQLite and PostgreSQL).

1. claim → partial payment (bank file) → 督促 → 分納 → paid in full;
2. claim → time-barred → write-off only with an admin's recorded approval (私債権: and the debtor's 援用;
   公債権: without 援用).
"""

from __future__ import annotations

import datetime as dt
import shutil

import pandas as pd
import pytest
import yaml

from policy import DEFAULT_DIRECTORY, load_policy
from privacy.operators import OperatorNotAuthorised, lookup_operator
from services.notices import summary
from services.receivables import accounts, ledger
from store import benefit_models as bm
from store.bulk import insert_frame, read_frame
from store.db import session_scope

POLICY = load_policy()
D = dt.date


def _claim(conn, claim_id: str, amount: int, issued_month: str) -> int:
    insert_frame(conn, bm.Receivable.__table__, pd.DataFrame([{
        "receivable_key": f"{claim_id}|{issued_month}", "claim_id": claim_id, "person_id": "1000000001",
        "recipient_no": "0000018", "service_month": "2025-06", "issued_month": issued_month, "amount": amount,
        "paid_amount": 0, "written_off_amount": 0, "status": "ISSUED", "reason_code": "NOT_ELIGIBLE_ON_SERVICE_DATE",
        "ineligibility_cause": "MOVE_OUT", "run_id": "seed"}]))
    table = bm.Receivable.__table__
    return int(read_frame(conn, table, ["id"], where=table.c.claim_id == claim_id)["id"].iloc[0])


def _bank_file(tmp_path, rows: list[str]):
    path = tmp_path / "bank.csv"
    path.write_bytes(("payment_ref,paid_date,payment_number,amount\r\n" + "\r\n".join(rows) + "\r\n").encode())
    return path


def test_claim_partial_payment_reminder_instalments_paid(engine, tmp_path):
    with session_scope(engine) as session:
        conn = session.connection()
        rid = _claim(conn, "C1", 1_000, "2025-08")
        assert accounts.open_accounts(conn, policy=POLICY, notice_date=D(2025, 9, 1), operator_id="demo-operator") \
            == [rid]
        assert accounts.open_accounts(conn, policy=POLICY, notice_date=D(2025, 9, 2), operator_id="x") == []
        info = accounts.account(conn, rid)["account"]
    # 私債権: 納期限 20 days after the notice; 時効 5 years from the 調定 (the city knows).
    assert (info["kind"], info["due_date"], info["prescription_date"]) == ("PRIVATE", D(2025, 9, 21), D(2030, 9, 1))

    number = ledger.payment_number(rid)
    bank = _bank_file(tmp_path, [
        f"N1,2025-09-15,{number},400",  # partial
        f"N2,2025-09-15,{number[:-1]}{(int(number[-1]) + 1) % 10},700",  # wrong check digit
        "N3,2025-13-01,0000000000,10",  # malformed date
    ])
    with session_scope(engine) as session:
        counts = ledger.import_payments(session.connection(), bank, policy=POLICY, operator_id="demo-operator")
    assert (counts["recorded"], counts["partial"], counts["review"]) == (1, 1, 2)
    with session_scope(engine) as session:  # the same file again records nothing
        again = ledger.import_payments(session.connection(), bank, policy=POLICY, operator_id="demo-operator")
        assert (again["recorded"], again["already_recorded"], again["review"]) == (0, 1, 0)
        reviews = read_frame(session.connection(), bm.Base.metadata.tables["payment_review"], ["line", "reason"])
        assert sorted(reviews.itertuples(index=False, name=None)) == [(3, "UNKNOWN_PAYMENT_NUMBER"), (4, "BAD_ROW")]
        state = accounts.account(session.connection(), rid)
    assert state["receivable"]["status"] == "PARTLY_PAID" and accounts.open_amount(state) == 600
    assert state["account"]["prescription_date"] == D(2030, 9, 15)  # the payment (承認) renewed it

    with session_scope(engine) as session:
        conn = session.connection()
        assert accounts.remind(conn, today=D(2025, 10, 10), policy=POLICY, operator_id="demo-operator").empty
        batch = accounts.remind(conn, today=D(2025, 10, 11), policy=POLICY, operator_id="demo-operator")
        assert accounts.remind(conn, today=D(2025, 10, 12), policy=POLICY, operator_id="demo-operator").empty
        name = ledger.write_reminder_batch(batch, today=D(2025, 10, 11), outbox=tmp_path)
    assert batch[["receivable_id", "open_amount", "reminder_no"]].values.tolist() == [[rid, 600, 1]]
    assert batch["deadline"].iloc[0] == D(2025, 10, 21)
    printed = pd.read_csv(tmp_path / name, encoding="cp932", dtype=str)
    assert printed["納付番号"].tolist() == [number]

    with session_scope(engine) as session:
        conn = session.connection()
        schedule = accounts.plan(conn, rid, first_due=D(2025, 11, 10), instalments=3, agreed_on=D(2025, 10, 20),
                                 policy=POLICY, operator_id="demo-operator")
        assert [(r["due_date"], r["amount"]) for r in schedule] == [
            (D(2025, 11, 10), 200), (D(2025, 12, 10), 200), (D(2026, 1, 10), 200)]
        # First instalment paid on time; the second is missed → a second 督促 for it.
        accounts.record_payment(conn, rid, payment_ref="N4", paid_date=D(2025, 11, 10), amount=200, policy=POLICY,
                                operator_id="demo-operator")
        assert accounts.remind(conn, today=D(2025, 12, 29), policy=POLICY, operator_id="demo-operator").empty
        second = accounts.remind(conn, today=D(2025, 12, 30), policy=POLICY, operator_id="demo-operator")
        assert second[["due_date", "open_amount", "reminder_no"]].values.tolist() == [[D(2025, 12, 10), 400, 2]]
        accounts.record_payment(conn, rid, payment_ref="N5", paid_date=D(2026, 1, 5), amount=400, policy=POLICY,
                                operator_id="demo-operator")
        done = accounts.account(conn, rid)
        assert ledger.totals(conn, as_of=D(2026, 1, 31))["open_amount"] == 0
        written = ledger.write_ledger(conn, as_of=D(2026, 1, 31), outbox=tmp_path)
    assert done["receivable"]["status"] == "PAID" and done["receivable"]["paid_amount"] == 1_000
    assert [e["kind"] for e in done["events"]] == ["NOTICE", "PAYMENT", "REMINDER", "PLAN", "PAYMENT", "REMINDER",
                                                   "PAYMENT"]
    book = pd.read_csv(tmp_path / written["files"][0], encoding="cp932", dtype=str)
    assert book[["債権の種類", "調定額", "収入済額", "未収額", "督促回数", "分納回数", "状態"]].values.tolist() == [
        ["私債権", "1000", "1000", "0", "2", "3", "完納"]]


def test_overpayment_is_recorded_for_refund(engine):
    with session_scope(engine) as session:
        conn = session.connection()
        rid = _claim(conn, "C3", 1_000, "2025-08")
        accounts.open_accounts(conn, policy=POLICY, notice_date=D(2025, 9, 1), operator_id="demo-operator")
        result = accounts.record_payment(conn, rid, payment_ref="N1", paid_date=D(2025, 9, 10), amount=1_300,
                                         policy=POLICY, operator_id="demo-operator")
        aged = ledger.aging(conn, as_of=D(2025, 9, 30))
    assert result == {"recorded": 1, "status": "PAID", "open_amount": 0, "overpaid_amount": 300}
    assert int(aged["件数"].sum()) == 0
    with session_scope(engine) as session:  # the monthly summary artifact shows the receivable totals
        report = summary.month_summary(session.connection(), month="2025-09", run_id="r", counts={})
    assert report.totals["receivables"]["collected_amount"] == 1_000
    assert report.totals["receivables"]["overpaid_amount"] == 300 and "未収額" in report.markdown


def test_time_barred_private_claim_is_written_off_only_with_approval_and_invocation(engine):
    admin, staff = lookup_operator("demo-admin"), lookup_operator("demo-operator")
    with session_scope(engine) as session:
        conn = session.connection()
        rid = _claim(conn, "C2", 2_000, "2019-01")
        accounts.open_accounts(conn, policy=POLICY, notice_date=D(2019, 1, 10), operator_id="demo-operator")
        assert accounts.account(conn, rid)["account"]["prescription_date"] == D(2024, 1, 10)
        aged = ledger.aging(conn, as_of=D(2024, 6, 1))
        assert aged.loc[aged["区分"] == "3年超", ["件数", "未収金額"]].values.tolist() == [[1, 2_000]]
        with pytest.raises(OperatorNotAuthorised):
            accounts.write_off(conn, rid, ground="TIME_BARRED", approver=staff, approval_id="K-1",
                               today=D(2024, 6, 1), invoked_on=D(2024, 5, 1))
        with pytest.raises(accounts.ReceivableError, match="not time-barred"):
            accounts.write_off(conn, rid, ground="TIME_BARRED", approver=admin, approval_id="K-1",
                               today=D(2024, 1, 9), invoked_on=D(2024, 1, 5))
        with pytest.raises(accounts.ReceivableError, match="援用"):
            accounts.write_off(conn, rid, ground="TIME_BARRED", approver=admin, approval_id="K-1",
                               today=D(2024, 6, 1))
        done = accounts.write_off(conn, rid, ground="TIME_BARRED", approver=admin, approval_id="K-1",
                                  today=D(2024, 6, 1), invoked_on=D(2024, 5, 1))
        state = accounts.account(conn, rid)
    assert done["written_off_amount"] == 2_000 and "民法" in done["legal_basis"]
    assert state["receivable"]["status"] == "WRITTEN_OFF"
    event = state["events"][-1]
    assert event["kind"] == "WRITE_OFF" and event["operator_id"] == "demo-admin" and '"approval_id": "K-1"' in \
        event["detail"]


def test_public_claim_is_barred_without_invocation_and_a_reminder_renews_it(engine, tmp_path):
    directory = tmp_path / "parameters"
    shutil.copytree(DEFAULT_DIRECTORY, directory)
    kind = yaml.safe_load((directory / "receivables" / "kind.yaml").read_text(encoding="utf-8"))
    kind["values"][dt.date(2012, 1, 1)]["value"] = "PUBLIC"
    (directory / "receivables" / "kind.yaml").write_text(yaml.safe_dump(kind, allow_unicode=True), encoding="utf-8")
    public = load_policy(directory)
    admin = lookup_operator("demo-admin")
    with session_scope(engine) as session:
        conn = session.connection()
        rid = _claim(conn, "C4", 3_000, "2018-01")
        accounts.open_accounts(conn, policy=public, notice_date=D(2018, 1, 10), operator_id="demo-operator")
        # 公債権: from the day after the 納期限 (2018-01-30).
        assert accounts.account(conn, rid)["account"]["prescription_date"] == D(2023, 1, 31)
        accounts.remind(conn, today=D(2018, 2, 20), policy=public, operator_id="demo-operator")
        assert accounts.account(conn, rid)["account"]["prescription_date"] == D(2023, 2, 20)
        done = accounts.write_off(conn, rid, ground="TIME_BARRED", approver=admin, approval_id="K-2",
                                  today=D(2023, 3, 1))
    assert done["kind"] == "PUBLIC" and "地方自治法" in done["legal_basis"] and done["invoked_on"] is None
