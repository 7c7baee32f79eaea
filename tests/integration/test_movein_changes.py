"""Resident changes between monthly runs: a birth, a death and a move-out (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from connectors import inquiry as iq
from kodomo.movein import demo, steps
from kodomo.movein import testing as mt
from store import models

inquiry_simulator = mt.inquiry_simulator
movein_env = mt.movein_env

AS_OF = dt.date(2026, 11, 20)


def _registered_household(env):
    """Household 1 moved in and was determined (file connectors: no HTTP needed here)."""
    h = env["known"]
    steps.run_move_in(mt.movein_request(h, income_source="not_yet"), connectors=iq.file_connectors(env["inquiry_dir"]),
                      notices=False)
    return h


def _decisions(engine):
    with engine.connect() as conn:
        return set(conn.execute(select(models.Decision.person_id, models.Decision.decision_type)).all())


def _outbox(engine):
    with engine.connect() as conn:
        return set(conn.execute(select(models.PmhOutbox.person_id, models.PmhOutbox.change_type,
                                       models.PmhOutbox.reason, models.PmhOutbox.event_date)).all())


def test_birth_with_application_gets_a_certificate(movein_env):
    env = movein_env
    h = _registered_household(env)
    baby = "3000000019"
    born = dt.date(2026, 11, 5)
    events = demo.write_events(env["tmp"] / "births", [
        demo.event_row(h, baby, "A3", born, event_id="EV-B1", birth_date=born, notified_date=dt.date(2026, 11, 9))],
        applications=[{"application_id": "AP-B1", "child_person_id": baby, "guardian_person_id": h.guardian_id,
                       "application_date": "2026-11-12"}],
        insurance=[{"person_id": baby, "insurer_number": mt.INSURER, "insured_type_code": "2",
                    "valid_from": born.isoformat(), "valid_to": ""}])
    summary = steps.run_resident_changes(str(events), "demo-operator", as_of=AS_OF)

    assert summary["events"] == 1 and summary["by_type"] == {"NEW": 1} and summary["households"] == 1
    assert (baby, "NEW") in _decisions(env["engine"])
    with env["engine"].connect() as conn:
        period = conn.execute(select(models.EligibilityPeriod.valid_from)
                              .where(models.EligibilityPeriod.person_id == baby)).scalar_one()
        person = conn.execute(select(models.Person.household_id, models.Person.residence_start_date)
                              .where(models.Person.person_id == baby)).one()
    assert period == born and tuple(person) == (h.household_id, born)  # covered from birth (applied ≤ 30 days)
    assert {(p, t) for p, t, _, _ in _outbox(env["engine"])} >= {(baby, "1")}

    before = mt.snapshot(env["engine"])
    again = steps.run_resident_changes(str(events), "demo-operator", as_of=AS_OF)
    assert again["by_type"] == {} and mt.snapshot(env["engine"]) == before


def test_death_and_move_out_end_eligibility_and_delete_at_pmh(movein_env):
    env = movein_env
    h = _registered_household(env)
    older, younger = h.child_ids
    died, left = dt.date(2026, 11, 10), dt.date(2026, 11, 15)
    directory = env["tmp"] / "changes"
    demo.write_events(directory, [demo.event_row(h, older, "D3", died, event_id="EV-D1")],
                      name="resident_events_01.csv")
    demo.write_events(directory, [demo.event_row(h, pid, "D1", left, event_id=f"EV-M{i}")
                                  for i, pid in enumerate([h.guardian_id, h.spouse_id, younger])],
                      name="resident_events_02.csv")
    summary = steps.run_resident_changes(str(directory), "demo-operator", as_of=AS_OF)

    assert summary["files"] == 2 and summary["events"] == 4
    assert summary["by_type"] == {"LOSS_DEATH": 1, "LOSS_MOVE_OUT": 1}
    outbox = _outbox(env["engine"])
    assert (older, "2", "LOSS_DEATH", dt.date(2026, 11, 11)) in outbox  # effective the day after death
    assert (younger, "2", "LOSS_MOVE_OUT", left) in outbox              # effective on the 異動日
    with env["engine"].connect() as conn:
        states = dict(conn.execute(select(models.Certificate.person_id, models.Certificate.status)).all())
    assert states == {older: "LOST", younger: "LOST"}
    lists = env["settings"].resolved_outbox_dir / "2026-11" / "資格喪失通知一覧_2026-11.csv"
    assert older.encode() in lists.read_bytes() and younger.encode() in lists.read_bytes()

    # the directory's files are processed once; a later run finds nothing new
    before = mt.snapshot(env["engine"])
    again = steps.run_resident_changes(str(directory), "demo-operator", as_of=AS_OF)
    assert again["files"] == 0 and mt.snapshot(env["engine"]) == before
