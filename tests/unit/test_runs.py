"""The one run lifecycle (services.runs.run_scope) on SQLite and PostgreSQL: outcome, lock, ABANDONED."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from sqlalchemy import select

from services import runs
from store.models import Run


def _rows(engine) -> dict[str, tuple]:
    with engine.connect() as conn:
        return {r.run_id: (r.status, r.lock_key, r.counts_json)
                for r in conn.execute(select(Run.run_id, Run.status, Run.lock_key, Run.counts_json))}


def _scope(engine, **kw):
    kw.setdefault("flow_name", "monthly-run")
    kw.setdefault("month", "2026-10")
    return runs.run_scope(engine, operator_id="demo-operator", policy_version="p1", **kw)


def test_completed_with_counts_and_lock_released(engine):
    with _scope(engine, run_id="r1") as run:
        assert _rows(engine)["r1"][:2] == ("RUNNING", "monthly-run:2026-10")
        run.counts = {"decide": {"NEW": 3}}
    status, lock, counts = _rows(engine)["r1"]
    assert status == "COMPLETED" and lock is None and json.loads(counts) == {"decide": {"NEW": 3}}


@pytest.mark.parametrize("error", [ValueError("bad row"), KeyboardInterrupt()])
def test_any_exception_fails_the_run_and_releases_the_lock(engine, error):
    with pytest.raises(type(error)), _scope(engine, run_id="r1") as run:
        run.counts = {"partial": 1}
        raise error
    assert _rows(engine)["r1"] == ("FAILED", None, json.dumps({"partial": 1}))  # what it did before failing
    with _scope(engine, run_id="r2"):  # the month is free again
        pass
    assert _rows(engine)["r2"][0] == "COMPLETED"


def test_second_run_of_the_same_month_is_refused_clearly(engine):
    with _scope(engine, run_id="r1"):
        with pytest.raises(runs.RunAlreadyRunningError) as info, _scope(engine, run_id="r2"):
            pass  # pragma: no cover - never entered
        message = str(info.value)
        assert "monthly-run 2026-10 run is already RUNNING" in message and "run r1" in message
        assert "demo-operator" in message
        with _scope(engine, run_id="r3", month="2026-11"):  # another month runs
            pass
        with _scope(engine, run_id="r4", flow_name="benefit-run"):  # another kind runs
            pass
    rows = _rows(engine)
    assert "r2" not in rows and rows["r1"][0] == rows["r3"][0] == rows["r4"][0] == "COMPLETED"


def test_running_row_of_a_dead_process_is_abandoned_at_the_next_start(engine):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    with engine.begin() as conn:
        runs.start_run(conn, run_id="killed", flow_name="monthly-run", month="2026-10", operator_id="demo-operator",
                       policy_version="p1", lock="monthly-run:2026-10")
        conn.execute(Run.__table__.update().values(pid=int(dead.stdout)))
        runs.start_run(conn, run_id="alive", flow_name="monthly-run", month="2026-09", operator_id="demo-operator",
                       policy_version="p1", lock="monthly-run:2026-09")  # this process: alive
    with _scope(engine, run_id="next"):
        pass
    rows = _rows(engine)
    assert rows["killed"][:2] == ("ABANDONED", None)
    assert rows["alive"][:2] == ("RUNNING", "monthly-run:2026-09") and rows["next"][0] == "COMPLETED"


def test_cannot_tell_counts_as_alive(engine):
    with engine.begin() as conn:
        runs.start_run(conn, run_id="elsewhere", flow_name="pmh-sync", month=None, operator_id="demo-operator",
                       policy_version="n/a", lock="pmh-sync:*")
    with pytest.raises(runs.RunAlreadyRunningError, match="pmh-sync run is already RUNNING"), \
            _scope(engine, run_id="next", flow_name="pmh-sync", month=None, is_alive=lambda run: None):
        pass  # pragma: no cover
    assert _rows(engine)["elsewhere"][0] == "RUNNING"


_STARTER = """
import sys, time
from pathlib import Path
from services import runs
from store import migrate
from store.db import make_engine

url, run_id, go = sys.argv[1:4]
while not Path(go).exists():
    time.sleep(0.01)
try:
    migrate.upgrade(url)
    engine = make_engine(url)
    with engine.begin() as conn:
        runs.abandon_dead_runs(conn, flow_name="monthly-run")
    runs.begin_run(engine, run_id=run_id, flow_name="monthly-run", month="2026-10", operator_id="demo-operator",
                   policy_version="p1", lock="monthly-run:2026-10")
    print("started")
except runs.RunAlreadyRunningError as exc:
    print("refused", exc)
"""


def test_concurrent_starts_one_wins_the_other_is_refused(db_url, tmp_path):
    """Two processes start the same month on a fresh database at once: one run, one clear refusal.

    Before the migration lock the PostgreSQL loser failed with ``UniqueViolation … pg_type``.
    """
    go = tmp_path / "go"
    starters = [subprocess.Popen([sys.executable, "-c", _STARTER, db_url, f"r{i}", str(go)], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for i in (1, 2)]
    go.touch()
    outcomes = [p.communicate(timeout=180) for p in starters]
    assert all(p.returncode == 0 for p in starters), [err for _, err in outcomes]
    first_words = sorted(out.split()[0] for out, _ in outcomes)
    assert first_words == ["refused", "started"], outcomes
    refusal = next(out for out, _ in outcomes if out.startswith("refused"))
    assert "monthly-run 2026-10 run is already RUNNING" in refusal
