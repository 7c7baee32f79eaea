"""Printable documents (PDF): 受給者証, 交付通知, 支給停止通知書, 資格喪失通知書, 返還請求書 / 督促状.

Public API (other services build the dataclasses and call one function)::

    from services.documents import (Addressee, AppealInstruction, Certificate, GrantNotice, LossNotice,
                                    RefundDemand, RefundItem, SuspensionNotice, appeal_instruction,
                                    issuer_title, print_directory, record_print, write_batch)

    appeal = appeal_instruction(policy, issue_date)          # 教示文 from policy/parameters/notices/
    doc = RefundDemand(person_id=..., recipient_no=..., addressee=Addressee(name, address),
                       child_name=..., items=(RefundItem("2026-08", "医療機関 0112345678", 1200),),
                       due_date=..., reason=..., payment_details=("同封の納付書により…",),
                       issue_date=..., issuer=issuer_title(policy, issue_date), appeal=appeal)
    batch = write_batch([doc, ...], print_directory(settings.home, month), "返還請求書_2026-10")
    record_print(session, batch, documents, operator_id=..., purpose="refund-demand", run_id=...)

* :func:`write_batch` renders one PDF (volumes of 5 000 pages) plus ``<name>_index.csv`` into a 0700
  directory, files 0600, atomically; returns a :class:`PrintBatch` (paths and counts only).
* Names and addresses are decrypted by the caller only to build the documents; :func:`record_print`
  writes the access-log row (action ``print``) for the persons printed, in the caller's transaction.
* :mod:`services.documents.month` builds the month's documents from the month's decisions.
"""

from services.documents.batch import PrintBatch, print_directory, write_batch
from services.documents.model import (
    Addressee,
    AppealInstruction,
    Certificate,
    Document,
    GrantNotice,
    LossNotice,
    RefundDemand,
    RefundItem,
    SuspensionNotice,
    appeal_instruction,
    issuer_title,
)
from services.documents.record import record_print
from services.documents.render import FontNotFoundError, render_pdf, wareki

__all__ = [
    "Addressee", "AppealInstruction", "Certificate", "Document", "FontNotFoundError", "GrantNotice", "LossNotice",
    "PrintBatch", "RefundDemand", "RefundItem", "SuspensionNotice", "appeal_instruction", "issuer_title",
    "print_directory", "record_print", "render_pdf", "wareki", "write_batch",
]
