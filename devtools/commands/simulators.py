"""The local simulators of the outside systems (development and demo only; synthetic data).

* ``python -m devtools pmh-sim --port 8787 [--latency-ms --error-rate --rate-limit --poll-rate-limit --timeout-rate
  --drop-after-commit-rate --task-delay-ms --record-error-rate --max-records --token --state-file --seed]`` —
  the local PMH simulator (docs/pmh.md). The token defaults to ``KODOMO_PMH_TOKEN`` or ``sim-token``.
* ``python -m devtools inquiry-sim --port 8788 [--data DIR] [--latency S] [--error-rate R] [--rate-limit-rate R]
  [--retry-after S] [--timeout-rate R] [--hang S] [--seed N]`` — the local inquiry simulator.
"""

from __future__ import annotations

import os

from devtools import inquiry_sim
from devtools.pmh_simulator import SimConfig, SimServer


def register(subparsers) -> None:
    """Add ``pmh-sim`` and ``inquiry-sim``."""
    sim = subparsers.add_parser("pmh-sim", help="serve the local PMH registration API simulator")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8787)
    sim.add_argument("--token", default=None, help="expected bearer token (default: KODOMO_PMH_TOKEN or sim-token)")
    sim.add_argument("--latency-ms", type=float, default=0.0, help="added to every API answer")
    sim.add_argument("--error-rate", type=float, default=0.0, help="share of 503 answers (before any effect)")
    sim.add_argument("--rate-limit", type=float, default=None, help="registration requests per second (429 above)")
    sim.add_argument("--poll-rate-limit", type=float, default=None, help="status polls per second (429 above)")
    sim.add_argument("--burst", type=int, default=None, help="token-bucket size (default: rate/10)")
    sim.add_argument("--timeout-rate", type=float, default=0.0, help="share of accepted POSTs answered too late")
    sim.add_argument("--timeout-sleep-s", type=float, default=15.0, help="how late (seconds)")
    sim.add_argument("--drop-after-commit-rate", type=float, default=0.0,
                     help="share of accepted POSTs whose connection is closed without an answer")
    sim.add_argument("--task-delay-ms", type=float, default=200.0, help="duration of the intermediary step")
    sim.add_argument("--record-error-rate", type=float, default=0.0, help="share of records PMH cannot match")
    sim.add_argument("--max-records", type=int, default=100, help="records per request")
    sim.add_argument("--state-file", default=None, help="keep the simulator state in this JSON file")
    sim.add_argument("--seed", type=int, default=0)
    sim.set_defaults(func=_pmh_sim)


    sim = subparsers.add_parser("inquiry-sim", help="serve the local inquiry simulator (synthetic data)")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8788)
    sim.add_argument("--data", help="directory with registry.csv, tax.csv, jukinet.csv, intermediary_income.csv")
    sim.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    sim.add_argument("--error-rate", type=float, default=0.0, help="share of 503 answers")
    sim.add_argument("--rate-limit-rate", type=float, default=0.0, help="share of 429 answers")
    sim.add_argument("--retry-after", type=int, default=1, help="Retry-After seconds on 429")
    sim.add_argument("--timeout-rate", type=float, default=0.0, help="share of requests that hang")
    sim.add_argument("--hang", type=float, default=5.0, help="seconds a hanging request waits")
    sim.add_argument("--seed", type=int)
    sim.set_defaults(func=_inquiry_sim)


def _pmh_sim(args) -> int:
    config = SimConfig(
        token=args.token or os.environ.get("KODOMO_PMH_TOKEN") or "sim-token",
        latency_ms=args.latency_ms, error_rate=args.error_rate, rate_limit=args.rate_limit,
        poll_rate_limit=args.poll_rate_limit, burst=args.burst, timeout_rate=args.timeout_rate,
        timeout_sleep_s=args.timeout_sleep_s, drop_after_commit_rate=args.drop_after_commit_rate,
        task_delay_ms=args.task_delay_ms, record_error_rate=args.record_error_rate, max_records=args.max_records,
        state_file=args.state_file, seed=args.seed,
    )
    server = SimServer(config, host=args.host, port=args.port)
    print(f"PMH simulator on http://{args.host}:{args.port} (stats: /_sim/stats)", flush=True)
    server.serve_forever()
    return 0



def _inquiry_sim(args) -> int:
    faults = inquiry_sim.FaultConfig(default=inquiry_sim.Faults(
        latency_s=args.latency, error_rate=args.error_rate, rate_limit_rate=args.rate_limit_rate,
        retry_after_s=args.retry_after, timeout_rate=args.timeout_rate, hang_s=args.hang), seed=args.seed)
    inquiry_sim.run(args.host, args.port, args.data, faults)
    return 0
