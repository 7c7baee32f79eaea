"""An inquiry that times out is retried by the connector, then reported; nothing of the case is stored.

Driven through the move-in services (``services.movein.steps``) with impatient connectors: the connector's
own timeout and retries are what is under test.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from connectors import inquiry as iq
from devtools import inquiry_sim
from devtools import movein_testing as mt
from policy import load_policy
from services.movein import steps
from store import models


def _access(engine):
    table = models.Base.metadata.tables["access_record"]
    with engine.connect() as conn:
        return conn.execute(select(table.c.purpose, table.c.outcome)).all()


def test_inquiry_timeout_is_retried_then_reported_and_nothing_is_half_applied(movein_env):
    env, h = movein_env, movein_env["known"]
    mt.record_demo_consent(env["engine"], h)
    before = mt.snapshot(env["engine"])
    env["sim"].set_faults(inquiry_sim.FaultConfig(services={
        "intermediary": inquiry_sim.Faults(script=["timeout"] * 3, hang_s=2.0)}))
    impatient = iq.http_connectors(env["url"], options=iq.HttpOptions(timeout=(2.0, 0.5), retries=2,
                                                                      backoff_factor=0.01))
    request, policy = mt.movein_request(h, income_source="inquiry", consent_id="CN-1"), load_policy()
    context = steps.resolve_case(request, policy, "test-run")
    with pytest.raises(iq.InquiryTimeout) as info:
        steps.run_inquiries(context, request, policy, "test-run", connectors=impatient)
    assert info.value.attempts == 3 and "timed out after 3 attempt(s)" in str(info.value)
    # registry and tax answered; the 中間サーバ was tried three times (the connector's retries), then given up
    services = [r["service"] for r in env["sim"].log]
    assert list(dict.fromkeys(services)) == ["registry", "tax", "intermediary"]
    assert [r["fault"] for r in env["sim"].log if r["service"] == "intermediary"] == ["timeout"] * 3
    assert mt.snapshot(env["engine"]) == before  # no person, tax, case, decision or outbox row
    assert ("move-in:inquiry_timeout", "failed") in _access(env["engine"])
