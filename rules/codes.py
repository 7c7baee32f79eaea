"""Code lists and column sets that rules, schemas and services share: each is defined here, once.

They live in rules/ because the pure rules need them and rules/ may import only policy/; schemas/ and
services/ import them from here (tests/unit/test_layout.py).
"""

from __future__ import annotations

ELIGIBLE = "ELIGIBLE"
SUSPENDED_INCOME = "SUSPENDED_INCOME"
#: status of an eligibility period (支給停止 while over the income limit)
ELIGIBILITY_STATUSES = (ELIGIBLE, SUSPENDED_INCOME)

#: End reasons, in order of precedence when two components end on the same day. ``INCOME`` marks a
#: period followed the next day by a period of the other status (the income test result changed).
END_REASONS = ("DEATH", "MOVE_OUT", "AGE", "WELFARE", "INSURANCE", "INCOME", "OPEN")

#: 続柄 codes of the guardians whose income is tested and who are notified: 世帯主, 配偶者
GUARDIAN_RELATIONSHIP_CODES = ("01", "02")

#: columns that identify a stored eligibility period (table eligibility_periods); the frame
#: rules.eligibility.determine_eligibility returns has these plus ``sources``
PERIOD_COLUMNS = ["person_id", "valid_from", "valid_to", "status", "end_reason", "reason_codes"]
