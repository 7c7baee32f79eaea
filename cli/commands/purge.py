"""``kodomo purge``: apply the retention rules and wipe old export files (SEC-09)."""

from __future__ import annotations

import datetime as dt

from cli.support import add_operator_argument, authorise


def register(subparsers) -> None:
    """Add the ``purge`` command."""
    parser = subparsers.add_parser("purge", help="delete data past its retention period (admin)")
    add_operator_argument(parser)
    parser.add_argument("--rules", help="retention YAML (default: KODOMO_RETENTION_FILE or the packaged rules)")
    parser.add_argument("--today", help="as-of date YYYY-MM-DD (default: today, UTC)")
    parser.add_argument("--dry-run", action="store_true", help="count only")
    parser.set_defaults(func=_purge)


def _purge(args) -> int:
    from pathlib import Path

    from cli.support import open_engine
    from config.settings import get_settings
    from privacy.retention import load_retention, purge, wipe_old_exports

    operator = authorise(args, "admin", command="purge")
    settings = get_settings()
    policy = load_retention(args.rules)
    engine = open_engine(settings)
    today = dt.date.fromisoformat(args.today) if args.today else None
    outcome = purge(engine, policy, operator_id=operator.operator_id, today=today, dry_run=args.dry_run)
    for label, count in outcome.counts.items():
        print(f"{label}: {count} {'would be ' if args.dry_run else ''}purged")
    for label in outcome.skipped:
        print(f"{label}: skipped (table not present)")
    if not args.dry_run:
        wiped = wipe_old_exports(engine, Path(settings.home) / "exports", policy.export_file_days,
                                 operator_id=operator.operator_id)
        print(f"export files wiped: {len(wiped)}")
    engine.dispose()
    return 0
