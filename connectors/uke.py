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
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from connectors.files import InputFileError, _decode
from rules.checkdigits import is_valid_modulus10_w21
from schemas.claims import digits_of_length, modulus10_w21
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


# ---------------------------------------------------------------------------------------------
# Files: structure checks per file (C-level string operations), then one vectorised pass over all
# receipts of all files (a year of receipts is tens of thousands of facility files).
# ---------------------------------------------------------------------------------------------


@dataclass
class _Loaded:
    name: str
    sha256: str
    header: dict
    lines: list[str]  # the records between IR and GO


def _field(fields: list[str], position: int) -> str:
    """1-based field ``position`` (missing trailing fields read as empty)."""
    return fields[position - 1].strip() if len(fields) >= position else ""


def _decode_text(raw: bytes, name: str) -> str:
    try:
        text, _ = _decode(raw, name, "cp932")
    except InputFileError as exc:
        raise UkeFileError(exc.file, exc.problem, exc.line) from None
    return text.replace("\r\n", "\n")


def _header(first: str, name: str) -> dict:
    ir = first.split(",")
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


def _load(path: Path) -> _Loaded:
    """Read, decode and check the structure of one file (refused whole on any problem)."""
    name = path.name
    if path.suffix.upper() != ".UKE":
        raise UkeFileError(name, "not a .UKE file")
    raw = path.read_bytes()
    text = _decode_text(raw, name)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise UkeFileError(name, "the file is empty")
    header = _header(lines[0], name)
    if not lines[-1].startswith("GO,") and lines[-1] != "GO":
        raise UkeFileError(name, "the last record is not GO (診療報酬請求書レコード)", len(lines))
    body = lines[1:-1]
    joined = "\n" + "\n".join(body)
    for record in ("IR", "GO"):
        if f"\n{record}," in joined or joined.endswith(f"\n{record}"):
            at = next(i for i, line in enumerate(body) if line[:2] == record and line[2:3] in ("", ","))
            raise UkeFileError(name, f"a second {record} record inside the file", at + 2)
    if body and not body[0].startswith("RE,"):
        raise UkeFileError(name, f"record {body[0][:2]!r} before the first RE record", 2)
    declared = _field(lines[-1].split(","), 2)
    receipts = joined.count("\nRE,")
    if not (declared.isascii() and declared.isdigit()) or int(declared) != receipts:
        raise UkeFileError(name, f"GO 総件数 differs from the {receipts} RE records read", len(lines))
    return _Loaded(name, hashlib.sha256(raw).hexdigest(), header, body)


def _split(lines: list[str], index: np.ndarray, width: int) -> pd.DataFrame:
    """Fields 1…``width`` of the lines at ``index`` as object columns f1…f<width> (missing = "")."""
    rows = [(lines[i].split(",") + [""] * width)[:width] for i in index]
    frame = pd.DataFrame(np.array(rows, dtype=object).reshape(len(rows), width),
                         columns=[f"f{i}" for i in range(1, width + 1)], dtype=object)
    return frame


def era_dates(values: pd.Series, *, with_day: bool) -> pd.Series:
    """和暦 ``GYYMM`` / ``GYYMMDD`` → datetime64 (first of the month for GYYMM); NaT when malformed."""
    width = 7 if with_day else 5
    good = values.ne("").to_numpy() & digits_of_length(values.where(values.ne(""), None), (width,)).to_numpy()
    text = values.where(good, "0" * width).to_numpy(dtype=object).astype(f"U{width}")
    digits = (text.view(np.int32).reshape(len(text), width) - 48).astype(np.int64) if len(text) else np.zeros(
        (0, width), dtype=np.int64)
    bases = np.array([0, *ERA_BASE_YEAR.values(), 0, 0, 0, 0], dtype=np.int64)
    era_year = digits[:, 1] * 10 + digits[:, 2]
    month = digits[:, 3] * 10 + digits[:, 4]
    day = digits[:, 5] * 10 + digits[:, 6] if with_day else np.ones(len(text), dtype=np.int64)
    good &= (bases[digits[:, 0]] > 0) & (era_year >= 1) & (month >= 1) & (month <= 12) & (day >= 1)
    parsed = pd.to_datetime(pd.DataFrame({"year": np.where(good, bases[digits[:, 0]] + era_year - 1, 2000),
                                          "month": np.where(good, month, 1), "day": np.where(good, day, 1)}),
                            errors="coerce")
    return pd.Series(parsed.where(good).to_numpy(dtype="datetime64[ns]"), index=values.index)


class _Errors:
    """Field errors: (receipt, line, record, field, check, raw value, reason)."""

    def __init__(self) -> None:
        self.parts: list[pd.DataFrame] = []

    def add(self, bad: np.ndarray, frame: pd.DataFrame, record: str | np.ndarray, column: str | np.ndarray,
            values: pd.Series, check: str, reason: str) -> None:
        bad = np.asarray(bad, dtype=bool)
        if bad.any():
            self.parts.append(pd.DataFrame({
                "rid": frame["rid"].to_numpy()[bad], "row": frame["row"].to_numpy()[bad],
                "record_type": record[bad] if isinstance(record, np.ndarray) else record,
                "column_name": column[bad] if isinstance(column, np.ndarray) else column, "check_name": check,
                "value": values.to_numpy(dtype=object)[bad],
                "reason": reason}))

    def digits(self, frame: pd.DataFrame, record: str, field: str, column: str, width: int, *,
               required: bool) -> None:
        values = frame[field]
        empty = values.eq("").to_numpy()
        if required:
            self.add(empty, frame, record, column, values, "not_nullable", "required value is missing")
        wrong = ~empty & ~digits_of_length(values.where(~empty, None), tuple(range(1, width + 1))).to_numpy()
        self.add(wrong, frame, record, column, values, "digits", f"not 1-{width} digits")


def _int(values: pd.Series) -> np.ndarray:
    return pd.to_numeric(values.where(values.ne(""), "0"), errors="coerce").fillna(0).astype("int64").to_numpy()


def read_uke_files(paths: list[Path] | list[str], city_payer_numbers: frozenset[str] | set[str]) -> UkeBatch:
    """Read many ``.UKE`` files in one vectorised pass (the first bad file raises :class:`UkeFileError`)."""
    loaded = [_load(Path(p)) for p in paths]
    lines: list[str] = []
    file_of, row_of = [], []
    for number, item in enumerate(loaded):
        lines.extend(item.lines)
        file_of.append(np.full(len(item.lines), number, dtype=np.int64))
        row_of.append(np.arange(2, len(item.lines) + 2, dtype=np.int64))
    file_idx = np.concatenate(file_of) if file_of else np.zeros(0, dtype=np.int64)
    rows = np.concatenate(row_of) if row_of else np.zeros(0, dtype=np.int64)
    kinds = np.array([line[:2] for line in lines], dtype="U2") if lines else np.zeros(0, dtype="U2")
    rid = np.cumsum(kinds == "RE") - 1  # receipt number across all files (each file starts with RE)
    errors = _Errors()

    def records(kind: str, width: int) -> pd.DataFrame:
        at = np.flatnonzero(kinds == kind)
        frame = _split(lines, at, width)
        frame["rid"], frame["row"] = rid[at], rows[at]
        return frame

    unknown = np.flatnonzero(~np.isin(kinds, list(KNOWN_RECORDS)))
    if len(unknown):
        frame = pd.DataFrame({"rid": rid[unknown], "row": rows[unknown]})
        errors.add(np.ones(len(unknown), dtype=bool), frame, kinds[unknown].astype(object), "record_type",
                   pd.Series(kinds[unknown]), "known_record", "unknown record type")

    re = records("RE", 12)
    re["file"] = file_idx[np.flatnonzero(kinds == "RE")]
    errors.digits(re, "RE", "f2", "レセプト番号", 6, required=True)
    kind = re["f3"]
    table_of = kind.str[0]
    insurance, count, last = kind.str[1], kind.str[2], kind.str[3]
    kind_ok = (kind.str.len().eq(4) & table_of.isin(list(TABLES)) & insurance.isin(["1", "2"])
               & count.isin(list("12345")) & (insurance.eq("1") | last.isin(["1", "2"]))
               & digits_of_length(kind.where(kind.ne(""), None), (4,)) & kind.ne("")).to_numpy()
    errors.add(~kind_ok, re, "RE", "レセプト種別", kind, "receipt_type", "unknown レセプト種別 code")
    service = era_dates(re["f4"], with_day=False)
    errors.add(service.isna().to_numpy(), re, "RE", "診療年月", re["f4"], "gyymm", "not a 和暦 year-month GYYMM")
    errors.add(~re["f6"].isin(["1", "2"]).to_numpy(), re, "RE", "男女区分", re["f6"], "isin",
               "男女区分 is not 1 or 2")
    birth = era_dates(re["f7"], with_day=True)
    errors.add(re["f7"].eq("").to_numpy(), re, "RE", "生年月日", re["f7"], "not_nullable",
               "required value is missing")
    errors.add(re["f7"].ne("").to_numpy() & birth.isna().to_numpy(), re, "RE", "生年月日", re["f7"], "gyymmdd",
               "not a 和暦 date GYYMMDD")
    admission = era_dates(re["f9"], with_day=True)
    errors.add(re["f9"].ne("").to_numpy() & admission.isna().to_numpy(), re, "RE", "入院年月日", re["f9"],
               "gyymmdd", "not a 和暦 date GYYMMDD")
    notes = re["f12"]
    notes_ok = notes.eq("") | (notes.str.len().isin([2, 4, 6, 8, 10])
                               & digits_of_length(notes.where(notes.ne(""), None), (2, 4, 6, 8, 10)))
    errors.add(~notes_ok.to_numpy(), re, "RE", "レセプト特記事項", notes, "notes", "not up to five 2-digit codes")

    ho = records("HO", 12).drop_duplicates("rid")
    ho["f2"] = ho["f2"].str.strip()  # 6-digit 国保 保険者番号 are right-aligned with leading spaces
    insurer_ok = modulus10_w21(ho["f2"].where(ho["f2"].ne(""), None), (6, 8)) & ho["f2"].ne("")
    errors.add(~insurer_ok.to_numpy(), ho, "HO", "保険者番号", ho["f2"], "check_digit",
               "保険者番号 is not 6/8 digits with a valid check digit")
    errors.digits(ho, "HO", "f5", "診療実日数", 2, required=True)
    errors.digits(ho, "HO", "f6", "合計点数", 8, required=True)
    errors.digits(ho, "HO", "f9", "食事療養・生活療養 合計金額", 8, required=False)
    errors.digits(ho, "HO", "f12", "負担金額 医療保険", 8, required=False)

    ko_all = records("KO", 9)
    ko_all["file"] = file_idx[np.flatnonzero(kinds == "KO")]
    # The first KO of this city on a receipt; any other KO (other 公費, other cities) is counted only.
    city_rows = ko_all["f2"].isin(list(city_payer_numbers)).to_numpy()
    is_city = city_rows & ~(ko_all["rid"].where(city_rows).duplicated().to_numpy() & city_rows)
    ko = ko_all[is_city]
    other_public = np.bincount(ko_all["file"].to_numpy()[~is_city], minlength=len(loaded))
    recipient_ok = modulus10_w21(ko["f3"].where(ko["f3"].ne(""), None), (7,)) & ko["f3"].ne("")
    errors.add(~recipient_ok.to_numpy(), ko, "KO", "公費受給者番号", ko["f3"], "check_digit",
               "受給者番号 is not 7 digits with a valid check digit")
    errors.digits(ko, "KO", "f5", "診療実日数", 2, required=True)
    errors.digits(ko, "KO", "f6", "合計点数", 8, required=True)
    errors.digits(ko, "KO", "f7", "負担金額 公費", 8, required=True)
    errors.digits(ko, "KO", "f8", "公費給付対象外来一部負担金", 8, required=False)
    errors.digits(ko, "KO", "f9", "公費給付対象入院一部負担金", 8, required=False)

    days, first_visit = _calendar(lines, kinds, rid, rows, errors)

    bad = pd.concat(errors.parts, ignore_index=True) if errors.parts else pd.DataFrame(
        columns=["rid", "row", "record_type", "column_name", "check_name", "value", "reason"])
    bad_rids = set(bad["rid"].tolist())
    re = re.assign(service=service.to_numpy(), birth=birth.to_numpy(), admission=admission.to_numpy())
    good = re[~re["rid"].isin(bad_rids)]
    with_city = good[good["rid"].isin(ko["rid"])]
    frame = _receipt_frame(with_city, ho.set_index("rid"), ko.set_index("rid"), days, first_visit, loaded)

    n_files = len(loaded)
    read = np.bincount(re["file"].to_numpy(), minlength=n_files)
    accepted = np.bincount(with_city["file"].to_numpy(), minlength=n_files)
    quarantined = np.bincount(re.loc[re["rid"].isin(bad_rids), "file"].to_numpy(), minlength=n_files)
    bad["file"] = bad["rid"].map(re.set_index("rid")["file"]).fillna(-1).astype(np.int64)
    bad = bad.sort_values(["file", "row"], kind="stable")
    names = np.array([item.name for item in loaded], dtype=object)
    quarantine = pd.DataFrame({
        "file_name": names[bad["file"].to_numpy()] if len(bad) else [], "row_number":
        bad["row"].astype("int64").to_numpy(), "record_type": bad["record_type"].to_numpy(),
        "column_name": bad["column_name"].to_numpy(), "check_name": bad["check_name"].to_numpy(),
        "masked_value": [mask_value(v) if v else pd.NA for v in bad["value"]], "reason": bad["reason"].to_numpy(),
        "_file": bad["file"].to_numpy()})
    files = [{"file_name": item.name, "sha256": item.sha256, "payer": item.header["payer"],
              "institution_code": item.header["institution_code"], "billing_month": item.header["billing_month"],
              "counts": {"records": len(item.lines) + 2, "other_public_records": int(other_public[number]),
                         "receipts_read": int(read[number]), "receipts_accepted": int(accepted[number]),
                         "receipts_quarantined": int(quarantined[number]),
                         "receipts_without_city_public": int(read[number] - accepted[number] - quarantined[number])}}
             for number, item in enumerate(loaded)]
    return UkeBatch(receipts=frame, quarantine=quarantine, files=files)


@dataclass
class UkeBatch:
    """Many files read in one pass: all receipts and quarantine rows (``_file`` = position in ``files``)."""

    receipts: pd.DataFrame
    quarantine: pd.DataFrame
    files: list[dict]

    def file(self, number: int) -> UkeFile:
        """The receipts, quarantine and counts of one file of the batch."""
        info = self.files[number]
        receipts = self.receipts[self.receipts["_file"].to_numpy() == number].drop(columns=["_file"])
        quarantine = self.quarantine[self.quarantine["_file"].to_numpy() == number][QUARANTINE_COLUMNS]
        return UkeFile(file_name=info["file_name"], sha256=info["sha256"], payer=info["payer"],
                       institution_code=info["institution_code"], billing_month=info["billing_month"],
                       receipts=receipts.reset_index(drop=True), quarantine=quarantine.reset_index(drop=True),
                       counts=info["counts"])

    def counts(self) -> dict:
        """Totals over the files."""
        return pd.DataFrame([f["counts"] for f in self.files]).sum().astype(int).to_dict() if self.files else {}


def read_uke(path: str | Path, city_payer_numbers: frozenset[str] | set[str]) -> UkeFile:
    """Read one ``.UKE`` file (:func:`read_uke_files` of one path)."""
    return read_uke_files([Path(path)], city_payer_numbers).file(0)


def _calendar(lines: list[str], kinds: np.ndarray, rid: np.ndarray, rows: np.ndarray,
              errors: _Errors) -> tuple[pd.DataFrame, set]:
    """Per receipt the calendar days with a count (SI/IY/TO 算定日 columns) and the receipts with a 初診."""
    masks, owners = [], []
    first_visit: set = set()
    for record, start in DAY_COLUMNS_START.items():
        at = np.flatnonzero(kinds == record)
        if not len(at):
            continue
        parts = [lines[i].split(",") for i in at]
        if record == "SI":
            visit = np.array([len(p) > 1 and p[1].strip() == FIRST_VISIT_IDENTIFIER for p in parts], dtype=bool)
            first_visit |= set(rid[at][visit].tolist())
        cells = np.array([(p[start - 1:start + 30] + [""] * 31)[:31] for p in parts], dtype=object)
        cells = np.char.strip(cells.astype(str))
        filled = cells != ""
        if filled.any():
            values = pd.Series(cells[filled])
            wrong = ~digits_of_length(values, (1, 2, 3)).to_numpy()
            if wrong.any():
                line_of, day_of = np.nonzero(filled)
                frame = pd.DataFrame({"rid": rid[at][line_of], "row": rows[at][line_of]})
                day_names = np.array([f"算定日 {d + 1}日" for d in day_of], dtype=object)
                errors.add(wrong, frame, record, day_names, values, "digits", "a calendar day count is not 1-3 digits")
            counts = np.zeros(cells.shape, dtype=np.int64)
            counts[filled] = pd.to_numeric(values.where(~pd.Series(wrong), "0")).to_numpy(dtype=np.int64)
            masks.append(counts > 0)
            owners.append(rid[at])
    if not masks:
        return pd.DataFrame(columns=["first_day", "last_day"]), first_visit
    mask = pd.DataFrame(np.vstack(masks)).groupby(np.concatenate(owners)).any()
    values = mask.to_numpy()
    has = values.any(axis=1)
    first = values.argmax(axis=1) + 1
    last = 31 - values[:, ::-1].argmax(axis=1)
    return pd.DataFrame({"first_day": first, "last_day": last}, index=mask.index)[has], first_visit


def _receipt_frame(re: pd.DataFrame, ho: pd.DataFrame, ko: pd.DataFrame, days: pd.DataFrame, first_visit: set,
                   loaded: list[_Loaded]) -> pd.DataFrame:
    rid = re["rid"].to_numpy()
    headers = pd.DataFrame([item.header for item in loaded])
    head = headers.iloc[re["file"].to_numpy()].reset_index(drop=True)
    h = ho.reindex(rid).fillna("")
    k = ko.reindex(rid)
    kind = re["f3"].reset_index(drop=True)
    table = kind.str[0].map(TABLES)
    inpatient = np.where(kind.str[1] == "2", kind.str[3] == "1", kind.str[3].isin(list("13579")))
    care = np.where(table == "DENTAL", "DENTAL", np.where(table == "PHARMACY", "PHARMACY", np.where(
        inpatient, "INPATIENT", "OUTPATIENT")))
    classes = {"1": "SELF", "2": "SELF", "3": "PRESCHOOL", "4": "PRESCHOOL", "5": "FAMILY", "6": "FAMILY",
               "7": "ELDERLY", "8": "ELDERLY", "9": "ELDERLY", "0": "ELDERLY"}
    insured_class = np.where(kind.str[1] == "2", "PUBLIC_ONLY", kind.str[3].map(classes))
    month_start = pd.Series(re["service"].to_numpy(dtype="datetime64[ns]"))
    month_len = month_start.dt.days_in_month.to_numpy()
    d = days.reindex(rid)
    first_day = d["first_day"].to_numpy(dtype=float)
    last_day = d["last_day"].to_numpy(dtype=float)
    calendar = ~np.isnan(first_day) & (last_day <= month_len)
    first = month_start + pd.to_timedelta(np.where(calendar, first_day - 1, 0), unit="D")
    last = month_start + pd.to_timedelta(np.where(calendar, last_day - 1, month_len - 1), unit="D")
    notes = re["f12"].reset_index(drop=True)
    codes = [notes.str[i:i + 2] for i in range(0, 10, 2)]
    category = pd.Series(pd.NA, index=notes.index, dtype=object)
    many = np.zeros(len(notes), dtype=bool)
    disease = pd.Series(None, index=notes.index, dtype=object)
    for code in reversed(codes):  # the first code on the receipt wins
        hit = code.map({c: v[0] for c, v in HIGH_COST_NOTES.items()})
        category = hit.where(hit.notna(), category)
        many = np.where(hit.notna(), code.isin([c for c, v in HIGH_COST_NOTES.items() if v[1]]), many)
        named = code.map(SPECIFIC_DISEASE_NOTES)
        disease = named.where(named.notna(), disease)
    admission = pd.Series(re["admission"].to_numpy(dtype="datetime64[ns]")).where(care == "INPATIENT")
    recipient = k["f3"].to_numpy(dtype=object)
    institution = head["institution_code"].to_numpy(dtype=object)
    points = np.where(h["f6"].ne("").to_numpy(), _int(h["f6"]), _int(k["f6"]))
    service_month = month_start.dt.strftime("%Y-%m").to_numpy(dtype=object)
    receipt_no = re["f2"].to_numpy(dtype=object)
    payer_letter = np.where(head["payer"].to_numpy() == "SHAHO", "S", "K")
    claim_id = ("U" + pd.Series(payer_letter) + pd.Series(institution) + pd.Series(service_month).str.replace(
        "-", "") + "-" + pd.Series(receipt_no))
    return pd.DataFrame({
        "claim_id": claim_id.to_numpy(dtype=object), "payer": head["payer"].to_numpy(),
        "prefecture_code": head["prefecture_code"].to_numpy(), "point_table": head["point_table"].to_numpy(),
        "institution_code": institution, "billing_month": head["billing_month"].to_numpy(),
        "service_month": service_month, "receipt_no": receipt_no, "receipt_type": kind.to_numpy(dtype=object),
        "care_type": care, "insured_class": insured_class, "sex_code": re["f6"].to_numpy(dtype=object),
        "birth_date": re["birth"].to_numpy(dtype="datetime64[ns]"), "patient_name": re["f5"].to_numpy(dtype=object),
        "first_service_date": first.to_numpy(), "last_service_date": last.to_numpy(),
        "service_dates_source": np.where(calendar, "CALENDAR", "MONTH"),
        "service_days": np.where(_int(k["f5"]) > 0, _int(k["f5"]), _int(h["f5"])),
        "first_visit_flag": np.isin(rid, list(first_visit)), "admission_date": admission.to_numpy(),
        # One admission = one child, one institution, one admission date: the same id in every month.
        "admission_id": np.where(admission.notna(), pd.Series(recipient).astype(str) + admission.dt.strftime(
            "%Y%m%d").fillna("") + pd.Series(institution).str[3:8], None),
        "total_points": points, "insurer_number": np.where(h["f2"].ne(""), h["f2"], None),
        "insured_days": _int(h["f5"]), "insured_self_pay_amount": _int(h["f12"]), "meal_amount": _int(h["f9"]),
        "high_cost_category": category.to_numpy(dtype=object), "high_cost_many_times_flag": many.astype(bool),
        "specific_disease_code": disease.to_numpy(dtype=object),
        "public_payer_number": k["f2"].to_numpy(dtype=object), "recipient_no": recipient,
        "billed_days": _int(k["f5"]), "billed_points": _int(k["f6"]), "billed_subsidy_amount": _int(k["f7"]),
        "billed_copay_amount": np.where(care == "INPATIENT", _int(k["f9"]), _int(k["f8"])),
        "other_public_count": 0, "file_name": [loaded[i].name for i in re["file"].to_numpy()],
        "source_line": re["row"].to_numpy(), "_file": re["file"].to_numpy(),
    })


def receipt_identity(payer: str, institution_code: str, service_month: str, receipt_no: str) -> str:
    """Receipt identity (審査支払機関, 医療機関コード, 診療年月, レセプト番号) as one key (≤ 26 ASCII)."""
    return f"U{'S' if payer == 'SHAHO' else 'K'}{institution_code}{service_month.replace('-', '')}-{receipt_no}"
