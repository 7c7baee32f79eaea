"""Shared plumbing of the privacy commands (kodomo/commands/{keys,audit,purge,backup,export,operators,leak}).

Every command takes ``--operator ID`` and calls :func:`authorise` first; an unknown, disabled or
unauthorised operator is refused before anything else happens (and the refusal is written to the access
records when the database already has them).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, inspect

from privacy.operators import Operator, OperatorNotAuthorised, require_operator

JST = ZoneInfo("Asia/Tokyo")


def add_operator_argument(parser) -> None:
    """``--operator ID`` (required)."""
    parser.add_argument("--operator", required=True, metavar="ID",
                        help="your staff user id (or the service principal) from the operator registry")


def open_engine(settings=None) -> Engine:
    """The project database of ``settings`` (default: the configured one) with the privacy tables present."""
    from store.db import engine_for

    engine = engine_for(settings)
    ensure_privacy_schema(engine)
    return engine


def ensure_privacy_schema(engine: Engine, *, migrate: bool = False) -> None:
    """Run the migrations (if asked), then create any missing privacy table and the append-only guards."""
    if migrate:
        from store.migrate import upgrade

        upgrade(engine.url.render_as_string(hide_password=False))
    import store.models  # noqa: F401
    from store import privacy_models

    tables = [privacy_models.AccessRecord.__table__, privacy_models.AccessChainHead.__table__,
              privacy_models.ExportApproval.__table__, privacy_models.DeletionRecord.__table__]
    existing = set(inspect(engine).get_table_names())
    missing = [t for t in tables if t.name not in existing]
    if missing:
        from store.db import Base

        Base.metadata.create_all(engine, tables=missing)
    with engine.begin() as conn:  # idempotent: re-creates a dropped guard
        from sqlalchemy import text

        for statement in privacy_models.append_only_guard_statements(engine.dialect.name):
            conn.execute(text(statement))


def authorise(args, action: str, *, command: str) -> Operator:
    """Require ``args.operator`` to be allowed ``action``; record and re-raise a refusal."""
    try:
        return require_operator(args.operator, action)
    except OperatorNotAuthorised:
        _record_refusal(args.operator, command)
        raise


def _record_refusal(operator_id: str, command: str) -> None:
    try:
        from config.settings import get_settings
        from privacy.audit import record_access
        from store.db import engine_for, session_scope

        engine = engine_for(get_settings())
        try:
            if "access_record" not in set(inspect(engine).get_table_names()):
                return
            with session_scope(engine) as session:
                record_access(session, actor_id=operator_id or "-", action="read", purpose=f"cli:{command}",
                              subject_ids=[], record_count=0, outcome="refused")
        finally:
            engine.dispose()
    except Exception:  # noqa: BLE001 - the refusal itself must never be masked by a recording problem
        return


def parse_when(text: str | None, *, end: bool = False) -> dt.datetime | None:
    """``YYYY-MM-DD`` (JST midnight; the next midnight when ``end``) or an ISO datetime (JST if naive)."""
    if text is None:
        return None
    if len(text) == 10:
        day = dt.date.fromisoformat(text) + (dt.timedelta(days=1) if end else dt.timedelta())
        return dt.datetime.combine(day, dt.time(), tzinfo=JST)
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=JST)
