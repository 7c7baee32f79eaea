"""Eligibility periods of the こども医療費助成, as intersections of interval sets.

Legal rule (仙台市子ども医療費の助成に関する規則, 平成23年仙台市規則第79号; domain.md §1): a child is
eligible while **all** of these hold, each an interval set per child:

* **age** — from birth to the first March 31 on or after the day the child reaches N
  (N歳に達する日以後の最初の3月31日, 年齢計算ニ関スル法律 + 民法143条: S43, S44, S45), where N is the age
  limit in force on the day (``age_limit.inpatient`` / ``age_limit.outpatient``: 15 from 2012-01-01
  (S12, S13), 通院 9 → 15 from 2017-10-01 (S9, S10), 18 from 2026-04-01 (S1, S2, S3)). The certificate
  covers the child, so the larger of the two limits applies here; the care-type limits are the benefits
  rule's job.
* **residence** in Sendai (住民登録; S12, S56) — :func:`rules.residence.apply_events`.
* **health insurance** (public health insurance: S12, S56) — ``insurance.valid_from..valid_to``.
* **registration** (資格登録; S12, domain.md §1.6) — an application within ``registration.window_days``
  (30) of the trigger date (birth, move-in, or the day a policy change first made the child eligible)
  covers the child from that date; a later one from the first day of the application month
  (``registration.late_start_rule``). No application, no period.
* **not 生活保護** (``eligibility.excludes_public_assistance``; S56, S11): welfare cases of the child's
  household are subtracted.
* **income test** while ``income_limit.base_amount`` is in force (2012-01-01 → 2023-03-31; S9, S7, S8, S5):
  over the limit the period is *suspended* (支給停止, ``SUSPENDED_INCOME``), not lost.

Assumptions [I] (not stated by a source; confirm with こども支援給付課):

* A registration lasts for the whole residence∩age span it was made for; a gap in insurance or a
  生活保護 case inside the span suspends coverage but needs no new application. A new span (after a
  move-out, or after the age limit ended and a later extension applies) needs a new application.
* 生活保護 and the 住記 fallback for the guardians use the household on each date
  (``EligibilityInputs.households``, :func:`rules.residence.household_spells`). The income-tested persons
  are the parents: applicant and applicant's spouse from the 資格登録届, else the 住記 (see
  :mod:`rules.eligibility.income`).
* The 30-day window counts calendar days; a deadline falling on a closed day (weekend, national holiday
  passed in as ``closed_days``, year-end closure ``registration.year_end_closure``) moves to the next open
  day (``registration.deadline_rolls_to_next_open_day``, S21).
* An income exactly at the limit is over it (``income_limit.limit_comparison`` = at_or_over, the 児童手当法
  第5条 「以上」 convention [I]); with no tax record for any guardian the status is
  ``SUSPENDED_INCOME``/``INCOME_UNKNOWN`` until the record arrives.
* 措置 children (``eligibility.excludes_institutional_placement``; placements.csv) are excluded while placed,
  and covered again after the 措置 ends without a new application.

The age limit and the income limit change on dates; they are expressed as parameter eras
(:meth:`policy.Policy.eras`), cross-joined with the children and cut into pieces, never as
``if date < …`` branches. Every piece carries the reason codes of the rules that produced it; adjacent
pieces of equal status are merged at the end and their codes united.

The package: :mod:`~rules.eligibility.codes` (statuses, end reasons, reason-code registry),
:mod:`~rules.eligibility.eras` (parameter eras), :mod:`~rules.eligibility.components` (age, residence,
insurance, registration, 生活保護), :mod:`~rules.eligibility.income` (the guardian income test),
:mod:`~rules.eligibility.ids` (id encoding), :mod:`~rules.eligibility.inputs` (the input frames) and
:mod:`~rules.eligibility.periods` (:func:`determine_eligibility`, the entry point).
"""

from rules.eligibility.codes import (
    ELIGIBLE,
    END_REASONS,
    PERIOD_COLUMNS,
    STATUSES,
    SUSPENDED_INCOME,
    format_code,
    source_ids,
)
from rules.eligibility.components import AGE_LIMIT_PARAMETERS, age_pieces, registration_component
from rules.eligibility.eras import cached_policy, lookup_parameter
from rules.eligibility.income import (
    GUARDIAN_RELATIONSHIP_CODES,
    INCOME_PARAMETERS,
    TAX_DEDUCTION_COLUMNS,
    income_status_pieces,
    income_test_tax_years,
)
from rules.eligibility.inputs import EligibilityInputs
from rules.eligibility.periods import default_horizon, determine_eligibility

__all__ = [
    "AGE_LIMIT_PARAMETERS",
    "ELIGIBLE",
    "END_REASONS",
    "GUARDIAN_RELATIONSHIP_CODES",
    "INCOME_PARAMETERS",
    "PERIOD_COLUMNS",
    "STATUSES",
    "SUSPENDED_INCOME",
    "TAX_DEDUCTION_COLUMNS",
    "EligibilityInputs",
    "age_pieces",
    "cached_policy",
    "default_horizon",
    "determine_eligibility",
    "format_code",
    "income_status_pieces",
    "income_test_tax_years",
    "lookup_parameter",
    "registration_component",
    "source_ids",
]
