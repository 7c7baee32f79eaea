"""The one way tasks are declared here.

Every task touches personal data directly or indirectly, so none persists its result and none hashes
its inputs for caching (prefect.md §5: hashing a DataFrame costs ~0.6 s a call, and an input hash of
low-entropy personal data is brute-forceable). Exceptions leaving a task are sanitised by the plain
functions' callers in the task body (``kodomo.privacy.errors``).
"""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE


def pipeline_task(**options: Any):
    """``@task`` with ``persist_result=False`` and ``cache_policy=NO_CACHE`` (overridable only for retries)."""
    settings: dict[str, Any] = {"persist_result": False, "cache_policy": NO_CACHE, "retries": 0, "log_prints": False}
    settings.update(options)
    return task(**settings)
