"""``kodomo receivables ...``: 債権管理 of 返還請求 (docs/receivables.md).

* ``issue --notice-date D [--print]`` — 調定 of new refund claims (kind, 納期限, 時効), the 返還請求書/納付書 list
  and, with ``--print``, their PDFs (services.documents);
* ``list`` / ``show ID`` — the receivables / one receivable with its history;
* ``record-payment ID --ref R --date D --amount N`` — one 入金 (消込 by hand);
* ``import-payments FILE`` — 消込 from the bank's payment CSV (unmatched rows → review list);
* ``plan ID --first-due D --instalments N --agreed-on D`` — 分納;
* ``remind --date D [--print]`` — 督促 batch (recorded; ``tokusoku_<date>.csv``; 督促状 PDFs with ``--print``);
* ``write-off ID --ground G --approval-id A --date D [--invoked-on D]`` — 不納欠損 (admin only);
* ``ledger --as-of D`` — 債権管理簿 and aging report CSVs.

Every command names its ``--operator``; reads and changes of receivables are written to the access records.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

from cli.support import add_operator_argument, authorise
from config.settings import get_settings
from policy import load_policy
from privacy.audit import record_access
from privacy.crypto import load_key_ring
from services.receivables import accounts, documents, ledger
from store import benefit_models as bm
from store.bulk import read_frame
from store.db import engine_for, session_scope


def _date(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def register(subparsers) -> None:
    """Add ``receivables`` and its sub-commands."""
    parser = subparsers.add_parser("receivables", help="債権管理: 調定, 消込, 督促, 分納, 不納欠損, 債権管理簿")
    sub = parser.add_subparsers(dest="action", required=True)

    issue = sub.add_parser("issue", help="調定 of new refund claims and the 返還請求書/納付書 list")
    issue.add_argument("--notice-date", type=_date, required=True, help="date of the 返還請求書 (YYYY-MM-DD)")
    issue.add_argument("--print", action="store_true", help="render the 返還請求書/納付書 PDFs (names, addresses)")
    listing = sub.add_parser("list", help="receivables with kind, amounts, 納期限 and 時効")
    listing.add_argument("--status", help="ISSUED, PARTLY_PAID, PAID, WRITTEN_OFF or CANCELLED")
    listing.add_argument("--as-of", type=_date, default=dt.date.today())
    show = sub.add_parser("show", help="one receivable with its account, plan and history")
    show.add_argument("receivable_id", type=int)
    pay = sub.add_parser("record-payment", help="record one payment (消込)")
    pay.add_argument("receivable_id", type=int)
    pay.add_argument("--ref", required=True, help="payment reference (収納 id), unique per receivable")
    pay.add_argument("--date", type=_date, required=True)
    pay.add_argument("--amount", type=int, required=True)
    imp = sub.add_parser("import-payments", help="消込 from a bank payment CSV (docs/receivables.md)")
    imp.add_argument("file")
    plan = sub.add_parser("plan", help="分納 plan of what is open")
    plan.add_argument("receivable_id", type=int)
    plan.add_argument("--first-due", type=_date, required=True)
    plan.add_argument("--instalments", type=int, required=True)
    plan.add_argument("--agreed-on", type=_date, required=True)
    remind = sub.add_parser("remind", help="督促 batch of overdue receivables")
    remind.add_argument("--date", type=_date, default=dt.date.today())
    remind.add_argument("--print", action="store_true", help="render the 督促状 PDFs (names, addresses)")
    off = sub.add_parser("write-off", help="不納欠損 with an approval (admin)")
    off.add_argument("receivable_id", type=int)
    off.add_argument("--ground", required=True, choices=sorted(accounts.WRITE_OFF_GROUNDS))
    off.add_argument("--approval-id", required=True, help="決裁番号 / 議決 reference")
    off.add_argument("--date", type=_date, default=dt.date.today())
    off.add_argument("--invoked-on", type=_date, help="私債権: date the debtor invoked the 時効 (援用)")
    book = sub.add_parser("ledger", help="債権管理簿 and aging report (CSV)")
    book.add_argument("--as-of", type=_date, default=dt.date.today())
    for child in (issue, listing, show, pay, imp, plan, remind, off, book):
        add_operator_argument(child)
    parser.set_defaults(func=run)


ACTIONS = {"list": "view", "show": "view", "ledger": "view", "write-off": "admin"}


def run(args) -> int:
    """Dispatch to the sub-command inside one transaction, with its access record."""
    operator = authorise(args, ACTIONS.get(args.action, "run"), command=f"receivables {args.action}")
    settings = get_settings()
    # Imported here: alembic logs its plugin set-up on import, which would print on every kodomo command.
    from store.migrate import upgrade

    upgrade(settings.resolved_database_url)
    policy = load_policy()
    outbox = Path(settings.resolved_outbox_dir)
    run_id = f"cli-{uuid.uuid4()}"
    with session_scope(engine_for(settings.resolved_database_url)) as session:
        conn = session.connection()
        result, subjects, action = _dispatch(args, conn, policy, operator, outbox)
        if getattr(args, "print", False) and result.get("printed"):
            ring = load_key_ring(settings, create=False)
            printed = result.pop("printed")
            batch = documents.print_demands(session, ring, policy, printed["ids"], issue_date=printed["date"],
                                            home=Path(settings.home), operator_id=operator.operator_id,
                                            reminder=args.action == "remind", deadlines=printed.get("deadlines"))
            result["pdf"] = batch.as_dict()
        elif isinstance(result, dict):
            result.pop("printed", None)
        record_access(session, actor_id=operator.operator_id, action=action, purpose=f"receivables-{args.action}",
                      subject_ids=subjects, record_count=len(subjects), run_id=run_id,
                      approval_id=getattr(args, "approval_id", None))
    print(json.dumps(result, ensure_ascii=False, indent=1, default=str))
    return 0


def _persons(conn, receivable_ids: list[int]) -> list[str]:
    table = bm.Receivable.__table__
    if not receivable_ids:
        return []
    frame = read_frame(conn, table, ["person_id"], where=table.c.id.in_(receivable_ids))
    return sorted(set(frame["person_id"].dropna()))


def _dispatch(args, conn, policy, operator, outbox: Path) -> tuple[object, list[str], str]:
    who = operator.operator_id
    if args.action == "issue":
        ids = accounts.open_accounts(conn, policy=policy, notice_date=args.notice_date, operator_id=who)
        notices = ledger.ledger_frame(conn, as_of=args.notice_date)
        notices = notices[notices["id"].isin(ids)]
        name = ledger.write_notice_list(notices, outbox=outbox, notice_date=args.notice_date)
        return ({"issued": len(ids), "file": name, "printed": {"ids": ids, "date": args.notice_date}},
                _persons(conn, ids), "create")
    if args.action == "list":
        frame = ledger.ledger_frame(conn, as_of=args.as_of)
        if args.status:
            frame = frame[frame["status"] == args.status]
        rows = frame[["id", "kind", "amount", "paid_amount", "written_off_amount", "open_amount", "due_date",
                      "prescription_date", "reminder_count", "status"]].to_dict("records")
        return {"receivables": rows, "totals": ledger.totals(conn, as_of=args.as_of)}, _persons(
            conn, frame["id"].astype(int).tolist()), "read"
    if args.action == "show":
        return accounts.account(conn, args.receivable_id), _persons(conn, [args.receivable_id]), "read"
    if args.action == "record-payment":
        result = accounts.record_payment(conn, args.receivable_id, payment_ref=args.ref, paid_date=args.date,
                                         amount=args.amount, policy=policy, operator_id=who)
        return result, _persons(conn, [args.receivable_id]), "update"
    if args.action == "import-payments":
        return ledger.import_payments(conn, Path(args.file), policy=policy, operator_id=who), [], "update"
    if args.action == "plan":
        rows = accounts.plan(conn, args.receivable_id, first_due=args.first_due, instalments=args.instalments,
                             agreed_on=args.agreed_on, policy=policy, operator_id=who)
        return {"installments": rows}, _persons(conn, [args.receivable_id]), "update"
    if args.action == "remind":
        batch = accounts.remind(conn, today=args.date, policy=policy, operator_id=who)
        name = ledger.write_reminder_batch(batch, today=args.date, outbox=outbox) if len(batch) else None
        ids = batch["receivable_id"].astype(int).tolist()
        deadlines = dict(zip(ids, batch["deadline"], strict=True)) if len(batch) else {}
        return ({"reminders": int(len(batch)), "file": name,
                 "printed": {"ids": ids, "date": args.date, "deadlines": deadlines}}, _persons(conn, ids), "create")
    if args.action == "write-off":
        result = accounts.write_off(conn, args.receivable_id, ground=args.ground, approver=operator,
                                    approval_id=args.approval_id, today=args.date, invoked_on=args.invoked_on)
        return result, _persons(conn, [args.receivable_id]), "update"
    if args.action == "ledger":
        return ledger.write_ledger(conn, as_of=args.as_of, outbox=outbox), [], "read"
    raise ValueError(f"unknown action {args.action}")
