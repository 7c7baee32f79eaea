"""Benchmark: one move-in case, trigger → PMH registered, on a warm worker.

``python -m benchmarks.movein [--database-url URL] [--repeat N] [--inquiry-latency S]``

Starts the inquiry simulator and the PMH simulator on loopback ports (HTTP mode for both), a fresh
database (SQLite in a temporary directory, or a new PostgreSQL database next to ``--database-url``) and
runs one warm-up case in this process (imports, policy, key ring, engine, Prefect's ephemeral API). Then
it times, per repetition, one *new* synthetic household from the call of the ``move-in`` flow until its PMH
outbox rows are ``COMPLETED`` with a PMH-ID stored.

The last line printed is one JSON object with ``total_s`` (the median case) and the per-case figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, select, text

from benchmarks.host import probe_s

AS_OF = dt.date(2026, 11, 2)


def _fresh_database(url: str | None, workdir: Path):
    if not url:
        return f"sqlite:///{workdir / 'bench.db'}", lambda: None
    name = f"kbm_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        from store.db import dispose_engines

        dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    return url.rsplit("/", 1)[0] + f"/{name}", drop


def _registered(engine, person_ids: list[str]) -> bool:
    from store.models import PmhOutbox

    with engine.connect() as conn:
        statuses = conn.execute(select(PmhOutbox.status).where(PmhOutbox.person_id.in_(person_ids))).scalars().all()
    return bool(statuses) and all(s == "COMPLETED" for s in statuses)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the JSON summary last."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.movein")
    parser.add_argument("--database-url", help="PostgreSQL URL (a fresh database is created next to it)")
    parser.add_argument("--repeat", type=int, default=3, help="timed cases (each a new household)")
    parser.add_argument("--inquiry-latency", type=float, default=0.0, help="simulated seconds per inquiry")
    args = parser.parse_args(argv)

    probe_before = probe_s()
    workdir = Path(tempfile.mkdtemp(prefix="kodomo-bench-movein-"))
    url, drop = _fresh_database(args.database_url, workdir)
    os.environ.update({"KODOMO_HOME": str(workdir / "home"), "KODOMO_DATABASE_URL": url})
    # Flow mode uses Prefect's ephemeral API in this process; give it time to start on a busy machine.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")

    from devtools import inquiry_sim
    from devtools import movein_demo as demo
    from devtools.pmh_simulator import SimConfig, SimServer

    households = [demo.demo_household(n, move_in_date=dt.date(2026, 10, 20)) for n in range(1, args.repeat + 2)]
    inquiry_dir = demo.write_inquiry_dir(workdir / "inquiry", households)
    sim = inquiry_sim.InquirySimulator(inquiry_sim.InquiryData.from_directory(inquiry_dir),
                                       inquiry_sim.FaultConfig(default=inquiry_sim.Faults(latency_s=args.inquiry_latency)))
    timings: list[dict] = []
    with inquiry_sim.serve_in_thread(sim) as inquiry, SimServer(SimConfig(token="bench-token")) as pmh:
        os.environ.update({"KODOMO_CONNECTOR": "http", "KODOMO_INQUIRY_URL": inquiry.base_url,
                           "KODOMO_PMH_URL": pmh.url, "KODOMO_PMH_TOKEN": "bench-token"})
        from config.settings import get_settings
        from devtools.credentials import enrol_demo_operators
        from devtools.movein_testing import open_demo_case, prepared_engine
        from flows.movein import move_in
        from flows.parameters import MoveInCase

        get_settings.cache_clear()
        enrol_demo_operators()  # the flow accepts demo-operator only with a proof (privacy.operators)
        engine = prepared_engine(url)

        def run_case(h) -> dict:
            case = MoveInCase(case_id=open_demo_case(h.child_ids[0], engine=engine, application_date=AS_OF),
                              operator_id="demo-operator", income_source="not_yet",
                              insurer_number="01040013", as_of=AS_OF, send_to_pmh=True)
            started = time.perf_counter()
            move_in(case=case)
            elapsed = time.perf_counter() - started
            return {"total_s": round(elapsed, 3), "registered": _registered(engine, list(h.child_ids))}

        warm = run_case(households[0])
        for h in households[1:]:
            timings.append(run_case(h))
    drop()
    totals = [t["total_s"] for t in timings]
    result = {
        "benchmark": "movein",
        "mode": "flow",
        "database": "postgresql" if args.database_url else "sqlite",
        "warmup_s": warm["total_s"],
        "cases": timings,
        "total_s": round(statistics.median(totals), 3),
        "max_s": max(totals),
        "all_registered": all(t["registered"] for t in timings) and warm["registered"],
        "target_s": 5.0,
        "host_probe_s": [probe_before, probe_s()],  # benchmarks.host: the machine's speed, before/after
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
