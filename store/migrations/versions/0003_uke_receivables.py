"""UKE claims (files, receipts, bills, entries) and 債権管理 (accounts, events, instalments, payment review)

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa


revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('payment_review',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('review_key', sa.String(length=96), nullable=False),
    sa.Column('file_name', sa.String(length=128), nullable=False),
    sa.Column('line', sa.Integer(), nullable=False),
    sa.Column('payment_ref', sa.String(length=32), nullable=False),
    sa.Column('paid_date', sa.Date(), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_review')),
    sa.UniqueConstraint('review_key', name=op.f('uq_payment_review_review_key'))
    )
    op.create_table('uke_bill',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('bill_key', sa.String(length=20), nullable=False),
    sa.Column('payer', sa.String(length=8), nullable=False),
    sa.Column('billing_month', sa.String(length=7), nullable=False),
    sa.Column('receipts', sa.Integer(), nullable=False),
    sa.Column('days', sa.Integer(), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('billed_amount', sa.BigInteger(), nullable=False),
    sa.Column('approved_receipts', sa.Integer(), nullable=False),
    sa.Column('approved_amount', sa.BigInteger(), nullable=False),
    sa.Column('reversal_amount', sa.BigInteger(), nullable=False),
    sa.Column('disputed_receipts', sa.Integer(), nullable=False),
    sa.Column('disputed_amount', sa.BigInteger(), nullable=False),
    sa.Column('review_receipts', sa.Integer(), nullable=False),
    sa.Column('payment_amount', sa.BigInteger(), nullable=True),
    sa.Column('paid_on', sa.Date(), nullable=True),
    sa.Column('closed_run_id', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_uke_bill')),
    sa.UniqueConstraint('bill_key', name=op.f('uq_uke_bill_bill_key'))
    )
    op.create_table('uke_bill_entry',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('entry_key', sa.String(length=64), nullable=False),
    sa.Column('bill_key', sa.String(length=20), nullable=False),
    sa.Column('claim_id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.String(length=40), nullable=False),
    sa.Column('run_id', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_uke_bill_entry')),
    sa.UniqueConstraint('entry_key', name=op.f('uq_uke_bill_entry_entry_key'))
    )
    with op.batch_alter_table('uke_bill_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_uke_bill_entry_bill_key'), ['bill_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_uke_bill_entry_claim_id'), ['claim_id'], unique=False)

    op.create_table('uke_file',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('file_name', sa.String(length=128), nullable=False),
    sa.Column('payer', sa.String(length=8), nullable=False),
    sa.Column('institution_code', sa.String(length=10), nullable=False),
    sa.Column('billing_month', sa.String(length=7), nullable=False),
    sa.Column('receipts_read', sa.Integer(), nullable=False),
    sa.Column('receipts_accepted', sa.Integer(), nullable=False),
    sa.Column('receipts_quarantined', sa.Integer(), nullable=False),
    sa.Column('receipts_without_city_public', sa.Integer(), nullable=False),
    sa.Column('other_public_records', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_uke_file')),
    sa.UniqueConstraint('sha256', name=op.f('uq_uke_file_sha256'))
    )
    with op.batch_alter_table('uke_file', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_uke_file_billing_month'), ['billing_month'], unique=False)

    op.create_table('uke_receipt',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('claim_id', sa.String(length=32), nullable=False),
    sa.Column('payer', sa.String(length=8), nullable=False),
    sa.Column('institution_code', sa.String(length=10), nullable=False),
    sa.Column('service_month', sa.String(length=7), nullable=False),
    sa.Column('receipt_no', sa.String(length=6), nullable=False),
    sa.Column('billing_month', sa.String(length=7), nullable=False),
    sa.Column('receipt_type', sa.String(length=4), nullable=False),
    sa.Column('care_type', sa.String(length=12), nullable=False),
    sa.Column('public_payer_number', sa.String(length=8), nullable=False),
    sa.Column('recipient_no', sa.String(length=7), nullable=False),
    sa.Column('person_id', sa.String(length=15), nullable=True),
    sa.Column('first_service_date', sa.Date(), nullable=False),
    sa.Column('last_service_date', sa.Date(), nullable=False),
    sa.Column('service_dates_source', sa.String(length=8), nullable=False),
    sa.Column('service_days', sa.Integer(), nullable=False),
    sa.Column('admission_id', sa.String(length=20), nullable=True),
    sa.Column('admission_date', sa.Date(), nullable=True),
    sa.Column('total_points', sa.BigInteger(), nullable=False),
    sa.Column('insurer_number', sa.String(length=8), nullable=True),
    sa.Column('insured_self_pay_amount', sa.BigInteger(), nullable=False),
    sa.Column('meal_amount', sa.BigInteger(), nullable=False),
    sa.Column('high_cost_category', sa.String(length=1), nullable=True),
    sa.Column('high_cost_many_times_flag', sa.Boolean(), nullable=False),
    sa.Column('specific_disease_code', sa.String(length=4), nullable=True),
    sa.Column('first_visit_flag', sa.Boolean(), nullable=False),
    sa.Column('billed_days', sa.Integer(), nullable=False),
    sa.Column('billed_points', sa.BigInteger(), nullable=False),
    sa.Column('billed_subsidy_amount', sa.BigInteger(), nullable=False),
    sa.Column('billed_copay_amount', sa.BigInteger(), nullable=False),
    sa.Column('city_subsidy_amount', sa.BigInteger(), nullable=True),
    sa.Column('city_copay_amount', sa.BigInteger(), nullable=True),
    sa.Column('city_self_pay_amount', sa.BigInteger(), nullable=True),
    sa.Column('copay_rule_amount', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('review_reason', sa.String(length=40), nullable=True),
    sa.Column('differing_rule', sa.String(length=40), nullable=True),
    sa.Column('rule_detail', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('content_digest', sa.String(length=64), nullable=False),
    sa.Column('file_sha256', sa.String(length=64), nullable=False),
    sa.Column('source_line', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_uke_receipt')),
    sa.UniqueConstraint('claim_id', name=op.f('uq_uke_receipt_claim_id'))
    )
    with op.batch_alter_table('uke_receipt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_uke_receipt_admission_id'), ['admission_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_uke_receipt_billing_month'), ['billing_month'], unique=False)
        batch_op.create_index(batch_op.f('ix_uke_receipt_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_uke_receipt_recipient_no'), ['recipient_no'], unique=False)

    op.create_table('receivable_account',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('receivable_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('legal_basis', sa.String(length=120), nullable=False),
    sa.Column('notice_date', sa.Date(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('prescription_start', sa.Date(), nullable=False),
    sa.Column('prescription_date', sa.Date(), nullable=False),
    sa.Column('reminder_count', sa.Integer(), nullable=False),
    sa.Column('last_reminder_date', sa.Date(), nullable=True),
    sa.Column('overpaid_amount', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['receivable_id'], ['receivable.id'], name=op.f('fk_receivable_account_receivable_id_receivable')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_receivable_account')),
    sa.UniqueConstraint('receivable_id', name=op.f('uq_receivable_account_receivable_id'))
    )
    op.create_table('receivable_event',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('event_key', sa.String(length=96), nullable=False),
    sa.Column('receivable_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('event_date', sa.Date(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('operator_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['receivable_id'], ['receivable.id'], name=op.f('fk_receivable_event_receivable_id_receivable')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_receivable_event')),
    sa.UniqueConstraint('event_key', name=op.f('uq_receivable_event_event_key'))
    )
    with op.batch_alter_table('receivable_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_receivable_event_receivable_id'), ['receivable_id'], unique=False)

    op.create_table('receivable_installment',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('receivable_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['receivable_id'], ['receivable.id'], name=op.f('fk_receivable_installment_receivable_id_receivable')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_receivable_installment')),
    sa.UniqueConstraint('receivable_id', 'seq', name=op.f('uq_receivable_installment_receivable_id_seq'))
    )
    with op.batch_alter_table('receivable_installment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_receivable_installment_receivable_id'), ['receivable_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('receivable_installment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_receivable_installment_receivable_id'))

    op.drop_table('receivable_installment')
    with op.batch_alter_table('receivable_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_receivable_event_receivable_id'))

    op.drop_table('receivable_event')
    op.drop_table('receivable_account')
    with op.batch_alter_table('uke_receipt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_uke_receipt_recipient_no'))
        batch_op.drop_index(batch_op.f('ix_uke_receipt_person_id'))
        batch_op.drop_index(batch_op.f('ix_uke_receipt_billing_month'))
        batch_op.drop_index(batch_op.f('ix_uke_receipt_admission_id'))

    op.drop_table('uke_receipt')
    with op.batch_alter_table('uke_file', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_uke_file_billing_month'))

    op.drop_table('uke_file')
    with op.batch_alter_table('uke_bill_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_uke_bill_entry_claim_id'))
        batch_op.drop_index(batch_op.f('ix_uke_bill_entry_bill_key'))

    op.drop_table('uke_bill_entry')
    op.drop_table('uke_bill')
    op.drop_table('payment_review')
