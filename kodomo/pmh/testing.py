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
from kodomo.privacy.crypto import KeyRing
from store.models import PmhOutbox
from store.pmh_models import PmhResult, PmhSubject

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
    """Rows in ``pmh_result``."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(PmhResult)).scalar_one())


def subprocess_env(db_url: str, pmh_url: str | None, ring: KeyRing, home: str, fault: str | None = None) -> dict:
    """Environment for ``python -m kodomo.pmh.relay`` in a child process."""
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
        env["KODOMO_PMH_FAULT"] = fault
    return env
