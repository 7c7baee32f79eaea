"""Synthetic UKE (レセ電) facility files: a record writer for tests and the demo month generator.

The layout is the one connectors.uke reads (docs/formats/uke.md). Synthetic data only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from connectors.uke import DAY_COLUMNS_START, to_gyymm, to_gyymmdd

PAYER_CODES = {"SHAHO": "1", "KOKUHO": "2"}
TABLE_CODES = {"MEDICAL": "1", "DENTAL": "3", "PHARMACY": "4"}


@dataclass
class UkePublic:
    """One KO record (公費)."""

    payer_number: str
    recipient_no: str
    days: int
    points: int
    amount: int
    outpatient_copay: int | None = None
    inpatient_copay: int | None = None


@dataclass
class UkeReceipt:
    """One receipt: RE, HO, KO…, SI lines with calendar days."""

    receipt_no: int
    receipt_type: str
    service_month: str
    sex_code: str
    birth_date: dt.date
    insurer_number: str
    days: int
    points: int
    insured_self_pay: int
    publics: list[UkePublic] = field(default_factory=list)
    service_days: list[int] = field(default_factory=list)
    first_visit: bool = False
    admission_date: dt.date | None = None
    notes: str = ""
    meal_amount: int = 0
    name: str = "テスト　コドモ"
    extra_lines: list[str] = field(default_factory=list)


def re_line(r: UkeReceipt) -> str:
    """The RE record (fields 1–38; unused fields empty)."""
    fields = ["RE", str(r.receipt_no), r.receipt_type, to_gyymm(r.service_month), r.name, r.sex_code,
              to_gyymmdd(r.birth_date), "70", to_gyymmdd(r.admission_date) if r.admission_date else "", "", "",
              r.notes, "", "", "", "", "", "", "", "", ""]
    return ",".join(fields)


def ho_line(r: UkeReceipt) -> str:
    """The HO record (fields 1–15)."""
    return ",".join(["HO", r.insurer_number, "", "", str(r.days), str(r.points), "", "", str(r.meal_amount or ""),
                     "", "", str(r.insured_self_pay), "", "", ""])


def ko_line(p: UkePublic) -> str:
    """A KO record (fields 1–12)."""
    def opt(v):
        return "" if v is None else str(v)
    return ",".join(["KO", p.payer_number, p.recipient_no, "", str(p.days), str(p.points), str(p.amount),
                     opt(p.outpatient_copay), opt(p.inpatient_copay), "", "", ""])


def si_line(days: list[int], identifier: str = "12", code: str = "112007410", points: int = 0) -> str:
    """An SI record with a count of 1 on each of ``days`` (算定日 columns)."""
    head = ["SI", identifier, "1", code, "", str(points), str(len(days) or 1), "", "", "", "", "", ""]
    calendar = ["1" if d in days else "" for d in range(1, 32)]
    assert len(head) == DAY_COLUMNS_START["SI"] - 1
    return ",".join(head + calendar)


def receipt_lines(r: UkeReceipt) -> list[str]:
    """RE, HO, KO…, SY, SI lines of one receipt."""
    lines = [re_line(r), ho_line(r), *(ko_line(p) for p in r.publics),
             f"SY,0000999,{to_gyymmdd(dt.date(int(r.service_month[:4]), int(r.service_month[5:]), 1))},1,,,01,"]
    if r.first_visit:
        lines.append(si_line(r.service_days[:1], identifier="11", code="111000110"))
        rest = r.service_days[1:]
    else:
        rest = r.service_days
    if rest:
        lines.append(si_line(rest))
    return lines + r.extra_lines


def render_file(*, payer: str, prefecture: str, table: str, code7: str, billing_month: str,
                receipts: list[UkeReceipt], name: str = "テスト医院", go_count: int | None = None) -> bytes:
    """A whole facility file: IR, receipts, GO; CP932 with CRLF."""
    lines = [",".join(["IR", PAYER_CODES[payer], prefecture, TABLE_CODES[table], code7, "", name,
                       to_gyymm(billing_month), "00", ""])]
    for receipt in receipts:
        lines.extend(receipt_lines(receipt))
    total = sum(r.points for r in receipts)
    lines.append(f"GO,{len(receipts) if go_count is None else go_count},{total},99")
    return ("\r\n".join(lines) + "\r\n").encode("cp932")


def write_file(path: Path, content: bytes) -> Path:
    """Write a file (synthetic data; 0600 like every generated input)."""
    path.write_bytes(content)
    path.chmod(0o600)
    return path
