"""``python -m devtools.pmh_relay_runner``: one relay run with the process settings, for the crash tests.

The child process of tests/integration/test_pmh_kill_*.py: it runs the relay with
:func:`devtools.faults.fault_point` as its fault hook, so ``KODOMO_PMH_FAULT`` can SIGKILL it at a named
point. Production runs the relay through the ``pmh-sync`` flow and command, which have no fault hook.
"""

from __future__ import annotations

import argparse
import json
import os

from config.settings import get_settings
from connectors.pmh import make_pmh_client
from devtools.faults import fault_point
from privacy.crypto import load_key_ring
from services.pmh.relay import RelayOptions, relay_once
from store.db import make_engine


def main(argv: list[str] | None = None) -> int:
    """Run the relay once; print its counts as one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m devtools.pmh_relay_runner")
    parser.add_argument("--senders", type=int, default=1)
    parser.add_argument("--claim-batches", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--limit", type=int)
    args = parser.parse_args(argv)
    settings = get_settings()
    engine = make_engine(settings.resolved_database_url)
    client = make_pmh_client(settings)
    try:
        report = relay_once(engine, client, load_key_ring(settings, create=False), RelayOptions(
            senders=args.senders, claim_batches=args.claim_batches, batch_size=args.batch_size,
            limit=args.limit), run_id=f"cli-{os.getpid()}", fault_hook=fault_point)
    finally:
        client.close()
        engine.dispose()
    print(json.dumps(report.as_dict()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
