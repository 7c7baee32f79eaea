"""UKE bills end to end (SQLite and PostgreSQL): read, match, assess, bill, correct, withdraw, pay.

The files are written out by hand below (records as the 記録条件仕様 lays them out; docs/formats/uke.md),
with known KO values whose amounts follow from the rules of the service date:

* A (中1, 3割) 初診 6/10, 500点: 1,500 self-pay − 500 初診 co-pay = 1,000 → approved;
* A 入院 from 5/28 spanning May and June (8,000点 each): May days 1–4 → 2,000 co-pay, 22,000; June days 5–9
  → 2,500 co-pay, 21,500 (counted across the month end) → approved;
* B (未就学, 2割) 入院 with 区エ: 50,000点 → 100,000 self-pay, 高額療養費 limit 57,600 → 57,600 → approved;
* A revisit billed 100 with a 500 co-pay: the city finds 600 and no co-pay → 過誤/再審査 (COPAY);
* a KO of another city (ignored, counted), an unknown 受給者番号 and a wrong sex (review list),
  a malformed 生年月日 (quarantined).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from connectors.uke import UkeFileError, read_uke
from policy import load_policy
from rules.checkdigits import with_modulus10_w21
from services.claims import bill, check
from services.eligibility import reason_sets
from store import claims_models as cm
from store import models
from store.bulk import insert_frame, read_frame
from store.db import session_scope

POLICY = load_policy()
CITY = check.city_payer_numbers(POLICY)
OTHER_CITY = with_modulus10_w21("8813100")
CHILD_A, CHILD_B = "1000000001", "1000000002"
REC_A, REC_B, REC_X = with_modulus10_w21("000001"), with_modulus10_w21("000002"), with_modulus10_w21("000099")
CODE7 = with_modulus10_w21("041071236")[3:]  # 医療機関コード 04 1 0712368
INSTITUTION = "041" + CODE7


def si(days: list[int], identifier: str = "12") -> str:
    """An SI record (初診 = 診療識別 11) with one count on each calendar day."""
    head = f"SI,{identifier},1,{'111000110' if identifier == '11' else '112007410'},,0,{len(days)},,,,,,"
    return head + "," + ",".join("1" if d in days else "" for d in range(1, 32))


def june_file() -> str:
    lines = [
        f"IR,2,04,1,{CODE7},,テスト医院,50707,00,",
        # 1. A 初診 (外来): approved
        "RE,1,1122,50706,テスト　タロウ,1,4240901,70,,,,,,,,,,,,,",
        "HO,06130488,,,1,500,,,,,,1500,,,",
        f"KO,88041009,{REC_A},,1,500,1000,500,,,,",
        si([10], "11"),
        # 2. A 入院 since 5/28, June part (days 5–9 of the admission): approved
        "RE,2,1121,50706,テスト　タロウ,1,4240901,70,5070528,,,,,,,,,,,,",
        "HO,06130488,,,5,8000,,,,,,24000,,,",
        f"KO,88041009,{REC_A},,5,8000,21500,,2500,,,",
        si([1, 2, 3, 4, 5]),
        # 3. B (未就学) 入院 with 区エ (特記事項 29): approved
        "RE,3,1123,50706,テスト　ハナコ,2,5020415,80,5070602,,,29,,,,,,,,,",
        "HO,06130488,,,19,50000,,,,,,57600,,,",
        f"KO,88041009,{REC_B},,19,50000,57600,,0,,,",
        si(list(range(2, 21))),
        # 4. A revisit billed 100 with a 500 co-pay: the city finds 600 → 過誤/再審査
        "RE,4,1122,50706,テスト　タロウ,1,4240901,70,,,,,,,,,,,,,",
        "HO,06130488,,,1,200,,,,,,600,,,",
        f"KO,88041009,{REC_A},,1,200,100,500,,,,",
        si([20]),
        # 5. another city's KO only: ignored and counted
        "RE,5,1122,50706,テスト　ジロウ,1,4240901,70,,,,,,,,,,,,,",
        "HO,06130488,,,1,200,,,,,,600,,,",
        f"KO,{OTHER_CITY},0000018,,1,200,600,,,,,",
        si([11]),
        # 6. unknown 受給者番号 → review list
        "RE,6,1122,50706,テスト　サブロウ,1,4240901,70,,,,,,,,,,,,,",
        "HO,06130488,,,1,200,,,,,,600,,,",
        f"KO,88041009,{REC_X},,1,200,600,,,,,",
        si([12]),
        # 7. A's number with the other sex → review list
        "RE,7,1122,50706,テスト　タロウ,2,4240901,70,,,,,,,,,,,,,",
        "HO,06130488,,,1,200,,,,,,600,,,",
        f"KO,88041009,{REC_A},,1,200,600,,,,,",
        si([13]),
        # 8. malformed 生年月日 (99 is no month) → quarantined with its line
        "RE,8,1122,50706,テスト　タロウ,1,4249901,70,,,,,,,,,,,,,",
        "HO,06130488,,,1,200,,,,,,600,,,",
        f"KO,88041009,{REC_A},,1,200,600,,,,,",
        si([14]),
        "GO,8,59600,99",
    ]
    return "\r\n".join(lines) + "\r\n"


def may_file() -> str:
    lines = [
        f"IR,2,04,1,{CODE7},,テスト医院,50706,00,",
        "RE,1,1121,50705,テスト　タロウ,1,4240901,70,5070528,,,,,,,,,,,,",
        "HO,06130488,,,4,8000,,,,,,24000,,,",
        f"KO,88041009,{REC_A},,4,8000,22000,,2000,,,",
        si([28, 29, 30, 31]),
        "GO,1,8000,99",
    ]
    return "\r\n".join(lines) + "\r\n"


def correction_file() -> str:
    """August bill: receipt 4 re-billed right (600, no co-pay); receipt 1 re-billed wrong (900)."""
    lines = [
        f"IR,2,04,1,{CODE7},,テスト医院,50708,00,",
        "RE,4,1122,50706,テスト　タロウ,1,4240901,70,,,,,,,,,,,,,",
        "HO,06130488,,,1,200,,,,,,600,,,",
        f"KO,88041009,{REC_A},,1,200,600,0,,,,",
        si([20]),
        "RE,1,1122,50706,テスト　タロウ,1,4240901,70,,,,,,,,,,,,,",
        "HO,06130488,,,1,500,,,,,,1500,,,",
        f"KO,88041009,{REC_A},,1,500,900,600,,,,",
        si([10], "11"),
        "GO,2,700,99",
    ]
    return "\r\n".join(lines) + "\r\n"


def _write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_bytes(text.encode("cp932"))
    return path


def _seed(conn) -> None:
    insert_frame(conn, models.Person.__table__, pd.DataFrame({
        "person_id": [CHILD_A, CHILD_B], "household_id": ["2000000001", "2000000002"], "relationship_code": "03",
        "birth_date": [dt.date(2012, 9, 1), dt.date(2020, 4, 15)], "sex_code": ["1", "2"],
        "dv_support_flag": False, "row_digest": "x"}))
    insert_frame(conn, models.Recipient.__table__, pd.DataFrame({
        "person_id": [CHILD_A, CHILD_B], "recipient_no": [REC_A, REC_B], "public_payer_number": "88041009",
        "assigned_run_id": "seed"}))
    insert_frame(conn, models.EligibilityPeriod.__table__, reason_sets.encode(conn, pd.DataFrame({
        "person_id": [CHILD_A, CHILD_B], "valid_from": [dt.date(2012, 9, 1), dt.date(2020, 4, 15)],
        "valid_to": [dt.date(2030, 3, 31), dt.date(2038, 3, 31)], "status": "ELIGIBLE", "end_reason": "AGE",
        "reason_codes": "", "policy_version": "t", "run_id": "seed"})))


def test_reader_extracts_city_ko_and_quarantines_the_malformed_record(tmp_path):
    uke = read_uke(_write(tmp_path, "0410712368_202507.UKE", june_file()), CITY)
    assert uke.payer == "KOKUHO" and uke.institution_code == INSTITUTION and uke.billing_month == "2025-07"
    assert uke.counts["receipts_read"] == 8
    assert uke.counts["receipts_accepted"] == 6 and uke.counts["receipts_quarantined"] == 1
    assert uke.counts["receipts_without_city_public"] == 1 and uke.counts["other_public_records"] == 1
    q = uke.quarantine.iloc[0]
    assert (q["row_number"], q["record_type"], q["column_name"]) == (30, "RE", "生年月日")
    assert q["masked_value"] == "*****01"  # never the whole value
    r = uke.receipts.set_index("receipt_no")
    assert r.loc["2", ["care_type", "first_service_date", "last_service_date", "admission_date"]].tolist() == [
        "INPATIENT", pd.Timestamp("2025-06-01"), pd.Timestamp("2025-06-05"), pd.Timestamp("2025-05-28")]
    assert r.loc["3", ["high_cost_category", "insured_class", "billed_subsidy_amount"]].tolist() == [
        "e", "PRESCHOOL", 57_600]
    assert bool(r.loc["1", "first_visit_flag"]) and not bool(r.loc["4", "first_visit_flag"])


@pytest.mark.parametrize("text, problem", [
    (lambda: june_file().replace("GO,8,", "GO,9,"), "GO"),
    (lambda: june_file().split("\r\n", 1)[1], "IR"),
    (lambda: june_file().replace("IR,2,04,1,", "IR,3,04,1,"), "審査支払機関"),
])
def test_a_bad_file_is_refused_whole(tmp_path, text, problem):
    with pytest.raises(UkeFileError, match=problem):
        read_uke(_write(tmp_path, "bad.UKE", text()), CITY)


def test_an_unknown_record_and_a_bad_calendar_day_quarantine_their_receipts_only(tmp_path):
    text = june_file().replace(si([10], "11"), si([10], "11") + "\r\nZZ,1", 1)
    bad_day = si([20]).split(",")
    bad_day[13 + 29] = "x"  # field 43 = 算定日 30日
    text = text.replace(si([20]), ",".join(bad_day))
    uke = read_uke(_write(tmp_path, "odd.UKE", text), CITY)
    assert uke.counts["receipts_quarantined"] == 3 and uke.counts["receipts_accepted"] == 4
    found = sorted(uke.quarantine[["row_number", "record_type", "column_name"]].itertuples(index=False, name=None))
    assert found == [(6, "ZZ", "record_type"), (18, "SI", "算定日 30日"), (31, "RE", "生年月日")]


def test_a_file_that_is_not_cp932_is_refused_with_its_line(tmp_path):
    path = tmp_path / "bad.UKE"
    path.write_bytes(june_file().encode("cp932") + b"RE,\x82\r\n")
    with pytest.raises(UkeFileError) as caught:
        read_uke(path, CITY)
    assert caught.value.line == 35


def test_bill_matches_assesses_and_pays_once_then_corrections_reverse(engine, tmp_path, key_ring):
    outbox = tmp_path / "out"
    with session_scope(engine) as session:
        _seed(session.connection())
    may = read_uke(_write(tmp_path, "may.UKE", may_file()), CITY)
    june = read_uke(_write(tmp_path, "june.UKE", june_file()), CITY)
    with session_scope(engine) as session:
        conn = session.connection()
        assert bill.ingest_file(conn, may, policy=POLICY, ring=key_ring, run_id="r1")["approved"] == 1
        counts = bill.ingest_file(conn, june, policy=POLICY, ring=key_ring, run_id="r1")
    assert (counts["new"], counts["approved"], counts["disputed"], counts["review"]) == (6, 3, 1, 2)

    with session_scope(engine) as session:
        receipts = read_frame(session.connection(), cm.UkeReceipt.__table__).set_index("receipt_no")
    june_rows = receipts[receipts["billing_month"] == "2025-07"]
    assert june_rows.loc["1", ["status", "city_subsidy_amount"]].tolist() == ["APPROVED", 1_000]
    assert june_rows.loc["2", ["status", "city_subsidy_amount", "city_copay_amount"]].tolist() == [
        "APPROVED", 21_500, 2_500]
    assert june_rows.loc["3", ["status", "city_subsidy_amount"]].tolist() == ["APPROVED", 57_600]
    assert june_rows.loc["4", ["status", "billed_subsidy_amount", "city_subsidy_amount", "differing_rule"]].tolist() \
        == ["DISPUTED", 100, 600, "COPAY"]
    assert june_rows.loc["6", ["status", "review_reason"]].tolist() == ["REVIEW", "UNMATCHED_RECIPIENT"]
    assert june_rows.loc["7", ["status", "review_reason"]].tolist() == ["REVIEW", "SEX_MISMATCH"]
    assert "5" not in june_rows.index and "8" not in june_rows.index

    # Re-ingesting the same file (or the same bytes under another name) changes nothing.
    again = read_uke(_write(tmp_path, "june_copy.UKE", june_file()), CITY)
    with session_scope(engine) as session:
        assert bill.ingest_file(session.connection(), again, policy=POLICY, ring=key_ring,
                                run_id="r2")["already_ingested"]

    with session_scope(engine) as session:
        conn = session.connection()
        closed = bill.close_bill(conn, "KOKUHO", "2025-07", paid_on=dt.date(2025, 7, 31), outbox=outbox, run_id="r1")
        lists = bill.write_review_lists(conn, "2025-07", outbox)
    assert closed["receipts"] == 6 and closed["payment_amount"] == 1_000 + 21_500 + 57_600
    assert closed["billed_amount"] == 1_000 + 21_500 + 57_600 + 100 + 600 + 600
    assert lists == {"review": 2, "disputed": 1}
    breakdown = pd.read_csv(outbox / "uke_bill_KOKUHO_2025-07.csv", encoding="cp932", dtype=str)
    assert breakdown["支払額"].astype(int).sum() == closed["payment_amount"]
    saishinsa = pd.read_csv(outbox / "uke_saishinsa_2025-07.csv", encoding="cp932", dtype=str)
    assert saishinsa[["請求額", "市の査定額", "相違ルール"]].values.tolist() == [["100", "600", "COPAY"]]

    # A closed bill takes no late file.
    with session_scope(engine) as session, pytest.raises(bill.BillClosedError):
        late = read_uke(_write(tmp_path, "late.UKE", june_file().replace("GO,8,59600", "GO,8,59601")), CITY)
        bill.ingest_file(session.connection(), late, policy=POLICY, ring=key_ring, run_id="r3")

    # August: corrections and a 取下げ are settled in the next bill.
    corrections = read_uke(_write(tmp_path, "aug.UKE", correction_file()), CITY)
    with session_scope(engine) as session:
        conn = session.connection()
        counts = bill.ingest_file(conn, corrections, policy=POLICY, ring=key_ring, run_id="r4")
        june_b = read_frame(conn, cm.UkeReceipt.__table__, ["claim_id"],
                            where=cm.UkeReceipt.__table__.c.receipt_no == "3")["claim_id"].iloc[0]
        bill.withdraw(conn, june_b, payer="KOKUHO", month="2025-08", run_id="r4")
        august = bill.close_bill(conn, "KOKUHO", "2025-08", paid_on=dt.date(2025, 8, 29), outbox=outbox, run_id="r4")
        entries = read_frame(conn, cm.UkeBillEntry.__table__, ["bill_key", "kind", "amount"])
    assert counts["corrected"] == 2
    aug = entries[entries["bill_key"] == "KOKUHO|2025-08"].sort_values("amount")["amount"].tolist()
    # −57,600 (取下げ of B), −1,000 (receipt 1 re-billed wrong: disputed now), +600 (receipt 4 right now)
    assert aug == [-57_600, -1_000, 600]
    assert august["payment_amount"] == 600 - 1_000 - 57_600
    august_csv = pd.read_csv(outbox / "uke_bill_KOKUHO_2025-08.csv", encoding="cp932", dtype=str)
    assert august_csv["支払額"].astype(int).sum() == august["payment_amount"]
    assert sorted(august_csv["区分"]) == ["CHARGE", "REVERSAL", "REVERSAL"]
    # Nothing is paid twice: over both bills each receipt nets to what is approved now.
    net = entries.groupby("kind")["amount"].sum()
    assert int(net.sum()) == 22_000 + 21_500 + 600
