"""Indexes for the incremental month's look-ups by parent and by household (issue 13)

An incremental month (services.eligibility.incremental) finds the children a change reaches: those whose
資格登録届 names a changed person as applicant or spouse, and everyone who is or was in a changed household,
read from ``resident_event``. Those columns had no index, so every incremental run — each monthly run and
each 10-minute resident-changes batch — scanned every application and every 異動 ever stored: a cost that
grew with the years of history instead of with the month's changes. A first load into empty tables builds
them after the rows (store.bulk.insert_frame), like every secondary index.

Revision ID: 0017
Revises: 0016
"""
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

#: (index name, table, column): SQLAlchemy's default names for ``index=True``, as the models declare them.
_INDEXES = (
    ("ix_application_guardian_person_id", "application", "guardian_person_id"),
    ("ix_application_spouse_person_id", "application", "spouse_person_id"),
    ("ix_resident_event_household_id", "resident_event", "household_id"),
)


def upgrade() -> None:
    for name, table, column in _INDEXES:
        op.create_index(name, table, [column])


def downgrade() -> None:
    for name, table, _column in _INDEXES:
        op.drop_index(name, table_name=table)
