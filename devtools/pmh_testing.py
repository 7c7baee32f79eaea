"""Helpers for PMH tests and the benchmark: a loopback simulator, a fast client, invariant checks.

Nothing here runs in production; it is shipped so tests and ``benchmarks/pmh.py`` share one definition.
"""

from __future__ import annotations

import base64
import collections
import os

import requests
from sqlalchemy import Engine, func, select

from connectors.pmh import HttpPmhClient, make_retry
from devtools.faults import FAULT_ENV
from privacy.crypto import KeyRing
from store.models import PmhOutbox
from store.pmh_models import PmhSubject

TOKEN = "test-pmh-token"


def fast_client(url: str, *, timeout: tuple[float, float] = (1.0, 2.0), total: int = 8, **options) -> HttpPmhClient:
    """An HTTP client with tiny backoffs (tests)."""
    return HttpPmhClient(url, TOKEN, timeout=timeout,
                         retry=make_retry(total=total, backoff_factor=0.005, backoff_max=0.05), **options)


def sim_stats(url: str) -> dict:
    """The simulator's own counts (``GET /_sim/stats``)."""
    return requests.get(url + "/_sim/stats", timeout=5).json()


def sim_subjects(url: str) -> dict:
    """The simulator's subjects by municipalityIdentityKey."""
    return requests.get(url + "/_sim/subjects", timeout=5).json()


def outbox_status_counts(engine: Engine) -> dict[str, int]:
    """``{status: rows}`` of the outbox."""
    with engine.connect() as conn:
        rows = conn.execute(select(PmhOutbox.status, func.count()).group_by(PmhOutbox.status)).all()
    return dict(collections.Counter({s: int(n) for s, n in rows}))


def stored_pmh_ids(engine: Engine, ring: KeyRing) -> dict[str, str]:
    """Decrypted PMH-IDs by person (tests only)."""
    with engine.connect() as conn:
        rows = conn.execute(select(PmhSubject.person_id, PmhSubject.pmh_id_enc)).all()
    return {p: ring.decrypt(bytes(b), table="pmh_subject", column="pmh_id", row_key=p) for p, b in rows}


def result_count(engine: Engine) -> int:
    """Outbox rows with PMH's answer stored (``pmh_outbox.result``)."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(PmhOutbox)
                                .where(PmhOutbox.result.is_not(None))).scalar_one())


def subprocess_env(db_url: str, pmh_url: str | None, ring: KeyRing, home: str, fault: str | None = None) -> dict:
    """Environment for ``python -m devtools.pmh_relay_runner`` in a child process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KODOMO_")}
    env.update({
        "KODOMO_HOME": home,
        "KODOMO_DATABASE_URL": db_url,
        "KODOMO_DATA_KEY": base64.b64encode(ring.data_keys[ring.primary_version]).decode(),
        "KODOMO_INDEX_KEY": base64.b64encode(ring.index_key).decode(),
        "PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), env.get("PYTHONPATH")])),
    })
    if pmh_url:
        env["KODOMO_PMH_URL"] = pmh_url
        env["KODOMO_PMH_TOKEN"] = TOKEN
    if fault:
        env[FAULT_ENV] = fault
    return env


def invariants(engine: Engine, ring: KeyRing, url: str) -> dict:
    """REL-04 invariants after a crash and a re-run, from our tables and the simulator's own state."""
    counts = outbox_status_counts(engine)
    stats = sim_stats(url)
    with engine.connect() as conn:
        rows = int(conn.execute(select(func.count()).select_from(PmhOutbox)).scalar_one())
        persons = int(conn.execute(select(func.count(func.distinct(PmhOutbox.person_id)))).scalar_one())
    return {
        "outbox_rows": rows,
        "settled": counts.get("COMPLETED", 0) + counts.get("REJECTED", 0) + counts.get("REJECTED_LOCAL", 0),
        "unsettled": {k: v for k, v in counts.items() if k not in ("COMPLETED", "REJECTED", "REJECTED_LOCAL")},
        "sim_distinct_records": stats["distinct_records"],
        "sim_duplicates": stats["duplicates"],
        "results": result_count(engine),
        "pmh_ids": len(stored_pmh_ids(engine, ring)),
        "persons": persons,
    }


def assert_clean(engine: Engine, ring: KeyRing, url: str) -> dict:
    """Nothing lost, nothing sent twice: every row settled once, every record applied exactly once."""
    inv = invariants(engine, ring, url)
    assert inv["unsettled"] == {}, inv
    assert inv["settled"] == inv["outbox_rows"] == inv["sim_distinct_records"] == inv["results"], inv
    assert inv["sim_duplicates"] == 0, inv
    assert inv["pmh_ids"] == inv["persons"], inv
    return inv


def kill_and_rerun(engine: Engine, ring: KeyRing, url: str, db_url: str, home: str, point: str,
                   start: int, nth: int = 2) -> dict:
    """Run the relay in a child process that SIGKILLs itself at ``point``, then re-run it in-process."""
    import signal
    import subprocess
    import sys

    from devtools.pmh_synthetic import create_subjects
    from services.pmh.relay import RelayOptions, relay_once

    create_subjects(engine, ring, 150, start=start)
    child = subprocess.run(
        [sys.executable, "-m", "devtools.pmh_relay_runner", "--claim-batches", "1"],
        env=subprocess_env(db_url, url, ring, home, fault=f"{point}:kill:{nth}"),
        capture_output=True, timeout=60, check=False,
    )
    assert child.returncode == -signal.SIGKILL, (child.returncode, child.stderr[-2000:])
    before = outbox_status_counts(engine)
    relay_once(engine, fast_client(url), ring, RelayOptions(claim_batches=1, poll_interval_s=0.01,
                                                            result_timeout_s=30))
    return {"before_rerun": before, **assert_clean(engine, ring, url)}
