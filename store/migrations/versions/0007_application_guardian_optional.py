"""application.guardian_person_id may be empty: a child of 15+ without a 保護者 applies alone (規則第4条)

Revision ID: 0007
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("application") as batch:
        batch.alter_column("guardian_person_id", existing_type=sa.String(length=15), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("application") as batch:
        batch.alter_column("guardian_person_id", existing_type=sa.String(length=15), nullable=False)
