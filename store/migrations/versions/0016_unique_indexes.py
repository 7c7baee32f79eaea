"""person.my_number_hmac and pmh_outbox.idempotency_key unique by an index instead of a table constraint (issue 13)

A random-key unique B-tree (an HMAC, a hashed idempotency key) costs a random page per inserted row; once
it outgrows the page cache the first load turns superlinear (480k children: ~5 s of the person insert).
SQLite cannot drop a table constraint, so the uniqueness moves to a named unique index, which a first load
into an empty table drops and builds after the rows, in the same transaction (store.bulk.insert_frame): a
duplicate still fails the load, and the table is never without the guard once committed.

Revision ID: 0016
Revises: 0015
"""
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

#: (table, column, name): the constraint and the index that replaces it share the name.
_UNIQUE = (
    ("person", "my_number_hmac", "uq_person_my_number_hmac"),
    ("pmh_outbox", "idempotency_key", "uq_pmh_outbox_idempotency_key"),
)


def upgrade() -> None:
    for table, column, name in _UNIQUE:
        # SQLite: the table is rebuilt without the constraint (batch mode copies the rows); PostgreSQL: ALTER.
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(name, type_="unique")
        op.create_index(name, table, [column], unique=True)


def downgrade() -> None:
    for table, column, name in _UNIQUE:
        op.drop_index(name, table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.create_unique_constraint(name, [column])
