"""Synthetic UKE (レセ電) facility files: a record writer for tests and the demo month generator.

The layout is the one connectors.uke reads (docs/formats/uke.md). Synthetic data only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from connectors.files import read_input_csv, read_manifest
from connectors.uke import DAY_COLUMNS_START, to_gyymm, to_gyymmdd
from devtools.generate.claims import children_frame, synthetic_receipts
from policy import Policy, load_policy
from rules import benefits
from rules.checkdigits import with_modulus10_w21
from schemas import INPUT_COLUMNS
from schemas.claims import claims_stage_frame

PAYER_CODES = {"SHAHO": "1", "KOKUHO": "2"}
TABLE_CODES = {"MEDICAL": "1", "DENTAL": "3", "PHARMACY": "4"}
TABLE_OF_DIGIT = {code: table for table, code in TABLE_CODES.items()}


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


# ---------------------------------------------------------------------------------------------
# A month of facility files for the demo population
# ---------------------------------------------------------------------------------------------


def _class_digit(preschool: bool, inpatient: bool) -> str:
    """レセプト種別 digit 4 for a child: 未就学 3/4, else 家族 5/6 (odd = 入院)."""
    return ("3" if inpatient else "4") if preschool else ("5" if inpatient else "6")


def billed_receipts(children: pd.DataFrame, month: str, seed: int, policy: Policy, *, count: int | None = None,
                    receipts_per_year: float = 10.0, other_city_share: float = 0.03) -> pd.DataFrame:
    """The month's 現物給付 receipts as the institutions bill them: the city's rules applied by the institution.

    The institution knows the whole admission, so the days of a stay before the month count in its co-pay
    (``admission_prior_days``) — a city that never saw the earlier month's receipt disputes such a bill, as
    in real life. ~1 % of inpatient receipts carry 小児慢性 (法別 52) too (a KO of another 公費: the city does
    not deduct it and disputes); ``other_city_share`` of receipts bill another city's 公費負担者番号.
    """
    frames = synthetic_receipts(children, month, seed, receipts_per_year=receipts_per_year, count=count)
    claims = frames["claims"]
    stage = claims_stage_frame(claims, None, None)
    who = children.set_index("recipient_no")
    stage["birth_date"] = pd.to_datetime(stage["recipient_no"].map(who["birth_date"])).astype("datetime64[ns]")
    start = pd.Timestamp(f"{month}-01")
    prior = (start - stage["admission_date"]).dt.days.clip(lower=0).fillna(0).astype("int64")
    stage["admission_prior_days"] = np.where(stage["care_type"] == "INPATIENT", prior, 0)
    stage["admission_prior_copay_amount"] = 0
    # The institution's figure ignores the other 公費 and the stated 高額療養費: what UKE carries is the 区分.
    stage["other_amount_1"] = 0
    stage["high_cost_amount"] = pd.array([pd.NA] * len(stage), dtype="Int64")
    stage["additional_benefit_amount"] = 0
    billed = benefits.calculate_benefits(stage, policy)
    rng = np.random.default_rng([seed, 11])
    out = pd.DataFrame({
        "institution_code": claims["institution_code"], "care_type": claims["care_type"],
        "service_month": month, "first": pd.to_datetime(claims["first_service_date"]),
        "last": pd.to_datetime(claims["last_service_date"]), "days": stage["service_days"],
        "first_visit": claims["first_visit_flag"] == "1", "admission_date": pd.to_datetime(claims["admission_date"]),
        "points": claims["total_points"].astype("int64"), "insurer_number": claims["insurer_number"],
        "recipient_no": claims["recipient_no"], "birth_date": stage["birth_date"],
        "sex_code": claims["recipient_no"].map(who["sex_code"]).fillna("1"),
        "preschool": billed["share_rule"].astype(str) == "PRESCHOOL",
        "category": claims["high_cost_category"], "meal": stage["meal_amount"],
        "insured_self_pay": billed["self_pay_amount"] - billed["high_cost_deducted_amount"],
        "subsidy": billed["subsidy_amount"], "copay": billed["copay_amount"],
        "chronic": claims["other_law_no_1"].notna(),
        "other_city": rng.random(len(claims)) < other_city_share,
    })
    return out.reset_index(drop=True)


def _receipt(row, number: int, city: str, other_city: str) -> UkeReceipt:
    inpatient = row.care_type == "INPATIENT"
    table = {"DENTAL": "3", "PHARMACY": "4"}.get(row.care_type, "1")
    publics = []
    if row.chronic:
        publics.append(UkePublic(with_modulus10_w21("5204100"), "", row.days, row.points, 0))
    publics.append(UkePublic(other_city if row.other_city else city, row.recipient_no, row.days, row.points,
                             int(row.subsidy), None if inpatient else int(row.copay),
                             int(row.copay) if inpatient else None))
    kind = table + "1" + str(1 + len(publics)) + _class_digit(row.preschool, inpatient and table == "1")
    notes = {"a": "26", "i": "27", "u": "28", "e": "29", "o": "30"}.get(row.category, "") if isinstance(
        row.category, str) else ""
    return UkeReceipt(
        receipt_no=number, receipt_type=kind, service_month=row.service_month, sex_code=row.sex_code,
        birth_date=row.birth_date.date(), insurer_number=row.insurer_number, days=int(row.days),
        points=int(row.points), insured_self_pay=int(row.insured_self_pay), publics=publics,
        service_days=list(range(row.first.day, row.last.day + 1)) if inpatient else [row.first.day],
        first_visit=bool(row.first_visit), admission_date=row.admission_date.date() if inpatient else None,
        notes=notes, meal_amount=int(row.meal), name="シケン　コドモ")


def write_month(directory: Path, receipts: pd.DataFrame, month: str, policy: Policy, seed: int, *,
                bad_record_share: float) -> tuple[int, np.ndarray]:
    """Write ``receipts`` (:func:`billed_receipts`) as one file per 審査支払機関 and institution; (files, bad)."""
    city = str(policy.at(f"{month}-01").get("program.public_payer_number"))
    other_city = with_modulus10_w21("8804200")
    rng = np.random.default_rng([seed, 12])
    bad = (rng.random(len(receipts)) < bad_record_share) & ~receipts["other_city"].to_numpy(dtype=bool)
    payer = np.where(receipts["insurer_number"].str.len() == 6, "KOKUHO", "SHAHO")
    billing = (pd.Period(month, freq="M") + 1).strftime("%Y-%m")
    directory.mkdir(parents=True, exist_ok=True)
    files = 0
    for (who, institution), group in receipts.assign(payer=payer).groupby(["payer", "institution_code"], sort=True):
        built = [_receipt(row, number, city, other_city)
                 for number, row in enumerate(group.itertuples(index=False), start=1)]
        for receipt, broken in zip(built, bad[group.index], strict=True):
            if broken:  # a wrong check digit in the city's 受給者番号: the reader quarantines the receipt
                ko = receipt.publics[-1]
                ko.recipient_no = ko.recipient_no[:-1] + str((int(ko.recipient_no[-1]) + 1) % 10)
        content = render_file(payer=who, prefecture=institution[:2], table=TABLE_OF_DIGIT[institution[2]],
                              code7=institution[3:], billing_month=billing, receipts=built)
        write_file(directory / f"{who}_{institution}_{month.replace('-', '')}_{billing.replace('-', '')}.UKE",
                   content)
        files += 1
    return files, bad


def generate_uke(out_dir: str | Path, residents_dir: str | Path, seed: int, *, month: str | None = None,
                 bad_record_share: float = 0.002, other_city_share: float = 0.03, receipts_per_year: float = 10.0,
                 policy: Policy | None = None) -> dict:
    """Write one 診療年月 of ``.UKE`` files (one per 審査支払機関 and institution) into ``out_dir/uke/``.

    国保 members (6-digit 保険者番号) are billed by 国保連, the others by 支払基金. A ``bad_record_share`` of
    city receipts get a wrong 受給者番号 check digit (quarantined by the reader). Returns counts only.
    """
    policy = policy or load_policy()
    source = Path(residents_dir)
    manifest = read_manifest(source)
    as_of = manifest.get("extract_date")
    if month is None:
        month = (pd.Timestamp(as_of or pd.Timestamp.today()).to_period("M") - 1).strftime("%Y-%m")
    residents = read_input_csv(source / "residents.csv", INPUT_COLUMNS["residents.csv"])
    children = children_frame(residents, as_of)
    children["sex_code"] = children["person_id"].map(residents.drop_duplicates("person_id").set_index(
        "person_id")["sex_code"])
    receipts = billed_receipts(children, month, seed, policy, receipts_per_year=receipts_per_year,
                               other_city_share=other_city_share)
    files, bad = write_month(Path(out_dir) / "uke", receipts, month, policy, seed,
                             bad_record_share=bad_record_share)
    directory = Path(out_dir) / "uke"
    billing = (pd.Period(month, freq="M") + 1).strftime("%Y-%m")
    return {"month": month, "billing_month": billing, "files": files, "receipts": int(len(receipts)),
            "other_city": int(receipts["other_city"].sum()), "with_other_public": int(receipts["chronic"].sum()),
            "bad_receipts": int(bad.sum()), "directory": str(directory)}
