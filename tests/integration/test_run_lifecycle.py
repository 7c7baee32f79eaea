"""Run lifecycle under Prefect: flow-run names, one running run per kind, ABANDONED runs, the ``pmh-api``
limit the project creates, and the temporary Prefect server of a shell command (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import httpx
import pytest
from prefect.client.orchestration import get_client
from sqlalchemy import func, select

from flows import parameters
from services import runs
from store import migrate
from store.db import engine_for
from store.models import PmhOutbox, Run

pytestmark = pytest.mark.integration


def _run_rows(engine, flow_name: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(Run.run_id, Run.status, Run.lock_key)
                                               .where(Run.flow_name == flow_name).order_by(Run.started_at))]


def test_flow_run_names_carry_the_month_day_or_case(monkeypatch):
    def named(**params):
        monkeypatch.setattr(parameters, "flow_run", SimpleNamespace(parameters=params))

    named(month="2026-10")
    assert parameters.monthly_run_name() == "monthly-run 2026-10"
    assert parameters.benefit_run_name() == "benefit-run 2026-10"
    named(month=None)
    assert parameters.monthly_run_name() == f"monthly-run {parameters.previous_month()}"
    assert parameters.previous_month(dt.date(2026, 1, 1)) == "2025-12"
    named(case={"case_id": "MI-2026-0001", "person_id": "1000000017"})
    assert parameters.move_in_name() == "move-in MI-2026-0001"
    named(case={"case_id": None, "person_id": "1000000017"})
    assert parameters.move_in_name() == "move-in (new case)"  # never the 宛名番号
    named(as_of=dt.date(2026, 11, 20))
    assert parameters.resident_changes_name() == "resident-changes 2026-11-20"
    assert parameters.pmh_sync_name() == f"pmh-sync {parameters.city_today().isoformat()}"


def test_pmh_sync_run_is_named_creates_its_limit_and_refuses_a_second_run(prefect_harness, kodomo_env):
    from flows.pmh_sync import pmh_sync
    from tasks.pmh import PMH_CONCURRENCY_LIMIT

    state = pmh_sync(operator_id="demo-operator", return_state=True)
    assert state.is_completed()
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(state.state_details.flow_run_id)
        limit = client.read_global_concurrency_limit_by_name(PMH_CONCURRENCY_LIMIT)
    assert flow_run.name == f"pmh-sync {parameters.city_today().isoformat()}"
    assert limit.limit == 1  # created by the project: no "limit not found" warning on every run

    engine = engine_for(kodomo_env)
    # a run of this kind still RUNNING in a live process (this one): the next is refused, clearly
    with engine.begin() as conn:
        runs.start_run(conn, run_id="local-holder", flow_name="pmh-sync", month=None, operator_id="demo-operator",
                       policy_version="n/a", lock=runs.lock_key("pmh-sync", None))
    with pytest.raises(runs.RunAlreadyRunningError, match="pmh-sync run is already RUNNING"):
        pmh_sync(operator_id="demo-operator")
    # its process is gone: it is marked ABANDONED at the next run, which proceeds
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    with engine.begin() as conn:
        conn.execute(Run.__table__.update().where(Run.run_id == "local-holder").values(pid=int(gone.stdout)))
    pmh_sync(operator_id="demo-operator")
    rows = {run_id: (status, lock) for run_id, status, lock in _run_rows(engine, "pmh-sync")}
    assert rows.pop("local-holder") == ("ABANDONED", None)
    assert sorted(rows.values()) == [("COMPLETED", None), ("COMPLETED", None)]  # the refused run left no row


def test_running_row_whose_flow_run_crashed_is_abandoned(prefect_harness, kodomo_env):
    """Same process still alive, but Prefect says the flow run is over: the row is ABANDONED."""
    from prefect.states import Crashed

    from flows.pmh_sync import pmh_sync

    migrate.upgrade(kodomo_env.resolved_database_url)
    with get_client(sync_client=True) as client:
        created = client.create_flow_run(flow=pmh_sync, name="pmh-sync crashed", state=Crashed())
    engine = engine_for(kodomo_env)
    with engine.begin() as conn:
        runs.start_run(conn, run_id=str(created.id), flow_name="pmh-sync", month=None, operator_id="demo-operator",
                       policy_version="n/a", lock=runs.lock_key("pmh-sync", None))
    pmh_sync(operator_id="demo-operator")
    statuses = {run_id: status for run_id, status, _ in _run_rows(engine, "pmh-sync")}
    assert statuses.pop(str(created.id)) == "ABANDONED" and list(statuses.values()) == ["COMPLETED"]


_HOLD_SERVER = """
import time
from cli.local_prefect import prefect_api
with prefect_api() as url:
    print(url, flush=True)
    time.sleep(600)
"""


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by init) counts as gone
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(")")[-1].split()[0] != "Z"


def test_killed_command_leaves_no_temporary_prefect_server_and_telemetry_is_off(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(tmp_path / "prefect")
    env.pop("PREFECT_SERVER_ANALYTICS_ENABLED", None)  # the project switches it off itself
    command = subprocess.Popen([sys.executable, "-c", _HOLD_SERVER], stdout=subprocess.PIPE, text=True, env=env)
    try:
        url = command.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        settings = httpx.get(f"{url}/admin/settings", timeout=30).json()
        assert settings["server"]["analytics_enabled"] is False
        servers = _children(command.pid)
        assert servers, "the temporary server runs as a child of the command"
        command.send_signal(signal.SIGKILL)
        command.wait(30)
        deadline = time.monotonic() + 30
        while any(_alive(p) for p in servers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(p) for p in servers), "the temporary Prefect server outlived the killed command"
    finally:
        if command.poll() is None:
            command.kill()



_FLOW_WITH_LOGS = """
from prefect import flow, get_run_logger
from cli.local_prefect import prefect_api

@flow(name="log-at-the-end", persist_result=False)
def log_at_the_end():
    for n in range(50):
        get_run_logger().info("line %s", n)

with prefect_api():
    log_at_the_end()
"""


def test_a_shell_flow_sends_its_logs_before_the_temporary_server_stops(tmp_path):
    """Logs still queued when the flow returns were sent at exit to a stopped server ("Error logging to
    API", and a long wait); they are now drained while the server still runs."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(tmp_path / "prefect")
    env["PREFECT_LOGGING_LEVEL"] = "INFO"
    done = subprocess.run([sys.executable, "-c", _FLOW_WITH_LOGS], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Error logging to API" not in done.stderr + done.stdout


def test_a_monthly_run_completes_while_the_daily_pmh_sync_is_running(prefect_harness, kodomo_env, tmp_path):
    """The month is decided and stored; its PMH step is left to the running sync instead of failing the run."""
    from devtools.generate import generate_dataset
    from flows.monthly import monthly_run

    inbox = tmp_path / "inbox"
    generate_dataset(inbox, children=40, seed=31, as_of="2026-10-31")
    migrate.upgrade(kodomo_env.resolved_database_url)
    engine = engine_for(kodomo_env)
    with engine.begin() as conn:  # the daily sync, RUNNING in a live process (this one)
        runs.start_run(conn, run_id="daily-sync", flow_name="pmh-sync", month=None, operator_id="demo-operator",
                       policy_version="n/a", lock=runs.lock_key("pmh-sync", None))
    summary = monthly_run(month="2026-10", inbox=str(inbox), operator_id="demo-operator", run_benefits=False)
    assert summary["pmh"] == {"skipped": "pmh-sync already running (it sends this month's rows)"}
    assert sum(summary["decisions"].values()) > 0
    statuses = {status for _, status, _ in _run_rows(engine, "monthly-run")}
    assert statuses == {"COMPLETED"}
    with engine.connect() as conn:  # the month's PMH rows wait in the outbox for the running sync
        assert conn.execute(select(func.count()).select_from(PmhOutbox.__table__)
                            .where(PmhOutbox.status == "PENDING")).scalar() > 0
