"""The benchmark scripts run end to end at a small scale and report what they measured truthfully.

Speed targets live in the benchmarks (figures, not timed tests). These tests keep the scripts working and
check the outcomes their JSON lines assert: a re-run of the same month stores no new decision, the
incremental month decides the same as the full one, every PMH subject is registered once and has its
PMH-ID, and the machine's speed probe is reported beside the figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.host import probe_s
from tests.conftest import PG_ADMIN_URL

ROOT = Path(__file__).resolve().parents[2]


def _run(module: str, *args: str, timeout: int = 600) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in [str(ROOT), os.environ.get("PYTHONPATH")] if p)}
    done = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _probe_pair_is_reported(result: dict) -> None:
    before, after = result["host_probe_s"]
    assert 0 < before < 60 and 0 < after < 60


def test_the_host_probe_times_a_fixed_workload():
    first, second = probe_s(repeats=1), probe_s(repeats=2)
    assert first > 0 and second > 0
    # the same work twice: on any machine the two agree within an order of magnitude
    assert 0.1 < first / second < 10


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_the_monthly_benchmark_reports_a_silent_rerun_and_an_incremental_month_equal_to_the_full_one(database):
    args = ["--children", "400", "--rerun", "--changes", "0.05", "--floor", "--repeat", "2"]
    if database == "postgresql":
        args += ["--database-url", PG_ADMIN_URL]
    result = _run("benchmarks.monthly", *args)
    assert result["database"] == ("sqlite" if database == "sqlite" else "postgresql+psycopg")
    assert result["decisions"] > 300  # most of the 400 generated children are decided
    assert result["rerun_new_decisions"] == 0  # nothing changed: nothing written
    assert result["changes_same_decisions"] is True  # the incremental month = the month decided in full
    assert result["changes_children_recomputed"] < result["decisions"]  # and it decided fewer children
    assert result["floor_s"] > 0 and result["floor_ratio"] > 0
    assert set(result["stages_s"]) == {"read", "validate", "persist", "decide", "export", "summary"}
    assert len(result["total_s_runs"]) == len(result["peak_rss_mb_runs"]) == 2
    # the first load's own peak, within the process's peak over every run
    assert result["peak_rss_mb"] == result["peak_rss_mb_runs"][0]
    assert result["peak_rss_mb_process"] >= max(result["peak_rss_mb_runs"])
    _probe_pair_is_reported(result)


def test_the_pmh_benchmark_registers_every_subject_once_and_stores_every_pmh_id():
    result = _run("benchmarks.pmh", "--subjects", "300", "--error-rate", "0.05")
    assert result["lost"] == 0 and result["duplicates"] == 0
    assert result["pmh_ids_stored"] == 300 and result["missing_pmh_ids"] == 0
    assert result["relay"]["completed"] == 300
    _probe_pair_is_reported(result)
