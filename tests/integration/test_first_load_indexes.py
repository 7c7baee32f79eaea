"""A first load that builds the indexes after the rows stores what a row-by-row indexed load stores."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import inspect

from store import bulk, models
from store.db import make_engine
from tests.integration.test_string_storage import _month


@pytest.fixture(scope="module")
def small_inbox(tmp_path_factory):
    from devtools.generate import generate_dataset

    directory = tmp_path_factory.mktemp("first-load") / "inbox"
    generate_dataset(directory, children=250, seed=23, as_of="2026-10-31")
    return directory


def test_deferred_indexes_give_the_same_month_and_every_index(db_url, tmp_path, small_inbox, key_ring, monkeypatch):
    reference = _month(f"sqlite:///{tmp_path / 'reference.db'}", small_inbox, key_ring)
    monkeypatch.setattr(bulk, "DEFER_INDEXES_FROM", 1)  # every first load into an empty table defers
    deferred = _month(db_url, small_inbox, key_ring)
    for name, frame in reference.items():
        pd.testing.assert_frame_equal(deferred[name], frame, check_dtype=False, obj=name)
    engine = make_engine(db_url)
    with engine.connect() as conn:
        inspector = inspect(conn)
        for table in models.Base.metadata.sorted_tables:
            if not inspector.has_table(table.name):
                continue
            present = {ix["name"] for ix in inspector.get_indexes(table.name)}
            missing = {ix.name for ix in table.indexes if not ix.unique} - present
            assert not missing, f"{table.name} lost {sorted(missing)}"
    engine.dispose()
