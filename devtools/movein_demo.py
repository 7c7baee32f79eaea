"""Synthetic move-in households for the demo, the tests and the benchmark (no real person's data).

Writes an inquiry directory in the file defaults' layout (:mod:`connectors.inquiry`): the registry
answer (residents.csv columns + ``previous_municipality_code``), the city's tax records, the 住基ネット
previous-address table and the previous cities' income records behind the 中間サーバ.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
from pathlib import Path

from connectors import inquiry as iq
from rules.checkdigits import my_number_check_digit

#: 全国地方公共団体コード of previous cities used by the demo (synthetic households only).
HACHIOJI = "132012"
SAPPORO = "011002"


def synthetic_my_number(seed: int) -> str:
    """A check-digit-valid 12-digit number in a range reserved for synthetic data (starts with 9)."""
    body = f"9{seed:010d}"
    return body + str(my_number_check_digit(body))


@dataclasses.dataclass(frozen=True)
class DemoHousehold:
    """One synthetic household that moved in (ids only; names are generated)."""

    household_id: str
    guardian_id: str
    spouse_id: str
    child_ids: tuple[str, ...]
    move_in_date: dt.date
    previous_municipality_code: str | None  # None: the registry does not know it (住基ネット is asked)
    jukinet_municipality_code: str | None = None
    child_birth_dates: tuple[dt.date, ...] = ()

    @property
    def person_ids(self) -> list[str]:
        return [self.guardian_id, self.spouse_id, *self.child_ids]


def demo_household(n: int, *, move_in_date: dt.date = dt.date(2026, 10, 1), known_previous_city: bool = True,
                   children: int = 2) -> DemoHousehold:
    """The n-th synthetic household (n ≥ 1): ids ``30000nnnn0``… are stable for a given ``n``."""
    base = 3_000_000_000 + n * 10
    births = tuple(dt.date(2012 + 3 * i, 5 + i, 10 + i) for i in range(children))
    return DemoHousehold(
        household_id=f"{4_000_000_000 + n:010d}",
        guardian_id=f"{base + 1:010d}",
        spouse_id=f"{base + 2:010d}",
        child_ids=tuple(f"{base + 3 + i:010d}" for i in range(children)),
        move_in_date=move_in_date,
        previous_municipality_code=HACHIOJI if known_previous_city else None,
        jukinet_municipality_code=SAPPORO if not known_previous_city else HACHIOJI,
        child_birth_dates=births,
    )


def registry_rows(h: DemoHousehold) -> list[dict[str, str]]:
    """The registry answer rows of a household (residents.csv columns + previous_municipality_code)."""
    rows = []
    people = [(h.guardian_id, "01", dt.date(1985, 4, 2), "1"), (h.spouse_id, "02", dt.date(1987, 8, 9), "2")]
    people += [(pid, "03", born, str(1 + i % 2))
               for i, (pid, born) in enumerate(zip(h.child_ids, h.child_birth_dates, strict=True))]
    for pid, relationship, born, sex in people:
        seed = int(pid)
        rows.append({
            "person_id": pid, "household_id": h.household_id, "relationship_code": relationship,
            "my_number": synthetic_my_number(seed % 10_000_000_000), "name": f"転入 試験{pid[-3:]}",
            "name_kana": "テンニュウ シケン", "address": f"仙台市青葉区国分町三丁目{int(pid[-2:])}番地",
            "birth_date": born.isoformat(), "sex_code": sex, "dv_support_flag": "0",
            "residence_start_date": h.move_in_date.isoformat(),
            "previous_municipality_code": h.previous_municipality_code or "",
        })
    return rows


def tax_rows(person_ids: list[str], tax_year: int, income: int = 4_200_000,
             municipality_code: str | None = None) -> list[dict[str, str]]:
    """Tax records (first person earns ``income``, the others nothing)."""
    rows = []
    for i, pid in enumerate(person_ids):
        row = {
            "person_id": pid, "tax_year": str(tax_year), "total_income_amount": str(income if i == 0 else 0),
            "casualty_loss_deduction_amount": "0", "medical_deduction_amount": "0",
            "small_business_deduction_amount": "0", "disability_deduction_amount": "0",
            "dependents_count": "3" if i == 0 else "0", "elderly_dependents_count": "0",
        }
        if municipality_code is not None:
            row = {"municipality_code": municipality_code, **row}
        rows.append(row)
    return rows


def _write(path: Path, columns: list[str], rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def write_inquiry_dir(directory: str | Path, households: list[DemoHousehold], *, tax_year: int = 2026,
                      city_tax_ids: list[str] | None = None) -> Path:
    """Write the four files for ``households``.

    The previous cities hold the guardians' records of ``tax_year`` (they lived there on 1 January);
    the city's own tax system holds records only for ``city_tax_ids``.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    registry, jukinet, intermediary = [], [], []
    for h in households:
        registry += registry_rows(h)
        previous = h.previous_municipality_code or h.jukinet_municipality_code
        if h.jukinet_municipality_code:
            jukinet += [{"person_id": pid, "previous_municipality_code": h.jukinet_municipality_code}
                        for pid in h.person_ids]
        intermediary += tax_rows([h.guardian_id, h.spouse_id], tax_year, municipality_code=previous)
    _write(directory / iq.FILE_NAMES["registry"], iq.REGISTRY_COLUMNS, registry)
    _write(directory / iq.FILE_NAMES["tax"], iq.TAX_COLUMNS, tax_rows(city_tax_ids or [], tax_year))
    _write(directory / iq.FILE_NAMES["jukinet"], iq.JUKINET_COLUMNS, jukinet)
    _write(directory / iq.FILE_NAMES["intermediary"], iq.INTERMEDIARY_COLUMNS, intermediary)
    return directory


def write_certificate(path: str | Path, h: DemoHousehold, tax_year: int = 2026, income: int = 4_200_000) -> Path:
    """A transcribed 所得証明書 (tax.csv layout) for the household's guardians."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write(path, iq.TAX_COLUMNS, tax_rows([h.guardian_id, h.spouse_id], tax_year, income))
    return path


EVENT_COLUMNS = [
    "event_id", "person_id", "household_id", "relationship_code", "my_number", "name", "name_kana", "address",
    "birth_date", "sex_code", "dv_support_flag", "event_code", "event_date", "notified_date",
]


def event_row(h: DemoHousehold, person_id: str, event_code: str, event_date: dt.date, *, event_id: str,
              notified_date: dt.date | None = None, birth_date: dt.date | None = None) -> dict[str, str]:
    """A 異動 event of a member of ``h`` (or of a newborn when ``birth_date`` is given)."""
    members = {r["person_id"]: r for r in registry_rows(h)}
    if person_id in members:
        base = {k: v for k, v in members[person_id].items() if k in EVENT_COLUMNS}
    else:
        seed = int(person_id)
        base = {"person_id": person_id, "household_id": h.household_id, "relationship_code": "03",
                "my_number": synthetic_my_number(seed % 10_000_000_000), "name": f"出生 試験{person_id[-3:]}",
                "name_kana": "シュッセイ シケン", "address": f"仙台市青葉区国分町三丁目{int(person_id[-2:])}番地",
                "birth_date": (birth_date or event_date).isoformat(), "sex_code": "2", "dv_support_flag": "0"}
    return {**base, "event_id": event_id, "event_code": event_code, "event_date": event_date.isoformat(),
            "notified_date": (notified_date or event_date).isoformat()}


def write_events(directory: str | Path, rows: list[dict[str, str]], *, applications: list[dict[str, str]] = (),
                 insurance: list[dict[str, str]] = (), name: str = "resident_events.csv") -> Path:
    """An events batch (plus optional sibling applications.csv / insurance.csv)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    _write(directory / name, EVENT_COLUMNS, rows)
    if applications:
        _write(directory / "applications.csv",
               ["application_id", "child_person_id", "guardian_person_id", "spouse_person_id", "application_date"],
               list(applications))
    if insurance:
        _write(directory / "insurance.csv",
               ["person_id", "insurer_number", "insured_type_code", "valid_from", "valid_to"], list(insurance))
    return directory / name
