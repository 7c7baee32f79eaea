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
    from config.settings import get_settings
    from privacy.crypto import load_key_ring
    from privacy.operators import require_operator
    from services.notices import lists as export
    from store.db import engine_for, session_scope

    require_operator(args.operator, "export" if args.with_names else "run")
    settings = get_settings()
    ring = load_key_ring(settings, create=False) if args.with_names else None
    with session_scope(engine_for(settings)) as session:
        counts = export.export_month_lists(session, args.month, ring, settings.resolved_outbox_dir,
                                           operator_id=args.operator, run_id=f"cli-{uuid.uuid4()}",
                                           with_names=args.with_names)
    print(json.dumps(counts))
    return 0
