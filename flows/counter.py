"""Counter flows (窓口): one Prefect deployment and form per action, ids, codes and dates only.

The forms never hold a name, an address, a bank account, a My Number or a 宛名番号: the child
(and the guardian) are named by an opaque counter case id (``CC-`` + 10 base32 characters) opened on
the terminal with ``kodomo counter open`` (issue 14), so no person id is stored in Prefect's
``flow_run.parameters``. A new 送付先 address or bank account is
entered on the terminal (``kodomo counter change-address`` / ``change-account``), never in the UI.
Optional text fields are plain inputs where empty means none; dates are date pickers.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from prefect import flow
from pydantic import Field

from tasks import common
from tasks import counter as t
from tasks.common import PROOF_OR_EMPTY, REFERENCE_PATTERN, OperatorIdParam

#: ``services.counter.cases.CASE_ID_PATTERN`` (flows import no service; a unit test checks they are equal).
CASE_ID_PATTERN = r"^CC-[A-Z2-7]{10}$"
CaseId = Annotated[str, Field(pattern=CASE_ID_PATTERN, title="窓口ケース番号",
                              description="kodomo counter open が表示する CC- で始まる番号（宛名番号は入力しない）")]
OperatorId = Annotated[OperatorIdParam, Field(title="職員ID")]
#: The form's proof of identity (``kodomo login``); a plain input, empty only for runs that prove otherwise.
OperatorProof = Annotated[str, Field(pattern=PROOF_OR_EMPTY, title="本人確認（kodomo login の証明）",
                                     description="kodomo login --operator <職員ID> が表示する一回限りの証明")]
ReceiptNo = Annotated[str, Field(pattern=REFERENCE_PATTERN, max_length=40, title="受付番号",
                                 description="空欄＝自動（同じ内容の再送信は二重に処理されません）")]
Received = Annotated[dt.date, Field(title="受付日")]
Month = Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", title="決定の処理月", description="YYYY-MM")]


def optional_date(title: str, description: str = "空欄＝なし"):
    """A date picker that may stay empty (a ``date | None`` field would show a toggle in the UI form)."""
    return Annotated[str, Field(pattern=r"^(\d{4}-\d{2}-\d{2})?$", title=title, description=description,
                                json_schema_extra={"format": "date"})]


def _form(action_type: str, case_id: str, received_date: dt.date, **fields) -> dict:
    """The form's fields; the task resolves the case to the persons (flows import tasks only)."""
    return {"action_type": action_type, "case_id": case_id, "received_date": received_date, **fields}


def _run(form: dict, operator_id: str, send_to_pmh: bool, operator_proof: str = "") -> dict:
    operator = common.authorise_operator(operator_id, "run", operator_proof or None)
    month = form["received_date"].strftime("%Y-%m")
    policy = common.load_run_policy()
    # one running action per case (a child has one open case); other cases run side by side
    with common.run_scope("counter-" + form["action_type"].lower(), operator, month=month, policy=policy,
                          lock_scope=f"counter-case {form['case_id']}") as run:
        result = t.apply_counter_action(form, policy, run.run_id, operator)
        if send_to_pmh and result.get("pmh_outbox_rows"):
            result["pmh"] = t.send_to_pmh(run.run_id, operator)
        summary = t.publish_summary(result)
        run.counts = {"outcome": summary["outcome"]}
    return summary


def _text(value: str) -> str | None:
    return value or None


def _date(value: str) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


@flow(name="counter-change", flow_run_name="変更届 {change} {received_date}", log_prints=False,
      persist_result=False, validate_parameters=True)
def counter_change(case_id: CaseId, received_date: Received, change: Literal["insurance", "guardian"],
                   effective_date: Annotated[dt.date, Field(title="変更日")],
                   operator_id: OperatorId, operator_proof: OperatorProof = "",
                   insurer_number: Annotated[str, Field(pattern=r"^([0-9]{6}|[0-9]{8})?$", title="保険者番号",
                                                        description="保険の変更のとき（6桁または8桁）")] = "",
                   insured_type_code: Literal["1", "2"] = "2",
                   receipt_no: ReceiptNo = "", send_to_pmh: bool = True) -> dict:
    """変更届 (保険 / 保護者): store the change, re-determine the household, new card if its entries change.

    A change of guardian takes the guardian recorded on the case (``kodomo counter open --guardian-person-id``).
    """
    form = _form("CHANGE_INSURANCE" if change == "insurance" else "CHANGE_GUARDIAN", case_id, received_date,
                       receipt_no=_text(receipt_no), effective_date=effective_date,
                       insurer_number=_text(insurer_number) if change == "insurance" else None,
                       insured_type_code=insured_type_code if change == "insurance" else None)
    return _run(form, operator_id, send_to_pmh, operator_proof)


@flow(name="counter-loss-report", flow_run_name="喪失届 {received_date}", log_prints=False, persist_result=False,
      validate_parameters=True)
def counter_loss_report(case_id: CaseId, received_date: Received,
                        reason: Literal["INSURANCE_LOSS", "MOVE_OUT", "WELFARE", "OTHER_PROGRAM"],
                        effective_date: Annotated[dt.date, Field(title="喪失日")],
                   operator_id: OperatorId, operator_proof: OperatorProof = "",
                        receipt_no: ReceiptNo = "", send_to_pmh: bool = True) -> dict:
    """喪失届: end the subsidy when the stored facts support it; otherwise hold it with the reason."""
    form = _form("LOSS_REPORT", case_id, received_date, receipt_no=_text(receipt_no), reason_code=reason,
                       effective_date=effective_date)
    return _run(form, operator_id, send_to_pmh, operator_proof)


@flow(name="counter-reissue", flow_run_name="再交付 {received_date}", log_prints=False, persist_result=False,
      validate_parameters=True)
def counter_reissue(case_id: CaseId, received_date: Received, reason: Literal["LOST", "DAMAGED", "ENTRY_CHANGE"],

                   operator_id: OperatorId, operator_proof: OperatorProof = "",
                   receipt_no: ReceiptNo = "", send_to_pmh: bool = True) -> dict:
    """再交付 (紛失・破損・記載事項変更): same 受給者番号, new issue date, the old card recorded void."""
    form = _form("REISSUE", case_id, received_date, receipt_no=_text(receipt_no), reason_code=reason)
    return _run(form, operator_id, send_to_pmh, operator_proof)


@flow(name="counter-correction", flow_run_name="取消・訂正 {decision_month}", log_prints=False,
      persist_result=False, validate_parameters=True)
def counter_correction(case_id: CaseId, received_date: Received, kind: Literal["CANCEL", "CORRECT"],
                       decision_month: Month,
                       decision_type: Literal["NEW", "RENEWAL", "CHANGE", "SUSPEND_INCOME", "LOSS_MOVE_OUT",
                                              "LOSS_DEATH", "LOSS_AGE", "LOSS_WELFARE"],
                       reason: Literal["INPUT_ERROR", "FACT_ERROR", "LATE_EVIDENCE", "SELF_CORRECTION",
                                       "APPEAL_GRANTED", "COURT_RULING"],

                   operator_id: OperatorId, operator_proof: OperatorProof = "",
                       application_id: Annotated[str, Field(pattern=REFERENCE_PATTERN, max_length=32, title="届出番号",
                                                            description="訂正・取消する資格登録届。空欄＝なし")] = "",
                       corrected_application_date: optional_date(
                           "正しい届出日", "空欄で届出番号あり＝その届出を無効（取消）") = "",
                       insurer_number: Annotated[str, Field(pattern=r"^([0-9]{6}|[0-9]{8})?$", title="正しい保険者番号",
                                                            description="空欄＝保険の訂正なし")] = "",
                       insured_type_code: Literal["1", "2"] = "2",
                       insurance_valid_from: optional_date("正しい保険の資格取得日") = "",
                       receipt_no: ReceiptNo = "", send_to_pmh: bool = True) -> dict:
    """取消/訂正: take the decision back, correct the inputs, re-determine retroactively, settle the money."""
    form = _form(kind, case_id, received_date, receipt_no=_text(receipt_no), reason_code=reason,
                       decision_month=decision_month, decision_type=decision_type,
                       application_id=_text(application_id), application_date=_date(corrected_application_date),
                       insurer_number=_text(insurer_number),
                       insured_type_code=insured_type_code if insurer_number else None,
                       effective_date=_date(insurance_valid_from) if insurer_number else None)
    return _run(form, operator_id, send_to_pmh, operator_proof)


@flow(name="counter-retroactive", flow_run_name="遡及登録 {application_date}", log_prints=False, persist_result=False,
      validate_parameters=True)
def counter_retroactive(case_id: CaseId, received_date: Received,
                        application_date: Annotated[dt.date, Field(title="登録日（裁決等で定まった日）")],
                        reason: Literal["APPEAL_GRANTED", "COURT_RULING", "SELF_CORRECTION"],

                   operator_id: OperatorId, operator_proof: OperatorProof = "",
                   receipt_no: ReceiptNo = "", send_to_pmh: bool = True) -> dict:
    """遡及登録 after an appeal: the registration counts from the ruled date; decisions and money follow.

    The guardian is the one recorded on the case (``kodomo counter open --guardian-person-id``).
    """
    form = _form("RETROACTIVE", case_id, received_date, receipt_no=_text(receipt_no), reason_code=reason,
                       application_date=application_date)
    return _run(form, operator_id, send_to_pmh, operator_proof)
