"""``kodomo audit verify|anchor|report``: the access records (取扱いの記録; SEC-07, SEC-08)."""

from __future__ import annotations

import datetime as dt

from cli.support import add_operator_argument, authorise, parse_when


def register(subparsers) -> None:
    """Add the ``audit`` command."""
    parser = subparsers.add_parser("audit", help="access records: verify the chain, report anomalies")
    sub = parser.add_subparsers(dest="audit_command", required=True)
    verify = sub.add_parser("verify", help="verify the hash chain against the external anchor, then re-anchor")
    add_operator_argument(verify)
    verify.set_defaults(func=_verify)
    anchor = sub.add_parser("anchor", help="verify and write the head to <home>/audit-anchor (admin)")
    add_operator_argument(anchor)
    anchor.set_defaults(func=_anchor)
    report = sub.add_parser("report", help="access records with out-of-hours, bulk and out-of-role flags")
    add_operator_argument(report)
    report.add_argument("--since", help="YYYY-MM-DD or ISO datetime (JST if no zone)")
    report.add_argument("--until", help="YYYY-MM-DD (inclusive day) or ISO datetime (exclusive)")
    report.add_argument("--office-start", default="08:30", help="office hours start, JST (default 08:30)")
    report.add_argument("--office-end", default="18:00", help="office hours end, JST (default 18:00)")
    report.add_argument("--include-weekends", action="store_true", help="do not flag Saturday/Sunday")
    report.add_argument("--bulk-threshold", type=int, default=1000)
    report.add_argument("--all", action="store_true", help="list unflagged records too")
    report.set_defaults(func=_report)


def _run_verify(args, *, command: str, action: str) -> int:
    from cli.support import open_engine
    from config.settings import get_settings
    from privacy.anchor import verify_and_anchor

    operator = authorise(args, action, command=command)
    settings = get_settings()
    engine = open_engine(settings)
    outcome = verify_and_anchor(settings, engine, actor_id=operator.operator_id)
    engine.dispose()
    report = outcome.report
    if outcome.ok:
        print(f"access records OK: {report.rows} rows, head seq {report.last_seq} {report.last_hash[:16]}…; "
              f"anchored at {outcome.anchored['anchored_at']}")
        return 0
    print(f"access records TAMPERED: {len(report.problems)} problem(s); first at seq {report.first_bad_seq}; "
          "the anchor was NOT moved")
    for problem in report.problems[:50]:
        print(f"  seq {problem.seq}: {problem.kind}: {problem.detail}")
    return 2


def _verify(args) -> int:
    return _run_verify(args, command="audit verify", action="view")


def _anchor(args) -> int:
    return _run_verify(args, command="audit anchor", action="admin")


def _report(args) -> int:
    from cli.support import open_engine
    from privacy.report import ReportRules, access_report
    from store.db import session_scope

    authorise(args, "view", command="audit report")
    rules = ReportRules(dt.time.fromisoformat(args.office_start), dt.time.fromisoformat(args.office_end),
                        not args.include_weekends, args.bulk_threshold)
    engine = open_engine()
    with session_scope(engine) as session:
        rows = access_report(session, since=parse_when(args.since), until=parse_when(args.until, end=True),
                             rules=rules, flagged_only=not args.all)
    engine.dispose()
    print("seq\toccurred_at_jst\tactor\trole\taction\tcount\toutcome\tflags\tpurpose")
    for r in rows:
        print(f"{r.seq}\t{r.occurred_at_jst}\t{r.actor_id}\t{r.actor_role}\t{r.action}\t{r.record_count}\t"
              f"{r.outcome}\t{','.join(r.flags) or '-'}\t{r.purpose}")
    flagged = sum(1 for r in rows if r.flags)
    print(f"{flagged} flagged record(s) of {len(rows)} listed")
    return 0
