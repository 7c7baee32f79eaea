"""``kodomo benefits --month YYYY-MM --inbox DIR``: the benefit flow from the shell (same flow as Prefect)."""

from __future__ import annotations

import json


def register(subparsers) -> None:
    """Add the ``benefits`` command."""
    parser = subparsers.add_parser("benefits", help="assess the month's receipts, pay, claim back, write files")
    parser.add_argument("--month", required=True, help="processing month YYYY-MM")
    parser.add_argument("--inbox", required=True, help="directory with claims.csv / reimbursement_applications.csv")
    parser.add_argument("--operator", required=True, help="registered staff or service id")
    parser.add_argument("--transfer-date", help="取組日 of the 全銀 file, YYYY-MM-DD (default: the 25th)")
    parser.set_defaults(func=run)


def run(args) -> int:
    """Run the flow in this process (temporary Prefect server tied to it) and print its aggregate summary."""
    from cli.local_prefect import prefect_api
    from cli.support import run_flow
    from flows.benefits import benefit_run

    with prefect_api():
        summary = run_flow(benefit_run, month=args.month, inbox=args.inbox, operator_id=args.operator,
                           transfer_date=args.transfer_date)
    print(json.dumps(summary, ensure_ascii=False, indent=1))
    return 0
