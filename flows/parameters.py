"""Typed parameters of the flows (rendered as forms in the Prefect UI) and the names of their runs.

Only ids, codes, dates, paths and flags: never a My Number, a name, an address or a 宛名番号 (security.md
SEC-01, issue 14). A person is named by an opaque case id opened on the terminal (``kodomo move-in open``),
and no field accepts a bare 10- or 12-digit number: free ids allow runs of at most 8 digits.
The conversion of a :class:`MoveInCase` into the service's request is done by the task layer
(``tasks.movein.case_request``): flows import no service.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from prefect.runtime import flow_run
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from tasks.common import LOCAL_PATH_PATTERN, OPERATOR_ID_PATTERN, PROOF_OR_EMPTY, REFERENCE_PATTERN, OperatorIdParam

Month = Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="Processing month, YYYY-MM")]
OperatorId = OperatorIdParam
IsoDate = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="Date, YYYY-MM-DD")]
#: A move-in case id (``MI-`` + the id of ``kodomo move-in open``; ``services.movein.cases``).
MOVEIN_CASE_ID_PATTERN = r"^MI-[0-9A-Z-]{1,13}$"

#: The city's calendar: a run's default month and day are those of Asia/Tokyo.
CITY_TIMEZONE = ZoneInfo("Asia/Tokyo")


def city_today() -> dt.date:
    """Today in Asia/Tokyo."""
    return dt.datetime.now(CITY_TIMEZONE).date()


def previous_month(today: dt.date | None = None) -> str:
    """The month before ``today`` (Asia/Tokyo): what the scheduled run on the 1st decides."""
    first = (today or city_today()).replace(day=1)
    return (first - dt.timedelta(days=1)).strftime("%Y-%m")


def _blank(value: object) -> object:
    """Empty means none: ``None`` → ``""``; a date → ``YYYY-MM-DD`` (callers may still pass either)."""
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


#: Optional fields are plain text inputs where empty means none, and dates are date pickers that may stay
#: empty: a ``str | None`` field would make staff click a toggle in the UI form before typing (issue 15).
Text = Annotated[str, BeforeValidator(_blank)]
OptionalDate = Annotated[str, BeforeValidator(_blank), Field(pattern=r"^(\d{4}-\d{2}-\d{2})?$",
                                                             json_schema_extra={"format": "date"})]


class MoveInCase(BaseModel):
    """A 転入 case as the operator enters it."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="Move-in case (転入)")

    case_id: str = Field(
        ..., pattern=MOVEIN_CASE_ID_PATTERN, max_length=16, title="Case id",
        description="MI-… from `kodomo move-in open --person <宛名番号>` (the 宛名番号 is typed there, never here).")
    operator_id: str = Field(
        ..., pattern=OPERATOR_ID_PATTERN, max_length=32, title="Operator id",
        description="Your staff user id (must be registered and allowed to run cases).")
    income_source: Literal["certificate", "inquiry", "not_yet"] = Field(
        ..., title="How income is known",
        description="certificate: a submitted 所得証明書 (give its CSV path); inquiry: 中間サーバ with the "
                    "person's recorded consent (give the consent id); not_yet: decide what can be decided.")
    operator_proof: Text = Field(
        "", pattern=PROOF_OR_EMPTY, title="Proof of identity",
        description="Single-use proof from `kodomo login --operator <your id>` (privacy.operators).")
    certificate_path: Text = Field(
        "", pattern=LOCAL_PATH_PATTERN, max_length=255, title="Income certificate CSV",
        description="Path of the transcribed 所得証明書 (tax.csv layout).")
    consent_id: Text = Field(
        "", pattern=REFERENCE_PATTERN, max_length=20, title="Consent id",
        description="Id of the consent recorded with `kodomo move-in consent` (required for income_source=inquiry).")
    previous_municipality_code: Text = Field(
        "", pattern=r"^([0-9]{6})?$", title="Previous municipality code",
        description="全国地方公共団体コード of the previous address, if known at the counter; empty: the "
                    "registry's, else looked up in 住基ネット.")
    insurer_number: Text = Field(
        "", pattern=r"^([0-9]{6}|[0-9]{8})?$", title="保険者番号",
        description="Insurer number on the children's health insurance card (not the 記号・番号).")
    insured_type_code: Literal["1", "2"] = Field("2", title="本人/家族", description="1 本人, 2 家族")
    insurance_valid_from: OptionalDate = Field(
        "", title="Insurance valid from", description="資格取得日; empty: the move-in date.")
    application_date: OptionalDate = Field(
        "", title="Application date", description="受付日 of the 資格登録届; empty: today.")
    as_of: OptionalDate = Field("", title="Processing date", description="Empty: today (Asia/Tokyo).")
    send_to_pmh: bool = Field(True, title="Send to PMH now",
                              description="Run the PMH outbox relay after the decision (else the next sync sends).")

    @model_validator(mode="after")
    def _check(self) -> MoveInCase:
        if self.income_source == "certificate" and not self.certificate_path:
            raise ValueError("income_source=certificate needs certificate_path")
        return self


# -- flow-run names: the month, day or case, never personal data (issue 15 "A UI that tells the story") ----
def _parameters() -> dict[str, Any]:
    return dict(flow_run.parameters or {})


def monthly_run_name() -> str:
    """``monthly-run 2026-10`` (the default month when none was given)."""
    return f"monthly-run {_parameters().get('month') or previous_month()}"


def benefit_run_name() -> str:
    """``benefit-run 2026-10``."""
    return f"benefit-run {_parameters().get('month')}"


def move_in_name() -> str:
    """``move-in MI-2026-0001`` (the case id; never a person id)."""
    case = _parameters().get("case")
    case_id = case.get("case_id") if isinstance(case, dict) else getattr(case, "case_id", None)
    return f"move-in {case_id or '(new case)'}"


def pmh_sync_name() -> str:
    """``pmh-sync 2026-12-07`` (the day in Asia/Tokyo)."""
    return f"pmh-sync {city_today().isoformat()}"


def resident_changes_name() -> str:
    """``resident-changes 2026-11-20`` (the processing date)."""
    return f"resident-changes {_parameters().get('as_of') or city_today().isoformat()}"
