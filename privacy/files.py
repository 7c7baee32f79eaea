"""The one way the project writes a file: atomically, readable by its owner only.

Every file under ``KODOMO_HOME`` may hold personal data (lists, the 全銀 file, PMH uploads, exports,
backups, keys), so each is created ``0600`` in a ``0700`` directory (security.md: 特定個人情報 at rest) and
appears complete or not at all: it is written to a temporary sibling, flushed, ``fsync``-ed and renamed
over the target, and the directory entry is ``fsync``-ed too, so a crash never leaves half a file.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

FILE_MODE = 0o600
DIRECTORY_MODE = 0o700
PROCESS_UMASK = 0o077


def restrict_umask() -> int:
    """Make every file this process creates owner-only (0600/0700), whoever creates it.

    Covers what the project does not write through :func:`atomic_writer`: the SQLite database and its
    WAL/journal (SQLite copies the database file's mode), Prefect's local database, logs, third-party
    writers. Called at process start by the CLI and on import of :mod:`privacy` (every flow and task
    imports it, so a worker's flow-run process is covered too). Returns the previous umask.
    """
    return os.umask(PROCESS_UMASK)


def private_directory(path: str | os.PathLike) -> Path:
    """Create ``path`` (and missing parents) with mode 0700 and tighten it if it already exists.

    For the project's own folders (under ``KODOMO_HOME``); a caller-chosen folder is never re-moded.
    """
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True, mode=DIRECTORY_MODE)
    os.chmod(folder, DIRECTORY_MODE)
    return folder


def _make_missing_directories(folder: Path) -> None:
    """Create the missing folders of ``folder`` with mode 0700; existing ones keep their mode.

    An existing folder may be the operator's own or a shared one (``/tmp``): tightening it is not ours to do.
    """
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for created in reversed(missing):
        created.mkdir(mode=DIRECTORY_MODE, exist_ok=True)
        os.chmod(created, DIRECTORY_MODE)  # mkdir's mode is filtered by the umask


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike, *, text: bool = False, encoding: str | None = None,
                  newline: str | None = None) -> Iterator[IO]:
    """Open a temporary sibling of ``path`` for writing; on success it replaces ``path`` atomically.

    On an exception the temporary file is removed and ``path`` is left as it was.
    """
    target = Path(path)
    _make_missing_directories(target.parent)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        mode = "w" if text else "wb"
        with os.fdopen(fd, mode, encoding=encoding, newline=newline) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_directory(target.parent)


def write_private_file(path: str | os.PathLike, data: bytes | str, *, encoding: str = "utf-8") -> Path:
    """Write ``data`` to ``path`` atomically with mode 0600 (text is encoded with ``encoding``)."""
    payload = data.encode(encoding) if isinstance(data, str) else data
    with atomic_writer(path) as handle:
        handle.write(payload)
    return Path(path)


def _fsync_directory(folder: Path) -> None:
    """Make the rename durable (POSIX: the directory entry lives in the directory's own blocks)."""
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
