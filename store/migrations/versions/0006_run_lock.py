"""run: lock_key (one RUNNING run per flow and month/case), host and pid (liveness of a RUNNING run)

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("run", sa.Column("lock_key", sa.String(length=96), nullable=True))
    op.add_column("run", sa.Column("host", sa.String(length=64), nullable=True))
    op.add_column("run", sa.Column("pid", sa.Integer(), nullable=True))
    op.create_index("ix_run_lock_key", "run", ["lock_key"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_run_lock_key", table_name="run")
    with op.batch_alter_table("run") as batch:
        batch.drop_column("pid")
        batch.drop_column("host")
        batch.drop_column("lock_key")
