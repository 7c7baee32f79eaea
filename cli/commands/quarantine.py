"""``kodomo quarantine --month YYYY-MM [--file NAME] --operator ID``: the month's quarantined input rows.

For the staff who fix the sender's files: file, line, column, check, masked value and the reason in Japanese,
tab-separated. Viewer role; every listing is written to the access records (privacy.audit.record_access).
"""

from __future__ import annotations

import uuid

from cli.support import add_operator_argument, authorise, open_engine
from privacy.audit import record_access
from services.intake.quarantine import month_quarantine
from store.db import session_scope

HEADER = ["ファイル", "行", "項目", "検査", "値（マスク）", "理由"]


def register(subparsers) -> None:
    """Add the ``quarantine`` command."""
    parser = subparsers.add_parser("quarantine", help="list a month's quarantined input rows (viewer)")
    parser.add_argument("--month", required=True, help="YYYY-MM: the month whose runs read the files")
    parser.add_argument("--file", help="only this input file, e.g. residents.csv")
    add_operator_argument(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    """Print the rows and record the listing."""
    operator = authorise(args, "view", command="quarantine")
    engine = open_engine()
    try:
        with session_scope(engine) as session:
            rows = month_quarantine(session.connection(), args.month, args.file)
            record_access(session, actor_id=operator.operator_id, action="read", purpose="quarantine-listing",
                          subject_ids=[], record_count=int(len(rows)), run_id=f"cli-{uuid.uuid4()}")
    finally:
        engine.dispose()
    print("\t".join(HEADER))
    for row in rows.itertuples(index=False):
        masked = "" if row.masked_value is None or row.masked_value != row.masked_value else row.masked_value
        print(f"{row.file_name}\t{row.row_number}\t{row.column_name}\t{row.check_name}\t{masked}\t{row.reason_ja}")
    print(f"{len(rows)} 件")
    return 0
