"""``kodomo monthly --month YYYY-MM --inbox DIR [--full]``: the monthly flow from the shell (same flow as Prefect).

Without a configured ``PREFECT_API_URL`` the flow runs against a temporary Prefect server that cannot
outlive the command, with telemetry off (:mod:`cli.local_prefect`).
"""

from __future__ import annotations

import json


def register(subparsers) -> None:
    """Add the ``monthly`` command."""
    parser = subparsers.add_parser("monthly", help="run the monthly eligibility flow")
    parser.add_argument("--month", help="YYYY-MM (default: the previous month, Asia/Tokyo)")
    parser.add_argument("--inbox", help="inbox directory (default: <KODOMO_HOME>/inbox/<month>)")
    parser.add_argument("--operator", required=True, help="registered staff or service id")
    parser.add_argument("--full", action="store_true",
                        help="recompute every child, not only the changed ones and those a date of the month "
                             "crosses (the result is the same; for checks and after a repair)")
    parser.set_defaults(func=run)


def run(args) -> int:
    """Run the flow in this process and print its aggregate summary."""
    # Prefect is imported when a flow runs, not when the CLI starts (every command builds the parser).
    from cli.local_prefect import prefect_api
    from cli.support import run_flow
    from flows.monthly import monthly_run

    with prefect_api():
        summary = run_flow(monthly_run, month=args.month, inbox=args.inbox, operator_id=args.operator,
                           full=args.full)
    print(json.dumps(summary, ensure_ascii=False, indent=1))
    return 0
