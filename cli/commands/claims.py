"""``kodomo claims ...``: UKE bills of 国保連 / 支払基金 (docs/formats/uke.md).

* ``ingest DIR`` — read every ``*.UKE`` in DIR, check and book it (a bad file is refused whole and named;
  the other files are still read; the same file twice changes nothing);
* ``close --payer P --month M --paid-on D`` — pay the bill (approved − reversals) and write the 請求内訳;
* ``withdraw CLAIM_ID --payer P --month M`` — 取下げ, reversed in the bill of M;
* ``review --month M`` — the review list and the 過誤/再審査 requests of M (CSV).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

from cli.support import add_operator_argument, authorise
from config.settings import get_settings
from connectors.uke import PAYERS, UkeFileError, read_uke
from policy import load_policy
from privacy.audit import record_access
from privacy.crypto import load_key_ring
from services.claims import bill, check
from store.db import engine_for, session_scope


def register(subparsers) -> None:
    """Add ``claims`` and its sub-commands."""
    parser = subparsers.add_parser("claims", help="UKE bills: ingest, close and pay, 取下げ, review lists")
    sub = parser.add_subparsers(dest="action", required=True)
    ingest = sub.add_parser("ingest", help="read and book every .UKE file of a directory")
    ingest.add_argument("directory")
    close = sub.add_parser("close", help="pay a bill and write its 請求内訳 CSV")
    close.add_argument("--payer", required=True, choices=sorted(PAYERS.values()))
    close.add_argument("--month", required=True, help="請求年月 YYYY-MM")
    close.add_argument("--paid-on", type=dt.date.fromisoformat, required=True)
    withdraw = sub.add_parser("withdraw", help="取下げ of one receipt, reversed in the bill of --month")
    withdraw.add_argument("claim_id")
    withdraw.add_argument("--payer", required=True, choices=sorted(PAYERS.values()))
    withdraw.add_argument("--month", required=True)
    review = sub.add_parser("review", help="review list and 過誤/再審査 requests of a month")
    review.add_argument("--month", required=True)
    for child in (ingest, close, withdraw, review):
        add_operator_argument(child)
    parser.set_defaults(func=run)


def run(args) -> int:
    """Run one sub-command (one transaction per file or bill) and print aggregate counts."""
    operator = authorise(args, "view" if args.action == "review" else "run", command=f"claims {args.action}")
    settings = get_settings()
    # Imported here: alembic logs its plugin set-up on import, which would print on every kodomo command.
    from store.migrate import upgrade

    upgrade(settings.resolved_database_url)
    engine = engine_for(settings.resolved_database_url)
    outbox = Path(settings.resolved_outbox_dir)
    run_id = f"cli-{uuid.uuid4()}"
    results, failed = [], 0
    if args.action == "ingest":
        policy, ring = load_policy(), load_key_ring(settings, create=False)
        city = check.city_payer_numbers(policy)
        for path in sorted(Path(args.directory).iterdir()):
            if path.suffix.upper() != ".UKE":
                continue
            try:
                uke = read_uke(path, city)
            except UkeFileError as exc:  # refused whole; the other files are still read
                results.append({"file": path.name, "refused": str(exc)})
                failed += 1
                continue
            with session_scope(engine) as session:
                counts = bill.ingest_file(session.connection(), uke, policy=policy, ring=ring, run_id=run_id)
                record_access(session, actor_id=operator.operator_id, action="create", purpose="uke-ingest",
                              subject_ids=[], record_count=int(len(uke.receipts)), run_id=run_id)
            results.append(counts)
    else:
        with session_scope(engine) as session:
            conn = session.connection()
            if args.action == "close":
                results.append(bill.close_bill(conn, args.payer, args.month, paid_on=args.paid_on, outbox=outbox,
                                               run_id=run_id))
            elif args.action == "withdraw":
                results.append({"reversals": bill.withdraw(conn, args.claim_id, payer=args.payer, month=args.month,
                                                           run_id=run_id)})
            else:
                results.append(bill.write_review_lists(conn, args.month, outbox))
            record_access(session, actor_id=operator.operator_id, action="read" if args.action == "review"
                          else "update", purpose=f"uke-{args.action}", subject_ids=[], record_count=len(results),
                          run_id=run_id)
    engine.dispose()
    print(json.dumps(results, ensure_ascii=False, indent=1, default=str))
    return 1 if failed else 0
