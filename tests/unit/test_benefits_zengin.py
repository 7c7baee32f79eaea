"""全銀協 総合振込 file: written, parsed back and checked field by field."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from connectors import zengin

CITY = zengin.Remitter(code="1234567890", name="ｾﾝﾀﾞｲｼ ｺﾄﾞﾓｲﾘｮｳﾋ", bank_code="0123", branch_code="456",
                       account_type="1", account_number="7654321", bank_name="ﾐﾔｷﾞｷﾞﾝｺｳ", branch_name="ｼﾔｸｼﾖ")

PAYMENTS = pd.DataFrame({
    "bank_code": ["0001", "0009"], "branch_code": ["001", "123"], "account_type": ["1", "2"],
    "account_number": ["1234567", "0000042"], "account_holder_kana": ["ヤマダ　タロウ", "ｽｽﾞｷ ﾊﾅｺ"],
    "amount": [2_400, 15_000], "customer_code": ["P000000001", "P000000002"],
})


@pytest.mark.parametrize("separator", [pytest.param(b"\r\n", id="CRLF"), pytest.param(b"", id="no separators")])
def test_file_parses_back_field_by_field(separator):
    raw = zengin.build_transfer_file(PAYMENTS, CITY, dt.date(2026, 7, 10), record_separator=separator)
    records = raw.split(b"\r\n")[:-1] if separator else [raw[i:i + 120] for i in range(0, len(raw), 120)]
    assert [len(r) for r in records] == [120] * 5
    assert [r[:1] for r in records] == [b"1", b"2", b"2", b"8", b"9"]
    parsed = zengin.parse_transfer_file(raw)
    assert parsed.header["type_code"] == "21"
    assert parsed.header["remitter_code"] == "1234567890"
    assert parsed.header["remitter_name"] == "ｾﾝﾀﾞｲｼ ｺﾄﾞﾓｲﾘﾖｳﾋ"  # small kana become large in 全銀
    assert parsed.header["transfer_mmdd"] == "0710"
    assert (parsed.header["bank_code"], parsed.header["branch_code"]) == ("0123", "456")
    first, second = parsed.data.to_dict("records")
    assert first["bank_code"] == "0001" and first["branch_code"] == "001"
    assert first["account_type"] == "1" and first["account_number"] == "1234567"
    assert first["account_holder_kana"] == "ﾔﾏﾀﾞ ﾀﾛｳ"
    assert first["amount"] == 2_400 and first["customer_code"] == "P000000001"
    assert first["transfer_kind"] == "7" and first["new_code"] == "0"
    assert second["account_type"] == "2" and second["account_number"] == "0000042"
    assert second["account_holder_kana"] == "ｽｽﾞｷ ﾊﾅｺ" and second["amount"] == 15_000
    assert parsed.trailer == {"count": 2, "total": 17_400}


def test_bytes_are_cp932_half_width_kana():
    raw = zengin.build_transfer_file(PAYMENTS, CITY, dt.date(2026, 7, 10))
    data = raw.split(b"\r\n")[1]
    assert data[50:80].decode("cp932").startswith("ﾔﾏﾀﾞ ﾀﾛｳ")
    assert data[80:90] == b"0000002400"


def test_a_tampered_trailer_is_rejected():
    raw = bytearray(zengin.build_transfer_file(PAYMENTS, CITY, dt.date(2026, 7, 10)))
    trailer_start = 3 * 122
    raw[trailer_start + 7:trailer_start + 19] = b"000000017401"
    with pytest.raises(zengin.ZenginFormatError, match="trailer"):
        zengin.parse_transfer_file(bytes(raw))


def test_a_name_outside_the_character_set_is_refused_without_echoing_it():
    bad = PAYMENTS.assign(account_holder_kana=["山田太郎", "ｽｽﾞｷ"])
    with pytest.raises(zengin.ZenginFormatError) as info:
        zengin.build_transfer_file(bad, CITY, dt.date(2026, 7, 10))
    assert "山田" not in str(info.value) and "受取人名" in str(info.value)


def test_empty_month_writes_header_trailer_and_end_only():
    parsed = zengin.parse_transfer_file(zengin.build_transfer_file(PAYMENTS.iloc[:0], CITY, dt.date(2026, 7, 10)))
    assert parsed.data.empty and parsed.trailer == {"count": 0, "total": 0}
