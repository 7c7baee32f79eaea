"""Adapter tasks of the PMH sync: each wraps one plain function of :mod:`services.pmh.sync`.

All tasks: ``persist_result=False``, ``cache_policy=NO_CACHE``, ``retries=0`` (tasks.common.pipeline_task);
HTTP retries live only in the connector (style.md point 8). The send task holds a slot of the global
concurrency limit ``pmh-api`` (created with one slot by :func:`ensure_pmh_limit` when the Prefect server
does not have it yet; an operator may raise it), shows a progress artifact while sending and returns counts
only.
"""

from __future__ import annotations

import contextlib
import time

from prefect.artifacts import create_progress_artifact, create_table_artifact, update_progress_artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

from privacy.errors import sanitised
from services.pmh import sync as steps
from tasks.common import pipeline_task

PMH_CONCURRENCY_LIMIT = "pmh-api"
#: Slots of ``pmh-api`` when the project creates it: one relay pass against PMH at a time.
PMH_CONCURRENCY_SLOTS = 1


def ensure_pmh_limit() -> None:
    """Create the ``pmh-api`` global concurrency limit if the Prefect server does not have it (never changes it)."""
    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(PMH_CONCURRENCY_LIMIT)
        except ObjectNotFound:
            with contextlib.suppress(ObjectAlreadyExists):  # another run created it meanwhile
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=PMH_CONCURRENCY_LIMIT, limit=PMH_CONCURRENCY_SLOTS))


class _Progress:
    """Throttled progress artifact updates (at most every 2 % or every second)."""

    def __init__(self) -> None:
        self.artifact_id = create_progress_artifact(progress=0.0, key="pmh-sync-progress",
                                                    description="PMH registration: records settled (%)")
        self._last, self._stamp = 0.0, time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        value = round(min(100.0, 100.0 * done / max(total, 1)), 1)
        now = time.monotonic()
        if value >= 100.0 or value - self._last >= 2.0 or now - self._stamp >= 1.0:
            update_progress_artifact(self.artifact_id, progress=value)
            self._last, self._stamp = value, now


@pipeline_task(name="send-pmh-outbox", retries=0)
@sanitised(stage="pmh_send")
def send_outbox(run_id: str, operator_id: str, limit: int | None = None) -> dict:
    """Drain the outbox once (one slot of ``pmh-api``); returns counts and error codes."""
    ensure_pmh_limit()
    with concurrency(PMH_CONCURRENCY_LIMIT, occupy=1, strict=True):
        progress = _Progress()
        report = steps.send_outbox(run_id, operator_id, limit, progress=progress)
        update_progress_artifact(progress.artifact_id, progress=100.0)
    return report


@pipeline_task(name="publish-pmh-summary")
@sanitised(stage="publish_summary")
def publish_summary(report: dict) -> dict:
    """Table artifact with counts and error codes (no personal data); returns the same counts."""
    create_table_artifact(key="pmh-sync-summary", table=steps.summary_rows(report),
                          description="PMH sync: counts and error codes")
    return report
