"""Encrypted backups of the project database with generation-based retention (PIA §3 (4)② ア, SEC-09).

A backup is a dump of every project table (ciphertext columns stay ciphertext), compressed and sealed
with AES-256-GCM under a fresh random backup data key (DEK). The DEK is wrapped with AES-256-GCM under a
*backup key* derived (HKDF-SHA-256, info ``kodomo-backup``) from the ring's primary data key. File::

    MAGIC line + header JSON line + sealed payload

The header (authenticated as associated data) holds the creation time, the key version, the wrapped DEK,
the nonces and per-table row counts — no personal data. Retiring the data-key version crypto-shreds every
backup sealed under it. After each backup the oldest files beyond the configured generation count are
wiped (overwrite + unlink) and each removal is written to ``deletion_record`` ("不要となったバックアップ
ファイルは、古いものから順に自動削除される").
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Engine, MetaData, inspect, select

from privacy.crypto import KeyRing
from privacy.files import private_directory, write_private_file

MAGIC = b"KODOMO-BACKUP-1\n"
SUFFIX = ".kbak"


class BackupError(Exception):
    """A backup cannot be read (wrong key, tampered, not a backup); no personal data in the message."""

    safe_message = True


def backup_dir(settings) -> Path:
    """``<home>/backups``."""
    return Path(settings.home) / "backups"


def backup_key(ring: KeyRing, version: int) -> bytes:
    """The backup key derived from data-key ``version``."""
    if version not in ring.data_keys:
        raise BackupError(f"data key v{version} is not in the key ring (backup crypto-shredded)")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"kodomo-backup").derive(
        ring.data_keys[version]
    )


def _encode(value):
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$b": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, dt.datetime):
        return {"$t": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$d": value.isoformat()}
    return value


def _decode(value):
    if isinstance(value, dict):
        if "$b" in value:
            return base64.b64decode(value["$b"])
        if "$t" in value:
            return dt.datetime.fromisoformat(value["$t"])
        if "$d" in value:
            return dt.date.fromisoformat(value["$d"])
    return value


def project_tables(engine: Engine) -> list[str]:
    """Tables of the project schema present in the database (alembic's own table excluded)."""
    import store.models  # noqa: F401
    from store.db import Base

    existing = set(inspect(engine).get_table_names())
    return [t.name for t in Base.metadata.sorted_tables if t.name in existing]


def dump_tables(engine: Engine) -> tuple[bytes, dict[str, int], list[str]]:
    """JSON-lines dump of every project table; returns (bytes, counts, person_ids)."""
    lines: list[bytes] = []
    counts: dict[str, int] = {}
    person_ids: list[str] = []
    meta = MetaData()
    with engine.connect() as conn:
        for name in project_tables(engine):
            from sqlalchemy import Table

            table = Table(name, meta, autoload_with=conn)
            columns = [c.name for c in table.columns]
            rows = conn.execute(select(table)).all()
            counts[name] = len(rows)
            if name == "person":
                person_ids = [str(r[columns.index("person_id")]) for r in rows]
            lines.append(json.dumps({"table": name, "columns": columns}, ensure_ascii=False).encode())
            lines.extend(json.dumps([_encode(v) for v in r], ensure_ascii=False).encode() for r in rows)
            lines.append(b'{"end": true}')
    return b"\n".join(lines), counts, person_ids


def seal(payload: bytes, ring: KeyRing, counts: dict[str, int], created_at: dt.datetime) -> bytes:
    """Compress and encrypt ``payload``; returns the backup file's bytes."""
    version = ring.primary_version
    dek = AESGCM.generate_key(bit_length=256)
    dek_nonce, nonce = os.urandom(12), os.urandom(12)
    header = json.dumps({
        "created_at": created_at.isoformat(), "key_version": version,
        "wrapped_dek": base64.b64encode(
            AESGCM(backup_key(ring, version)).encrypt(dek_nonce, dek, b"kodomo-backup-dek")
        ).decode(),
        "dek_nonce": base64.b64encode(dek_nonce).decode(), "nonce": base64.b64encode(nonce).decode(),
        "tables": counts,
    }, sort_keys=True).encode()
    return MAGIC + header + b"\n" + AESGCM(dek).encrypt(nonce, zlib.compress(payload, 6), header)


def read_header(path: Path) -> dict:
    """The (unauthenticated until opened) header of a backup file."""
    with open(path, "rb") as handle:
        if handle.read(len(MAGIC)) != MAGIC:
            raise BackupError(f"{path.name} is not a kodomo backup")
        return json.loads(handle.readline())


def open_backup(path: Path, ring: KeyRing) -> dict[str, list[dict]]:
    """Decrypt a backup: ``{table: [row dicts]}``. Raises BackupError if the key is gone or it was altered."""
    from cryptography.exceptions import InvalidTag

    data = Path(path).read_bytes()
    if not data.startswith(MAGIC):
        raise BackupError(f"{Path(path).name} is not a kodomo backup")
    header_bytes, _, sealed = data[len(MAGIC):].partition(b"\n")
    header = json.loads(header_bytes)
    try:
        dek = AESGCM(backup_key(ring, int(header["key_version"]))).decrypt(
            base64.b64decode(header["dek_nonce"]), base64.b64decode(header["wrapped_dek"]), b"kodomo-backup-dek"
        )
        payload = zlib.decompress(AESGCM(dek).decrypt(base64.b64decode(header["nonce"]), sealed, header_bytes))
    except InvalidTag:
        raise BackupError(f"{Path(path).name} failed authentication (wrong key or altered)") from None
    tables: dict[str, list[dict]] = {}
    columns: list[str] = []
    current = None
    for line in payload.split(b"\n"):
        obj = json.loads(line)
        if isinstance(obj, dict) and "table" in obj:
            current, columns = obj["table"], obj["columns"]
            tables[current] = []
        elif isinstance(obj, dict) and obj.get("end"):
            current = None
        else:
            tables[current].append({c: _decode(v) for c, v in zip(columns, obj, strict=True)})
    return tables


def restore_into(engine: Engine, tables: dict[str, list[dict]]) -> dict[str, int]:
    """Insert a decrypted backup into an empty database with the schema (restore drill)."""
    import store.models  # noqa: F401
    from store.db import Base

    counts = {}
    with engine.begin() as conn:
        for table in Base.metadata.sorted_tables:
            rows = tables.get(table.name)
            if rows:
                conn.execute(table.insert(), rows)
                counts[table.name] = len(rows)
    return counts


@dataclass
class BackupResult:
    """What ``create_backup`` did."""

    path: Path
    counts: dict[str, int]
    removed: list[str]


def list_backups(settings) -> list[Path]:
    """Backup files, oldest first (by name: the UTC timestamp)."""
    folder = backup_dir(settings)
    return sorted(folder.glob(f"kodomo-*{SUFFIX}")) if folder.exists() else []


def backups_using_version(settings, version: int) -> list[Path]:
    """Backups sealed under data-key ``version``."""
    out = []
    for path in list_backups(settings):
        try:
            if int(read_header(path)["key_version"]) == version:
                out.append(path)
        except (BackupError, ValueError, KeyError):
            continue
    return out


def create_backup(settings, engine: Engine, ring: KeyRing, *, actor_id: str, generations: int,
                  now: dt.datetime | None = None) -> BackupResult:
    """Write an encrypted backup, then wipe the oldest beyond ``generations`` (records both)."""
    from privacy.audit import record_access
    from privacy.wipe import WIPE_METHOD, record_deletion, wipe_file
    from store.db import session_scope

    if generations < 1:
        raise BackupError("the backup generation count must be at least 1")
    now = now or dt.datetime.now(dt.UTC)
    payload, counts, person_ids = dump_tables(engine)
    path = private_directory(backup_dir(settings)) / f"kodomo-{now.strftime('%Y%m%dT%H%M%S%fZ')}{SUFFIX}"
    write_private_file(path, seal(payload, ring, counts, now))
    removed: list[str] = []
    with session_scope(engine) as session:
        record_access(session, actor_id=actor_id, action="read", purpose="backup", subject_ids=person_ids,
                      record_count=sum(counts.values()))
        for old in list_backups(settings)[:-generations]:
            header_counts = read_header(old).get("tables", {})
            wipe_file(old)
            record_deletion(session, operator_id=actor_id, target="backup",
                            content=f"backup generation {old.name} (beyond {generations} generations)",
                            record_count=int(sum(header_counts.values())), method=WIPE_METHOD)
            removed.append(old.name)
    return BackupResult(path, counts, removed)
