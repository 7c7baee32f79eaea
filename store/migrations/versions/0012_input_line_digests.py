"""input_line_digests: keyed digests of the lines the latest monthly ingest accepted (issue 13)

The next monthly ingest parses, validates and stores only the lines whose digest is not here
(services.intake.linediff).

Revision ID: 0012
Revises: 0011
"""
from alembic import op
import sqlalchemy as sa

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "input_line_digests",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("file_name", sa.String(length=128), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("header_digest", sa.BigInteger(), nullable=False),
        sa.Column("line_count", sa.BigInteger(), nullable=False),
        sa.Column("line_digests", sa.LargeBinary(), nullable=False),
        sa.Column("facet_digests", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["run.run_id"], name=op.f("fk_input_line_digests_run_id_run")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_input_line_digests")),
        sa.UniqueConstraint("run_id", "file_name", name=op.f("uq_input_line_digests_run_id_file_name")),
    )


def downgrade() -> None:
    op.drop_table("input_line_digests")
