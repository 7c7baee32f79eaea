"""Adapter tasks of the PMH sync: each wraps one plain function of :mod:`services.pmh.sync`.

All tasks: ``persist_result=False``, ``cache_policy=NO_CACHE``, ``retries=0`` (tasks.common.pipeline_task);
HTTP retries live only in the connector (style.md point 8). The send task holds a slot of the global
concurrency limit ``pmh-api`` (``strict=False``: without a pre-created limit it runs unthrottled), shows a
progress artifact while sending and returns counts only.
"""

from __future__ import annotations

import time

from prefect.artifacts import create_progress_artifact, create_table_artifact, update_progress_artifact
from prefect.concurrency.sync import concurrency

from privacy.errors import sanitised
from services.pmh import sync as steps
from tasks.common import authorise_operator, begin_run, finish_run, pipeline_task

PMH_CONCURRENCY_LIMIT = "pmh-api"

# The run bookkeeping tasks are the shared ones (tasks.common), re-exported for callers of this task set.
__all__ = ["PMH_CONCURRENCY_LIMIT", "authorise_operator", "begin_run", "finish_run", "publish_summary", "send_outbox"]


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
    with concurrency(PMH_CONCURRENCY_LIMIT, occupy=1, strict=False):
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
