"""``kodomo leak affected``: who was touched by a run or time window, and the report deadlines (SEC-13)."""

from __future__ import annotations

import datetime as dt

from cli.support import add_operator_argument, authorise, parse_when


def register(subparsers) -> None:
    """Add the ``leak`` command."""
    parser = subparsers.add_parser("leak", help="leak readiness: affected persons and 速報/確報 dates")
    sub = parser.add_subparsers(dest="leak_command", required=True)
    affected = sub.add_parser("affected", help="persons (masked) and counts from the access records")
    add_operator_argument(affected)
    affected.add_argument("--run-id")
    affected.add_argument("--since", help="YYYY-MM-DD or ISO datetime (JST if no zone)")
    affected.add_argument("--until", help="YYYY-MM-DD (inclusive day) or ISO datetime (exclusive)")
    affected.add_argument("--action", action="append", choices=["read", "create", "update", "export", "delete",
                                                                 "print"], help="only these actions (repeatable)")
    affected.add_argument("--discovered", help="day the incident became known (default today, JST)")
    affected.add_argument("--unlawful", action="store_true", help="不正の目的 suspected (確報 +60 days)")
    affected.add_argument("--list", action="store_true", help="list every affected person (masked id)")
    affected.set_defaults(func=_affected)


def _affected(args) -> int:
    from cli.support import JST, open_engine
    from privacy.leak import affected_subjects, report_deadlines
    from privacy.masking import mask_id
    from store.db import session_scope

    authorise(args, "view", command="leak affected")
    if not (args.run_id or args.since or args.until):
        print("give --run-id or --since/--until")
        return 2
    engine = open_engine()
    with session_scope(engine) as session:
        found = affected_subjects(session, run_id=args.run_id, since=parse_when(args.since),
                                  until=parse_when(args.until, end=True),
                                  actions=set(args.action) if args.action else None)
    engine.dispose()
    discovered = dt.date.fromisoformat(args.discovered) if args.discovered else dt.datetime.now(JST).date()
    deadlines = report_deadlines(discovered, unlawful_purpose=args.unlawful)
    print(f"affected persons: {found.person_count}; records: {found.record_count}; "
          f"access records: {len(found.access_records)} {dict(sorted(found.actions.items()))}")
    other = report_deadlines(discovered, unlawful_purpose=not args.unlawful).kakuho_due
    print(f"知った日 {deadlines.discovered}; 速報 target {deadlines.sokuho_target} (+5 days); 確報 due "
          f"{deadlines.kakuho_due} ({'+60 days, 不正の目的' if deadlines.unlawful_purpose else '+30 days'}; "
          f"{'+30 days' if deadlines.unlawful_purpose else '+60 days if 不正の目的'}: {other})")
    if args.list:
        for person_id in found.person_ids:
            print(mask_id(person_id))
    return 0
