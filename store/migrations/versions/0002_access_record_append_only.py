"""access_record is append-only: triggers refuse UPDATE, DELETE and TRUNCATE (security.md SEC-08)

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

from store.privacy_models import append_only_guard_statements

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in append_only_guard_statements(op.get_bind().dialect.name):
        op.execute(sa.text(statement))


def downgrade() -> None:
    # The guards are kept on purpose: an append-only log is not made mutable by a schema downgrade.
    pass
