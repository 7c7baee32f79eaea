"""Typed parameters of the ``move-in`` flow (rendered as a form in the Prefect UI).

Only ids, codes, dates, paths and flags: never a My Number, a name or an address (security.md SEC-01).
The 宛名番号 field accepts exactly 10 digits, so a 12-digit My Number cannot be entered by mistake.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from privacy.operators import OPERATOR_ID_PATTERN, PROOF_PATTERN
from privacy.paths import LOCAL_PATH_PATTERN


class MoveInCase(BaseModel):
    """A 転入 case as the operator enters it."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="Move-in case (転入)")

    case_id: str | None = Field(
        None, pattern=r"^[0-9A-Za-z-]{1,16}$", title="Case id",
        description="Case id (1-16 letters, digits, hyphens). Empty: the case of the 宛名番号 (created if new).")
    person_id: str | None = Field(
        None, pattern=r"^[0-9]{10}$", title="宛名番号",
        description="宛名番号 of a member of the household (10 digits). Never a My Number or a name.")
    operator_id: str = Field(
        ..., pattern=OPERATOR_ID_PATTERN, max_length=32, title="Operator id",
        description="Your staff user id (must be registered and allowed to run cases).")
    income_source: Literal["certificate", "inquiry", "not_yet"] = Field(
        ..., title="How income is known",
        description="certificate: a submitted 所得証明書 (give its CSV path); inquiry: 中間サーバ with the "
                    "person's recorded consent (give the consent id); not_yet: decide what can be decided.")
    operator_proof: str | None = Field(
        None, pattern=PROOF_PATTERN, title="Proof of identity",
        description="Single-use proof from `kodomo login --operator <your id>` (privacy.operators).")
    certificate_path: str | None = Field(
        None, pattern=LOCAL_PATH_PATTERN, max_length=255, title="Income certificate CSV",
        description="Path of the transcribed 所得証明書 (tax.csv layout).")
    consent_id: str | None = Field(
        None, pattern=r"^[0-9A-Za-z-]{1,20}$", title="Consent id",
        description="Id of the consent recorded with `kodomo move-in consent` (required for income_source=inquiry).")
    previous_municipality_code: str | None = Field(
        None, pattern=r"^[0-9]{6}$", title="Previous municipality code",
        description="全国地方公共団体コード of the previous address, if known at the counter; empty: the "
                    "registry's, else looked up in 住基ネット.")
    insurer_number: str | None = Field(
        None, pattern=r"^([0-9]{6}|[0-9]{8})$", title="保険者番号",
        description="Insurer number on the children's health insurance card (not the 記号・番号).")
    insured_type_code: Literal["1", "2"] = Field("2", title="本人/家族", description="1 本人, 2 家族")
    insurance_valid_from: dt.date | None = Field(
        None, title="Insurance valid from", description="資格取得日; empty: the move-in date.")
    application_date: dt.date | None = Field(
        None, title="Application date", description="受付日 of the 資格登録届; empty: today.")
    as_of: dt.date | None = Field(None, title="Processing date", description="Empty: today (Asia/Tokyo).")
    send_to_pmh: bool = Field(True, title="Send to PMH now",
                              description="Run the PMH outbox relay after the decision (else the next sync sends).")

    @model_validator(mode="after")
    def _check(self) -> MoveInCase:
        if not self.case_id and not self.person_id:
            raise ValueError("give a case id or a 宛名番号")
        if self.income_source == "certificate" and not self.certificate_path:
            raise ValueError("income_source=certificate needs certificate_path")
        return self

    def to_request(self):
        """The plain request of :mod:`services.movein.service`."""
        from services.movein.service import MoveInRequest

        return MoveInRequest(
            operator_id=self.operator_id, income_source=self.income_source, case_id=self.case_id,
            person_id=self.person_id, certificate_path=self.certificate_path, consent_id=self.consent_id,
            previous_municipality_code=self.previous_municipality_code, insurer_number=self.insurer_number,
            insured_type_code=self.insured_type_code, insurance_valid_from=self.insurance_valid_from,
            application_date=self.application_date, as_of=self.as_of,
        )
