"""What a printed document says: plain frozen dataclasses, one per document kind.

Fields hold what is printed (names and addresses are decrypted only to build these objects, just before
rendering, and never leave the process except on paper). Dates are ``datetime.date``; money is integer
yen. Each class has ``kind`` (a stable code), ``title`` (the Japanese title printed and listed in the
batch index) and ``person_id`` / ``recipient_no`` for the index.

A notice of a disposition (処分の通知) carries an :class:`AppealInstruction` (教示文, 行政不服審査法
第82条第1項, 行政事件訴訟法 第46条第1項); build it with :func:`appeal_instruction` from the policy.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from policy.loader import Policy

REVIEW_REQUEST_PARAMETER = "notices.appeal_review_request"
LAWSUIT_PARAMETER = "notices.appeal_lawsuit"
ISSUER_PARAMETER = "notices.issuer_title"


@dataclass(frozen=True)
class AppealInstruction:
    """教示文: 審査請求 (3 months, 行政不服審査法 §18) and 取消訴訟 (6 months, 行政事件訴訟法 §14)."""

    review_request: str
    lawsuit: str
    source: str


def appeal_instruction(policy: Policy, on: dt.date) -> AppealInstruction:
    """The 教示文 in force on ``on`` (the issue date), with the legal sources of both paragraphs."""
    snapshot = policy.at(on)
    review, lawsuit = snapshot.get(REVIEW_REQUEST_PARAMETER), snapshot.get(LAWSUIT_PARAMETER)
    if not review or not lawsuit:
        raise ValueError(f"no 教示文 in force on {on.isoformat()} ({REVIEW_REQUEST_PARAMETER}, {LAWSUIT_PARAMETER})")
    source = f"{snapshot.reference(REVIEW_REQUEST_PARAMETER)}; {snapshot.reference(LAWSUIT_PARAMETER)}"
    return AppealInstruction(review, lawsuit, source)


def issuer_title(policy: Policy, on: dt.date) -> str:
    """The sender printed on documents (e.g. 仙台市長)."""
    return policy.at(on).get(ISSUER_PARAMETER)


@dataclass(frozen=True)
class Addressee:
    """Where the envelope goes: the guardian (or the child) by name and address."""

    name: str
    address: str
    postal_code: str = ""
    care_note: str = ""  # e.g. 支援措置: staff check the delivery address by hand (never printed on the page)


@dataclass(frozen=True)
class Certificate:
    """受給者証 (card layout)."""

    person_id: str
    recipient_no: str
    public_payer_number: str
    certification_name: str  # e.g. 仙台市こども医療費受給者証
    child_name: str
    child_kana: str
    child_birth_date: dt.date
    guardian_name: str
    address: str
    valid_from: dt.date
    valid_to: dt.date
    copay: str  # 一部負担金 as printed (built by services.documents.month.copay_text)
    insurer_number: str
    issue_date: dt.date
    issuer: str
    reissue_note: str = ""  # 再交付 (紛失) … printed on a reissued card
    kind: str = field(default="certificate", init=False)
    title: str = field(default="受給者証", init=False)


@dataclass(frozen=True)
class GrantNotice:
    """交付通知 (受給資格認定・受給者証交付 / 変更 / 更新 の通知): a disposition, so with 教示文."""

    person_id: str
    recipient_no: str
    addressee: Addressee
    child_name: str
    decision_label: str  # 新規 / 変更 / 更新 / 再交付
    valid_from: dt.date
    valid_to: dt.date
    effective_date: dt.date
    issue_date: dt.date
    issuer: str
    appeal: AppealInstruction
    kind: str = field(default="grant_notice", init=False)
    title: str = field(default="受給者証交付通知書", init=False)


@dataclass(frozen=True)
class SuspensionNotice:
    """支給停止通知書 (所得制限超過等): a disposition, so with 教示文."""

    person_id: str
    recipient_no: str
    addressee: Addressee
    child_name: str
    effective_date: dt.date
    reason: str
    issue_date: dt.date
    issuer: str
    appeal: AppealInstruction
    kind: str = field(default="suspension_notice", init=False)
    title: str = field(default="支給停止通知書", init=False)


@dataclass(frozen=True)
class LossNotice:
    """資格喪失通知書 (転出, 死亡, 年齢到達, 生活保護, 喪失届): a disposition, so with 教示文."""

    person_id: str
    recipient_no: str
    addressee: Addressee
    child_name: str
    effective_date: dt.date
    reason: str
    issue_date: dt.date
    issuer: str
    appeal: AppealInstruction
    return_request: str = "お手元の受給者証は、資格喪失日以降は使用できませんので、市へ返還してください。"
    kind: str = field(default="loss_notice", init=False)
    title: str = field(default="資格喪失通知書", init=False)


@dataclass(frozen=True)
class RefundItem:
    """One line of a 返還請求: the receipt's service month, where, and the yen claimed back."""

    service_month: str  # YYYY-MM
    description: str  # e.g. 医療機関コード or 償還払い, no diagnosis
    amount: int


@dataclass(frozen=True)
class RefundDemand:
    """返還請求書 (助成金の返還請求 / 督促): a disposition, so with 教示文.

    ``payment_details`` are the lines telling how and where to pay (納付書, 口座, 窓口); ``demand_label``
    lets the same layout print a 督促状 (``"督促"``).
    """

    person_id: str
    recipient_no: str
    addressee: Addressee
    child_name: str
    items: tuple[RefundItem, ...]
    due_date: dt.date  # 納期限
    reason: str
    payment_details: tuple[str, ...]
    issue_date: dt.date
    issuer: str
    appeal: AppealInstruction
    reference_no: str = ""  # 債権番号 / 納付番号
    demand_label: str = "返還請求"
    kind: str = field(default="refund_demand", init=False)

    @property
    def title(self) -> str:
        return "督促状" if self.demand_label == "督促" else "助成金返還請求書"

    @property
    def total(self) -> int:
        return int(sum(item.amount for item in self.items))


Document = Certificate | GrantNotice | SuspensionNotice | LossNotice | RefundDemand

DOCUMENT_TITLES = {
    "certificate": "受給者証", "grant_notice": "受給者証交付通知書", "suspension_notice": "支給停止通知書",
    "loss_notice": "資格喪失通知書", "refund_demand": "助成金返還請求書",
}
