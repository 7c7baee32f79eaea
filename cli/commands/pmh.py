"""PMH commands.

* ``kodomo pmh-sync [--operator ID] [--limit N] [--no-prefect]`` — drain the PMH outbox (the ``pmh-sync``
  flow; ``--no-prefect`` runs the same steps without Prefect). Prints counts only.
"""

from __future__ import annotations

import json


def register(subparsers) -> None:
    """Add ``pmh-sync``."""
    sync = subparsers.add_parser("pmh-sync", help="send queued PMH registrations and collect PMH-IDs")
    sync.add_argument("--operator", default="system-scheduler", help="staff or system id (needs 'run')")
    sync.add_argument("--limit", type=int, default=None, help="at most this many new outbox rows")
    sync.add_argument("--no-prefect", action="store_true", help="run the steps without Prefect")
    sync.set_defaults(func=_sync)


def _sync(args) -> int:
    if args.no_prefect:
        from cli.support import authorise
        from services.pmh import sync as steps

        operator = authorise(args, "run", command="pmh-sync").operator_id
        run_id = steps.begin_run(operator)
        try:
            report = steps.send_outbox(run_id, operator, args.limit)
        except BaseException:
            steps.finish_run(run_id, "FAILED", {})
            raise
        steps.finish_run(run_id, "COMPLETED", report)
    else:
        from cli.support import run_flow
        from flows.pmh_sync import pmh_sync

        report = run_flow(pmh_sync, operator_id=args.operator, limit=args.limit)
    print(json.dumps(report, ensure_ascii=False))
    return 0
