"""PMH registration throughput: ``python -m benchmarks.pmh --subjects N``.

Starts the simulator in its own process with 20 ms latency, 2 % transient 503s, ≤ 100 records per request,
≤ 200 registration requests/s and (separately) ≤ 400 status polls/s; creates N synthetic subjects (bulk,
encrypted, one PENDING outbox row each); runs the outbox relay until every subject has a PMH-ID; then
counts duplicates and losses from the simulator's own state.

The link's capacity bounds the time from below at N / (100 × 200) s; ``share_of_capacity`` is that bound
divided by the measured ``total_s`` (relay start → last PMH-ID stored; subject creation is ``setup_s``).
CPU seconds of both processes (total and per record) and the load average go with it: on a shared machine
wall time says little; ``cpu_bound_s`` = (client + simulator CPU) / cores is the time an idle machine
would still need. The last printed line is one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import requests

from benchmarks.host import probe_s


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_simulator(config: dict) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")])))
    proc = subprocess.Popen([sys.executable, "-m", "devtools.pmh_simulator", "--port", str(port),
                             "--config", json.dumps(config)], env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(url + "/_sim/stats", timeout=1)
            return proc, url
        except requests.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the simulator did not start")


def _proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print progress lines and a final JSON line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pmh")
    parser.add_argument("--subjects", type=int, default=150_000)
    parser.add_argument("--senders", type=int, default=8, help="HTTP threads of the relay")
    parser.add_argument("--claim-batches", type=int, default=20, help="batches claimed per transaction")
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--rate", type=float, default=200.0, help="registration requests/s (server limit)")
    parser.add_argument("--poll-rate", type=float, default=400.0, help="status polls/s (server limit)")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--error-rate", type=float, default=0.02)
    parser.add_argument("--task-delay-ms", type=float, default=50.0, help="simulated intermediary step")
    parser.add_argument("--no-pacing", action="store_true", help="do not pace the client at the known rate")
    args = parser.parse_args(argv)

    import store.models  # noqa: F401 - registers every table
    from connectors.pmh import HttpPmhClient, make_retry
    from devtools.pmh_synthetic import create_subjects
    from devtools.pmh_testing import outbox_status_counts
    from privacy.crypto import KeyRing
    from services.pmh.relay import RelayOptions, relay_once
    from store.db import Base, make_engine
    from store.pmh_models import PmhSubject

    token = "bench-token"
    probe_before = probe_s()
    sim_config = {"token": token, "latency_ms": args.latency_ms, "error_rate": args.error_rate,
                  "rate_limit": args.rate, "poll_rate_limit": args.poll_rate, "max_records": 100,
                  "task_delay_ms": args.task_delay_ms, "seed": 42}
    workdir = tempfile.mkdtemp(prefix="pmh-bench-")
    url_db = args.database_url or f"sqlite:///{workdir}/bench.db"
    engine = make_engine(url_db)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    ring = KeyRing.generate()
    proc, url = _start_simulator(sim_config)
    try:
        t0 = time.perf_counter()
        create_subjects(engine, ring, args.subjects, run_id="benchmark")
        setup_s = time.perf_counter() - t0
        print(f"setup: {args.subjects} subjects in {setup_s:.2f}s", flush=True)
        client = HttpPmhClient(
            url, token, timeout=(3.05, 10.0), retry=make_retry(total=10, backoff_factor=0.05, backoff_max=1.0),
            register_rate=None if args.no_pacing else args.rate,
            poll_rate=None if args.no_pacing else args.poll_rate, pool_maxsize=args.senders)
        options = RelayOptions(batch_size=100, senders=args.senders, claim_batches=args.claim_batches,
                               poll_interval_s=max(0.02, args.task_delay_ms / 1000 + 0.01),
                               result_timeout_s=30.0)
        last = [0.0]

        def progress(done: int, total: int) -> None:
            now = time.perf_counter()
            if now - last[0] >= 1.0:
                last[0] = now
                print(f"  {now - t1:6.2f}s settled {done}/{total}", flush=True)

        # the setup's objects (frames, ciphertexts) are not the relay's: keep the cyclic GC from re-scanning
        # them during the run (a long-running worker has its start-up heap frozen the same way)
        gc.collect()
        gc.freeze()
        sim_cpu0, cpu0 = _proc_cpu_s(proc.pid), time.process_time()
        t1 = time.perf_counter()
        report = relay_once(engine, client, ring, options, run_id="benchmark", progress=progress)
        total_s = time.perf_counter() - t1
        client_cpu_s, sim_cpu_s = time.process_time() - cpu0, _proc_cpu_s(proc.pid) - sim_cpu0
        client.close()
        stats = requests.get(url + "/_sim/stats", timeout=30).json()
        subjects = requests.get(url + "/_sim/subjects", timeout=60).json()
        with engine.connect() as conn:
            from sqlalchemy import func, select

            stored = int(conn.execute(select(func.count()).select_from(PmhSubject)).scalar_one())
        expected = {f"{n:010d}" for n in range(1, args.subjects + 1)}
        registered = {k for k, v in subjects.items() if v["status"] == "REGISTERED"}
        bound = args.subjects / (100 * args.rate)
        result = {
            "subjects": args.subjects,
            "total_s": round(total_s, 3),
            "share_of_capacity": round(bound / total_s, 4),
            "capacity_bound_s": round(bound, 3),
            "duplicates": int(stats["duplicates"]),
            "lost": len(expected - registered),
            "pmh_ids_stored": stored,
            "missing_pmh_ids": args.subjects - stored,
            "setup_s": round(setup_s, 2),
            "client_cpu_s": round(client_cpu_s, 2),
            "simulator_cpu_s": round(sim_cpu_s, 2),
            "client_cpu_us_per_record": round(client_cpu_s / max(args.subjects, 1) * 1e6, 1),
            "simulator_cpu_us_per_record": round(sim_cpu_s / max(args.subjects, 1) * 1e6, 1),
            # CPU lower bounds: both processes on every core of an idle machine / the client on one core
            "cpu_bound_s": round((client_cpu_s + sim_cpu_s) / (os.cpu_count() or 1), 3),
            "client_cpu_share_of_wall": round(client_cpu_s / total_s, 3),
            "load_average_1m": round(os.getloadavg()[0], 2),
            "host_probe_s": [probe_before, probe_s()],  # benchmarks.host: the machine's speed, before/after
            "requests_register": stats.get("requests_register", 0),
            "requests_poll": stats.get("requests_poll", 0),
            "responses_503": stats.get("responses_503", 0),
            "responses_429": stats.get("responses_429", 0),
            "replays": stats.get("replays", 0),
            "outbox": outbox_status_counts(engine),
            "relay": report.as_dict(),
            "senders": args.senders,
            "database": engine.dialect.name,
            "cpus": os.cpu_count(),
        }
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        engine.dispose()
        shutil.rmtree(workdir, ignore_errors=True)  # the temporary SQLite database (hundreds of MB)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
