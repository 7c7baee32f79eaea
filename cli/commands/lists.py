"""``kodomo notice-lists --month YYYY-MM --operator ID [--with-names]``: (re)write a month's staff lists.

The monthly run writes the lists without names. For mailing 受給者証 and notices, an operator prints the
named version on demand; it is recorded in the access records and written under ``print/`` — wipe it
with ``kodomo export wipe`` once printed.
"""

from __future__ import annotations

import json
import uuid


def register(subparsers) -> None:
    """Add the ``notice-lists`` command."""
    parser = subparsers.add_parser("notice-lists", help="write a month's 受給者証 / 支給停止 / 喪失 lists")
    parser.add_argument("--month", required=True, help="YYYY-MM")
    parser.add_argument("--operator", required=True, help="registered staff id (operator role)")
    parser.add_argument("--with-names", action="store_true", help="include 氏名, カナ and 住所 (for mailing)")
    parser.set_defaults(func=run)


def run(args) -> int:
    """Write the lists and print the row counts."""
    from cli.support import authorise
    from config.settings import get_settings
    from privacy.crypto import load_key_ring
    from privacy.paths import month_directory
    from services.notices import lists as export
    from store.db import engine_for, session_scope

    operator = authorise(args, "export" if args.with_names else "run", command="notice-lists").operator_id
    settings = get_settings()
    # the lists go to <outbox>/<month>/: a month like ../../x is refused and recorded (issue 14 §3)
    month_directory(args.month, "outbox", actor_id=operator, purpose="cli:notice-lists", settings=settings)
    ring = load_key_ring(settings, create=False) if args.with_names else None
    with session_scope(engine_for(settings)) as session:
        counts = export.export_month_lists(session, args.month, ring, settings.resolved_outbox_dir,
                                           operator_id=operator, run_id=f"cli-{uuid.uuid4()}",
                                           with_names=args.with_names)
    print(json.dumps(counts))
    return 0
