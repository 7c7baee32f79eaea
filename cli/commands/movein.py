"""Move-in cases and resident changes from the shell.

* ``kodomo move-in consent --operator ID --consent-id C --household H --person P --date D [--scope S]
  [--tax-year Y] [--case-id X]`` — record the person's consent to the 中間サーバ income inquiry.
* ``kodomo move-in run --operator ID (--case-id X | --person P) --income-source {certificate,inquiry,not_yet}
  [--certificate FILE] [--consent-id C] [--insurer-number N] …`` — the ``move-in`` flow (same flow as the
  Prefect deployment), in this process.
* ``kodomo resident-changes --operator ID --events FILE_OR_DIR`` — the ``resident-changes`` flow.

Output is aggregate JSON with masked ids only.
"""

from __future__ import annotations

import datetime as dt
import json

from config.settings import get_settings
from privacy.audit import record_access
from services.movein import cases
from store import migrate
from store.db import engine_for, session_scope


def _date(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def register(subparsers) -> None:
    """Add ``move-in`` and ``resident-changes``."""
    movein = subparsers.add_parser("move-in", help="move-in (転入) cases: record a consent, run a case")
    sub = movein.add_subparsers(dest="movein_command", required=True)

    consent = sub.add_parser("consent", help="record a consent to the 中間サーバ income inquiry")
    consent.add_argument("--operator", required=True, help="your staff user id")
    consent.add_argument("--consent-id", required=True)
    consent.add_argument("--household", required=True, help="世帯番号 (10 digits)")
    consent.add_argument("--person", required=True, help="宛名番号 of the person who consented")
    consent.add_argument("--date", required=True, type=_date, help="consent date YYYY-MM-DD")
    consent.add_argument("--scope", default="income_inquiry", help="comma-separated scopes")
    consent.add_argument("--tax-year", type=int, action="append", default=[], help="課税年度 (repeatable)")
    consent.add_argument("--case-id")
    consent.set_defaults(func=_consent)

    run = sub.add_parser("run", help="run a move-in case (the move-in flow)")
    run.add_argument("--operator", required=True, help="your staff user id")
    run.add_argument("--case-id")
    run.add_argument("--person", help="宛名番号 of a household member (never a My Number)")
    run.add_argument("--income-source", required=True, choices=["certificate", "inquiry", "not_yet"])
    run.add_argument("--certificate", help="transcribed 所得証明書 CSV (tax.csv layout)")
    run.add_argument("--consent-id")
    run.add_argument("--previous-municipality", help="全国地方公共団体コード (6 digits), if known")
    run.add_argument("--insurer-number", help="保険者番号 of the children's insurance")
    run.add_argument("--insured-type", default="2", choices=["1", "2"])
    run.add_argument("--application-date", type=_date)
    run.add_argument("--as-of", type=_date, help="processing date (default today)")
    run.add_argument("--no-pmh", action="store_true", help="leave the PMH rows for the next sync")
    run.set_defaults(func=_run)

    changes = subparsers.add_parser("resident-changes", help="process a batch of 異動 events")
    changes.add_argument("--operator", required=True, help="staff or service id")
    changes.add_argument("--events", required=True, help="resident_events.csv, or a directory of them")
    changes.add_argument("--as-of", type=_date, help="processing date (default today)")
    changes.add_argument("--no-pmh", action="store_true")
    changes.set_defaults(func=_changes)


def _consent(args) -> int:
    from cli.support import authorise  # noqa: PLC0415 - cli.support imports the command helpers lazily too

    operator = authorise(args, "run", command="move-in consent").operator_id
    settings = get_settings()
    migrate.ensure_upgraded(settings.resolved_database_url)
    with session_scope(engine_for(settings)) as session:
        row = cases.record_consent(session, consent_id=args.consent_id, household_id=args.household,
                                   person_id=args.person, consent_date=args.date, scope=args.scope,
                                   recorded_by=operator, case_id=args.case_id, tax_years=tuple(args.tax_year))
        record_access(session, actor_id=operator, action="create", purpose="move-in:consent",
                      subject_ids=[args.person], record_count=1, approval_id=args.consent_id)
        print(json.dumps({"consent_id": row.consent_id, "scope": row.scope,
                          "consent_date": row.consent_date.isoformat()}))
    return 0


def _run(args) -> int:
    # Prefect is imported when a flow runs, not when the CLI starts (every command builds the parser).
    from cli.local_prefect import prefect_api
    from cli.support import run_flow
    from flows.movein import move_in
    from flows.parameters import MoveInCase

    case = MoveInCase(
        case_id=args.case_id, person_id=args.person, operator_id=args.operator, income_source=args.income_source,
        certificate_path=args.certificate, consent_id=args.consent_id,
        previous_municipality_code=args.previous_municipality, insurer_number=args.insurer_number,
        insured_type_code=args.insured_type, application_date=args.application_date, as_of=args.as_of,
        send_to_pmh=not args.no_pmh)
    with prefect_api():
        summary = run_flow(move_in, case=case)
    print(json.dumps(summary, ensure_ascii=False, indent=1))
    return 0


def _changes(args) -> int:
    from cli.local_prefect import prefect_api
    from cli.support import run_flow
    from flows.resident_changes import resident_changes

    with prefect_api():
        summary = run_flow(resident_changes, events_file=args.events, operator_id=args.operator, as_of=args.as_of,
                           send_to_pmh=not args.no_pmh)
    print(json.dumps(summary, ensure_ascii=False, indent=1, default=str))
    return 0
