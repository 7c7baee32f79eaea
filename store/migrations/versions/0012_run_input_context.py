"""run_input.ingest_context: what else (besides the bytes) decided how a file was read and validated (issue 13)

A file is skipped when its SHA-256 and this context equal those recorded by the month's previous ingest
(services.intake.unchanged). Chained to 0008 on this branch; the lead re-chains it to 0011 when merging.

Revision ID: 0012
Revises: 0008
"""
from alembic import op
import sqlalchemy as sa

revision = "0012"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("run_input") as batch:
        batch.add_column(sa.Column("ingest_context", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("run_input") as batch:
        batch.drop_column("ingest_context")
