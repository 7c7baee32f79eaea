"""Issue 12 (law): receipt service dates, days inside/outside eligibility, the applicant's spouse, 措置

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("benefit_claim") as batch:
        batch.add_column(sa.Column("service_dates", sa.String(length=96), nullable=True))
        batch.add_column(sa.Column("covered_days", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("uncovered_days", sa.String(length=2000), nullable=True))
    with op.batch_alter_table("application") as batch:
        batch.add_column(sa.Column("spouse_person_id", sa.String(length=15), nullable=True))


    op.create_table(
        "placement",
        sa.Column("placement_id", sa.String(length=32), nullable=False),
        sa.Column("person_id", sa.String(length=15), nullable=False),
        sa.Column("placement_type", sa.String(length=12), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("placement_id"),
    )
    op.create_index(op.f("ix_placement_person_id"), "placement", ["person_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_placement_person_id"), table_name="placement")
    op.drop_table("placement")
    with op.batch_alter_table("application") as batch:
        batch.drop_column("spouse_person_id")
    with op.batch_alter_table("benefit_claim") as batch:
        batch.drop_column("uncovered_days")
        batch.drop_column("covered_days")
        batch.drop_column("service_dates")
