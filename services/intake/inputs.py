"""The input files of a monthly inbox, named once: their frame names, file names and tables.

A leaf module (no imports of its own) because :mod:`services.intake.ingest` (which reads the files) and
:mod:`services.intake.persist` (which stores them) both need the names and ``ingest`` already depends on
``persist`` through :mod:`services.intake.unchanged`.
"""

from __future__ import annotations

#: Frame name → (file name in the inbox, table it is stored in). residents.csv and resident_events.csv
#: both update the person table; resident_events.csv also keeps its events.
INPUTS: dict[str, tuple[str, str]] = {
    "residents": ("residents.csv", "person"),
    "resident_events": ("resident_events.csv", "resident_event"),
    "tax": ("tax.csv", "tax_record"),
    "welfare": ("welfare.csv", "welfare_case"),
    "insurance": ("insurance.csv", "insurance_coverage"),
    "applications": ("applications.csv", "application"),
    "placements": ("placements.csv", "placement"),
}

#: Frame name → input file name.
INPUT_FILE_NAMES: dict[str, str] = {name: file_name for name, (file_name, _) in INPUTS.items()}

#: Input file name → the table it is stored in.
FILE_TABLES: dict[str, str] = dict(INPUTS.values())
