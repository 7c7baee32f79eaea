"""run_input.ingest_context: what else (besides the bytes) decided how a file was read and validated (issue 13)

A file is skipped when its SHA-256 and this context equal those recorded by the month's previous ingest
(services.intake.unchanged).

Revision ID: 0011
Revises: 0010
"""
from alembic import op
import sqlalchemy as sa

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("run_input") as batch:
        batch.add_column(sa.Column("ingest_context", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("run_input") as batch:
        batch.drop_column("ingest_context")
