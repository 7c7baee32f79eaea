"""The benefit stage of a month: receipts in, assessments, payments, refund claims, files out.

Plain functions (the Prefect tasks in ``tasks/benefits.py`` wrap them). Repository functions take a
connection and never commit; the caller owns the transaction.

1. :func:`load_claim_files` — read and validate ``claims.csv`` and ``reimbursement_applications.csv``.
2. :func:`assess_new_claims` — eligibility per receipt and amounts (rules.benefits) under the stored
   eligibility periods; admission days of earlier months come from the stored receipts.
3. :func:`store_claims` — upsert the receipts and their assessment (payee accounts encrypted).
4. :func:`reassess_stored_claims` — re-assess earlier receipts of children whose eligibility changed in the
   month's eligibility run (late 転出/死亡 notices, backdated 生活保護).
5. :func:`settle_claims` — compare entitlement with the ledger: initial and supplementary payments,
   返還請求 (receivables). Natural keys make a re-run create nothing twice.
6. :func:`write_payment_file`, :func:`write_reports` — 全銀 総合振込 file, CSV summaries, refund notices.

Modules: :mod:`~services.benefits.intake` (1), :mod:`~services.benefits.assessment` (2–4),
:mod:`~services.benefits.ledger` (5; collections and write-offs), :mod:`~services.benefits.files` (6).
"""

from services.benefits.assessment import (
    assess,
    assess_new_claims,
    changed_persons,
    reassess_stored_claims,
    store_claims,
)
from services.benefits.files import month_totals, write_payment_file, write_reports
from services.benefits.intake import ClaimInbox, load_claim_files
from services.benefits.ledger import record_collections, settle_claims, write_off_receivables

__all__ = [
    "ClaimInbox", "assess", "assess_new_claims", "changed_persons", "load_claim_files",
    "month_totals", "reassess_stored_claims", "record_collections", "settle_claims", "store_claims",
    "write_off_receivables", "write_payment_file", "write_reports",
]
