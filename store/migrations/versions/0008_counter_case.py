"""counter_case: opaque case ids (CC-…) that stand for a child in the Prefect counter forms (issue 14)

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "counter_case",
        sa.Column("case_id", sa.String(length=13), nullable=False),
        sa.Column("person_id", sa.String(length=15), nullable=False),
        sa.Column("guardian_person_id", sa.String(length=15), nullable=True),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("opened_by", sa.String(length=32), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"),
                  nullable=False),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_counter_case")),
    )
    op.create_index("ix_counter_case_person", "counter_case", ["person_id", "status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_counter_case_person", table_name="counter_case")
    op.drop_table("counter_case")
