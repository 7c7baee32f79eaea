"""Japanese labels for the codes staff see at the counter (person history, counter actions).

Decision labels are those of the monthly summary (:data:`services.notices.summary.DECISION_LABELS`),
written once there; the rest are here.
"""

from __future__ import annotations

from services.notices.summary import DECISION_LABELS

__all__ = ["ACTION_REASONS", "CERTIFICATE_STATUS", "DECISION_LABELS", "END_REASONS", "EVENT_CODES", "ISSUE_CAUSES",
           "PERIOD_STATUS", "REASON_CODES", "reason_text"]

#: rules.eligibility reason-code rules (the part before ``:``).
REASON_CODES = {
    "REGISTRATION_WINDOW": "届出期間内の登録（事由発生日から）",
    "REGISTRATION_LATE": "届出期間経過後の登録（届出日から）",
    "AGE_LIMIT": "対象年齢",
    "INCOME_WITHIN_LIMIT": "所得制限額以下",
    "INCOME_OVER_LIMIT": "所得制限額超過",
    "INCOME_UNKNOWN": "所得不明（要確認）",
    "NO_INCOME_TEST": "所得制限なし",
    "WELFARE_EXCLUSION": "生活保護受給中（対象外）",
    "COUNTER_CORRECTION": "窓口での訂正",
    "APPEAL_RETROACTIVE": "審査請求等による遡及登録",
}
#: rules.eligibility.END_REASONS.
END_REASONS = {
    "DEATH": "死亡", "MOVE_OUT": "転出", "AGE": "年齢到達", "WELFARE": "生活保護開始", "INSURANCE": "保険資格なし",
    "INCOME": "所得区分の変更", "OPEN": "継続中", "REPORT": "喪失届",
}
PERIOD_STATUS = {"ELIGIBLE": "受給資格あり", "SUSPENDED_INCOME": "支給停止（所得）"}
#: certificate.status (rules.decisions: the state after the latest decision).
CERTIFICATE_STATUS = {"ELIGIBLE": "有効", "SUSPENDED_INCOME": "支給停止中", "LOST": "資格喪失（無効）"}
#: 住民記録 異動事由 (docs/formats/resident_events.md).
EVENT_CODES = {
    "A1": "国内転入", "A2": "国外転入", "A3": "出生", "A9": "職権記載", "D1": "国内転出", "D2": "国外転出",
    "D3": "死亡", "D9": "職権消除", "M1": "転居", "M2": "氏名変更", "M3": "世帯変更", "M9": "職権修正",
}
#: 続柄 (docs/formats/residents.md).
RELATIONSHIP_CODES = {"01": "世帯主", "02": "配偶者", "03": "子", "04": "父母", "05": "その他親族", "09": "その他"}
CLAIM_STATUS = {"PAYABLE": "支給", "REJECTED": "不支給"}
ROUTES = {"IN_KIND": "現物給付", "REIMBURSEMENT": "償還払い"}
PAYMENT_KINDS = {"INITIAL": "当初支給", "SUPPLEMENTARY": "追加支給"}
RECEIVABLE_STATUS = {"ISSUED": "請求中", "PARTLY_PAID": "一部納付", "PAID": "完納", "WRITTEN_OFF": "不納欠損",
                     "CANCELLED": "取消"}
PMH_STATUS = {"PENDING": "送信待ち", "SENDING": "送信中", "SENT": "送信済み", "COMPLETED": "登録完了",
              "REJECTED": "PMH拒否", "REJECTED_LOCAL": "送信前エラー", "FAILED": "失敗", "REGISTERED": "登録済み",
              "DELETED": "削除済み", "WRITTEN": "ファイル出力済み"}


def reason_text(codes: str | None) -> str:
    """Japanese for a ``;``-joined reason-code list.

    ``AGE_LIMIT:age_limit.outpatient=18@2026-04-01;NO_INCOME_TEST`` → ``対象年齢（18、2026-04-01〜）・所得制限なし``.
    """
    if not codes:
        return ""
    parts = []
    for code in str(codes).split(";"):
        rule, _, rest = code.partition(":")
        label = REASON_CODES.get(rule, rule)
        if rest:
            _, _, value = rest.partition("=")
            value, _, since = value.partition("@")
            shown = [v for v in (value if value not in ("", "None") else None, f"{since}〜" if since else None) if v]
            label += f"（{'、'.join(shown)}）" if shown else ""
        parts.append(label)
    return "・".join(parts)

#: Reasons typed on counter forms (再交付, 喪失届, 取消/訂正, 遡及登録).
ACTION_REASONS = {
    "LOST": "紛失", "DAMAGED": "破損", "ENTRY_CHANGE": "記載事項変更",
    "INSURANCE_LOSS": "保険資格の喪失", "MOVE_OUT": "転出", "WELFARE": "生活保護の開始",
    "OTHER_PROGRAM": "他制度への移行",
    "INPUT_ERROR": "入力誤り", "FACT_ERROR": "事実誤認", "LATE_EVIDENCE": "届出後の証明書提出",
    "APPEAL_GRANTED": "審査請求の認容", "COURT_RULING": "判決", "SELF_CORRECTION": "職権による是正",
    "REISSUED": "再交付により無効", "CANCELLED": "決定の取消により無効",
}
#: Why a 受給者証 was issued (certificate_issue.cause).
ISSUE_CAUSES = {"NEW": "新規", "RENEWAL": "更新", "CHANGE": "変更", "REISSUE": "再交付"}
