"""Benchmark of the monthly run, stage by stage.

``python -m benchmarks.monthly --children N [--database-url URL] [--rerun]`` generates a synthetic inbox
(not timed), then runs the monthly pipeline's stages — the same plain functions the Prefect tasks wrap —
on a fresh database and prints per-stage seconds. ``--rerun`` times a second run of the same month (it
must write nothing). The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text


def _fresh_database(url: str | None, workdir: Path) -> tuple[str, callable]:
    if not url:
        return f"sqlite:///{workdir / 'bench.db'}", lambda: None
    name = f"kb_{uuid.uuid4().hex[:10]}"
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    return url.rsplit("/", 1)[0] + f"/{name}", drop


def run_stages(inbox: Path, month: str, url: str, home: Path, ring) -> dict[str, float]:
    """Run every stage once with the key ring ``ring``; return seconds per stage."""
    from policy import load_policy
    from services import runs
    from services.eligibility import decide
    from services.intake import ingest, persist
    from services.notices import lists as export
    from services.notices import summary
    from store import migrate
    from store.db import make_engine, session_scope

    timings: dict[str, float] = {}
    engine = make_engine(url)
    policy = load_policy()
    run_id = f"bench-{uuid.uuid4()}"

    def timed(name, fn):
        start = time.perf_counter()
        result = fn()
        timings[name] = round(time.perf_counter() - start, 3)
        return result

    timed("migrate", lambda: migrate.upgrade(url))
    with engine.begin() as conn:
        runs.start_run(conn, run_id=run_id, flow_name="benchmark", month=month, operator_id="demo-operator",
                       policy_version=policy.version)
    raw = timed("read", lambda: ingest.read_inbox(inbox))
    manifest = json.loads((inbox / "manifest.json").read_text())
    box = timed("validate", lambda: ingest.validate_inbox(raw, manifest.get("extract_date")))

    def _persist():
        with session_scope(engine) as session:
            conn = session.connection()
            runs.record_inputs(conn, run_id=run_id, inputs=box.inputs)
            runs.record_quarantine(conn, run_id=run_id, quarantine=box.quarantine)
            persist.persist_inputs(conn, box.frames, ring, run_id)
            persist.record_ingest_access(session, inbox=box, operator_id="demo-operator", run_id=run_id)

    timed("persist", _persist)

    def _decide():
        with session_scope(engine) as session:
            return decide.decide_month(session, month=month, policy=policy, run_id=run_id,
                                       operator_id="demo-operator")

    decided = timed("decide", _decide)

    def _export():
        with session_scope(engine) as session:
            return export.export_month_lists(session, month, ring, home / "outbox", operator_id="demo-operator",
                                             run_id=run_id)

    timed("export", _export)
    with engine.connect() as conn:
        timed("summary", lambda: summary.month_summary(conn, month=month, run_id=run_id, counts={}))
    engine.dispose()
    timings["_decisions"] = decided.get("new_decisions", 0)
    return timings


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--children", type=int, default=160_000)
    parser.add_argument("--month", default="2026-10")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database-url", help="PostgreSQL server URL (a fresh database is created on it)")
    parser.add_argument("--rerun", action="store_true", help="also time a re-run of the same month")
    args = parser.parse_args(argv)

    from devtools.generate import generate_dataset
    from privacy.crypto import KeyRing

    workdir = Path(tempfile.mkdtemp(prefix="kodomo-bench-"))
    try:
        inbox = workdir / "inbox"
        start = time.perf_counter()
        generate_dataset(inbox, children=args.children, seed=args.seed, as_of="2026-10-31")
        generate_s = round(time.perf_counter() - start, 3)
        url, drop = _fresh_database(args.database_url, workdir)
        try:
            ring = KeyRing.generate()  # one key ring for both runs, as in production
            first = run_stages(inbox, args.month, url, workdir, ring)
            second = run_stages(inbox, args.month, url, workdir, ring) if args.rerun else None
        finally:
            drop()
        decisions = first.pop("_decisions")
        stages = {k: v for k, v in first.items() if k != "migrate"}
        result = {
            "children": args.children,
            "database": url.split(":", 1)[0],
            "generate_s": generate_s,
            "total_s": round(sum(stages.values()), 3),
            "stages_s": stages,
            "decisions": decisions,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
        if second is not None:
            rerun_decisions = second.pop("_decisions")
            rerun_stages = {k: v for k, v in second.items() if k != "migrate"}
            result["rerun_total_s"] = round(sum(rerun_stages.values()), 3)
            result["rerun_stages_s"] = rerun_stages
            result["rerun_new_decisions"] = rerun_decisions
        print(json.dumps(result))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
