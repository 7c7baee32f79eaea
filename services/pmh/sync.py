"""The plain steps of the ``pmh-sync`` flow (tasks/pmh.py wraps each in a task).

``send_outbox`` drains the outbox once through the configured client (HTTP when ``settings.pmh_url`` is set,
else file mode), records one access record for the transfer of 特定個人情報 to PMH (security.md SEC-07;
subjects = the 宛名番号 of the rows sent in this run, stored as a count + digest for bulk runs) and returns
counts only. The run itself (begin, COMPLETED/FAILED) is opened by the flow (``tasks.common.run_scope``).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from config.settings import get_settings
from connectors.pmh import make_pmh_client
from privacy.audit import record_access
from privacy.crypto import load_key_ring
from services.pmh.relay import RelayOptions, relay_once
from store.db import engine_for, session_scope
from store.models import PmhOutbox
from store.pmh_models import PmhBatch

SYNC_OPTIONS = RelayOptions(senders=4, claim_batches=8, result_timeout_s=60.0)


def send_outbox(run_id: str, operator_id: str, limit: int | None = None,
                progress: Callable[[int, int], None] | None = None, client=None) -> dict:
    """One relay pass; returns the relay's counts (no personal data)."""
    settings = get_settings()
    own_client = client is None
    client = client or make_pmh_client(settings)
    options = RelayOptions(**{**SYNC_OPTIONS.__dict__, "limit": limit})
    try:
        report = relay_once(engine_for(settings), client, load_key_ring(settings), options, run_id=run_id,
                            progress=progress)
    finally:
        if own_client:
            client.close()
        _record_transfer(run_id, operator_id)
    out = report.as_dict()
    out["mode"] = "http" if client.polls_results else "file"
    return out


def _record_transfer(run_id: str, operator_id: str) -> None:
    """One access record for the rows this run sent (or wrote) to PMH; none if nothing was sent."""
    with session_scope(engine_for()) as session:
        batches = select(PmhBatch.batch_id).where(PmhBatch.run_id == run_id)
        persons = session.execute(select(PmhOutbox.person_id).where(PmhOutbox.batch_id.in_(batches))
                                  .distinct()).scalars().all()
        if persons:
            record_access(session, actor_id=operator_id, action="export", purpose="pmh-registration",
                          subject_ids=persons, record_count=len(persons), run_id=run_id)


def summary_rows(report: dict) -> list[dict]:
    """Table artifact rows: counts and error codes only."""
    rows = [{"measure": k, "value": v} for k, v in report.items() if k not in ("error_codes",)]
    rows += [{"measure": f"error:{code}", "value": n} for code, n in sorted(report["error_codes"].items())]
    return rows

