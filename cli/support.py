"""Shared plumbing of the privacy commands (kodomo/commands/{keys,audit,purge,backup,export,operators,leak}).

Every command takes ``--operator ID`` (and optionally ``--proof``) and calls :func:`authorise` first: an
unknown, disabled, unauthorised or unproven operator is refused before anything else happens, and the
refusal is written to the access records when the database already has them. Commands that start a flow
go through :func:`run_flow`, which validates the parameters before Prefect stores any of them.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, inspect

from privacy.audit import record_refusal
from privacy.operators import (
    Operator,
    OperatorNotAuthorised,
    local_proof,
    require_operator,
    service_proof,
    verify_proof,
)

JST = ZoneInfo("Asia/Tokyo")


def add_operator_argument(parser) -> None:
    """``--operator ID`` (required)."""
    parser.add_argument("--operator", required=True, metavar="ID",
                        help="your staff user id (or the service principal) from the operator registry")
    add_proof_argument(parser)


def add_proof_argument(parser) -> None:
    """``--proof TOKEN``: a single-use proof from ``kodomo login`` (default: sign one with your key file)."""
    parser.add_argument("--proof", metavar="TOKEN", default=None,
                        help="single-use proof from 'kodomo login' (default: KODOMO_OPERATOR_PROOF_FILE, "
                             "or one signed with KODOMO_OPERATOR_KEY_FILE / <home>/credentials/<id>.key)")


def open_engine(settings=None) -> Engine:
    """The project database of ``settings`` with the privacy tables present."""
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
    """Require ``args.operator`` to be allowed ``action`` *and proven*; record and re-raise a refusal.

    The proof is ``--proof`` (from ``kodomo login``), else ``KODOMO_OPERATOR_PROOF_FILE``, else one minted
    for this command with the caller's own key file (``KODOMO_OPERATOR_KEY_FILE`` or
    ``<home>/credentials/<id>.key``; for a service principal, its key in the key directory).
    """
    try:
        proof = getattr(args, "proof", None) or local_proof(args.operator) or service_proof(args.operator)
        if not proof:
            require_operator(args.operator, action)  # an unknown id or a wrong role is named as such
            raise OperatorNotAuthorised(args.operator, action, "no proof of identity (see 'kodomo login')")
        return verify_proof(proof, args.operator, action)
    except OperatorNotAuthorised as refusal:
        record_refusal(args.operator, f"cli:{command}:{refusal.reason}"[:128])
        raise


def parse_when(text: str | None, *, end: bool = False) -> dt.datetime | None:
    """``YYYY-MM-DD`` (JST midnight; the next midnight when ``end``) or an ISO datetime (JST if naive)."""
    if text is None:
        return None
    if len(text) == 10:
        day = dt.date.fromisoformat(text) + (dt.timedelta(days=1) if end else dt.timedelta())
        return dt.datetime.combine(day, dt.time(), tzinfo=JST)
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=JST)


class InvalidParametersError(ValueError):
    """Flow parameters that do not match their pattern (the message names the parameters, never values)."""

    safe_message = True


def run_flow(flow, **parameters):
    """Validate ``parameters`` against ``flow``'s typed signature, *then* call it.

    Prefect stores a flow run's parameters (and the validation error, whose text quotes the input)
    before it validates them; a My Number typed into ``--operator`` would land in the Prefect database.
    Validating first keeps anything that does not match a parameter's pattern out of Prefect entirely
    (issue 14 §6). A deployment run is validated by the server (``enforce_parameter_schema``).
    """
    flows_logger = logging.getLogger("prefect.flows")  # it logs the rejected *input* on failure
    previous = flows_logger.disabled
    flows_logger.disabled = True
    try:
        flow.validate_parameters(parameters)
    except Exception as exc:  # noqa: BLE001 - ParameterTypeError / pydantic errors: names only leave
        names = sorted(set(re.findall(r"^ - (\w+)", str(exc), flags=re.MULTILINE))) or ["?"]
        raise InvalidParametersError(f"invalid parameter(s) {', '.join(names)} of {flow.name}; "
                                "see the flow's parameter patterns") from None
    finally:
        flows_logger.disabled = previous
    return flow(**parameters)
