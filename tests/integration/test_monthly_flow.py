"""The monthly flow end to end under the Prefect test harness, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from sqlalchemy import func, select

from store import models

MONTH = "2026-10"


@pytest.fixture
def inbox(tmp_path):
    from devtools.generate import generate_dataset

    directory = tmp_path / "inbox"
    summary = generate_dataset(directory, children=400, seed=11, as_of="2026-10-31")
    return directory, summary


def _table_counts(engine) -> dict[str, int]:
    tables = ["person", "resident_event", "tax_record", "welfare_case", "insurance_coverage", "application",
              "eligibility_period", "eligibility_reason_set", "recipient", "decision", "certificate", "pmh_outbox",
              "quarantine"]
    with engine.connect() as conn:
        return {name: conn.execute(select(func.count()).select_from(models.Base.metadata.tables[name])).scalar()
                for name in tables}


@pytest.mark.integration
def test_monthly_run_decides_stores_exports_and_is_idempotent(prefect_harness, kodomo_env, inbox):
    from flows.monthly import monthly_run
    from store.db import engine_for

    directory, generated = inbox
    summary = monthly_run(month=MONTH, inbox=str(directory), operator_id="demo-operator")

    engine = engine_for(kodomo_env.resolved_database_url)
    counts = _table_counts(engine)
    assert counts["person"] > 400 and counts["decision"] > 0 and counts["recipient"] > 0
    assert summary["decisions"]["NEW"] == counts["recipient"]
    assert counts["pmh_outbox"] >= summary["decisions"]["NEW"]

    # Bad rows of the generator are exactly the quarantined rows.
    expected_bad = sum(generated["bad_rows"].values())
    assert summary["quarantined_rows"] == expected_bad
    with engine.connect() as conn:
        masked = conn.execute(select(models.QuarantinedRow.masked_value)).scalars().all()
        run = conn.execute(select(models.Run.status, models.Run.counts_json)
                           .where(models.Run.flow_name == "monthly-run")).one()
        inputs = conn.execute(select(models.RunInput.file_name, models.RunInput.sha256)).all()
    assert all(v is None or len(v.replace("*", "")) <= 2 for v in masked)
    assert run.status == "COMPLETED" and json.loads(run.counts_json)["summary"]["month"] == MONTH
    assert {i.file_name for i in inputs} >= {"residents.csv", "tax.csv"} and all(len(i.sha256) == 64 for i in inputs)

    # Staff lists: CP932 with a header, no My Number anywhere.
    outbox = kodomo_env.resolved_outbox_dir / MONTH
    issuance = pd.read_csv(outbox / f"受給者証交付一覧_{MONTH}.csv", encoding="cp932", dtype=str)
    assert len(issuance) >= summary["decisions"]["NEW"]
    my_numbers = set(pd.read_csv(directory / "residents.csv", dtype=str, encoding="utf-8")["my_number"].dropna())
    text = "".join(p.read_text(encoding="cp932") for p in outbox.glob("*.csv"))
    assert not any(n in text for n in list(my_numbers)[:2000])

    # Re-running the same month changes nothing.
    again = monthly_run(month=MONTH, inbox=str(directory), operator_id="demo-operator")
    assert _table_counts(engine) == counts
    assert again["decisions"] == summary["decisions"]


@pytest.mark.integration
def test_unknown_operator_is_refused_before_reading(prefect_harness, kodomo_env, inbox):
    from flows.monthly import monthly_run

    directory, _ = inbox
    from sqlalchemy import inspect

    from store.db import engine_for

    with pytest.raises(Exception, match="(?i)operator"):
        monthly_run(month=MONTH, inbox=str(directory), operator_id="nobody-here")
    # Refused before anything was read or stored: not even the schema was created.
    assert "run" not in inspect(engine_for(kodomo_env.resolved_database_url)).get_table_names()
