"""eligibility_change (queue of changed persons/households) and eligibility_basis (incremental months, issue 13)

Revision ID: 0010
Revises: 0009
"""
from alembic import op
import sqlalchemy as sa

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "eligibility_change",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("person_id", sa.String(length=15), nullable=True),
        sa.Column("household_id", sa.String(length=15), nullable=True),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_eligibility_change")),
    )
    op.create_table(
        "eligibility_basis",
        sa.Column("basis_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("derived_under", sa.String(length=64), nullable=False),
        sa.Column("horizon_start", sa.Date(), nullable=False),
        sa.Column("horizon_end", sa.Date(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("basis_id", name=op.f("pk_eligibility_basis")),
    )


def downgrade() -> None:
    op.drop_table("eligibility_basis")
    op.drop_table("eligibility_change")
