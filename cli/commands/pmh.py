"""PMH commands.

* ``kodomo pmh-sync [--operator ID] [--limit N]`` — drain the PMH outbox (the ``pmh-sync`` flow, in this
  process). Prints counts only.
"""

from __future__ import annotations

import json


def register(subparsers) -> None:
    """Add ``pmh-sync``."""
    sync = subparsers.add_parser("pmh-sync", help="send queued PMH registrations and collect PMH-IDs")
    sync.add_argument("--operator", default="system-scheduler", help="staff or system id (needs 'run')")
    sync.add_argument("--limit", type=int, default=None, help="at most this many new outbox rows")
    sync.set_defaults(func=_sync)


def _sync(args) -> int:
    # Prefect is imported when a flow runs, not when the CLI starts (every command builds the parser).
    from cli.local_prefect import prefect_api
    from cli.support import run_flow
    from flows.pmh_sync import pmh_sync

    with prefect_api():
        report = run_flow(pmh_sync, operator_id=args.operator, limit=args.limit)
    print(json.dumps(report, ensure_ascii=False))
    return 0
