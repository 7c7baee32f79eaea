"""notice_list: the month's routine staff lists as written, so that a re-run keeps them (issue 13)

A re-run of a month whose decisions and persons nobody changed since its lists were written keeps the
files (services.notices.lists) instead of reading 150k decisions again to write the same bytes.

Revision ID: 0015
Revises: 0012
"""
from alembic import op
import sqlalchemy as sa

revision = "0015"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notice_list",
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("list_key", sa.String(length=16), nullable=False),
        sa.Column("file_name", sa.String(length=128), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("row_count", sa.BigInteger(), nullable=False),
        sa.Column("access_seq", sa.BigInteger(), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("month", "list_key", name=op.f("pk_notice_list")),
    )


def downgrade() -> None:
    op.drop_table("notice_list")
