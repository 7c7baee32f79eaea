"""Id encoding for the eligibility rules: person and household ids as int64 codes.

Not a legal rule: the ids are replaced by dense integer codes so that joins and sorts run on int64
columns, and mapped back on the way out.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from rules.eligibility.inputs import EligibilityInputs
from rules.intervals import OPEN_START


def encode_ids(inputs: EligibilityInputs) -> tuple[EligibilityInputs, np.ndarray]:
    """Replace person and household ids by int64 codes (fast joins/sorts); return the id lookup array.

    Rows whose id is missing get code -1 and are dropped where the id is a key. Without a 住記 history
    (``inputs.households`` None) every person's latest household holds on every date.
    """
    households = inputs.households
    placements = inputs.placements
    if placements is None:
        placements = pd.DataFrame({"person_id": pd.Series(dtype=object),
                                   "start_date": pd.Series(dtype="datetime64[ns]"),
                                   "end_date": pd.Series(dtype="datetime64[ns]")})
    if households is None:
        households = inputs.residents[["person_id", "household_id", "relationship_code"]].assign(
            start=OPEN_START, end=pd.NaT)
    person_columns = {
        "residents": inputs.residents["person_id"],
        "residence": inputs.residence["person_id"],
        "insurance": inputs.insurance["person_id"],
        "child": inputs.applications["child_person_id"],
        "guardian": inputs.applications["guardian_person_id"],
        "tax": inputs.tax["person_id"],
        "spouse": (inputs.applications["spouse_person_id"] if "spouse_person_id" in inputs.applications
                   else pd.Series(pd.NA, index=inputs.applications.index, dtype=object)),
        "member": households["person_id"],
        "placed": placements["person_id"],
    }
    person_codes, people = _factorize(person_columns)
    household_codes, _ = _factorize(
        {"residents": inputs.residents["household_id"], "welfare": inputs.welfare["household_id"],
         "member": households["household_id"]}
    )

    def person(key: str) -> np.ndarray:
        return person_codes[key]

    def household(key: str) -> np.ndarray:
        return household_codes[key]

    residents = inputs.residents.assign(person_id=person("residents"), household_id=household("residents"))
    welfare = inputs.welfare.assign(household_id=household("welfare"))
    encoded = EligibilityInputs(
        residents=residents.loc[residents["person_id"] >= 0],
        residence=_known(inputs.residence.assign(person_id=person("residence"))),
        insurance=_known(inputs.insurance.assign(person_id=person("insurance"))),
        welfare=welfare.loc[welfare["household_id"] >= 0],
        tax=_known(inputs.tax.assign(person_id=person("tax"))),
        applications=inputs.applications.assign(child_person_id=person("child"), guardian_person_id=person("guardian"),
                                                spouse_person_id=person("spouse")),
        households=_known(households.assign(person_id=person("member"), household_id=household("member"))),
        placements=_known(placements.assign(person_id=person("placed"))),
    )
    encoded = replace(encoded, households=encoded.households.loc[encoded.households["household_id"] >= 0])
    # households of -1 (missing) must not match each other
    encoded.residents.loc[encoded.residents["household_id"] < 0, "household_id"] = -2 - np.arange(
        int((encoded.residents["household_id"] < 0).sum()))
    return encoded, np.asarray(people, dtype=object)


def _factorize(columns: dict[str, pd.Series]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """One hashing pass over several id columns: int64 codes per column (-1 = missing), and the ids."""
    values = np.concatenate([c.to_numpy(dtype=object) for c in columns.values()])
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    bounds = np.cumsum([0, *(len(c) for c in columns.values())])
    split = {key: codes[bounds[i]:bounds[i + 1]].astype(np.int64) for i, key in enumerate(columns)}
    return split, np.asarray(uniques, dtype=object)


def _known(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.loc[frame["person_id"].to_numpy() >= 0]
