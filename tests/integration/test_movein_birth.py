"""Resident changes between monthly runs (the ``resident-changes`` flow under the Prefect test harness): a birth with its 資格登録届 (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from devtools import movein_demo as demo
from devtools import movein_testing as mt
from store import models

pytestmark = pytest.mark.integration

AS_OF = dt.date(2026, 11, 20)


def test_birth_with_application_gets_a_certificate(prefect_harness, movein_env):
    from flows.resident_changes import resident_changes

    env = movein_env
    h = mt.registered_household(env)
    baby = "3000000019"
    born = dt.date(2026, 11, 5)
    events = demo.write_events(env["tmp"] / "births", [
        demo.event_row(h, baby, "A3", born, event_id="EV-B1", birth_date=born, notified_date=dt.date(2026, 11, 9))],
        applications=[{"application_id": "AP-B1", "child_person_id": baby, "guardian_person_id": h.guardian_id,
                       "application_date": "2026-11-12"}],
        insurance=[{"person_id": baby, "insurer_number": mt.INSURER, "insured_type_code": "2",
                    "valid_from": born.isoformat(), "valid_to": ""}])
    summary = resident_changes(events_file=str(events), operator_id="demo-operator", as_of=AS_OF, send_to_pmh=False)

    assert summary["events"] == 1 and summary["by_type"] == {"NEW": 1} and summary["households"] == 1
    assert (baby, "NEW") in mt.decision_set(env["engine"])
    with env["engine"].connect() as conn:
        period = conn.execute(select(models.EligibilityPeriod.valid_from)
                              .where(models.EligibilityPeriod.person_id == baby)).scalar_one()
        person = conn.execute(select(models.Person.household_id, models.Person.residence_start_date)
                              .where(models.Person.person_id == baby)).one()
    assert period == born and tuple(person) == (h.household_id, born)  # covered from birth (applied ≤ 30 days)
    assert {(p, t) for p, t, _, _ in mt.outbox_set(env["engine"])} >= {(baby, "1")}

    before = mt.snapshot(env["engine"])
    again = resident_changes(events_file=str(events), operator_id="demo-operator", as_of=AS_OF, send_to_pmh=False)
    assert again["by_type"] == {} and mt.snapshot(env["engine"]) == before
