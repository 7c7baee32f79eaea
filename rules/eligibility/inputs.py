"""The input frames of the eligibility rules (column contracts in docs/architecture.md)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class EligibilityInputs:
    """The frames eligibility is computed from (column contracts in docs/architecture.md).

    Attributes:
        residents: one row per person: ``person_id, birth_date, household_id, relationship_code`` (the
            output of :func:`rules.residence.collect_persons`, i.e. the latest household after events).
        residence: ``person_id, start, end, end_reason`` from :func:`rules.residence.apply_events`.
        insurance: ``person_id, valid_from, valid_to`` (``valid_to`` NaT = open).
        welfare: 生活保護 cases: ``household_id, start_date, end_date`` (``end_date`` NaT = open).
        tax: ``person_id, tax_year, total_income_amount, casualty_loss_deduction_amount,
            medical_deduction_amount, small_business_deduction_amount, disability_deduction_amount,
            dependents_count, elderly_dependents_count`` (integer yen).
        applications: ``application_id, child_person_id, guardian_person_id, application_date`` and
            optionally ``spouse_person_id`` (the applicant's spouse as stated on the 資格登録届).
        households: the 住記 history, ``person_id, household_id, relationship_code, start, end``
            (:func:`rules.residence.household_spells`); None = the latest household of ``residents`` on
            every date.
        placements: 措置 of children, ``person_id, start_date, end_date`` (``end_date`` NaT = open; the last
            placed day); None = no 措置 data.
    """

    residents: pd.DataFrame
    residence: pd.DataFrame
    insurance: pd.DataFrame
    welfare: pd.DataFrame
    tax: pd.DataFrame
    applications: pd.DataFrame
    households: pd.DataFrame | None = None
    placements: pd.DataFrame | None = None
