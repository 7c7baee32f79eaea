"""A case without a covering consent is refused before anything is queried — the ``move-in`` flow under the
Prefect test harness (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from connectors import inquiry as iq
from devtools import movein_testing as mt
from store import models

pytestmark = pytest.mark.integration


def _access(engine):
    table = models.Base.metadata.tables["access_record"]
    with engine.connect() as conn:
        return conn.execute(select(table.c.purpose, table.c.outcome)).all()


def test_inquiry_without_consent_is_refused_and_nothing_is_queried(prefect_harness, movein_env):
    from flows.movein import move_in

    env, h = movein_env, movein_env["unknown"]
    before = mt.snapshot(env["engine"])
    with pytest.raises(iq.ConsentMissing) as info:
        move_in(case=mt.movein_case(h, income_source="inquiry", consent_id="CN-404"))
    message = str(info.value)
    assert "consent 'CN-404' is not recorded" in message and "Nothing was queried" in message
    assert "kodomo move-in consent" in message
    assert h.household_id not in message and h.child_ids[0] not in message
    assert env["sim"].log == []  # not the registry, not 住基ネット, not the 中間サーバ
    assert mt.snapshot(env["engine"]) == before
    assert ("move-in:consent_missing", "refused") in _access(env["engine"])
    with env["engine"].connect() as conn:
        assert conn.execute(select(models.Run.status)).scalars().all() == ["FAILED"]


def test_consent_of_another_household_is_refused_before_the_income_inquiry(prefect_harness, movein_env):
    from flows.movein import move_in

    env = movein_env
    mt.record_demo_consent(env["engine"], env["known"], consent_id="CN-K")
    with pytest.raises(iq.ConsentMissing, match="does not cover"):
        move_in(case=mt.movein_case(env["unknown"], income_source="inquiry", consent_id="CN-K"))
    assert [r["service"] for r in env["sim"].log] == ["registry"]
