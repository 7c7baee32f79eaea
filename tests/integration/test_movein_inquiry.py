"""Move-in with an inquiry: previous city known (registry) or unknown (住基ネット first) — the ``move-in``
flow under the Prefect test harness (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from devtools import movein_demo as demo
from devtools import movein_testing as mt
from store import models
from store.movein_models import IncomeSource, MoveInCase

pytestmark = pytest.mark.integration


def _audit_purposes(engine):
    with engine.connect() as conn:
        return conn.execute(select(models.Base.metadata.tables["access_record"].c.purpose)).scalars().all()


def test_inquiry_with_known_previous_city(prefect_harness, movein_env):
    from flows.movein import move_in

    env, h = movein_env, movein_env["known"]
    mt.record_demo_consent(env["engine"], h)
    result = move_in(case=mt.movein_case(h, income_source="inquiry", consent_id="CN-1"))
    assert result["status"] == "DETERMINED" and result["previous_municipality"] == "registry"
    assert result["decisions"] == {"NEW": 2}
    log = env["sim"].log
    assert [r["service"] for r in log] == ["registry", "tax", "intermediary"]  # no 住基ネット lookup needed
    assert log[-1]["consent_id"] == "CN-1" and log[-1]["subjects"] == 2
    with env["engine"].connect() as conn:
        sources = conn.execute(select(IncomeSource.source, IncomeSource.municipality_code,
                                      IncomeSource.consent_id)).all()
        taxes = conn.execute(select(models.TaxRecord.person_id)).scalars().all()
    assert set(sources) == {("intermediary", demo.HACHIOJI, "CN-1")}
    assert sorted(taxes) == sorted([h.guardian_id, h.spouse_id])
    assert {"move-in:registry-inquiry", "move-in:tax-inquiry", "move-in:intermediary-income",
            "move-in:determination"} <= set(_audit_purposes(env["engine"]))


def test_inquiry_with_unknown_previous_city_asks_jukinet_first(prefect_harness, movein_env):
    from flows.movein import move_in

    env, h = movein_env, movein_env["unknown"]
    mt.record_demo_consent(env["engine"], h, consent_id="CN-2")
    result = move_in(case=mt.movein_case(h, income_source="inquiry", consent_id="CN-2"))
    assert result["status"] == "DETERMINED" and result["previous_municipality"] == "jukinet"
    assert [r["service"] for r in env["sim"].log] == ["registry", "tax", "jukinet", "intermediary"]
    with env["engine"].connect() as conn:
        case = conn.execute(select(MoveInCase.previous_municipality_code,
                                   MoveInCase.previous_municipality_source)).one()
        codes = set(conn.execute(select(IncomeSource.municipality_code)).scalars())
    assert tuple(case) == (demo.SAPPORO, "jukinet") and codes == {demo.SAPPORO}
    assert "move-in:jukinet-lookup" in _audit_purposes(env["engine"])
