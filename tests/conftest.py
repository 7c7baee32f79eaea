"""Shared fixtures.

``db_url`` runs a test on SQLite **and** PostgreSQL. PostgreSQL is mandatory: if it is unreachable the
test fails (it is never skipped), so CI cannot go green without it. Each test gets a fresh database
(a temporary SQLite file, or a uniquely named PostgreSQL database that is dropped afterwards).
"""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import create_engine, text

PG_ADMIN_URL = os.environ.get("KODOMO_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _pg_url_for(database: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{database}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A URL of an empty database: SQLite file, then PostgreSQL (fails if PostgreSQL is down)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'kodomo.db'}"
        return
    name = f"kt_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any connection problem must fail the test loudly
        pytest.fail(f"PostgreSQL is required for the tests and is unreachable: {type(exc).__name__}")
    try:
        yield _pg_url_for(name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n AND pid <> pg_backend_pid()"
            ), {"n": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture
def engine(db_url):
    """An engine on a fresh database with the whole schema created from the models."""
    import store.models  # noqa: F401 - registers every table
    from store.db import Base, make_engine

    eng = make_engine(db_url)
    Base.metadata.create_all(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def key_ring():
    """A fresh random key ring (test keys only)."""
    from privacy.crypto import KeyRing

    return KeyRing.generate()
