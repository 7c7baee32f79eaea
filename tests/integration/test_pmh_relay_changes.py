"""The relay: deletes with 異動日, per-person order, PMH schema rejections, intermediary errors.
Counts come from the simulator's own state."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import select

from devtools.pmh_synthetic import create_subjects
from devtools.pmh_testing import (
    fast_client,
    outbox_status_counts,
    sim_stats,
    sim_subjects,
    stored_pmh_ids,
)
from services.pmh.outbox import enqueue_changes
from services.pmh.payload import ProgramConfig
from services.pmh.relay import RelayOptions, relay_once
from store.db import session_scope
from store.models import PmhOutbox
from store.pmh_models import PmhSubject

OPTS = RelayOptions(senders=2, claim_batches=2, poll_interval_s=0.01, result_timeout_s=30)


def _answers(engine) -> dict[tuple[str, str, str | None], int]:
    """{(change type, outbox status, PMH's stored answer): rows}."""
    with engine.connect() as conn:
        rows = conn.execute(select(PmhOutbox.change_type, PmhOutbox.status, PmhOutbox.result)).all()
    out: dict = {}
    for row in rows:
        out[tuple(row)] = out.get(tuple(row), 0) + 1
    return out




def test_delete_with_event_date_and_per_person_order(engine, key_ring, sim):
    changes = create_subjects(engine, key_ring, 5)
    loss = changes.iloc[:2].assign(change_type="2", reason="LOSS_MOVE_OUT",
                                   event_date=pd.Timestamp("2026-08-20"), valid_to=pd.Timestamp("2026-08-20"))
    with session_scope(engine) as session:
        assert enqueue_changes(session, loss, "loss") == 2  # queued before the registrations are sent
    report = relay_once(engine, fast_client(sim.url), key_ring, OPTS)
    assert report.completed == 7
    subjects = sim_subjects(sim.url)
    assert subjects["0000000001"]["status"] == "DELETED" and subjects["0000000003"]["status"] == "REGISTERED"
    with engine.connect() as conn:
        states = dict(conn.execute(select(PmhSubject.person_id, PmhSubject.status)).all())
    assert states["0000000001"] == "DELETED" and states["0000000002"] == "DELETED"
    assert states["0000000004"] == "REGISTERED"
    assert sim_stats(sim.url)["tasks"] == 2  # the deletes waited for the registrations of the same persons
    # PMH's answer for each record is kept on its outbox row
    assert _answers(engine) == {("1", "COMPLETED", "REGISTERED"): 5, ("2", "COMPLETED", "DELETED"): 2}


def test_schema_rejection_marks_rows_rejected(engine, key_ring, sim):
    create_subjects(engine, key_ring, 3)
    options = RelayOptions(poll_interval_s=0.01, program=ProgramConfig(org_specific_certificate_type_id="BAD-ID"))
    report = relay_once(engine, fast_client(sim.url), key_ring, options)
    assert report.rejected == 3 and report.error_codes == {"PMH_string_pattern_mismatch": 3}
    assert outbox_status_counts(engine) == {"REJECTED": 3} and sim_stats(sim.url)["tasks"] == 0
    assert _answers(engine) == {("1", "REJECTED", None): 3}  # the request was refused: no record was answered


def test_record_errors_from_the_intermediary_step(engine, key_ring, sim):
    sim.sim.reconfigure(record_error_rate=0.3)
    create_subjects(engine, key_ring, 100)
    report = relay_once(engine, fast_client(sim.url), key_ring, OPTS)
    counts = outbox_status_counts(engine)
    assert 0 < counts["REJECTED"] < 100 and counts["REJECTED"] + counts["COMPLETED"] == 100
    assert report.error_codes == {"PMH_E_INTERMEDIARY_NO_MATCH": counts["REJECTED"]}
    assert len(stored_pmh_ids(engine, key_ring)) == counts["COMPLETED"]
    assert _answers(engine) == {("1", "REJECTED", "ERROR"): counts["REJECTED"],
                                ("1", "COMPLETED", "REGISTERED"): counts["COMPLETED"]}
