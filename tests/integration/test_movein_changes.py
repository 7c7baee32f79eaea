"""Resident changes between monthly runs (the ``resident-changes`` flow under the Prefect test harness): a death and a move-out (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from devtools import movein_demo as demo
from devtools import movein_testing as mt
from store import models

pytestmark = pytest.mark.integration

AS_OF = dt.date(2026, 11, 20)


def test_death_and_move_out_end_eligibility_and_delete_at_pmh(prefect_harness, movein_env):
    from flows.resident_changes import resident_changes

    env = movein_env
    h = mt.registered_household(env)
    older, younger = h.child_ids
    died, left = dt.date(2026, 11, 10), dt.date(2026, 11, 15)
    directory = env["tmp"] / "changes"
    demo.write_events(directory, [demo.event_row(h, older, "D3", died, event_id="EV-D1")],
                      name="resident_events_01.csv")
    demo.write_events(directory, [demo.event_row(h, pid, "D1", left, event_id=f"EV-M{i}")
                                  for i, pid in enumerate([h.guardian_id, h.spouse_id, younger])],
                      name="resident_events_02.csv")
    summary = resident_changes(events_file=str(directory), operator_id="demo-operator", as_of=AS_OF, send_to_pmh=False)

    assert summary["files"] == 2 and summary["events"] == 4
    assert summary["by_type"] == {"LOSS_DEATH": 1, "LOSS_MOVE_OUT": 1}
    outbox = mt.outbox_set(env["engine"])
    assert (older, "2", "LOSS_DEATH", dt.date(2026, 11, 11)) in outbox  # effective the day after death
    assert (younger, "2", "LOSS_MOVE_OUT", left) in outbox              # effective on the 異動日
    with env["engine"].connect() as conn:
        states = dict(conn.execute(select(models.Certificate.person_id, models.Certificate.status)).all())
    assert states == {older: "LOST", younger: "LOST"}
    lists = env["settings"].resolved_outbox_dir / "2026-11" / "資格喪失通知一覧_2026-11.csv"
    assert older.encode() in lists.read_bytes() and younger.encode() in lists.read_bytes()

    # the directory's files are processed once; a later run finds nothing new
    before = mt.snapshot(env["engine"])
    again = resident_changes(events_file=str(directory), operator_id="demo-operator", as_of=AS_OF, send_to_pmh=False)
    assert again["files"] == 0 and mt.snapshot(env["engine"]) == before
