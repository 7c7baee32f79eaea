"""States of the PMH relay: the life of a ``pmh_outbox`` row and of a ``pmh_batch``, and the hook points.

Outbox row (docs/pmh.md):

``PENDING`` → (claim: one transaction sets ``SENDING`` + ``batch_id`` and inserts the ``pmh_batch`` row) →
send → ``SENT`` (PMH accepted the task; file mode: the file is complete) → poll → ``COMPLETED`` (PMH-ID
stored) or ``REJECTED`` (PMH's per-record error code). When the task's results are in before the send is
recorded, one transaction records both: ``SENDING`` → ``COMPLETED`` (or ``REJECTED``) with ``sent_at`` set
(``services.pmh.relay.OutboxRelay._flush``). Rows that fail local validation become
``REJECTED_LOCAL`` at claim time and are never sent. If PMH stays unavailable the rows become ``FAILED``
and keep their ``batch_id``; rows found ``SENDING`` or ``FAILED`` at the start of a run are re-sent as the
same batch with the same Idempotency-Key.

Batch: ``SENDING`` → ``SENT`` (a task to poll) or ``WRITTEN`` (file mode) → ``COMPLETED`` (or straight
``SENDING`` → ``COMPLETED``, as its rows); ``REJECTED``
(4xx) or ``FAILED`` (unavailable, or the task was lost).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

#: outbox statuses that are final
SETTLED = ("COMPLETED", "REJECTED", "REJECTED_LOCAL")
#: outbox statuses a new run re-sends with the batch's original key
UNSETTLED = ("SENDING", "FAILED")

#: Prefix of a code PMH gave, as stored in ``pmh_outbox.last_error`` (local checks use ``LOCAL_``).
PMH_ERROR_PREFIX = "PMH_"


def pmh_error(code: object) -> str:
    """``last_error`` text for an error code PMH gave, cut to 120 characters as the relay has always stored it."""
    return f"{PMH_ERROR_PREFIX}{code}"[:120]


#: Named points between the relay's commits where a crash leaves the most interesting state behind.
#: The relay calls its ``fault_hook`` (a no-op in production) with the point's name; the crash-matrix
#: tests pass devtools.faults.fault_point, which raises or SIGKILLs the process there.
FAULT_POINTS = (
    "after_claim_commit", "before_send", "after_send_before_commit", "after_send_commit",
    "after_poll_before_commit",
)
FaultHook = Callable[[str], None]


def no_fault(point: str) -> None:
    """The production hook: nothing happens at a fault point."""


@dataclass
class Batch:
    """A claimed batch on its way to PMH: its key, its outbox ids and (until sent) its records."""

    batch_id: str
    ids: list[int]
    records: list[dict]
    resend: bool = False
