"""An incremental month's look-ups reach the changed persons' children through indexes, not table scans.

The cost of a quiet month must follow its changes, not the years of history: every application and every
異動 ever stored stay in their tables. The statements ``services.eligibility.incremental`` runs to find the
children a change reaches are traced on SQLite and their plans read back: none may scan ``application``,
``resident_event`` or ``person`` (issue 13).
"""

from __future__ import annotations

import re

import pandas as pd
from sqlalchemy import text

from services.eligibility import incremental
from store.db import make_engine
from store.migrate import upgrade

LOOKED_UP_TABLES = ("application", "resident_event", "person")


def _traced_plans(conn, call) -> list[tuple[str, str]]:
    """(statement, plan detail) of every SELECT ``call`` runs on the connection's SQLite driver."""
    driver = conn.connection.driver_connection
    statements: list[str] = []
    driver.set_trace_callback(statements.append)
    try:
        call()
    finally:
        driver.set_trace_callback(None)
    plans = []
    for sql in statements:
        if sql.lstrip().upper().startswith("SELECT"):
            for row in driver.execute("EXPLAIN QUERY PLAN " + sql):
                plans.append((sql, row[3]))
    return plans


def test_the_children_a_change_reaches_are_found_through_indexes(tmp_path):
    url = f"sqlite:///{tmp_path / 'k.db'}"
    upgrade(url)
    engine = make_engine(url)
    with engine.begin() as conn:
        for n in range(1, 41):
            conn.execute(text("INSERT INTO person (person_id, household_id, relationship_code, birth_date, sex_code, "
                              "dv_support_flag, row_digest) VALUES (:p, :h, '03', '2015-04-01', '1', false, :p)"),
                         {"p": f"{n:010d}", "h": f"H{n % 10:09d}"})
            conn.execute(text("INSERT INTO resident_event (event_id, person_id, household_id, event_code, event_date, "
                              "run_id) VALUES (:e, :p, :h, '11', '2026-10-01', 'r')"),
                         {"e": f"E{n}", "p": f"{n:010d}", "h": f"H{n % 10:09d}"})
            conn.execute(text("INSERT INTO application (application_id, child_person_id, guardian_person_id, "
                              "spouse_person_id, application_date) VALUES (:a, :c, :g, :s, '2026-04-01')"),
                         {"a": f"A{n}", "c": f"{n:010d}", "g": f"{n + 100:010d}", "s": f"{n + 200:010d}"})
    changes = {"person_id": ["0000000101", "0000000203", "0000000007"], "household_id": ["H000000004", None, None]}
    with engine.connect() as conn:
        reached: set[str] = set()
        plans = _traced_plans(conn, lambda: reached.update(incremental.changed_children(conn, pd.DataFrame(changes))))
        scope: list = []
        plans += _traced_plans(conn, lambda: scope.append(incremental.input_scope(conn, reached)))
    engine.dispose()

    # the look-ups found what the rows say: the children of guardian 101 and spouse 203, person 7, and
    # every child of household 4 and of person 7's household
    assert {"0000000001", "0000000003", "0000000007", "0000000004", "0000000014"} <= reached
    assert {"0000000101", "0000000201"} <= scope[0][0]  # the parents named by the children's applications
    looked_up = [(sql, detail) for sql, detail in plans if any(f" {t}" in sql for t in LOOKED_UP_TABLES)]
    assert looked_up, "no look-up statement was traced"
    scans = [(sql, detail) for sql, detail in looked_up
             if re.match(rf"SCAN ({'|'.join(LOOKED_UP_TABLES)})\b", detail)]
    assert not scans, scans
