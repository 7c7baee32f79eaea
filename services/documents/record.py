"""The access-log row for a print: who printed whose documents, why, how many pages."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from privacy.audit import record_access
from services.documents.batch import PrintBatch
from services.documents.model import Document


def record_print(session: Session, batch: PrintBatch, documents: Sequence[Document], *, operator_id: str,
                 purpose: str, run_id: str | None = None) -> None:
    """Record (action ``print``) the persons whose personal data was decrypted and rendered in ``batch``.

    Call it in the transaction that read the personal data, after :func:`write_batch` succeeded; a failed
    rendering raises before this and the caller records ``outcome="failed"`` if it wants to.
    """
    if not documents:
        return
    record_access(session, actor_id=operator_id, action="print", purpose=purpose,
                  subject_ids=[d.person_id for d in documents], record_count=batch.pages, run_id=run_id)
