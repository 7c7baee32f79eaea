"""Wiping files that held 特定個人情報 and recording the deletion (PIA §3 (4)② ア, SEC-09).

``wipe_file`` overwrites the whole file with random bytes, fsyncs, truncates and unlinks it. On
copy-on-write or wear-levelled storage (SSD, btrfs, cloud volumes) an overwrite cannot guarantee that old
blocks are gone; that is why exports and backups are kept on the city's encrypted volume and backups are
additionally encrypted (crypto-shredding by key retirement, privacy.keys.retire).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from sqlalchemy.orm import Session

from store.privacy_models import DeletionRecord

WIPE_METHOD = "overwrite-random+fsync+unlink"


def wipe_file(path: Path | str, *, chunk: int = 1 << 20) -> int:
    """Overwrite ``path`` with random bytes, fsync, truncate and unlink it; returns its former size."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "r+b", buffering=0) as handle:
        remaining = size
        while remaining > 0:
            n = min(chunk, remaining)
            handle.write(os.urandom(n))
            remaining -= n
        handle.flush()
        os.fsync(handle.fileno())
        handle.truncate(0)
        os.fsync(handle.fileno())
    path.unlink()
    return size


def record_deletion(session: Session, *, operator_id: str, target: str, content: str, record_count: int,
                    method: str, subject_digest: str | None = None, run_id: str | None = None) -> DeletionRecord:
    """Append a 削除・廃棄記録 row (date, operator, what, count, method). Never pass a My Number."""
    from privacy.masking import scrub_my_numbers

    row = DeletionRecord(
        deleted_at=dt.datetime.now(dt.UTC), operator_id=operator_id, target=target[:128],
        content=scrub_my_numbers(content), record_count=int(record_count), method=method[:64],
        subject_digest=subject_digest, run_id=run_id,
    )
    session.add(row)
    session.flush()
    return row
