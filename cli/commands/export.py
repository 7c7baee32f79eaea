"""``kodomo export``: transfers to other departments under a registered approval (SEC-10).

* ``kodomo export --operator ID --approval-id A --dataset NAME [--month YYYY-MM] [--out FILE]``
* ``kodomo export approve --operator ADMIN --approval-id A --purpose ... --datasets a,b --valid-until DATE``
* ``kodomo export revoke --operator ADMIN --approval-id A``
* ``kodomo export approvals --operator ID``
* ``kodomo export wipe --operator ID --file FILE`` (overwrite + unlink, with a deletion record)
* ``--passphrase-file F`` seals the export; ``kodomo export open --file X --passphrase-file F --out Y`` opens it
"""

from __future__ import annotations

import datetime as dt

from cli.support import add_operator_argument, add_proof_argument, authorise
from privacy.paths import confine


def register(subparsers) -> None:
    """Add the ``export`` command."""
    parser = subparsers.add_parser("export", help="export a dataset under a 情報管理者 approval")
    # not argparse-required here because the sub-commands take their own --operator; _export refuses None
    parser.add_argument("--operator", metavar="ID", help="your staff user id (required)")
    add_proof_argument(parser)
    parser.add_argument("--approval-id", help="registered approval (行政情報利用協議書) id")
    parser.add_argument("--dataset", help="dataset name (see 'kodomo export approvals' / docs/privacy.md)")
    parser.add_argument("--month", help="YYYY-MM for monthly datasets")
    parser.add_argument("--out", help="output CSV (default: <home>/exports/<dataset>-<approval>-<time>.csv)")
    parser.add_argument("--passphrase-file", help="seal the file (AES-256-GCM, scrypt) with the passphrase in "
                                                  "this file; the receiver opens it with 'kodomo export open'")
    parser.set_defaults(func=_export)
    sub = parser.add_subparsers(dest="export_command", required=False)
    approve = sub.add_parser("approve", help="register an approval (admin = 情報管理者)")
    add_operator_argument(approve)
    approve.add_argument("--approval-id", required=True)
    approve.add_argument("--purpose", required=True)
    approve.add_argument("--datasets", required=True, help="comma-separated dataset names")
    approve.add_argument("--valid-until", required=True, help="YYYY-MM-DD")
    approve.add_argument("--valid-from", help="YYYY-MM-DD (default today)")
    approve.add_argument("--requester", help="requesting section")
    approve.set_defaults(func=_approve)
    revoke = sub.add_parser("revoke", help="revoke an approval (admin)")
    add_operator_argument(revoke)
    revoke.add_argument("--approval-id", required=True)
    revoke.set_defaults(func=_revoke)
    listing = sub.add_parser("approvals", help="list approvals and datasets")
    add_operator_argument(listing)
    listing.set_defaults(func=_approvals)
    opener = sub.add_parser("open", help="decrypt a sealed export (receiving section)")
    add_operator_argument(opener)
    opener.add_argument("--file", required=True)
    opener.add_argument("--passphrase-file", required=True)
    opener.add_argument("--out", required=True, help="where to write the CSV (under <home>/exports)")
    opener.set_defaults(func=_open)
    wipe = sub.add_parser("wipe", help="wipe an export file (overwrite + unlink) and record it")
    add_operator_argument(wipe)
    wipe.add_argument("--file", required=True)
    wipe.set_defaults(func=_wipe)


def _export(args) -> int:
    from pathlib import Path

    from cli.support import open_engine
    from config.settings import get_settings
    from privacy.crypto import load_key_ring
    from privacy.transfer import DATASETS, export

    operator = authorise(args, "export", command="export")
    settings = get_settings()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = Path(args.out) if args.out else (
        settings.resolved_exports_dir / f"{args.dataset}-{args.approval_id}-{stamp}.csv")
    # an export is written under <home>/exports only (issue 14 §3)
    out = confine(out, "exports", actor_id=operator.operator_id, purpose="cli:export", settings=settings)
    engine = open_engine(settings)
    spec = DATASETS.get(args.dataset or "")
    ring = load_key_ring(settings, create=False) if spec and spec.name == "recipient-addresses" else None
    passphrase = Path(args.passphrase_file).read_text(encoding="utf-8").strip() if args.passphrase_file else None
    if passphrase is not None and not args.out:
        out = out.with_suffix(".csv.kenc")
    try:
        result = export(engine, actor_id=operator.operator_id, approval_id=args.approval_id,
                        dataset=args.dataset or "", out=out, ring=ring, month=args.month, passphrase=passphrase)
    finally:
        engine.dispose()
    print(f"exported {result.rows} rows ({result.persons} persons) to {result.path}")
    return 0


def _approve(args) -> int:
    from cli.support import open_engine
    from privacy.transfer import approve
    from store.db import session_scope

    operator = authorise(args, "admin", command="export approve")
    engine = open_engine()
    with session_scope(engine) as session:
        approve(session, approval_id=args.approval_id, approver_id=operator.operator_id, purpose=args.purpose,
                datasets=[d.strip() for d in args.datasets.split(",") if d.strip()],
                valid_until=dt.date.fromisoformat(args.valid_until),
                valid_from=dt.date.fromisoformat(args.valid_from) if args.valid_from else None,
                requester=args.requester)
    engine.dispose()
    print(f"approval {args.approval_id} registered by {operator.operator_id}")
    return 0


def _revoke(args) -> int:
    from cli.support import open_engine
    from store.db import session_scope
    from store.privacy_models import ExportApproval

    authorise(args, "admin", command="export revoke")
    engine = open_engine()
    with session_scope(engine) as session:
        approval = session.get(ExportApproval, args.approval_id)
        if approval is None:
            print(f"approval {args.approval_id} is not registered")
            return 1
        approval.revoked = True
    engine.dispose()
    print(f"approval {args.approval_id} revoked")
    return 0


def _approvals(args) -> int:
    from sqlalchemy import select

    from cli.support import open_engine
    from privacy.transfer import DATASETS
    from store.db import session_scope
    from store.privacy_models import ExportApproval

    authorise(args, "view", command="export approvals")
    print("datasets:")
    for spec in DATASETS.values():
        print(f"  {spec.name}: {spec.description} [{', '.join(spec.columns)}]")
    engine = open_engine()
    with session_scope(engine) as session:
        print("approvals:")
        for a in session.execute(select(ExportApproval).order_by(ExportApproval.approval_id)).scalars():
            state = "revoked" if a.revoked else f"{a.valid_from}..{a.valid_until}"
            print(f"  {a.approval_id}\t{a.approver_id}\t{a.datasets}\t{state}\t{a.purpose}")
    engine.dispose()
    return 0


def _open(args) -> int:
    from pathlib import Path

    from config.settings import get_settings
    from privacy.files import write_private_file
    from privacy.transfer import open_export

    operator = authorise(args, "view", command="export open")
    settings = get_settings()
    # both ends stay in the exchange areas: ``--out kodomo.db`` truncated the database (issue 14 §3)
    source = confine(args.file, "exports", "inbox", actor_id=operator.operator_id, purpose="cli:export open",
                     settings=settings, must_be_file=True)
    out = confine(args.out, "exports", actor_id=operator.operator_id, purpose="cli:export open", settings=settings)
    passphrase = Path(args.passphrase_file).read_text(encoding="utf-8").strip()
    data = open_export(source.read_bytes(), passphrase)
    write_private_file(out, data)
    print(f"opened {source.name} into {out}")
    return 0


def _wipe(args) -> int:

    from cli.support import open_engine
    from privacy.wipe import WIPE_METHOD, record_deletion, wipe_file
    from store.db import session_scope

    operator = authorise(args, "export", command="export wipe")
    # only export files and print lists can be wiped, never the key ring, the database or the anchors
    path = confine(args.file, "exports", "outbox", actor_id=operator.operator_id, purpose="cli:export wipe",
                   must_be_file=True)
    rows = max(path.read_bytes().count(b"\n") - 1, 0)
    engine = open_engine()
    with session_scope(engine) as session:
        wipe_file(path)
        record_deletion(session, operator_id=operator.operator_id, target="export-file",
                        content=f"export file {path.name}", record_count=rows, method=WIPE_METHOD)
    engine.dispose()
    print(f"wiped {path.name} ({rows} rows) and recorded the deletion")
    return 0
