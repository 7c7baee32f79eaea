"""Idempotent bulk writes: new rows inserted, changed rows updated, unchanged rows untouched."""

import uuid

import pandas as pd
import pytest
import sqlalchemy
from sqlalchemy import inspect, text

from privacy.dbroles import apply_roles, role_names
from store import bulk, models
from store.bulk import delete_keys, insert_missing, read_frame, upsert_frame


def _cases(**changes):
    frame = pd.DataFrame({
        "case_id": ["C1", "C2"],
        "household_id": ["0000000001", "0000000002"],
        "start_date": pd.to_datetime(["2024-01-01", "2024-02-01"]),
        "end_date": [pd.NaT, pd.NaT],
    })
    return frame.assign(**changes)


def test_upsert_inserts_then_leaves_unchanged_then_updates(engine):
    table = models.WelfareCase.__table__
    with engine.begin() as conn:
        first = upsert_frame(conn, table, _cases(), ["case_id"])
        again = upsert_frame(conn, table, _cases(), ["case_id"])
        changed = upsert_frame(conn, table, _cases(end_date=pd.to_datetime(["2025-03-31", None])), ["case_id"])
        stored = read_frame(conn, table).sort_values("case_id").reset_index(drop=True)
    assert (first.inserted, first.updated, first.unchanged) == (2, 0, 0)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    assert (changed.inserted, changed.updated, changed.unchanged) == (0, 1, 1)
    assert stored.loc[0, "end_date"] == pd.Timestamp("2025-03-31") and pd.isna(stored.loc[1, "end_date"])


def test_new_keys_do_not_make_unchanged_rows_look_changed(engine):
    """A left merge with new keys once turned the 64-bit row hashes into float64: every stored row was
    rewritten (and, since issue 13, would have queued every child for re-determination)."""
    table = models.WelfareCase.__table__
    many = pd.DataFrame({"case_id": [f"C{i:04d}" for i in range(300)], "household_id": "0000000001",
                         "start_date": pd.Timestamp("2024-01-01"), "end_date": pd.NaT})
    with engine.begin() as conn:
        upsert_frame(conn, table, many, ["case_id"])
        grown = pd.concat([many, many.head(1).assign(case_id="C9999")], ignore_index=True)
        grown.loc[5, "end_date"] = pd.Timestamp("2025-01-31")
        counts = upsert_frame(conn, table, grown, ["case_id"])
    assert (counts.inserted, counts.updated, counts.unchanged) == (1, 1, 299)
    assert sorted(grown.loc[counts.written, "case_id"]) == ["C0005", "C9999"]
    assert counts.replaced["case_id"].tolist() == ["C0005"] and pd.isna(counts.replaced["end_date"].iloc[0])


def test_new_keys_do_not_turn_unchanged_rows_into_updates(engine):
    """Issue 13: with new keys in the frame, the stored hashes once went through float64 and lost their low bits:
    nearly every unchanged row was rewritten and counted as updated."""
    table = models.TaxRecord.__table__
    count = 3000
    rows = pd.DataFrame({
        "person_id": [f"{n:010d}" for n in range(count)], "tax_year": 2026,
        "total_income_amount": range(count), "casualty_loss_deduction_amount": 0, "medical_deduction_amount": 0,
        "small_business_deduction_amount": 0, "disability_deduction_amount": 0, "dependents_count": 1,
        "elderly_dependents_count": 0,
    })
    more = pd.concat([rows, rows.tail(5).assign(tax_year=2027)], ignore_index=True)
    more.loc[7, "total_income_amount"] = 1  # one real change
    with engine.begin() as conn:
        upsert_frame(conn, table, rows, ["person_id", "tax_year"])
        counts = upsert_frame(conn, table, more, ["person_id", "tax_year"])
        stored = read_frame(conn, table, ["person_id", "tax_year", "total_income_amount"])
    assert (counts.inserted, counts.updated, counts.unchanged) == (5, 1, count - 1)
    assert len(stored) == count + 5
    assert stored.loc[stored["person_id"] == f"{7:010d}", "total_income_amount"].tolist() == [1]


def test_typed_hashes_equal_across_dtypes():
    """A value compares equal whether the frame holds it as text, a nullable or plain dtype (as read back)."""
    table = models.WelfareCase.__table__
    fresh = pd.DataFrame({"household_id": ["0000000001", None], "start_date": ["2024-01-01", "2024-02-01"],
                          "end_date": pd.to_datetime([None, "2025-01-01"])})
    stored = pd.DataFrame({"household_id": pd.array(["0000000001", pd.NA], dtype="string"),
                           "start_date": pd.to_datetime(["2024-01-01", "2024-02-01"]).as_unit("us"),
                           "end_date": pd.Series([None, "2025-01-01"], dtype=object)})
    columns = ["household_id", "start_date", "end_date"]
    assert (bulk._signature(fresh, columns, table) == bulk._signature(stored, columns, table)).all()
    stored.loc[1, "end_date"] = "2025-01-02"
    assert (bulk._signature(fresh, columns, table) == bulk._signature(stored, columns, table)).tolist() == [True,
                                                                                                          False]


def test_keyed_reads_bind_many_keys_with_a_condition(engine, monkeypatch):
    """``among`` binds its keys as plain parameters (= ANY on PostgreSQL, chunked IN on SQLite) and keeps
    ``where``; the answer is the one a compiled IN list gives."""
    monkeypatch.setattr(bulk, "SQLITE_IN_CHUNK", 7)  # several chunks on SQLite
    table = models.WelfareCase.__table__
    cases = pd.DataFrame({"case_id": [f"C{i:03d}" for i in range(40)],
                          "household_id": [f"{i % 4:010d}" for i in range(40)],
                          "start_date": pd.to_datetime("2024-01-01") + pd.to_timedelta(range(40), unit="D"),
                          "end_date": pd.NaT})
    wanted = [f"C{i:03d}" for i in range(0, 40, 3)] + ["C999"]
    with engine.begin() as conn:
        upsert_frame(conn, table, cases, ["case_id"])
        late = table.c.start_date >= pd.Timestamp("2024-01-10").date()
        fast = read_frame(conn, table, ["case_id", "start_date"], where=late, among=("case_id", wanted))
        slow = read_frame(conn, table, ["case_id", "start_date"], where=late & table.c.case_id.in_(wanted))
        none = bulk.read_frame_in(conn, table, ["case_id"], "case_id", [])
    assert sorted(fast["case_id"]) == sorted(slow["case_id"]) == [f"C{i:03d}" for i in range(9, 40, 3)]
    assert fast["start_date"].dtype.kind == "M" and list(none.columns) == ["case_id"] and none.empty


def test_insert_missing_is_append_only_by_natural_key(engine):
    table = models.WelfareCase.__table__
    with engine.begin() as conn:
        assert insert_missing(conn, table, _cases(), ["case_id"]) == 2
        assert insert_missing(conn, table, _cases(), ["case_id"]) == 0
        assert insert_missing(conn, table, _cases(case_id=["C3", "C1"]), ["case_id"]) == 1
        assert delete_keys(conn, table, "case_id", ["C1", "C3"]) == 2
        assert read_frame(conn, table, ["case_id"])["case_id"].tolist() == ["C2"]


def test_read_frame_types_and_filters(engine):
    table = models.WelfareCase.__table__
    with engine.begin() as conn:
        upsert_frame(conn, table, _cases(), ["case_id"])
        subset = read_frame(conn, table, ["case_id", "start_date"], where=table.c.case_id.in_(["C2"]))
    assert subset["case_id"].tolist() == ["C2"]
    assert pd.api.types.is_datetime64_any_dtype(subset["start_date"])


def test_first_load_builds_indexes_after_the_rows(engine, monkeypatch):
    monkeypatch.setattr(bulk, "DEFER_INDEXES_FROM", 3)
    table = models.WelfareCase.__table__
    frame = pd.DataFrame({
        "case_id": [f"C{n}" for n in range(5)],
        "household_id": [f"{n:010d}" for n in range(5)],
        "start_date": pd.to_datetime(["2024-01-01"] * 5),
        "end_date": [pd.NaT] * 5,
    })
    with engine.begin() as conn:
        before = {ix["name"] for ix in inspect(conn).get_indexes(table.name)}
        counts = upsert_frame(conn, table, frame, ["case_id"])
        after = {ix["name"] for ix in inspect(conn).get_indexes(table.name)}
        again = upsert_frame(conn, table, frame, ["case_id"])
        stored = read_frame(conn, table, ["case_id"], where=table.c.household_id == "0000000003")
    assert "ix_welfare_case_household_id" in before and after == before
    assert (counts.inserted, again.unchanged) == (5, 5)
    assert stored["case_id"].tolist() == ["C3"]


def test_a_failed_first_load_keeps_the_indexes(engine, monkeypatch):
    monkeypatch.setattr(bulk, "DEFER_INDEXES_FROM", 1)
    table = models.WelfareCase.__table__
    duplicate = pd.concat([_cases(), _cases()], ignore_index=True)
    with pytest.raises(Exception, match="(?i)unique|duplicate"), engine.begin() as conn:
        upsert_frame(conn, table, duplicate, ["case_id"])
    with engine.connect() as conn:
        assert "ix_welfare_case_household_id" in {ix["name"] for ix in inspect(conn).get_indexes(table.name)}


def test_a_first_load_with_a_duplicate_blind_index_stores_nothing(engine, monkeypatch):
    """The unique blind index is built after the rows of a first load: a duplicate My Number (HMAC) still
    fails the load as a whole, and the table keeps its unique index, which refuses the duplicate later too."""
    monkeypatch.setattr(bulk, "DEFER_INDEXES_FROM", 1)
    table = models.Person.__table__
    persons = _awkward_persons(6)
    persons.loc[5, "my_number_hmac"] = persons.loc[1, "my_number_hmac"]  # two persons, one My Number
    with pytest.raises(Exception, match="(?i)unique|duplicate"), engine.begin() as conn:
        bulk.insert_frame(conn, table, persons)
    with engine.begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM person")).scalar() == 0
        unique = {ix["name"] for ix in inspect(conn).get_indexes("person") if ix["unique"]}
        assert "uq_person_my_number_hmac" in unique
        assert bulk.insert_frame(conn, table, persons.drop(index=5)) == 5  # the same load without the duplicate
    with pytest.raises(Exception, match="(?i)unique|duplicate"), engine.begin() as conn:
        bulk.insert_frame(conn, table, persons.loc[[5]].assign(person_id="9999999999"))


def test_deferred_index_builds_sort_in_little_memory_and_restore_the_page_cache(tmp_path, monkeypatch):
    """SQLite: the index builds of a first load run with SQLITE_SORTER_KIB of cache (SQLite's sorter takes up
    to the cache size on top of the page cache), and the connection's page cache is as configured after."""
    from store.db import Base, make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'sorter.db'}", sqlite_cache_mib=64)
    Base.metadata.create_all(engine)
    monkeypatch.setattr(bulk, "DEFER_INDEXES_FROM", 1)
    seen = []
    create = sqlalchemy.Index.create

    def spy(index, bind, **kw):
        seen.append(bind.connection.driver_connection.execute("PRAGMA cache_size").fetchone()[0])
        return create(index, bind, **kw)

    monkeypatch.setattr(sqlalchemy.Index, "create", spy)
    with engine.begin() as conn:
        configured = conn.connection.driver_connection.execute("PRAGMA cache_size").fetchone()[0]
        bulk.insert_frame(conn, models.Person.__table__, _awkward_persons(5))
        after = conn.connection.driver_connection.execute("PRAGMA cache_size").fetchone()[0]
    engine.dispose()
    assert seen and set(seen) == {-bulk.SQLITE_SORTER_KIB}
    assert after == configured == -64 * 1024


def test_the_pipeline_role_loads_without_dropping_indexes(engine, monkeypatch):
    """The app role of privacy.dbroles does not own the tables: a first load keeps the indexes as they are."""
    monkeypatch.setattr(bulk, "DEFER_INDEXES_FROM", 1)
    table = models.WelfareCase.__table__
    if engine.dialect.name != "postgresql":
        assert bulk._owns_table(engine.connect(), table)
        return
    prefix = f"kt{uuid.uuid4().hex[:8]}"
    roles = role_names(prefix)
    apply_roles(engine, prefix)
    try:
        with engine.begin() as conn:
            assert bulk._owns_table(conn, table)
            conn.execute(text(f"SET LOCAL ROLE {roles['app']}"))
            assert not bulk._owns_table(conn, table)
            assert upsert_frame(conn, table, _cases(), ["case_id"]).inserted == 2
        with engine.connect() as conn:
            assert "ix_welfare_case_household_id" in {ix["name"] for ix in inspect(conn).get_indexes(table.name)}
    finally:
        with engine.begin() as conn:
            for name in roles.values():
                conn.execute(text(f"DROP OWNED BY {name}"))
                conn.execute(text(f"DROP ROLE {name}"))


def _awkward_persons(count: int) -> pd.DataFrame:
    """Person rows whose text needs escaping in COPY data, with bytes, booleans, dates and missing values."""
    texts = ["back\\slash", "tab\there", "line\nbreak", "cr\rhere", "\\N", "山田 太郎", ""]
    return pd.DataFrame({
        "person_id": [f"{count - i:010d}" for i in range(count)],  # descending: loaded in key order
        "household_id": [texts[i % len(texts)] for i in range(count)],
        "relationship_code": pd.Series(["01" if i % 3 else "03" for i in range(count)], dtype="string"),
        "my_number_hmac": [None if i % 4 == 0 else f"{i:064x}" for i in range(count)],
        "my_number_enc": [None if i % 4 == 0 else bytes([i % 256, 0, 92, 10]) for i in range(count)],
        "profile_enc": [b"\x00\\x\t" + bytes([i % 256]) for i in range(count)],
        "birth_date": pd.to_datetime(["2015-04-01"] * count),
        "sex_code": ["1" if i % 2 else "2" for i in range(count)],
        "dv_support_flag": [bool(i % 2) for i in range(count)],
        "residence_start_date": pd.to_datetime([None if i % 5 == 0 else "2020-02-29" for i in range(count)]),
        "row_digest": [f"d{i}" for i in range(count)],
        "updated_run_id": pd.Series([None if i % 6 == 0 else "run-1" for i in range(count)], dtype="string"),
    })


@pytest.mark.parametrize("count", [7, bulk.DEFER_INDEXES_FROM])
def test_a_first_load_stores_every_value_as_given(engine, count):
    """Block COPY (PostgreSQL) and executemany (SQLite) store text, bytes, flags, dates and NULLs unchanged,
    also when a large first load goes in primary-key order."""
    frame = _awkward_persons(count)
    table = models.Person.__table__
    with engine.begin() as conn:
        assert bulk.insert_frame(conn, table, frame) == count
        stored = read_frame(conn, table, list(frame.columns))
    stored = stored.sort_values("person_id", ignore_index=True)
    expected = frame.sort_values("person_id", ignore_index=True)
    for column in frame.columns:
        got, want = stored[column].tolist(), expected[column].tolist()
        assert [None if pd.isna(v) else v for v in got] == [None if pd.isna(v) else v for v in want], column


def test_the_copy_block_falls_back_to_the_driver_for_values_it_does_not_render():
    assert bulk._copy_block(pd.DataFrame({"amount": [1.5, 2.0]})) is None
    assert bulk._copy_block(pd.DataFrame({"mixed": ["a", 1]}, dtype=object)) is None
    assert bulk._copy_block(pd.DataFrame({"t": ["a\tb", None], "n": [1, 2]})) == "a\\tb\t1\n\\N\t2\n"


def test_bulk_reads_leave_the_garbage_collector_as_they_found_it(engine):
    import gc

    table = models.WelfareCase.__table__
    with engine.begin() as conn:
        upsert_frame(conn, table, _cases(), ["case_id"])
        assert gc.isenabled()
        read_frame(conn, table)
        assert gc.isenabled()
        gc.disable()
        try:
            read_frame(conn, table)
            assert not gc.isenabled()
        finally:
            gc.enable()
