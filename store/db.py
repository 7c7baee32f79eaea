"""Engine, session scope and the declarative base.

Engines are created with ``hide_parameters=True`` so bound values (personal data) never appear in
SQLAlchemy log lines or exception texts (security.md SEC-04). Callers open sessions; repository
functions take a session or connection and never commit (style.md point 16).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator

from sqlalchemy import BigInteger, Engine, MetaData, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from config.settings import Settings, get_settings
from store import wal

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every project table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {int: BigInteger, dt.datetime: __import__("sqlalchemy").DateTime(timezone=True)}


def make_engine(url: str, *, sqlite_cache_mib: int | None = None, **kwargs) -> Engine:
    """Create an engine for ``url`` (SQLite or PostgreSQL) with safe defaults.

    SQLite connections get a page cache of ``sqlite_cache_mib`` (default: the ``KODOMO_SQLITE_CACHE_MIB``
    setting): with SQLite's 2 MB default the pages of the random-key indexes (blind indexes, digests)
    spill to disk while a month is loaded.
    """
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    options = {"hide_parameters": True, "future": True}
    if url.startswith("sqlite"):
        options["connect_args"] = {"timeout": 60}
    else:
        options["pool_pre_ping"] = True
    options.update(kwargs)
    engine = create_engine(url, **options)
    if engine.dialect.name == "sqlite":
        cache_kib = 1024 * (sqlite_cache_mib if sqlite_cache_mib is not None else get_settings().sqlite_cache_mib)

        def _sqlite_pragmas(dbapi_connection, _record) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA cache_size=-{int(cache_kib)}")  # negative = KiB (an int: no injection)
            cursor.close()

        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


@contextlib.contextmanager
def session_scope(engine: Engine, *, checkpoint_later: bool = False) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any exception.

    ``checkpoint_later`` (the monthly run's bulk transactions): on a SQLite file the commit leaves copying
    the write-ahead log back into the database to a background thread (store.wal.deferred_checkpoint).
    """
    if checkpoint_later:
        with wal.deferred_checkpoint(engine) as conn, Session(bind=conn, expire_on_commit=False) as session, \
                session.begin():
            yield session
        return
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory.begin() as session:
        yield session


_ENGINES: dict[str, Engine] = {}


def engine_for(source: str | Settings | None = None) -> Engine:
    """The one engine factory: a shared engine per database URL in this process.

    ``source`` is a URL, a :class:`~config.settings.Settings` or ``None`` (the configured settings, which is
    what flows, tasks, services and commands use). Engines are thread-safe; sessions are not.
    """
    if source is None:
        source = get_settings()
    url = source if isinstance(source, str) else source.resolved_database_url
    engine = _ENGINES.get(url)
    if engine is None:
        cache = None if isinstance(source, str) else source.sqlite_cache_mib
        engine = _ENGINES[url] = make_engine(url, sqlite_cache_mib=cache)
    return engine


def dispose_engines() -> None:
    """Close every pooled connection (tests, CLI exit)."""
    while _ENGINES:
        _ENGINES.popitem()[1].dispose()
