"""One ``typing.Protocol`` per outside system (style.md point 12).

Implementations: file-backed defaults in ``connectors/files.py`` (and ``FilePmhClient`` in
``connectors/pmh.py``), HTTP implementations in ``connectors/http_*.py`` and ``connectors/pmh.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

# =====================================================================================================
# PMH (Public Medical Hub) — registration of subsidy subjects (issue 4; owner: PMH linkage).
# Self-contained section: the types below are used by connectors/pmh.py and kodomo/pmh/.
# =====================================================================================================


@dataclass(frozen=True)
class PmhReceipt:
    """PMH accepted a registration request: the asynchronous task id (None in file mode)."""

    task_id: str | None
    record_count: int
    replayed: bool = False
    location: str | None = None  # file mode: the written file (relative to the outbox)


@dataclass(frozen=True)
class PmhRecordResult:
    """PMH's answer for one record of a task (index = position in the request array)."""

    index: int
    result: str  # REGISTERED, DELETED or ERROR
    pmh_id: str | None = None
    error_code: str | None = None


@dataclass(frozen=True)
class PmhTaskStatus:
    """State of a registration task: PROCESSING, or COMPLETED with per-record results."""

    task_id: str
    status: str
    results: Sequence[PmhRecordResult] = field(default_factory=tuple)

    @property
    def completed(self) -> bool:
        return self.status == "COMPLETED"


@runtime_checkable
class PmhClient(Protocol):
    """Registration API of PMH (医療費助成対象者情報登録API, pmh_interfaces.md §1.2).

    ``submit`` sends one batch (a JSON array of ≤ 100 records) under an Idempotency-Key and returns the
    task; re-submitting the same key and body returns the original task. ``poll`` reads a task's results.
    Errors: ``connectors.pmh.PmhRejected`` (4xx, PMH's codes) and ``PmhUnavailable`` (outcome unknown).
    """

    #: False for the file client (no task to poll; rows end as SENT until a manual upload).
    polls_results: bool

    def submit(self, records: Sequence[Mapping], idempotency_key: str) -> PmhReceipt: ...

    def poll(self, task_id: str) -> PmhTaskStatus: ...

    def close(self) -> None: ...


# ===================================================================================== end of PMH ====
