"""Plain helpers shared by the move-in tests and the benchmark (nothing here runs in production).

The pytest fixtures that use them (``inquiry_simulator``, ``movein_env``) live in
``tests/integration/conftest.py``: no shipped or devtools module imports pytest.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, inspect, select

import store.movein_models  # noqa: F401 - registers the move-in tables
from config.settings import get_settings
from connectors import inquiry as iq
from flows.parameters import MoveInCase
from policy import load_policy
from privacy.crypto import load_key_ring
from services import runs
from services.movein import cases, service, steps
from store import migrate, models
from store.db import Base, engine_for, session_scope

AS_OF = dt.date(2026, 11, 2)
MOVE_IN = dt.date(2026, 10, 20)
INSURER = "01040013"

#: Tables a case or a batch may change (the run table and the access records are history, not state).
BUSINESS_TABLES = ("person", "resident_event", "tax_record", "insurance_coverage", "application",
                   "eligibility_period", "eligibility_reason_set", "recipient", "decision", "certificate", "pmh_outbox",
                   "movein_case", "income_source")


def snapshot(engine: Engine, tables=BUSINESS_TABLES) -> dict[str, list[tuple]]:
    """Every row of the business tables (sorted, without timestamps): proves "nothing changed"."""
    out = {}
    with engine.connect() as conn:
        for name in tables:
            table = models.Base.metadata.tables[name]
            columns = [c for c in table.c if c.name not in ("created_at", "opened_at", "updated_at", "recorded_at",
                                                           "assigned_at")]
            out[name] = sorted(tuple(str(v) for v in row) for row in conn.execute(select(*columns)).all())
    return out


def prepared_engine(url: str) -> Engine:
    """The process engine for ``url`` after migrations (schema from the models if none exist yet)."""
    migrate.ensure_upgraded(url)
    engine = engine_for(url)
    if not inspect(engine).has_table("person"):
        Base.metadata.create_all(engine)
    return engine


def movein_request(h, **kw) -> service.MoveInRequest:
    """A service request for ``h`` as of :data:`AS_OF` with the demo insurer."""
    kw.setdefault("insurer_number", INSURER)
    kw.setdefault("as_of", AS_OF)
    return service.MoveInRequest(operator_id=kw.pop("operator_id", "demo-operator"),
                                 person_id=kw.pop("person_id", h.child_ids[0]), **kw)


def open_demo_case(person_id: str, operator_id: str = "demo-operator", engine=None,
                   application_date: dt.date | str = AS_OF) -> str:
    """Open (or find) the move-in case of ``person_id`` as ``kodomo move-in open`` does; returns its id."""
    settings = get_settings()
    if isinstance(application_date, str):
        application_date = dt.date.fromisoformat(application_date)
    with session_scope(engine or engine_for(settings)) as s:
        row, _ = cases.open_case(s, person_id=person_id, operator_id=operator_id, ring=load_key_ring(settings),
                                 application_date=application_date)
        return row.case_id


def movein_case(h, **kw) -> MoveInCase:
    """The ``move-in`` flow's form for ``h`` as of :data:`AS_OF` (demo insurer; PMH left to the next sync).

    The form names the person by case id only (issue 14): the case of ``person_id`` (default the first
    child) is opened first, unless ``case_id`` is given.
    """
    kw.setdefault("insurer_number", INSURER)
    kw.setdefault("as_of", AS_OF)
    kw.setdefault("send_to_pmh", False)
    operator_id = kw.pop("operator_id", "demo-operator")
    person_id = kw.pop("person_id", h.child_ids[0])
    case_id = kw.pop("case_id", None) or open_demo_case(
        person_id, operator_id, application_date=kw.get("application_date") or kw["as_of"])
    return MoveInCase(operator_id=operator_id, case_id=case_id, **kw)


def record_demo_consent(engine, h, consent_id="CN-1", **kw) -> None:
    """Record a consent of the guardian of ``h`` to the 中間サーバ income inquiry."""
    with session_scope(engine) as s:
        cases.record_consent(s, consent_id=consent_id, household_id=h.household_id, person_id=h.guardian_id,
                             consent_date=kw.pop("consent_date", AS_OF), scope=kw.pop("scope", "income_inquiry"),
                             recorded_by="demo-operator", **kw)


def registered_household(env):
    """Household 1 moved in and was determined: set up through the move-in services (file connectors)."""
    h, policy = env["known"], load_policy()
    request = movein_request(h, income_source="not_yet")
    with runs.run_scope(env["engine"], flow_name="test-setup", operator_id=request.operator_id,
                        policy_version=policy.version) as run:
        context = steps.resolve_case(request, policy, run.run_id)
        gathered = steps.run_inquiries(context, request, policy, run.run_id,
                                       connectors=iq.file_connectors(env["inquiry_dir"]))
        steps.apply_case(gathered, policy, run.run_id, request.operator_id)
    return h


def decision_set(engine) -> set:
    """Every stored (person_id, decision_type)."""
    with engine.connect() as conn:
        return set(conn.execute(select(models.Decision.person_id, models.Decision.decision_type)).all())


def outbox_set(engine) -> set:
    """Every PMH outbox row as (person_id, change_type, reason, event_date)."""
    with engine.connect() as conn:
        return set(conn.execute(select(models.PmhOutbox.person_id, models.PmhOutbox.change_type,
                                       models.PmhOutbox.reason, models.PmhOutbox.event_date)).all())
