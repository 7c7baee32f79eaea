"""Key-ring management: init, rotate (re-encrypt every registered column), status, retire (SEC-05).

Rotation follows the key-set design (security.md §3.1, Tink): the ring first gains a new data key that
becomes primary and is saved to its source; then every registered ciphertext (privacy.registry)
under an older version is decrypted and re-encrypted under the primary, in batches, each batch one
transaction that also writes one access record. A crash in between leaves a mix of versions that all
still decrypt; ``kodomo keys reencrypt`` finishes the job. Only when ``status`` shows no ciphertext
under an old version may ``retire`` drop it from the ring.

Backups (privacy.backup) are encrypted under a key derived from a data-key version; retiring that
version crypto-shreds those backups, so ``retire`` refuses while a backup still uses it unless
``shred_backups=True``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, MetaData, Table, bindparam, select, update

from privacy.crypto import KeyRing, KeyRingError, load_key_ring, save_key_ring
from privacy.registry import EncryptedColumn, encrypted_columns


class KeyManagementError(Exception):
    """A key operation is not possible (no key material in the message)."""

    safe_message = True


def ring_source(settings) -> str:
    """Where the ring lives: ``env``, ``secret-block`` or ``file``."""
    if settings.data_key is not None and settings.index_key is not None:
        return "env"
    if settings.key_secret_block:
        return "secret-block"
    return "file"


def init_ring(settings) -> tuple[KeyRing, bool]:
    """Create the key file if missing; returns (ring, created)."""
    source = ring_source(settings)
    if source != "file":
        return load_key_ring(settings), False
    path: Path = settings.resolved_key_file
    if path.exists():
        return load_key_ring(settings, create=False), False
    ring = KeyRing.generate()
    save_key_ring(ring, path)
    return ring, True


def save_ring(settings, ring: KeyRing) -> None:
    """Write ``ring`` back to its source (file or Prefect Secret block); env rings cannot be rotated."""
    source = ring_source(settings)
    if source == "env":
        raise KeyManagementError(
            "the key ring comes from KODOMO_DATA_KEY/KODOMO_INDEX_KEY; use a key file or Secret block to rotate"
        )
    if source == "secret-block":
        from prefect.blocks.system import Secret

        Secret(value=ring.to_json()).save(settings.key_secret_block, overwrite=True)
        return
    save_key_ring(ring, settings.resolved_key_file)


def _table(engine: Engine, name: str) -> Table:
    return Table(name, MetaData(), autoload_with=engine)


@dataclass
class ColumnStatus:
    """Ciphertexts per key version of one registered column."""

    table: str
    column: str
    versions: dict[int, int]


def column_status(engine: Engine, columns: list[EncryptedColumn] | None = None) -> list[ColumnStatus]:
    """Count ciphertexts per key version for every registered column present in the database."""
    from sqlalchemy import inspect

    existing = set(inspect(engine).get_table_names())
    result = []
    for spec in columns or encrypted_columns():
        if spec.table not in existing:
            continue
        table = _table(engine, spec.table)
        counts: Counter[int] = Counter()
        with engine.connect() as conn:
            for blob in conn.execute(select(table.c[spec.column]).where(table.c[spec.column].is_not(None))).scalars():
                counts[KeyRing.key_version_of(bytes(blob))] += 1
        result.append(ColumnStatus(spec.table, spec.column, dict(sorted(counts.items()))))
    return result


def reencrypt(engine: Engine, ring: KeyRing, *, actor_id: str, batch_size: int = 2000,
              columns: list[EncryptedColumn] | None = None, run_id: str | None = None) -> dict[str, int]:
    """Re-encrypt every ciphertext not under the primary version; returns counts per ``table.column``.

    Keyset pagination by row key; each batch is one transaction with one access record
    (action ``update``, purpose ``key-rotation``).
    """
    from sqlalchemy import inspect

    from privacy.audit import record_access
    from store.db import session_scope

    existing = set(inspect(engine).get_table_names())
    primary = ring.primary_version
    done: dict[str, int] = {}
    for spec in columns or encrypted_columns():
        if spec.table not in existing:
            continue
        table = _table(engine, spec.table)
        key_col, enc_col = table.c[spec.row_key], table.c[spec.column]
        total = 0
        last = None
        while True:
            query = select(key_col, enc_col).where(enc_col.is_not(None)).order_by(key_col).limit(batch_size)
            if last is not None:
                query = query.where(key_col > last)
            with session_scope(engine) as session:
                rows = session.execute(query).all()
                if not rows:
                    break
                last = rows[-1][0]
                stale = [(k, bytes(b)) for k, b in rows if KeyRing.key_version_of(bytes(b)) != primary]
                if stale:
                    keys = [str(k) for k, _ in stale]
                    plain = ring.decrypt_many([b for _, b in stale], table=spec.table, column=spec.aad_column,
                                              row_keys=keys)
                    fresh = ring.encrypt_many(plain, table=spec.table, column=spec.aad_column, row_keys=keys)
                    session.connection().execute(
                        update(table).where(key_col == bindparam("k")).values({spec.column: bindparam("v")}),
                        [{"k": k, "v": v} for (k, _), v in zip(stale, fresh, strict=True)],
                    )
                    record_access(session, actor_id=actor_id, action="update", purpose="key-rotation",
                                  subject_ids=keys if spec.row_key == "person_id" else [],
                                  record_count=len(stale), run_id=run_id)
                    total += len(stale)
        done[f"{spec.table}.{spec.column}"] = total
    return done


def rotate(settings, engine: Engine, *, actor_id: str, batch_size: int = 2000) -> tuple[KeyRing, dict[str, int]]:
    """Add a new primary data key, save the ring, then re-encrypt every registered column."""
    ring = load_key_ring(settings, create=False)
    new_ring = ring.with_new_primary()
    save_ring(settings, new_ring)
    return new_ring, reencrypt(engine, new_ring, actor_id=actor_id, batch_size=batch_size)


def retire(settings, engine: Engine, version: int, *, shred_backups: bool = False) -> KeyRing:
    """Drop data-key ``version`` from the ring once no ciphertext (and no backup, unless shredding) uses it."""
    ring = load_key_ring(settings, create=False)
    if version == ring.primary_version:
        raise KeyManagementError(f"v{version} is the primary data key; rotate first")
    if version not in ring.data_keys:
        raise KeyManagementError(f"v{version} is not in the key ring")
    in_use = [f"{s.table}.{s.column}" for s in column_status(engine) if s.versions.get(version)]
    if in_use:
        raise KeyManagementError(f"v{version} still encrypts {', '.join(in_use)}; run 'kodomo keys reencrypt'")
    from privacy.backup import backups_using_version

    backups = backups_using_version(settings, version)
    if backups and not shred_backups:
        raise KeyManagementError(
            f"{len(backups)} backup(s) are encrypted under v{version}; retiring it crypto-shreds them "
            "(pass --shred-backups to confirm)"
        )
    try:
        new_ring = ring.without_versions([version])
    except KeyRingError as exc:  # pragma: no cover - defensive
        raise KeyManagementError(str(exc)) from None
    save_ring(settings, new_ring)
    return new_ring
