"""PMH commands.

* ``kodomo pmh-sim --port 8787 [--latency-ms --error-rate --rate-limit --poll-rate-limit --timeout-rate
  --drop-after-commit-rate --task-delay-ms --record-error-rate --max-records --token --state-file --seed]`` —
  the local PMH simulator (docs/pmh.md). The token defaults to ``KODOMO_PMH_TOKEN`` or ``sim-token``.
* ``kodomo pmh-sync [--operator ID] [--limit N] [--no-prefect]`` — drain the PMH outbox (the ``pmh-sync``
  flow; ``--no-prefect`` runs the same steps without Prefect). Prints counts only.
"""

from __future__ import annotations

import json
import os


def register(subparsers) -> None:
    """Add ``pmh-sim`` and ``pmh-sync``."""
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
    sim.set_defaults(func=_sim)

    sync = subparsers.add_parser("pmh-sync", help="send queued PMH registrations and collect PMH-IDs")
    sync.add_argument("--operator", default="system-scheduler", help="staff or system id (needs 'run')")
    sync.add_argument("--limit", type=int, default=None, help="at most this many new outbox rows")
    sync.add_argument("--no-prefect", action="store_true", help="run the steps without Prefect")
    sync.set_defaults(func=_sync)


def _sim(args) -> int:
    from kodomo.pmh.simulator import SimConfig, SimServer

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


def _sync(args) -> int:
    if args.no_prefect:
        from kodomo.pmh import sync as steps
        from kodomo.privacy.operators import require_operator

        operator = require_operator(args.operator, "run").operator_id
        run_id = steps.begin_run(operator)
        try:
            report = steps.send_outbox(run_id, operator, args.limit)
        except BaseException:
            steps.finish_run(run_id, "FAILED", {})
            raise
        steps.finish_run(run_id, "COMPLETED", report)
    else:
        from flows.pmh_sync import pmh_sync

        report = pmh_sync(operator_id=args.operator, limit=args.limit)
    print(json.dumps(report, ensure_ascii=False))
    return 0
