"""Pandera contracts of the input files and stage frames (docs/formats/*.md, docs/architecture.md).

``INPUT_SCHEMAS`` maps each inbox file to its model; ``INPUT_COLUMNS`` gives the documented
columns of each file, in file order (what ``connectors.files.read_input_csv`` expects).
"""

from schemas.applications import ApplicationSchema
from schemas.insurance import InsuranceSchema
from schemas.placements import PlacementSchema
from schemas.resident_events import ResidentEventSchema
from schemas.residents import ResidentSchema
from schemas.tax import TaxSchema
from schemas.welfare import WelfareSchema

PERSON_COLUMNS = [
    "household_id", "relationship_code", "my_number", "name", "name_kana", "address", "birth_date", "sex_code",
    "dv_support_flag",
]

#: Documented columns per input file, in order (docs/architecture.md "Input files").
INPUT_COLUMNS: dict[str, list[str]] = {
    "residents.csv": ["person_id", *PERSON_COLUMNS, "residence_start_date"],
    "resident_events.csv": ["event_id", "person_id", *PERSON_COLUMNS, "event_code", "event_date", "notified_date"],
    "tax.csv": [
        "person_id", "tax_year", "total_income_amount", "casualty_loss_deduction_amount",
        "medical_deduction_amount", "small_business_deduction_amount", "disability_deduction_amount",
        "dependents_count", "elderly_dependents_count",
    ],
    "welfare.csv": ["case_id", "household_id", "start_date", "end_date"],
    "insurance.csv": ["person_id", "insurer_number", "insured_type_code", "valid_from", "valid_to"],
    "applications.csv": ["application_id", "child_person_id", "guardian_person_id", "spouse_person_id",
                         "application_date"],
    "placements.csv": ["placement_id", "person_id", "placement_type", "start_date", "end_date"],
}

#: The Pandera model of each input file.
INPUT_SCHEMAS = {
    "residents.csv": ResidentSchema,
    "resident_events.csv": ResidentEventSchema,
    "tax.csv": TaxSchema,
    "welfare.csv": WelfareSchema,
    "insurance.csv": InsuranceSchema,
    "applications.csv": ApplicationSchema,
    "placements.csv": PlacementSchema,
}

__all__ = [
    "INPUT_COLUMNS",
    "INPUT_SCHEMAS",
    "ApplicationSchema",
    "InsuranceSchema",
    "PlacementSchema",
    "ResidentEventSchema",
    "ResidentSchema",
    "TaxSchema",
    "WelfareSchema",
]
