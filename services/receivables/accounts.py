"""債権管理: the life of a 返還請求 after it is issued (docs/receivables.md).

A refund claim (``receivable``, written by the benefit stage) becomes a receivable account here:

* :func:`open_accounts` — 調定: kind (``receivables.kind``: 公債権/私債権), 納期限 (``due_days_after_notice``
  after the 返還請求書 / 納付書 date) and the 時効 date (:func:`prescription_date`).
* :func:`record_payment` — 消込 of one payment (idempotent per payment reference): partial → PARTLY_PAID,
  full → PAID, beyond the claim → PAID with ``overpaid_amount`` (to be refunded: on the review list).
  A payment is an 承認 (民法 第152条) and renews the 時効 period from its date.
* :func:`plan` — 分納: equal monthly instalments of what is open (the remainder in the first); also an 承認.
* :func:`remind` — 督促 batch: unpaid ``reminder_after_days`` after the 納期限 (or after an overdue
  instalment), one 督促 per receivable and due date; 公債権: 督促 renews the 時効 (地方自治法 第236条第4項);
  私債権: a 催告 only suspends its completion for 6 months (民法 第150条).
* :func:`write_off` — 不納欠損 only with a recorded approval by an admin, naming the legal ground:
  ``TIME_BARRED`` (公債権: 地方自治法 第236条第2項, no 援用; 私債権: 民法 第166条 + the debtor's 援用,
  民法 第145条) or ``WAIVED`` (債権放棄 by 議会の議決, 地方自治法 第96条第1項第10号).

Every function takes a connection and never commits (the caller owns the transaction). Every step is an
event in ``receivable_event`` (append-only) with the operator.
"""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
from sqlalchemy import Connection, select, update

from policy import Policy
from privacy.operators import Operator, OperatorNotAuthorised
from rules import dates
from store import benefit_models as bm
from store import claims_models as cm
from store.bulk import insert_frame, insert_missing, read_frame

OPEN_STATUSES = ("ISSUED", "PARTLY_PAID")
KIND_LABELS = {"PUBLIC": "公債権", "PRIVATE": "私債権"}
KIND_BASIS = {
    "PUBLIC": "地方自治法 第236条 (5年, 援用不要; 督促で更新)",
    "PRIVATE": "民法 第166条第1項第1号 (知った時から5年, 援用要; 民法 第145条)",
}
WRITE_OFF_GROUNDS = {
    "TIME_BARRED": "時効完成 (公債権: 地方自治法 第236条第2項 — 援用不要 / 私債権: 民法 第166条・第145条 — 援用あり)",
    "WAIVED": "債権放棄 (地方自治法 第96条第1項第10号 — 議会の議決)",
}
#: 民法 第150条: a 催告 suspends the completion of the 時効 for six months.
DEMAND_SUSPENSION_MONTHS = 6


class ReceivableError(ValueError):
    """A receivable step that the law or the receivable's state does not allow (message has no personal data)."""

    safe_message = True


def _years_later(day: dt.date, years: int) -> dt.date:
    return dates.add_years_clamped(pd.Series([pd.Timestamp(day)]), years).iloc[0].date()


def prescription_date(kind: str, start: dt.date, policy: Policy) -> dt.date:
    """The day the receivable becomes time-barred: ``start`` + ``receivables.prescription_years``.

    ``start`` is, for 公債権, the day after the 納期限 (権利を行使することができる時) or the latest renewal
    (payment, 分納 承認, 督促); for 私債権, the 調定日 (the city knows) or the latest 承認.
    """
    years = int(policy.at(start).get("receivables.prescription_years"))
    return _years_later(start, years)


def _event(conn: Connection, receivable_id: int, kind: str, day: dt.date, *, key: str, operator_id: str,
           amount: int = 0, detail: dict | None = None) -> int:
    return insert_missing(conn, cm.ReceivableEvent.__table__, pd.DataFrame([{
        "event_key": f"{receivable_id}|{kind}|{key}", "receivable_id": receivable_id, "kind": kind,
        "event_date": day, "amount": int(amount), "detail": json.dumps(detail or {}, ensure_ascii=False,
                                                                       sort_keys=True),
        "operator_id": operator_id}]), ["event_key"])


def open_accounts(conn: Connection, *, policy: Policy, notice_date: dt.date, operator_id: str,
                  receivable_ids: list[int] | None = None) -> list[int]:
    """調定: give every open receivable without an account its kind, 納期限 and 時効 (idempotent)."""
    rec, acc = bm.Receivable.__table__, cm.ReceivableAccount.__table__
    where = rec.c.status.in_(OPEN_STATUSES) & ~rec.c.id.in_(select(acc.c.receivable_id))
    if receivable_ids is not None:
        where &= rec.c.id.in_(receivable_ids)
    fresh = read_frame(conn, rec, ["id", "amount"], where=where)
    if fresh.empty:
        return []
    snapshot = policy.at(notice_date)
    kind = str(snapshot.get("receivables.kind"))
    due = notice_date + dt.timedelta(days=int(snapshot.get("receivables.due_days_after_notice")))
    start = due + dt.timedelta(days=1) if kind == "PUBLIC" else notice_date
    insert_frame(conn, acc, pd.DataFrame({
        "receivable_id": fresh["id"].astype(int), "kind": kind, "legal_basis": KIND_BASIS[kind],
        "notice_date": notice_date, "due_date": due, "prescription_start": start,
        "prescription_date": prescription_date(kind, start, policy), "reminder_count": 0,
        "last_reminder_date": None, "overpaid_amount": 0}))
    for rid, amount in zip(fresh["id"].astype(int), fresh["amount"].astype(int), strict=True):
        _event(conn, rid, "NOTICE", notice_date, key="1", operator_id=operator_id, amount=amount,
               detail={"due_date": due.isoformat(), "kind": kind})
    return fresh["id"].astype(int).tolist()


def account(conn: Connection, receivable_id: int) -> dict:
    """The receivable, its account, instalments and events (no personal data beyond ids)."""
    rec, acc = bm.Receivable.__table__, cm.ReceivableAccount.__table__
    row = conn.execute(select(rec).where(rec.c.id == receivable_id)).mappings().first()
    if row is None:
        raise ReceivableError(f"receivable {receivable_id} does not exist")
    details = conn.execute(select(acc).where(acc.c.receivable_id == receivable_id)).mappings().first()
    inst = cm.ReceivableInstallment.__table__
    ev = cm.ReceivableEvent.__table__
    plan_rows = conn.execute(select(inst.c.seq, inst.c.due_date, inst.c.amount).where(
        inst.c.receivable_id == receivable_id).order_by(inst.c.seq)).mappings().all()
    events = conn.execute(select(ev.c.kind, ev.c.event_date, ev.c.amount, ev.c.detail, ev.c.operator_id).where(
        ev.c.receivable_id == receivable_id).order_by(ev.c.id)).mappings().all()
    return {"receivable": dict(row), "account": dict(details) if details else None,
            "installments": [dict(r) for r in plan_rows], "events": [dict(e) for e in events]}


def _require_account(conn: Connection, receivable_id: int) -> dict:
    info = account(conn, receivable_id)
    if info["account"] is None:
        raise ReceivableError(f"receivable {receivable_id} has no 調定 yet (open_accounts)")
    return info


def _renew(conn: Connection, receivable_id: int, day: dt.date, policy: Policy) -> None:
    """承認 (payment, 分納): the 時効 runs anew from ``day`` (民法 第152条; 地方自治法 第236条第3項)."""
    acc = cm.ReceivableAccount.__table__
    kind = conn.execute(select(acc.c.kind, acc.c.prescription_start).where(
        acc.c.receivable_id == receivable_id)).first()
    if kind is not None and day > kind.prescription_start:
        conn.execute(update(acc).where(acc.c.receivable_id == receivable_id).values(
            prescription_start=day, prescription_date=prescription_date(kind.kind, day, policy)))


def record_payment(conn: Connection, receivable_id: int, *, payment_ref: str, paid_date: dt.date, amount: int,
                   policy: Policy, operator_id: str) -> dict:
    """消込 of one payment; returns ``{"recorded": 0|1, "status", "open_amount", "overpaid_amount"}``."""
    if amount <= 0:
        raise ReceivableError("a payment amount must be positive")
    info = _require_account(conn, receivable_id)
    status = info["receivable"]["status"]
    if status in ("WRITTEN_OFF", "CANCELLED"):
        raise ReceivableError(f"receivable {receivable_id} is {status}: the payment goes to the review list")
    added = insert_missing(conn, bm.ReceivablePayment.__table__, pd.DataFrame([{
        "receivable_id": receivable_id, "payment_ref": payment_ref, "paid_date": paid_date, "amount": int(amount)}]),
        ["receivable_id", "payment_ref"])
    state = _refresh(conn, receivable_id)
    if added:
        _event(conn, receivable_id, "PAYMENT", paid_date, key=payment_ref, operator_id=operator_id, amount=amount)
        if state["overpaid_amount"]:
            _event(conn, receivable_id, "OVERPAYMENT", paid_date, key=payment_ref, operator_id=operator_id,
                   amount=state["overpaid_amount"], detail={"action": "還付 (refund the excess)"})
        _renew(conn, receivable_id, paid_date, policy)
    return {"recorded": int(added), **state}


def _refresh(conn: Connection, receivable_id: int) -> dict:
    rec, pay, acc = bm.Receivable.__table__, bm.ReceivablePayment.__table__, cm.ReceivableAccount.__table__
    paid = int(read_frame(conn, pay, ["amount"], where=pay.c.receivable_id == receivable_id)["amount"].sum())
    row = conn.execute(select(rec.c.amount, rec.c.status).where(rec.c.id == receivable_id)).first()
    status = row.status if row.status in ("WRITTEN_OFF", "CANCELLED") else (
        "PAID" if paid >= row.amount else "PARTLY_PAID" if paid > 0 else "ISSUED")
    over = max(paid - int(row.amount), 0)
    conn.execute(update(rec).where(rec.c.id == receivable_id).values(paid_amount=min(paid, int(row.amount)),
                                                                      status=status))
    conn.execute(update(acc).where(acc.c.receivable_id == receivable_id).values(overpaid_amount=over))
    return {"status": status, "open_amount": max(int(row.amount) - paid, 0), "overpaid_amount": over}


def open_amount(info: dict) -> int:
    """What is still owed on a receivable (claimed − collected − written off)."""
    r = info["receivable"]
    return max(int(r["amount"]) - int(r["paid_amount"]) - int(r["written_off_amount"]), 0)


def plan(conn: Connection, receivable_id: int, *, first_due: dt.date, instalments: int, agreed_on: dt.date,
         policy: Policy, operator_id: str) -> list[dict]:
    """分納: ``instalments`` monthly amounts of what is open, due on ``first_due`` and the same day each month."""
    info = _require_account(conn, receivable_id)
    if info["receivable"]["status"] not in OPEN_STATUSES:
        raise ReceivableError(f"receivable {receivable_id} is {info['receivable']['status']}: nothing to plan")
    if info["installments"]:
        raise ReceivableError(f"receivable {receivable_id} already has a 分納 plan")
    if instalments < 2:
        raise ReceivableError("a 分納 plan has at least 2 instalments")
    owed = open_amount(info)
    base, rest = divmod(owed, instalments)
    due = pd.date_range(pd.Timestamp(first_due), periods=instalments, freq=pd.DateOffset(months=1))
    rows = pd.DataFrame({"receivable_id": receivable_id, "seq": range(1, instalments + 1),
                         "due_date": [d.date() for d in due],
                         "amount": [base + rest] + [base] * (instalments - 1)})
    insert_frame(conn, cm.ReceivableInstallment.__table__, rows)
    _event(conn, receivable_id, "PLAN", agreed_on, key="1", operator_id=operator_id, amount=owed,
           detail={"instalments": instalments, "first_due": first_due.isoformat()})
    _renew(conn, receivable_id, agreed_on, policy)
    return rows.to_dict("records")


def overdue(conn: Connection, *, today: dt.date, policy: Policy) -> pd.DataFrame:
    """Open receivables due for a 督促 on ``today``: ``receivable_id, due_date, open_amount`` (the missed date).

    Without a plan the date is the 納期限; with one, the earliest instalment whose running total is not
    collected. Due when ``today`` ≥ that date + ``receivables.reminder_after_days`` and no 督促 exists for it.
    """
    rec, acc, inst = bm.Receivable.__table__, cm.ReceivableAccount.__table__, cm.ReceivableInstallment.__table__
    open_rows = read_frame(conn, rec, ["id", "amount", "paid_amount", "written_off_amount"],
                           where=rec.c.status.in_(OPEN_STATUSES))
    accounts = read_frame(conn, acc, ["receivable_id", "due_date", "last_reminder_date"])
    frame = open_rows.merge(accounts, left_on="id", right_on="receivable_id")
    plans = read_frame(conn, inst, ["receivable_id", "seq", "due_date", "amount"])
    missed = []
    for row in frame.itertuples(index=False):
        due = pd.Timestamp(row.due_date).date()
        schedule = plans[plans["receivable_id"] == row.id].sort_values("seq")
        if len(schedule):
            # The plan covers what was open when it was agreed; earlier payments come first.
            running = int(row.amount) - int(schedule["amount"].sum()) + schedule["amount"].cumsum()
            unpaid = schedule[running > int(row.paid_amount)]
            due = pd.Timestamp(unpaid["due_date"].iloc[0]).date() if len(unpaid) else None
        if due is None:
            continue
        wait = int(policy.at(due).get("receivables.reminder_after_days"))
        last = pd.Timestamp(row.last_reminder_date).date() if pd.notna(row.last_reminder_date) else None
        if today >= due + dt.timedelta(days=wait) and (last is None or last < due):
            missed.append({"receivable_id": int(row.id), "due_date": due,
                           "open_amount": int(row.amount - row.paid_amount - row.written_off_amount)})
    return pd.DataFrame(missed, columns=["receivable_id", "due_date", "open_amount"])


def remind(conn: Connection, *, today: dt.date, policy: Policy, operator_id: str) -> pd.DataFrame:
    """督促: record a reminder for every :func:`overdue` receivable; returns the batch (with 指定期限)."""
    batch = overdue(conn, today=today, policy=policy)
    if batch.empty:
        return batch.assign(deadline=pd.Series(dtype=object), reminder_no=pd.Series(dtype="int64"))
    acc = cm.ReceivableAccount.__table__
    deadline = today + dt.timedelta(days=int(policy.at(today).get("receivables.reminder_deadline_days")))
    numbers = []
    for row in batch.itertuples(index=False):
        current = conn.execute(select(acc).where(acc.c.receivable_id == row.receivable_id)).mappings().one()
        number = int(current["reminder_count"]) + 1
        values = {"reminder_count": number, "last_reminder_date": today}
        if current["kind"] == "PUBLIC":  # 地方自治法 第236条第4項: the 督促 renews the period
            values.update(prescription_start=today, prescription_date=prescription_date("PUBLIC", today, policy))
        else:  # 民法 第150条: completion suspended until six months after the 催告
            suspended = (pd.Timestamp(today) + pd.DateOffset(months=DEMAND_SUSPENSION_MONTHS)).date()
            values.update(prescription_date=max(current["prescription_date"], suspended))
        conn.execute(update(acc).where(acc.c.receivable_id == row.receivable_id).values(**values))
        _event(conn, row.receivable_id, "REMINDER", today, key=str(number), operator_id=operator_id,
               amount=row.open_amount, detail={"missed_due_date": row.due_date.isoformat(),
                                               "deadline": deadline.isoformat()})
        numbers.append(number)
    return batch.assign(deadline=deadline, reminder_no=numbers)


def write_off(conn: Connection, receivable_id: int, *, ground: str, approver: Operator, approval_id: str,
              today: dt.date, invoked_on: dt.date | None = None) -> dict:
    """不納欠損 of what is open, with a recorded approval (admin) and its legal ground.

    ``TIME_BARRED`` needs ``today`` ≥ the 時効 date; for a 私債権 also the debtor's 援用 (``invoked_on``).
    ``WAIVED`` (債権放棄) needs the 議決 reference as ``approval_id``.
    """
    if not approver.may("admin") or not approver.enabled:
        raise OperatorNotAuthorised(approver.operator_id, "admin", "a write-off needs an admin's approval")
    if ground not in WRITE_OFF_GROUNDS:
        raise ReceivableError(f"unknown ground {ground!r}; one of {', '.join(WRITE_OFF_GROUNDS)}")
    if not approval_id.strip():
        raise ReceivableError("a write-off needs the approval reference (決裁番号 / 議決)")
    info = _require_account(conn, receivable_id)
    if info["receivable"]["status"] not in OPEN_STATUSES:
        raise ReceivableError(f"receivable {receivable_id} is {info['receivable']['status']}: nothing to write off")
    details = info["account"]
    if ground == "TIME_BARRED":
        if today < details["prescription_date"]:
            raise ReceivableError(
                f"receivable {receivable_id} is not time-barred before {details['prescription_date'].isoformat()}")
        if details["kind"] == "PRIVATE" and invoked_on is None:
            raise ReceivableError(f"receivable {receivable_id} is a 私債権: the debtor's 援用 (民法 第145条) "
                                  "must be recorded (--invoked-on), or waive it by 議決 (WAIVED)")
    owed = open_amount(info)
    rec = bm.Receivable.__table__
    conn.execute(update(rec).where(rec.c.id == receivable_id).values(
        written_off_amount=int(info["receivable"]["written_off_amount"]) + owed, status="WRITTEN_OFF"))
    legal = WRITE_OFF_GROUNDS[ground] if ground == "WAIVED" else (
        "地方自治法 第236条第2項 (時効完成, 援用不要)" if details["kind"] == "PUBLIC"
        else "民法 第166条第1項第1号・第145条 (時効完成, 援用あり)")
    detail = {"ground": ground, "legal_basis": legal, "approval_id": approval_id, "approver": approver.operator_id,
              "kind": details["kind"], "prescription_date": details["prescription_date"].isoformat(),
              "invoked_on": invoked_on.isoformat() if invoked_on else None}
    _event(conn, receivable_id, "WRITE_OFF", today, key="1", operator_id=approver.operator_id, amount=owed,
           detail=detail)
    return {"receivable_id": receivable_id, "written_off_amount": owed, **detail}
