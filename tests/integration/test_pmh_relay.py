"""The outbox relay against the loopback simulator (SQLite and PostgreSQL): PMH-IDs, idempotent
enqueue, validation before sending.
Counts come from the simulator's own state."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import select, update

from devtools.pmh_synthetic import create_subjects
from devtools.pmh_testing import (
    fast_client,
    outbox_status_counts,
    result_count,
    sim_stats,
    sim_subjects,
    stored_pmh_ids,
)
from services.pmh.outbox import enqueue_changes
from services.pmh.relay import RelayOptions, relay_once
from store.db import session_scope
from store.models import Person, PmhOutbox, Recipient
from store.pmh_models import PmhSubject

OPTS = RelayOptions(senders=2, claim_batches=2, poll_interval_s=0.01, result_timeout_s=30)




def test_happy_path_stores_encrypted_pmh_ids(engine, key_ring, sim):
    create_subjects(engine, key_ring, 250)
    limited = relay_once(engine, fast_client(sim.url), key_ring, RelayOptions(**{**OPTS.__dict__, "limit": 120}))
    assert limited.claimed == 120 and limited.completed == 120 and limited.batches_sent == 2
    report = relay_once(engine, fast_client(sim.url), key_ring, OPTS)
    assert report.claimed == 130 and report.completed == 130 and report.batches_sent == 2
    assert outbox_status_counts(engine) == {"COMPLETED": 250}
    ids = stored_pmh_ids(engine, key_ring)
    assert ids == {k: v["pmhId"] for k, v in sim_subjects(sim.url).items()}
    assert len(set(ids.values())) == 250 and result_count(engine) == 250
    with engine.connect() as conn:
        blob = bytes(conn.execute(select(PmhSubject.pmh_id_enc).limit(1)).scalar_one())
    assert not any(pmh_id.encode() in blob for pmh_id in ids.values())
    stats = sim_stats(sim.url)
    assert stats["records_applied"] == 250 and stats["duplicates"] == 0
    again = relay_once(engine, fast_client(sim.url), key_ring, OPTS)  # a re-run sends nothing
    assert again.claimed == 0 and sim_stats(sim.url)["tasks"] == 4


def test_enqueue_is_idempotent(engine, key_ring):
    changes = create_subjects(engine, key_ring, 10)
    with session_scope(engine) as session:
        assert enqueue_changes(session, pd.concat([changes, changes]), "rerun") == 0
        more = changes.assign(valid_to=pd.Timestamp("2026-12-31"))
        assert enqueue_changes(session, pd.concat([more, more]), "rerun") == 10
    assert outbox_status_counts(engine) == {"PENDING": 20}


def test_invalid_rows_are_refused_before_sending(engine, key_ring, sim):
    create_subjects(engine, key_ring, 20)
    with session_scope(engine) as session:
        bad_number = "123456789012"  # wrong check digit
        session.execute(update(Person).where(Person.person_id == "0000000003").values(
            my_number_enc=key_ring.encrypt(bad_number, table="person", column="my_number", row_key="0000000003")))
        session.execute(update(PmhOutbox).where(PmhOutbox.person_id == "0000000005").values(recipient_no="1234567"))
        session.execute(update(Recipient).where(Recipient.person_id == "0000000007")
                        .values(public_payer_number="88041002"))
        session.execute(update(Person).where(Person.person_id == "0000000009").values(sex_code="9"))
    report = relay_once(engine, fast_client(sim.url), key_ring, OPTS)
    assert report.rejected_local == 4 and report.completed == 16
    assert report.error_codes == {"LOCAL_MY_NUMBER_CHECK_DIGIT": 1, "LOCAL_RECIPIENT_NUMBER_INVALID": 1,
                                  "LOCAL_PAYER_NUMBER_INVALID": 1, "LOCAL_SEX_CODE_INVALID": 1}
    assert sim_stats(sim.url)["records_received"] == 16
    assert outbox_status_counts(engine) == {"COMPLETED": 16, "REJECTED_LOCAL": 4}
    assert "0000000003" not in sim_subjects(sim.url)
