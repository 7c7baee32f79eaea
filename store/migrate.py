"""Run Alembic migrations programmatically (``kodomo db upgrade``; the flows call it on start)."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import pool, text

from store.db import make_engine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at the packaged migrations and ``url``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


#: Key of the PostgreSQL advisory lock that serialises migrations: two runs starting together on a fresh
#: database would otherwise both create the tables and the loser fail with ``UniqueViolation … pg_type``.
MIGRATION_LOCK_KEY = 0x6B6F646F6D6F  # "kodomo"


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision``, one migrating process at a time.

    PostgreSQL: a session advisory lock. SQLite: an exclusive ``flock`` on ``<database>.migrate.lock`` next to
    the file (SQLite is local to the host; concurrent ``CREATE TABLE alembic_version`` would otherwise race).
    """
    sqlite_path = Path(url[len("sqlite:///"):]) if url.startswith("sqlite:///") else None
    if sqlite_path is not None:
        sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(url, poolclass=pool.NullPool)
    try:
        with _file_lock(sqlite_path), engine.connect() as connection:
            postgres = connection.dialect.name == "postgresql"
            if postgres:
                connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
                connection.commit()
            try:
                config = alembic_config(url)
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
                connection.commit()
            finally:
                if postgres:
                    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
                    connection.commit()
    finally:
        engine.dispose()


@contextlib.contextmanager
def _file_lock(database: Path | None) -> Iterator[None]:
    if database is None:
        yield
        return
    with open(database.with_name(database.name + ".migrate.lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


_UPGRADED: set[str] = set()


def ensure_upgraded(url: str) -> None:
    """:func:`upgrade` once per database and process (every run begins with it)."""
    if url not in _UPGRADED:
        upgrade(url)
        _UPGRADED.add(url)


def revision(url: str, message: str) -> None:
    """Autogenerate a new revision from the models (developer command)."""
    command.revision(alembic_config(url), message=message, autogenerate=True)
