"""Helpers shared by the move-in tests and the benchmark (nothing here runs in production)."""

from __future__ import annotations

from sqlalchemy import Engine, select

from store import models

#: Tables a case or a batch may change (the run table and the access records are history, not state).
BUSINESS_TABLES = ("person", "resident_event", "tax_record", "insurance_coverage", "application",
                   "eligibility_period", "recipient", "decision", "certificate", "pmh_outbox",
                   "movein_case", "income_source")


def snapshot(engine: Engine, tables=BUSINESS_TABLES) -> dict[str, list[tuple]]:
    """Every row of the business tables (sorted, without timestamps): proves "nothing changed"."""
    import store.movein_models  # noqa: F401

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
    from sqlalchemy import inspect

    import store.models  # noqa: F401 - registers every table
    from services.movein import steps
    from store.db import Base, engine_for

    steps.prepare_database()
    engine = engine_for(url)
    if not inspect(engine).has_table("person"):
        Base.metadata.create_all(engine)
    return engine


# -- pytest fixtures (imported by name into the move-in test modules) ----------------------------------
try:
    import pytest
except ImportError:  # pragma: no cover - production installs have no pytest
    pytest = None

if pytest is not None:
    import datetime as dt

    AS_OF = dt.date(2026, 11, 2)
    MOVE_IN = dt.date(2026, 10, 20)
    INSURER = "01040013"

    @pytest.fixture(scope="module")
    def inquiry_simulator():
        """The inquiry simulator on a free loopback port for the module."""
        from devtools import inquiry_sim

        with inquiry_sim.serve_in_thread() as running:
            yield running

    @pytest.fixture
    def movein_env(kodomo_env, tmp_path, inquiry_simulator):
        """A fresh database (both dialects via ``db_url``), two synthetic households behind the simulator.

        Household 1 knows its previous city in the registry; household 2 does not (住基ネット has it).
        """
        from connectors import inquiry as iq
        from devtools import inquiry_sim
        from devtools import movein_demo as demo

        engine = prepared_engine(kodomo_env.resolved_database_url)
        known = demo.demo_household(1, move_in_date=MOVE_IN)
        unknown = demo.demo_household(2, move_in_date=MOVE_IN, known_previous_city=False)
        directory = demo.write_inquiry_dir(tmp_path / "inquiry", [known, unknown])
        inquiry_simulator.sim.reset()
        inquiry_simulator.sim.data = inquiry_sim.InquiryData.from_directory(directory)
        options = iq.HttpOptions(timeout=(2.0, 5.0), retries=2, backoff_factor=0.01, retry_after_max=1)
        return {
            "engine": engine, "sim": inquiry_simulator.sim, "url": inquiry_simulator.base_url, "tmp": tmp_path,
            "connectors": iq.http_connectors(inquiry_simulator.base_url, options=options),
            "known": known, "unknown": unknown, "inquiry_dir": directory, "settings": kodomo_env,
        }

    def movein_request(h, **kw):
        """A request for ``h`` as of :data:`AS_OF` with the demo insurer."""
        from services.movein import service

        kw.setdefault("insurer_number", INSURER)
        kw.setdefault("as_of", AS_OF)
        return service.MoveInRequest(operator_id=kw.pop("operator_id", "demo-operator"),
                                     person_id=kw.pop("person_id", h.child_ids[0]), **kw)

    def record_demo_consent(engine, h, consent_id="CN-1", **kw):
        """Record a consent of the guardian of ``h`` to the 中間サーバ income inquiry."""
        from services.movein import cases
        from store.db import session_scope

        with session_scope(engine) as s:
            cases.record_consent(s, consent_id=consent_id, household_id=h.household_id, person_id=h.guardian_id,
                                 consent_date=kw.pop("consent_date", AS_OF), scope=kw.pop("scope", "income_inquiry"),
                                 recorded_by="demo-operator", **kw)


def registered_household(env):
    """Household 1 moved in and was determined (file connectors: no HTTP needed)."""
    from connectors import inquiry as iq
    from services.movein import steps

    h = env["known"]
    steps.run_move_in(movein_request(h, income_source="not_yet"), connectors=iq.file_connectors(env["inquiry_dir"]),
                      notices=False)
    return h


def decision_set(engine) -> set:
    """Every stored (person_id, decision_type)."""
    from sqlalchemy import select

    from store import models

    with engine.connect() as conn:
        return set(conn.execute(select(models.Decision.person_id, models.Decision.decision_type)).all())


def outbox_set(engine) -> set:
    """Every PMH outbox row as (person_id, change_type, reason, event_date)."""
    from sqlalchemy import select

    from store import models

    with engine.connect() as conn:
        return set(conn.execute(select(models.PmhOutbox.person_id, models.PmhOutbox.change_type,
                                       models.PmhOutbox.reason, models.PmhOutbox.event_date)).all())
