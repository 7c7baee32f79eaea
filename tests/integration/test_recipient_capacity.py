"""Issue 13 (1.6M children): when the 受給者番号 series runs out, the month completes and holds the rest.

A 受給者番号 is a 6-digit sequence plus a check digit (domain.md §5.2): 999,998 numbers per 公費負担者番号 (999999 is not assigned).
The month is decided twice from the same generated inbox: in a database whose series is fresh (the
reference) and in one whose highest number already is sequence 999,989. The second run must give numbers
999,990 … 999,998 (999,999 is never assigned) to the nine lowest 宛名番号 of the reference's 新規, hold every
other 新規 (no decision, certificate or PMH row, counted in the summary), and decide the held children again the
next month.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from policy import load_policy
from rules import checkdigits
from services.eligibility import decide
from services.intake import ingest, persist
from services.notices.summary import decide_mode_lines
from store import migrate, models
from store.db import make_engine


def _decide(engine, ring, inbox, month: str, run_id: str) -> dict:
    box = ingest.load_inbox(inbox)
    with Session(engine) as session, session.begin():
        persist.persist_inputs(session.connection(), box.frames, ring, run_id)
    with Session(engine) as session, session.begin():
        return decide.decide_month(session, month=month, policy=load_policy(), run_id=run_id, operator_id="op")


def _rows(engine, model, columns):
    table = model.__table__
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(select(*[table.c[c] for c in columns])).all(), columns=columns)


def test_a_month_beyond_the_number_series_completes_and_holds_the_rest(db_url, tmp_path, key_ring):
    from devtools.generate import generate_dataset
    from devtools.generate.changes import generate_changes

    inbox, next_inbox = tmp_path / "inbox", tmp_path / "inbox-next"
    generate_dataset(inbox, children=60, seed=5, as_of="2026-10-31", bad_row_share=0)
    generate_changes(inbox, next_inbox, share=0.02, seed=6, as_of="2026-11-30")

    reference_url = f"sqlite:///{tmp_path / 'reference.db'}"
    migrate.upgrade(reference_url)
    reference = make_engine(reference_url)
    _decide(reference, key_ring, inbox, "2026-10", "ref")
    new = _rows(reference, models.Decision, ["person_id", "decision_type"])
    new_ids = sorted(new.loc[new["decision_type"] == "NEW", "person_id"])
    assert len(new_ids) > 20

    migrate.upgrade(db_url)
    engine = make_engine(db_url)
    with engine.begin() as conn:  # the series is nearly used up: nine numbers left
        conn.execute(insert(models.Recipient.__table__).values(
            person_id="999999999999999", recipient_no=checkdigits.with_modulus10_w21("999989"),
            public_payer_number="88049999", assigned_run_id="earlier"))
    result = _decide(engine, key_ring, inbox, "2026-10", "run-1")

    numbered = _rows(engine, models.Recipient, ["person_id", "recipient_no"]).sort_values("recipient_no")
    numbered = numbered[numbered["person_id"] != "999999999999999"]
    assert numbered["person_id"].tolist() == new_ids[:9]
    assert numbered["recipient_no"].str[:6].tolist() == [str(n) for n in range(999_990, 999_999)]
    assert checkdigits.valid_recipient_number(numbered["recipient_no"]).all()
    held = set(new_ids[9:])
    assert result["held_no_recipient_number"] == len(held)
    assert result["by_type"].get("NEW") == 9
    decided = _rows(engine, models.Decision, ["person_id", "decision_type"])
    assert not held & set(decided["person_id"])
    assert not held & set(_rows(engine, models.Certificate, ["person_id"])["person_id"])
    assert not held & set(_rows(engine, models.PmhOutbox, ["person_id"])["person_id"])
    assert set(_rows(engine, models.Certificate, ["person_id"])["person_id"]) == set(new_ids[:9])
    # The run summary tells staff what to do (Japanese, aggregates only).
    assert any(f"新規 {len(held):,} 人を保留" in line for line in decide_mode_lines(result))

    # The next month decides the held children again (their eligible period has no certificate) and holds
    # them again: no number is invented, nothing fails.
    again = _decide(engine, key_ring, next_inbox, "2026-11", "run-2")
    assert again["mode"] == "incremental"
    assert again["held_no_recipient_number"] >= len(held) - 2  # a few may have moved out in the changes
    assert again["recipient_numbers_assigned"] == 0
    reference.dispose()
    engine.dispose()
