"""Staff-facing outputs speak Japanese: benefit CSV headers and codes, the monthly summary's sections."""

from __future__ import annotations

import pandas as pd

from services.benefits.files import for_staff
from services.notices.summary import output_files


def test_benefit_csv_headers_and_codes_are_japanese():
    accounts = pd.DataFrame({"支払月": ["2026-10"] * 3, "channel": ["ZENGIN", "REVIEW_BODY", "RECEIVABLE"],
                             "route": ["REIMBURSEMENT", "IN_KIND", "ALL"], "kind": ["INITIAL", "SUPPLEMENTARY",
                                                                                 "REFUND_CLAIM"],
                             "件数": [1, 2, 3], "金額": [100, 200, 300]})
    out = for_staff(accounts)
    assert list(out.columns) == ["支払月", "支払先", "給付方法", "区分", "件数", "金額"]
    assert out["支払先"].tolist() == ["口座振込（申請者）", "審査支払機関", "返還請求"]
    assert out["区分"].tolist() == ["当初支給", "追加支給", "返還請求"]
    prefecture = pd.DataFrame({"service_month": ["2026-09"], "age_band": ["JUNIOR_HIGH"], "setting": ["INPATIENT"],
                               "receipts": [4], "total_cost_amount": [1], "self_pay_amount": [1], "subsidy_amount": [1]})
    staff = for_staff(prefecture)
    assert list(staff.columns) == ["診療年月", "年齢区分", "入院・入院外", "件数", "総医療費", "自己負担額", "助成額"]
    assert staff.iloc[0].tolist()[:3] == ["2026-09", "中学生", "入院"]
    assert not any(c.isascii() and c.isalpha() for c in staff.columns)


def test_output_files_list_paths_and_summarise_big_directories(tmp_path):
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "a.csv").write_text("x")
    (tmp_path / "lists" / ".a.csv.tmp").write_text("x")
    (tmp_path / "pmh").mkdir()
    for i in range(25):
        (tmp_path / "pmh" / f"batch-{i}.json").write_text("{}")
    assert output_files([tmp_path / "lists", tmp_path / "pmh", tmp_path / "missing"]) == [
        str(tmp_path / "lists" / "a.csv"), f"{tmp_path / 'pmh'}/ （25 ファイル）"]


def test_reason_codes_read_in_japanese():
    from services.counter.labels import reason_text

    text = reason_text("AGE_LIMIT:age_limit.outpatient=18@2026-04-01;NO_INCOME_TEST:x=None@2023-04-01;"
                       "WELFARE_EXCLUSION;SOMETHING_NEW")
    assert text == "対象年齢（18、2026-04-01〜）・所得制限なし（2023-04-01〜）・生活保護受給中（対象外）・SOMETHING_NEW"
    assert reason_text(None) == "" and reason_text("") == ""
