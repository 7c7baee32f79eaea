"""PMH's per-record answer kept on the outbox row; the pmh_result table goes (issue 13)

A ``pmh_result`` row repeated what the outbox row already holds (its batch, its person; the record's index
is its place in the batch, the time the batch's ``completed_at``) except PMH's answer itself. Writing it
cost every record three more B-tree inserts (the table and its batch and person indexes): about 8 µs of
the relay's ~55 µs of client CPU per record (benchmarks.pmh). The answer is now a column of
``pmh_outbox``, written by the statement that settles the row (services.pmh.claims.mark_completed).

Upgrade copies every stored answer onto its outbox row; downgrade rebuilds the table from the outbox
(record index = the row's place in its batch by outbox id, the order the relay sends; the error code
without the ``PMH_`` prefix the relay writes into ``last_error``; received at = the batch's completion).

Revision ID: 0018
Revises: 0017
"""
import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pmh_outbox") as batch:
        batch.add_column(sa.Column("result", sa.String(length=16), nullable=True))
    op.execute("UPDATE pmh_outbox SET result = (SELECT r.result FROM pmh_result r WHERE r.outbox_id = pmh_outbox.id)"
               " WHERE id IN (SELECT outbox_id FROM pmh_result)")
    op.drop_index("ix_pmh_result_person_id", table_name="pmh_result")
    op.drop_index("ix_pmh_result_batch_id", table_name="pmh_result")
    op.drop_table("pmh_result")


def downgrade() -> None:
    op.create_table(
        "pmh_result",
        sa.Column("outbox_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=False,
                  nullable=False),
        sa.Column("batch_id", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.String(length=15), nullable=False),
        sa.Column("record_index", sa.Integer(), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"),
                  nullable=False),
        sa.PrimaryKeyConstraint("outbox_id", name=op.f("pk_pmh_result")),
    )
    op.create_index("ix_pmh_result_batch_id", "pmh_result", ["batch_id"])
    op.create_index("ix_pmh_result_person_id", "pmh_result", ["person_id"])
    op.execute(
        "INSERT INTO pmh_result (outbox_id, batch_id, person_id, record_index, result, error_code, received_at)"
        " SELECT o.id, o.batch_id, o.person_id, o.record_index, o.result,"
        " CASE WHEN o.result = 'ERROR' AND SUBSTR(o.last_error, 1, 4) = 'PMH_' THEN SUBSTR(o.last_error, 5, 64) END,"
        " COALESCE(b.completed_at, CURRENT_TIMESTAMP)"
        " FROM (SELECT id, batch_id, person_id, result, last_error,"
        "       ROW_NUMBER() OVER (PARTITION BY batch_id ORDER BY id) - 1 AS record_index"
        "       FROM pmh_outbox WHERE batch_id IS NOT NULL) o"
        " LEFT JOIN pmh_batch b ON b.batch_id = o.batch_id"
        " WHERE o.result IS NOT NULL")
    with op.batch_alter_table("pmh_outbox") as batch:
        batch.drop_column("result")
