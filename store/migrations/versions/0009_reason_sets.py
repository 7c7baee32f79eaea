"""eligibility_reason_set: each period stores the integer id of its reason-code list, not the text (issue 13)

The distinct texts of the stored periods become the first rows of the lookup (ids in text order), each
period gets the id of its text, and the text column goes. Downgrade puts the texts back.

Revision ID: 0009
Revises: 0008
"""
from alembic import op
import sqlalchemy as sa

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "eligibility_reason_set",
        sa.Column("reason_set_id", sa.Integer(), nullable=False),
        sa.Column("reason_codes", sa.Text(), nullable=False),
        sa.Column("sources", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("reason_set_id", name=op.f("pk_eligibility_reason_set")),
        sa.UniqueConstraint("reason_codes", name=op.f("uq_eligibility_reason_set_reason_codes")),
    )
    # The texts stored so far carry no sources (they were never stored): NULL.
    op.execute("INSERT INTO eligibility_reason_set (reason_codes) "
               "SELECT DISTINCT reason_codes FROM eligibility_period ORDER BY reason_codes")
    with op.batch_alter_table("eligibility_period") as batch:
        batch.add_column(sa.Column("reason_set_id", sa.Integer(), nullable=True))
    op.execute("UPDATE eligibility_period SET reason_set_id = (SELECT s.reason_set_id FROM eligibility_reason_set s "
               "WHERE s.reason_codes = eligibility_period.reason_codes)")
    with op.batch_alter_table("eligibility_period") as batch:
        batch.alter_column("reason_set_id", existing_type=sa.Integer(), nullable=False)
        batch.create_foreign_key(op.f("fk_eligibility_period_reason_set_id_eligibility_reason_set"),
                                 "eligibility_reason_set", ["reason_set_id"], ["reason_set_id"])
        batch.drop_column("reason_codes")


def downgrade() -> None:
    with op.batch_alter_table("eligibility_period") as batch:
        batch.add_column(sa.Column("reason_codes", sa.Text(), nullable=True))
    op.execute("UPDATE eligibility_period SET reason_codes = (SELECT s.reason_codes FROM eligibility_reason_set s "
               "WHERE s.reason_set_id = eligibility_period.reason_set_id)")
    with op.batch_alter_table("eligibility_period") as batch:
        batch.alter_column("reason_codes", existing_type=sa.Text(), nullable=False)
        batch.drop_constraint(op.f("fk_eligibility_period_reason_set_id_eligibility_reason_set"),
                              type_="foreignkey")
        batch.drop_column("reason_set_id")
    op.drop_table("eligibility_reason_set")
