"""Eligibility periods store their reason codes as an id into an append-only lookup (issue 13, write less).

Each period used to carry ~250 bytes of ``;``-joined text; now it carries an integer and the few hundred
distinct texts are stored once. Every output must still explain the period with the rules' own text.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Integer, func, inspect, select

from policy import load_policy
from services import runs
from services.counter import labels
from services.counter.history import build_history
from services.eligibility import decide, reason_sets
from services.intake import ingest, persist
from store import migrate, models
from store.bulk import read_frame
from store.db import make_engine, session_scope

MONTH = "2026-10"
AGE = "AGE_LIMIT:age_limit.inpatient=18@2026-04-01;NO_INCOME_TEST:income_limit.base_amount=None@2023-04-01"
WELFARE = "WELFARE_EXCLUSION:eligibility.excludes_public_assistance=True@2012-01-01"
LATE = "REGISTRATION_LATE:registration.window_days=30@2017-10-01;" + AGE


def _lookup(conn) -> pd.DataFrame:
    return read_frame(conn, models.EligibilityReasonSet.__table__).sort_values("reason_set_id", ignore_index=True)


def test_encode_stores_each_text_once_and_never_changes_an_id(db_url):
    migrate.upgrade(db_url)
    engine = make_engine(db_url)
    periods = pd.DataFrame({"person_id": ["0000000001", "0000000002", "0000000003"],
                            "reason_codes": pd.array([AGE, WELFARE, AGE], dtype="string"),
                            "sources": ["S12;S1,S2", "S9", "S12;S1,S2"]})
    with engine.begin() as conn:
        first = reason_sets.encode(conn, periods)
    assert list(first.columns) == ["person_id", "reason_set_id"]
    assert first["reason_set_id"].iloc[0] == first["reason_set_id"].iloc[2] != first["reason_set_id"].iloc[1]
    with engine.begin() as conn:
        again = reason_sets.encode(conn, pd.concat([periods, pd.DataFrame(
            {"person_id": ["0000000004"], "reason_codes": [LATE], "sources": ["S20;S12;S1,S2"]})], ignore_index=True))
        lookup = _lookup(conn)
        assert reason_sets.decode(conn, again["reason_set_id"]) == dict(zip(lookup["reason_set_id"],
                                                                             lookup["reason_codes"], strict=True))
    assert again["reason_set_id"].iloc[:3].tolist() == first["reason_set_id"].tolist()  # ids reused
    assert lookup["reason_codes"].tolist() == sorted([AGE, WELFARE]) + [LATE]  # one row per text, append-only
    assert dict(zip(lookup["reason_codes"], lookup["sources"], strict=True)) == {
        AGE: "S12;S1,S2", WELFARE: "S9", LATE: "S20;S12;S1,S2"}
    engine.dispose()


def test_encode_refuses_a_period_without_codes(db_url):
    migrate.upgrade(db_url)
    engine = make_engine(db_url)
    with engine.begin() as conn, pytest.raises(ValueError, match="without reason codes"):
        reason_sets.encode(conn, pd.DataFrame({"person_id": ["0000000001"], "reason_codes": [None]}))
    engine.dispose()


@pytest.fixture(scope="module")
def inbox(tmp_path_factory) -> Path:
    from devtools.generate import generate_dataset

    directory = tmp_path_factory.mktemp("reason-sets") / "inbox"
    generate_dataset(directory, children=200, seed=29, as_of="2026-10-31")
    return directory


def test_a_month_stores_ids_explains_them_with_the_rules_text_and_a_rerun_reuses_them(
        db_url, inbox, key_ring, monkeypatch):
    fresh: list[pd.DataFrame] = []
    store_periods = decide.store_periods

    def keep(conn, periods, *args, **kwargs):  # the periods the rules produced, text included
        fresh.append(periods.copy())
        return store_periods(conn, periods, *args, **kwargs)

    monkeypatch.setattr(decide, "store_periods", keep)
    migrate.upgrade(db_url)
    engine = make_engine(db_url)
    policy = load_policy()
    manifest = json.loads((inbox / "manifest.json").read_text())
    box = ingest.validate_inbox(ingest.read_inbox(inbox), manifest["extract_date"])
    with session_scope(engine) as session:
        runs.start_run(session.connection(), run_id="first", flow_name="test", month=MONTH,
                       operator_id="demo-operator", policy_version=policy.version)
        persist.persist_inputs(session.connection(), box.frames, key_ring, "first")
    with session_scope(engine) as session:
        decide.decide_month(session, month=MONTH, policy=policy, run_id="first", operator_id="demo-operator")

    # The period row holds an integer, no text.
    columns = {c["name"]: c["type"] for c in inspect(engine).get_columns("eligibility_period")}
    assert "reason_codes" not in columns and isinstance(columns["reason_set_id"], Integer)
    with engine.connect() as conn:
        lookup = _lookup(conn)
        stored = reason_sets.read_periods(conn, ["person_id", "valid_from", "reason_codes", "reason_set_id"])
    rules = fresh[0][["person_id", "valid_from", "reason_codes", "sources"]]
    assert len(stored) == len(rules) > len(lookup) > 1
    assert lookup["reason_codes"].is_unique and set(lookup["reason_codes"]) == set(rules["reason_codes"])
    # Each stored period reads back with exactly the text the rules gave it, and each text with its sources.
    both = rules.merge(stored, on=["person_id", "valid_from"], suffixes=("_rules", "_stored"), validate="1:1")
    assert (both["reason_codes_rules"].astype(object) == both["reason_codes_stored"]).all()
    sources = dict(zip(lookup["reason_codes"], lookup["sources"], strict=True))
    assert (rules["reason_codes"].map(sources) == rules["sources"]).all()

    # The counter history explains each period with the rules' text.
    child = rules.loc[rules["reason_codes"].str.len() > 0, "person_id"].iloc[0]
    with session_scope(engine) as session:
        shown = build_history(session, key_ring, child).sections["資格期間"]
    expected = rules.loc[rules["person_id"] == child].sort_values("valid_from")["reason_codes"]
    assert [row["判定理由"] for row in shown] == [labels.reason_text(c) for c in expected]
    assert all(row["判定理由"] for row in shown)

    # A re-run of the month writes no period and no lookup row; every id keeps its text.
    with session_scope(engine) as session:
        runs.start_run(session.connection(), run_id="second", flow_name="test", month=MONTH,
                       operator_id="demo-operator", policy_version=policy.version)
    with session_scope(engine) as session:
        counts = decide.decide_month(session, month=MONTH, policy=policy, run_id="second",
                                     operator_id="demo-operator")
    assert counts["children_with_changed_periods"] == 0
    with engine.connect() as conn:
        pd.testing.assert_frame_equal(_lookup(conn), lookup)
        again = reason_sets.read_periods(conn, ["person_id", "valid_from", "reason_codes", "reason_set_id"])
        table = models.EligibilityPeriod.__table__
        assert conn.execute(select(func.count()).select_from(table).where(table.c.run_id == "second")).scalar() == 0
    pd.testing.assert_frame_equal(again.sort_values(["person_id", "valid_from"], ignore_index=True),
                                  stored.sort_values(["person_id", "valid_from"], ignore_index=True))
    engine.dispose()
