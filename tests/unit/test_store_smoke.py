from sqlalchemy import inspect


def test_schema_creates_on_both_databases(engine):
    tables = set(inspect(engine).get_table_names())
    assert {"person", "decision", "eligibility_period", "pmh_outbox", "quarantine"} <= tables
    columns = {c["name"] for c in inspect(engine).get_columns("person")}
    assert "my_number" not in columns and "name" not in columns and "address" not in columns
