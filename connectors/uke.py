"""UKE reader: レセプト電算処理システム receipt files (医科, 歯科, 調剤) as 国保連 / 支払基金 hand them over.

Layout (docs/formats/uke.md; 記録条件仕様 医科 R02bt1_1, 歯科 R02bt1_3, 調剤 R02bt1_4, pmh_interfaces.md §3):
CP932, comma-separated, no quoting, CRLF, one facility per file: ``IR`` → per receipt ``RE`` (``HO``,
``KO``×0–4, ``SN``, ``SY``, ``SI``/``IY``/``TO``/``CO`` …) → ``GO``.

One row per receipt that carries a KO of this city (``city_payer_numbers``), with what the city needs to
check the bill: the receipt identity (審査支払機関, 医療機関コード, 診療年月, レセプト番号), the レセプト種別,
birth date and sex, the HO amounts, the city's KO amounts, the 特記事項 (区ア〜区オ → 高額療養費 区分,
多ア〜多オ → 多数回, 長/長2 → 特定疾病) and the service dates from the SI/IY/TO calendar day columns.

Bad input:

* the whole file is refused (:class:`UkeFileError`, file and line, never a value) when it is not strict
  CP932, when ``IR`` or ``GO`` is missing or malformed, when a record stands outside a receipt, or when
  the ``GO`` count differs from the receipts read;
* a malformed record quarantines its receipt (every failing field is listed: file, line, record type,
  field, masked value); the other receipts are read. ``receipts_read = accepted + quarantined +
  without city KO``.

Records of other 公費 (KO of another 公費負担者番号) are ignored and counted. The patient's name is read
into ``patient_name`` only for the review screen; it is never stored by the claims service.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from connectors.files import InputFileError, _decode, file_sha256
from rules.checkdigits import is_valid_modulus10_w21
from schemas.validate import mask_value

#: 審査支払機関コード (別表1).
PAYERS = {"1": "SHAHO", "2": "KOKUHO"}
PAYER_LABELS = {"SHAHO": "社会保険診療報酬支払基金", "KOKUHO": "国民健康保険団体連合会"}
#: 点数表コード (別表3).
TABLES = {"1": "MEDICAL", "3": "DENTAL", "4": "PHARMACY"}
#: 年号区分コード (別表4): year 1 of each era.
ERA_BASE_YEAR = {"1": 1868, "2": 1912, "3": 1926, "4": 1989, "5": 2019}
#: レセプト特記事項 (別表6) → 高額療養費 適用区分 (schemas.claims.HIGH_COST_CATEGORIES) and 多数回.
HIGH_COST_NOTES = {"26": ("a", False), "27": ("i", False), "28": ("u", False), "29": ("e", False),
                   "30": ("o", False), "31": ("a", True), "32": ("i", True), "33": ("u", True), "34": ("e", True),
                   "35": ("o", True)}
#: 特記事項 長 (特定疾病療養受療証) and 長2 (上限 2万円).
SPECIFIC_DISEASE_NOTES = {"02": "長", "16": "長2"}
#: 診療識別 of 初診 lines (別表19): a receipt with one is a first visit (copay.outpatient.first_visit_amount).
FIRST_VISIT_IDENTIFIER = "11"

#: Record types of the 記録条件仕様 (医科/歯科/調剤 and payer-returned data); anything else is malformed.
KNOWN_RECORDS = frozenset({
    "IR", "RE", "HO", "KO", "SN", "JD", "MF", "SY", "SI", "IY", "TO", "CO", "NI", "SJ", "GO", "KH", "TI",
    "TR", "TS", "RC", "JY", "EX", "MN", "SS", "HS", "SK", "CZ", "YZ", "TK", "GR", "KI", "BU", "SB", "KK",
    "GA", "HH", "GT", "HI", "IH", "ON", "RJ", "TZ", "SU", "RS", "JK",
})
#: First calendar day column (算定日 1日) of each line record, 1-based field position (R02bt1_1 別添).
DAY_COLUMNS_START = {"SI": 14, "IY": 14, "TO": 18}

RECEIPT_COLUMNS = [
    "claim_id", "payer", "prefecture_code", "point_table", "institution_code", "billing_month", "service_month",
    "receipt_no", "receipt_type", "care_type", "insured_class", "sex_code", "birth_date", "patient_name",
    "first_service_date", "last_service_date", "service_dates_source", "service_days", "first_visit_flag",
    "admission_date", "admission_id", "total_points", "insurer_number", "insured_days",
    "insured_self_pay_amount", "meal_amount", "high_cost_category", "high_cost_many_times_flag",
    "specific_disease_code", "public_payer_number", "recipient_no", "billed_days", "billed_points",
    "billed_subsidy_amount", "billed_copay_amount", "other_public_count", "file_name", "source_line",
]
QUARANTINE_COLUMNS = ["file_name", "row_number", "record_type", "column_name", "check_name", "masked_value",
                      "reason"]


class UkeFileError(InputFileError):
    """A UKE file refused whole (encoding, structure, IR/GO, counts); no cell value in the message."""


@dataclass
class UkeFile:
    """One facility file: the receipts billed to this city, the quarantine and aggregate counts."""

    file_name: str
    sha256: str
    payer: str
    institution_code: str
    billing_month: str
    receipts: pd.DataFrame
    quarantine: pd.DataFrame
    counts: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Field parsing
# ---------------------------------------------------------------------------------------------


def parse_gyymm(text: str) -> str | None:
    """和暦 ``GYYMM`` (年号区分 + 年 + 月) → ``YYYY-MM``; None when malformed."""
    if len(text) != 5 or not text.isascii() or not text.isdigit() or text[0] not in ERA_BASE_YEAR:
        return None
    year, month = ERA_BASE_YEAR[text[0]] + int(text[1:3]) - 1, int(text[3:5])
    if not 1 <= month <= 12 or int(text[1:3]) < 1:
        return None
    return f"{year:04d}-{month:02d}"


def parse_gyymmdd(text: str) -> dt.date | None:
    """和暦 ``GYYMMDD`` → date; None when malformed or not a calendar date."""
    month = parse_gyymm(text[:5]) if len(text) == 7 and text.isascii() and text.isdigit() else None
    if month is None:
        return None
    try:
        return dt.date(int(month[:4]), int(month[5:]), int(text[5:7]))
    except ValueError:
        return None


def to_gyymm(month: str) -> str:
    """``YYYY-MM`` → ``GYYMM`` (令和 from 2019-05, 平成 before; for writers and tests)."""
    year, mon = int(month[:4]), int(month[5:7])
    era = "5" if (year, mon) >= (2019, 5) else "4" if year >= 1989 else "3"
    return f"{era}{year - ERA_BASE_YEAR[era] + 1:02d}{mon:02d}"


def to_gyymmdd(day: dt.date) -> str:
    """Date → ``GYYMMDD`` (era by month, as :func:`to_gyymm`)."""
    return to_gyymm(f"{day.year:04d}-{day.month:02d}") + f"{day.day:02d}"


class _Receipt:
    """Fields of one receipt while it is read, and its field errors."""

    def __init__(self, line: int, fields: list[str]) -> None:
        self.line = line
        self.re = fields
        self.ho: list[str] | None = None
        self.ho_line = 0
        self.city_ko: list[str] | None = None
        self.city_ko_line = 0
        self.other_ko = 0
        self.days: set[int] = set()
        self.first_visit = False
        self.errors: list[dict] = []


def _field(fields: list[str], position: int) -> str:
    """1-based field ``position`` (missing trailing fields read as empty)."""
    return fields[position - 1].strip() if len(fields) >= position else ""


class _Checker:
    """Collects field errors of one record into its receipt."""

    def __init__(self, file_name: str, receipt: _Receipt, line: int, record: str, fields: list[str]) -> None:
        self.file_name, self.receipt, self.line, self.record, self.fields = file_name, receipt, line, record, fields

    def fail(self, column: str, check: str, value: str, reason: str, *, hide: bool = False) -> None:
        self.receipt.errors.append({
            "file_name": self.file_name, "row_number": self.line, "record_type": self.record, "column_name": column,
            "check_name": check, "masked_value": ("*" * len(value) if hide else mask_value(value)) if value else pd.NA,
            "reason": reason})

    def digits(self, position: int, column: str, max_length: int, *, required: bool) -> int | None:
        value = _field(self.fields, position)
        if not value:
            if required:
                self.fail(column, "not_nullable", value, "required value is missing")
            return None
        if not (value.isascii() and value.isdigit()) or len(value) > max_length:
            self.fail(column, "digits", value, f"not 1-{max_length} digits")
            return None
        return int(value)

    def month(self, position: int, column: str) -> str | None:
        value = _field(self.fields, position)
        parsed = parse_gyymm(value)
        if parsed is None:
            self.fail(column, "gyymm", value, "not a 和暦 year-month GYYMM")
        return parsed

    def date(self, position: int, column: str, *, required: bool) -> dt.date | None:
        value = _field(self.fields, position)
        if not value:
            if required:
                self.fail(column, "not_nullable", value, "required value is missing")
            return None
        parsed = parse_gyymmdd(value)
        if parsed is None:
            self.fail(column, "gyymmdd", value, "not a 和暦 date GYYMMDD")
        return parsed


# ---------------------------------------------------------------------------------------------
# File
# ---------------------------------------------------------------------------------------------


def _split_lines(raw: bytes, name: str) -> list[list[str]]:
    try:
        text, _ = _decode(raw, name, "cp932")
    except InputFileError as exc:
        raise UkeFileError(exc.file, exc.problem, exc.line) from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise UkeFileError(name, "the file is empty")
    return [line.rstrip("\r").split(",") for line in lines]


def _header(records: list[list[str]], name: str) -> dict:
    ir = records[0]
    if ir[0] != "IR":
        raise UkeFileError(name, "the first record is not IR (医療機関情報レコード)", 1)
    payer, prefecture, table, code = (_field(ir, i) for i in (2, 3, 4, 5))
    month = parse_gyymm(_field(ir, 8))
    problems = []
    if payer.lstrip("0") not in PAYERS:
        problems.append("審査支払機関 is not 1 (支払基金) or 2 (国保連)")
    if not (prefecture.isascii() and prefecture.isdigit() and len(prefecture) == 2 and 1 <= int(prefecture) <= 47):
        problems.append("都道府県 is not 01-47")
    if table not in TABLES:
        problems.append("点数表 is not 1 (医科), 3 (歯科) or 4 (調剤)")
    institution = f"{prefecture}{table}{code}"
    if not (len(code) == 7 and is_valid_modulus10_w21(institution, (10,))):
        problems.append("医療機関コード is not 7 digits with a valid check digit")
    if month is None:
        problems.append("請求年月 is not GYYMM")
    if problems:
        raise UkeFileError(name, "IR record: " + "; ".join(problems), 1)
    return {"payer": PAYERS[payer.lstrip("0")], "prefecture_code": prefecture, "point_table": TABLES[table],
            "institution_code": institution, "billing_month": month}


def read_uke(path: str | Path, city_payer_numbers: frozenset[str] | set[str]) -> UkeFile:
    """Read one ``.UKE`` file; receipts with a KO of ``city_payer_numbers`` become rows (see module doc)."""
    path = Path(path)
    name = path.name
    if path.suffix.upper() != ".UKE":
        raise UkeFileError(name, "not a .UKE file")
    records = _split_lines(path.read_bytes(), name)
    header = _header(records, name)
    last = records[-1]
    if last[0] != "GO":
        raise UkeFileError(name, "the last record is not GO (診療報酬請求書レコード)", len(records))
    declared = _field(last, 2)
    receipts: list[_Receipt] = []
    counts = {"records": len(records), "other_public_records": 0}
    current: _Receipt | None = None
    for index, fields in enumerate(records[1:-1], start=2):
        record = fields[0]
        if record == "RE":
            current = _Receipt(index, fields)
            receipts.append(current)
            _check_re(name, current)
            continue
        if record in ("IR", "GO"):
            raise UkeFileError(name, f"a second {record} record inside the file", index)
        if current is None:
            raise UkeFileError(name, f"record {record[:2]!r} before the first RE record", index)
        if record not in KNOWN_RECORDS:
            _Checker(name, current, index, record[:2], fields).fail(
                "record_type", "known_record", record[:2], "unknown record type")
        elif record == "HO":
            current.ho, current.ho_line = fields, index
            _check_ho(name, current)
        elif record == "KO":
            payer_number = _field(fields, 2)
            if payer_number in city_payer_numbers and current.city_ko is None:
                current.city_ko, current.city_ko_line = fields, index
                _check_ko(name, current)
            else:
                current.other_ko += 1
                counts["other_public_records"] += 1
        elif record in DAY_COLUMNS_START:
            _read_days(name, current, index, record, fields)
    if not (declared.isascii() and declared.isdigit()) or int(declared) != len(receipts):
        raise UkeFileError(name, f"GO 総件数 differs from the {len(receipts)} RE records read", len(records))
    rows, quarantine = [], []
    without_city = 0
    for receipt in receipts:
        if receipt.errors:
            quarantine.extend(receipt.errors)
        elif receipt.city_ko is None:
            without_city += 1
        else:
            rows.append(_receipt_row(receipt, header, name))
    frame = pd.DataFrame(rows, columns=RECEIPT_COLUMNS)
    quarantined_receipts = len({e["row_number"] for r in receipts for e in r.errors[:1]})
    counts.update(receipts_read=len(receipts), receipts_accepted=len(rows), receipts_quarantined=quarantined_receipts,
                  receipts_without_city_public=without_city)
    return UkeFile(file_name=name, sha256=file_sha256(path), payer=header["payer"],
                   institution_code=header["institution_code"], billing_month=header["billing_month"],
                   receipts=frame, quarantine=pd.DataFrame(quarantine, columns=QUARANTINE_COLUMNS), counts=counts)


# ---------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------


def receipt_kind(receipt_type: str) -> tuple[str, str, bool] | None:
    """レセプト種別 (4 digits, 別表5) → (点数表, insured class, 入院); None when not a known code.

    digit 1 点数表 (1/3/4), digit 2 1 医保 / 2 公費, digit 3 number of 公費 (1–5), digit 4 本人・未就学・
    家族・高齢 × 入院 (odd) / 入院外 (even, 0 = 高齢7割 入院外); for 公費 receipts 1 入院, 2 入院外.
    """
    if len(receipt_type) != 4 or not receipt_type.isdigit() or receipt_type[0] not in TABLES:
        return None
    insurance, count, last = receipt_type[1], receipt_type[2], receipt_type[3]
    if insurance not in "12" or count not in "12345":
        return None
    if insurance == "2":
        if last not in "12":
            return None
        return TABLES[receipt_type[0]], "PUBLIC_ONLY", last == "1"
    classes = {"1": "SELF", "2": "SELF", "3": "PRESCHOOL", "4": "PRESCHOOL", "5": "FAMILY", "6": "FAMILY",
               "7": "ELDERLY", "8": "ELDERLY", "9": "ELDERLY", "0": "ELDERLY"}
    return TABLES[receipt_type[0]], classes[last], last in "13579"


def _check_re(name: str, receipt: _Receipt) -> None:
    check = _Checker(name, receipt, receipt.line, "RE", receipt.re)
    check.digits(2, "レセプト番号", 6, required=True)
    kind = _field(receipt.re, 3)
    if receipt_kind(kind) is None:
        check.fail("レセプト種別", "receipt_type", kind, "unknown レセプト種別 code")
    check.month(4, "診療年月")
    if _field(receipt.re, 6) not in ("1", "2"):
        check.fail("男女区分", "isin", _field(receipt.re, 6), "男女区分 is not 1 or 2")
    check.date(7, "生年月日", required=True)
    check.date(9, "入院年月日", required=False)
    notes = _field(receipt.re, 12)
    if notes and (not notes.isdigit() or len(notes) % 2 or len(notes) > 10):
        check.fail("レセプト特記事項", "notes", notes, "not up to five 2-digit codes")


def _check_ho(name: str, receipt: _Receipt) -> None:
    check = _Checker(name, receipt, receipt.ho_line, "HO", receipt.ho)
    insurer = _field(receipt.ho, 2)
    if not is_valid_modulus10_w21(insurer, (6, 8)):
        check.fail("保険者番号", "check_digit", insurer, "保険者番号 is not 6/8 digits with a valid check digit")
    check.digits(5, "診療実日数", 2, required=True)
    check.digits(6, "合計点数", 8, required=True)
    check.digits(9, "食事療養・生活療養 合計金額", 8, required=False)
    check.digits(12, "負担金額 医療保険", 8, required=False)


def _check_ko(name: str, receipt: _Receipt) -> None:
    fields = receipt.city_ko
    check = _Checker(name, receipt, receipt.city_ko_line, "KO", fields)
    recipient = _field(fields, 3)
    if not is_valid_modulus10_w21(recipient, (7,)):
        check.fail("公費受給者番号", "check_digit", recipient, "受給者番号 is not 7 digits with a valid check digit")
    check.digits(5, "診療実日数", 2, required=True)
    check.digits(6, "合計点数", 8, required=True)
    check.digits(7, "負担金額 公費", 8, required=True)
    check.digits(8, "公費給付対象外来一部負担金", 8, required=False)
    check.digits(9, "公費給付対象入院一部負担金", 8, required=False)


def _read_days(name: str, receipt: _Receipt, line: int, record: str, fields: list[str]) -> None:
    if record == "SI" and _field(fields, 2) == FIRST_VISIT_IDENTIFIER:
        receipt.first_visit = True
    start = DAY_COLUMNS_START[record]
    for day in range(1, 32):
        value = _field(fields, start + day - 1)
        if not value:
            continue
        if not (value.isascii() and value.isdigit()) or len(value) > 3:
            _Checker(name, receipt, line, record, fields).fail(
                f"算定日 {day}日", "digits", value, "a calendar day count is not 1-3 digits")
        elif int(value) > 0:
            receipt.days.add(day)


def _int(fields: list[str] | None, position: int) -> int:
    value = _field(fields, position) if fields is not None else ""
    return int(value) if value else 0


def _receipt_row(receipt: _Receipt, header: dict, name: str) -> dict:
    re, ho, ko = receipt.re, receipt.ho, receipt.city_ko
    receipt_type = _field(re, 3)
    table, insured_class, inpatient = receipt_kind(receipt_type)
    care_type = {"DENTAL": "DENTAL", "PHARMACY": "PHARMACY"}.get(table, "INPATIENT" if inpatient else "OUTPATIENT")
    month = parse_gyymm(_field(re, 4))
    first_of_month = dt.date(int(month[:4]), int(month[5:]), 1)
    next_month = (first_of_month + dt.timedelta(days=32)).replace(day=1)
    valid_days = sorted(d for d in receipt.days if d <= (next_month - first_of_month).days)
    if valid_days:
        first, last, source = first_of_month.replace(day=valid_days[0]), first_of_month.replace(
            day=valid_days[-1]), "CALENDAR"
    else:  # no calendar: the whole month must be covered (checked conservatively)
        first, last, source = first_of_month, next_month - dt.timedelta(days=1), "MONTH"
    notes = _field(re, 12)
    codes = [notes[i:i + 2] for i in range(0, len(notes), 2)]
    high_cost = next((HIGH_COST_NOTES[c] for c in codes if c in HIGH_COST_NOTES), (None, False))
    disease = next((SPECIFIC_DISEASE_NOTES[c] for c in codes if c in SPECIFIC_DISEASE_NOTES), None)
    admission = parse_gyymmdd(_field(re, 9)) if care_type == "INPATIENT" else None
    recipient = _field(ko, 3)
    receipt_no = _field(re, 2)
    points = _int(ho, 6) if ho is not None else _int(ko, 6)
    return {
        "claim_id": receipt_identity(header["payer"], header["institution_code"], month, receipt_no),
        **{k: header[k] for k in ("payer", "prefecture_code", "point_table", "institution_code", "billing_month")},
        "service_month": month, "receipt_no": receipt_no, "receipt_type": receipt_type, "care_type": care_type,
        "insured_class": insured_class, "sex_code": _field(re, 6), "birth_date": parse_gyymmdd(_field(re, 7)),
        "patient_name": _field(re, 5), "first_service_date": first, "last_service_date": last,
        "service_dates_source": source, "service_days": _int(ko, 5) or _int(ho, 5),
        "first_visit_flag": receipt.first_visit, "admission_date": admission,
        # One admission = one child, one institution, one admission date: the same id in every month.
        "admission_id": (f"{recipient}{admission:%Y%m%d}{header['institution_code'][3:8]}"
                         if admission is not None else None),
        "total_points": points, "insurer_number": _field(ho, 2) if ho is not None else None,
        "insured_days": _int(ho, 5), "insured_self_pay_amount": _int(ho, 12), "meal_amount": _int(ho, 9),
        "high_cost_category": high_cost[0], "high_cost_many_times_flag": high_cost[1],
        "specific_disease_code": disease, "public_payer_number": _field(ko, 2), "recipient_no": recipient,
        "billed_days": _int(ko, 5), "billed_points": _int(ko, 6), "billed_subsidy_amount": _int(ko, 7),
        "billed_copay_amount": _int(ko, 9) if care_type == "INPATIENT" else _int(ko, 8),
        "other_public_count": receipt.other_ko, "file_name": name, "source_line": receipt.line,
    }


def receipt_identity(payer: str, institution_code: str, service_month: str, receipt_no: str) -> str:
    """Receipt identity (審査支払機関, 医療機関コード, 診療年月, レセプト番号) as one key (≤ 26 ASCII)."""
    return f"U{'S' if payer == 'SHAHO' else 'K'}{institution_code}{service_month.replace('-', '')}-{receipt_no}"
