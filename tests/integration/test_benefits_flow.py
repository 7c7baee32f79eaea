"""The benefit flow under the Prefect test harness after the monthly eligibility flow (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from connectors import zengin
from store import benefit_models as bm

MONTH = "2026-10"


@pytest.mark.integration
def test_benefit_run_after_the_monthly_run_pays_writes_files_and_is_idempotent(prefect_harness, kodomo_env,
                                                                               tmp_path):
    from devtools.generate import generate_dataset
    from devtools.generate.claims import generate_claims
    from flows.benefits import benefit_run
    from flows.monthly import monthly_run
    from store.db import engine_for

    inbox = tmp_path / "inbox"
    generate_dataset(inbox, children=150, seed=5, as_of="2026-10-31")
    generated = generate_claims(inbox, inbox, seed=5, month="2026-09", receipts_per_year=40)
    monthly_run(month=MONTH, inbox=str(inbox), operator_id="demo-operator", run_benefits=False)

    summary = benefit_run(month=MONTH, inbox=str(inbox), operator_id="demo-operator", transfer_date="2026-10-23")

    assert summary["receipts"] == (sum(generated["rows"].values())
                                   - sum(len(v) for v in generated["bad_source_rows"].values()))
    assert 0 < summary["payable"] <= summary["receipts"]
    assert summary["payments"] > 0
    engine = engine_for(kodomo_env.resolved_database_url)
    with engine.connect() as conn:
        zengin_total = conn.execute(select(func.coalesce(func.sum(bm.BenefitPayment.amount), 0)).where(
            bm.BenefitPayment.channel == "ZENGIN")).scalar()
        payments = conn.execute(select(func.count()).select_from(bm.BenefitPayment)).scalar()
    outbox = kodomo_env.resolved_outbox_dir / MONTH
    parsed = zengin.parse_transfer_file((outbox / f"zengin_{MONTH}.txt").read_bytes())
    assert parsed.trailer["total"] == zengin_total and parsed.header["transfer_mmdd"] == "1023"
    assert (outbox / f"prefecture_report_{MONTH}.csv").exists()
    assert (outbox / f"benefit_accounts_{MONTH}.csv").exists()

    again = benefit_run(month=MONTH, inbox=str(inbox), operator_id="demo-operator", transfer_date="2026-10-23")
    assert again["payments"] == 0 and again["refund_claims"] == 0
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(bm.BenefitPayment)).scalar() == payments
