"""Move-in with a submitted income certificate, then the same case again (the ``move-in`` flow under the
Prefect test harness; SQLite and PostgreSQL)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from devtools import movein_demo as demo
from devtools import movein_testing as mt
from store import models
from store.movein_models import IncomeSource, MoveInCase

pytestmark = pytest.mark.integration


def test_move_in_with_certificate_registers_household_once(prefect_harness, movein_env):
    from flows.movein import move_in

    env, h = movein_env, movein_env["known"]
    cert = demo.write_certificate(env["tmp"] / "cert.csv", h)
    case = mt.movein_case(h, income_source="certificate", certificate_path=str(cert))
    result = move_in(case=case)
    assert result["status"] == "DETERMINED"
    assert result["decisions"] == {"NEW": 2}
    assert result["inquiries"] == {"registry": 1}  # guardians covered by the certificate: no tax inquiry
    assert [r["service"] for r in env["sim"].log] == ["registry"]
    with env["engine"].connect() as conn:
        decisions = conn.execute(select(models.Decision.person_id, models.Decision.valid_from)).all()
        outbox = conn.execute(select(models.PmhOutbox.person_id, models.PmhOutbox.change_type)).all()
        sources = conn.execute(select(IncomeSource.person_id, IncomeSource.source)).all()
        recipients = conn.execute(select(models.Recipient.person_id)).scalars().all()
    with Session(env["engine"]) as session:
        stored_case = session.scalars(select(MoveInCase)).one()
        run = session.scalars(select(models.Run)).one()
    assert sorted(p for p, _ in decisions) == sorted(h.child_ids) == sorted(recipients)
    assert {v for _, v in decisions} == {mt.MOVE_IN}  # applied within 30 days: covered from the move-in date
    assert sorted(outbox) == sorted((c, "1") for c in h.child_ids)
    assert sorted(sources) == sorted([(h.guardian_id, "certificate"), (h.spouse_id, "certificate")])
    assert (stored_case.status == "DETERMINED" and stored_case.household_id == h.household_id
            and stored_case.move_in_date == mt.MOVE_IN)
    assert run.status == "COMPLETED" and run.flow_name == "move-in" and run.lock_key is None
    # the flow's summary (its artifact and result) and the run record name the household only by masked ids
    text = json.dumps(result, default=str) + (run.counts_json or "")
    for pid in [h.household_id, *h.person_ids]:
        assert pid not in text
    assert f"******{h.household_id[-4:]}" in text
    # the issuance list for staff has the two children
    issued = (env["settings"].resolved_outbox_dir / "2026-11" / "受給者証交付一覧_2026-11.csv").read_bytes()
    assert all(c.encode() in issued for c in h.child_ids)

    before = mt.snapshot(env["engine"])
    again = move_in(case=case)
    assert mt.snapshot(env["engine"]) == before
    assert again["new_decisions"] == 0 and again["case_changed"] is False
