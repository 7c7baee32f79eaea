"""全銀協 総合振込 (bulk credit transfer) file: writer and parser.

The 全銀協規定フォーマット for 総合振込 (種別コード 21) is a sequence of fixed 120-byte records in CP932
(JIS X 0201 half-width kana for names):

* header (データ区分 1): 種別コード, コード区分, 振込依頼人 (the city) code/name, 取組日 (MMDD), the city's
  bank, branch, account type and number;
* data (データ区分 2), one per payment: 被仕向 bank and branch codes (and optional names), 預金種目
  (1 普通, 2 当座), 口座番号 (7 digits), 受取人名 (30 half-width characters), 振込金額 (10 digits);
* trailer (データ区分 8): 合計件数 (6), 合計金額 (12);
* end (データ区分 9).

This writer separates records with CRLF (``record_separator`` CR LF, the form accepted by the city's
bank upload and by most internet-banking services); pass ``b""`` for the contiguous 120-byte form. The
parser reads both. Names are converted to the 全銀 character set: half-width katakana without small kana
(ｯ → ﾂ, ｬ → ﾔ …), upper-case ASCII letters, digits, space and ``().-/``; anything else raises
:class:`ZenginFormatError` naming the record and field, never the value.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from privacy.files import write_private_file

RECORD_LENGTH = 120
ENCODING = "cp932"
TRANSFER_TYPE_CODE = "21"  # 総合振込
ACCOUNT_TYPES = {"1": "普通", "2": "当座"}

# Half-width katakana ← full-width (NFKC maps each half-width form, and each voiced pair, to full width).
_HALF_KANA = [chr(c) for c in range(0xFF66, 0xFF9E)]  # ｦ … ﾝ
_TO_HALF: dict[str, str] = {unicodedata.normalize("NFKC", h): h for h in _HALF_KANA}
for _h in _HALF_KANA:
    for _mark in ("\uff9e", "\uff9f"):
        _composed = unicodedata.normalize("NFKC", _h + _mark)
        if len(_composed) == 1:
            _TO_HALF[_composed] = _h + _mark
_TO_HALF.update({"ー": "-", "－": "-", "　": " ", "（": "(", "）": ")", "．": ".", "／": "/", "゛": "\uff9e",
                 "゜": "\uff9f", "・": "."})
_SMALL_TO_LARGE = str.maketrans("ｧｨｩｪｫｬｭｮｯ", "ｱｲｳｴｵﾔﾕﾖﾂ")
_ALLOWED = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ ().-/\\｢｣,") | set(chr(c) for c in range(0xFF71, 0xFFA0)) | {"ｦ"}


class ZenginFormatError(ValueError):
    """A value that cannot be written in (or a file that does not follow) the 全銀 format."""


@dataclass(frozen=True)
class Remitter:
    """The 振込依頼人 (the city's paying account). Not personal data."""

    code: str            # 振込依頼人コード (10 digits, assigned by the bank)
    name: str            # 振込依頼人名 (half-width kana)
    bank_code: str       # 仕向銀行番号 (4)
    branch_code: str     # 仕向支店番号 (3)
    account_type: str    # 1 普通, 2 当座
    account_number: str  # 7 digits
    bank_name: str = ""
    branch_name: str = ""


def to_zengin_kana(text: str) -> str:
    """Convert a name to the 全銀 character set (half-width katakana, upper-case ASCII, digits, ``().-/``)."""
    wide = unicodedata.normalize("NFKC", text).upper()  # half→full kana, full→half ASCII
    # Katakana from hiragana, then to half width.
    wide = "".join(chr(ord(c) + 0x60) if "ぁ" <= c <= "ゖ" else c for c in wide)
    half = "".join(_TO_HALF.get(c, c) for c in wide).translate(_SMALL_TO_LARGE)
    if any(c not in _ALLOWED for c in half):
        raise ZenginFormatError("a name holds a character outside the 全銀 character set")
    return half


def _alnum(value: str, width: int, field: str, record: str) -> bytes:
    data = value.encode(ENCODING)
    if len(data) > width:
        raise ZenginFormatError(f"{record}: field {field} is longer than {width} bytes")
    return data + b" " * (width - len(data))


def _num(value: int | str, width: int, field: str, record: str) -> bytes:
    text = str(value)
    if not text.isdigit() or len(text) > width:
        raise ZenginFormatError(f"{record}: field {field} must be at most {width} digits")
    return text.zfill(width).encode("ascii")


def _kana(value: str | None, width: int, field: str, record: str) -> bytes:
    return _alnum(to_zengin_kana(value or ""), width, field, record)


def header_record(remitter: Remitter, transfer_date: dt.date) -> bytes:
    """データ区分 1 (ヘッダー)."""
    r = "header"
    record = b"".join([
        b"1", TRANSFER_TYPE_CODE.encode(), b"0",
        _num(remitter.code, 10, "振込依頼人コード", r), _kana(remitter.name, 40, "振込依頼人名", r),
        transfer_date.strftime("%m%d").encode(), _num(remitter.bank_code, 4, "仕向銀行番号", r),
        _kana(remitter.bank_name, 15, "仕向銀行名", r), _num(remitter.branch_code, 3, "仕向支店番号", r),
        _kana(remitter.branch_name, 15, "仕向支店名", r), _num(remitter.account_type, 1, "預金種目", r),
        _num(remitter.account_number, 7, "口座番号", r), b" " * 17,
    ])
    assert len(record) == RECORD_LENGTH
    return record


_HIRAGANA_TO_KATAKANA = {c: c + 0x60 for c in range(ord("ぁ"), ord("ゖ") + 1)}
_KANA_TABLE = str.maketrans({**{chr(k): chr(v) for k, v in _HIRAGANA_TO_KATAKANA.items()}})
_ALLOWED_PATTERN = "[" + "".join(sorted(_ALLOWED)).replace("\\", "\\\\").replace("-", "\\-").replace(
    "[", "").replace("]", "") + "]*"


def to_zengin_kana_series(values: pd.Series, width: int, field: str) -> pd.Series:
    """Vectorised :func:`to_zengin_kana`, left-aligned and space-padded to ``width`` characters.

    Every character of the result is one byte in CP932, so characters = bytes.
    """
    text = values.astype("string").fillna("").str.normalize("NFKC").str.upper()
    text = text.str.translate(_KANA_TABLE).str.translate(str.maketrans(_TO_HALF)).str.translate(_SMALL_TO_LARGE)
    bad = ~text.str.fullmatch(_ALLOWED_PATTERN).fillna(False)
    too_long = text.str.len() > width
    if bad.any():
        raise ZenginFormatError(f"data record {int(bad.to_numpy().argmax()) + 1}: field {field} holds a "
                                "character outside the 全銀 character set")
    if too_long.any():
        raise ZenginFormatError(f"data record {int(too_long.to_numpy().argmax()) + 1}: field {field} is longer "
                                f"than {width} characters")
    return text.str.ljust(width)


def _digits_series(values: pd.Series, width: int, field: str) -> pd.Series:
    text = values.astype("string").fillna("")
    bad = ~text.str.fullmatch(r"[0-9]+").fillna(False) | (text.str.len() > width)
    if bad.any():
        raise ZenginFormatError(f"data record {int(bad.to_numpy().argmax()) + 1}: field {field} must be at most "
                                f"{width} digits")
    return text.str.zfill(width)


def data_records(payments: pd.DataFrame) -> bytes:
    """データ区分 2, one per row of ``payments``, vectorised; returns the records joined by nothing.

    Columns: ``bank_code`` (4), ``branch_code`` (3), ``account_type`` (1/2), ``account_number`` (7),
    ``account_holder_kana``, ``amount`` (int yen, 1 … 9,999,999,999), optional ``bank_name``,
    ``branch_name``, ``customer_code`` (顧客コード1, up to 10 ASCII letters/digits: e.g. the payment
    number, never a person id).
    """
    n = len(payments)
    if n == 0:
        return b""
    empty = pd.Series([""] * n, index=payments.index)
    kind = payments["account_type"].astype("string")
    if (~kind.isin(list(ACCOUNT_TYPES))).any():
        raise ZenginFormatError("data record: field 預金種目 must be 1 or 2")
    if (payments["amount"] <= 0).any():
        raise ZenginFormatError("data record: field 振込金額 must be positive")
    customer = payments.get("customer_code", empty).astype("string").fillna("")
    if (~customer.str.fullmatch(r"[0-9A-Z-]{0,10}").fillna(False)).any():
        raise ZenginFormatError("data record: field 顧客コード1 must be up to 10 ASCII letters or digits")
    text = (
        "2" + _digits_series(payments["bank_code"], 4, "被仕向銀行番号")
        + to_zengin_kana_series(payments.get("bank_name", empty), 15, "被仕向銀行名")
        + _digits_series(payments["branch_code"], 3, "被仕向支店番号")
        + to_zengin_kana_series(payments.get("branch_name", empty), 15, "被仕向支店名")
        + " " * 4 + kind + _digits_series(payments["account_number"], 7, "口座番号")
        + to_zengin_kana_series(payments["account_holder_kana"], 30, "受取人名")
        + _digits_series(payments["amount"].astype("int64").astype(str), 10, "振込金額")
        + "0" + customer.str.ljust(10) + " " * 10 + "7" + " " + " " * 7
    )
    joined = "".join(text.tolist())
    raw = joined.encode(ENCODING)
    if len(raw) != RECORD_LENGTH * n:
        raise ZenginFormatError("data record: a field is not single-byte in CP932")
    return raw


def trailer_record(count: int, total: int) -> bytes:
    """データ区分 8 (トレーラー): 合計件数, 合計金額."""
    record = b"8" + _num(count, 6, "合計件数", "trailer") + _num(total, 12, "合計金額", "trailer") + b" " * 101
    assert len(record) == RECORD_LENGTH
    return record


def end_record() -> bytes:
    """データ区分 9 (エンド)."""
    return b"9" + b" " * 119


def build_transfer_file(payments: pd.DataFrame, remitter: Remitter, transfer_date: dt.date,
                        record_separator: bytes = b"\r\n") -> bytes:
    """The whole 総合振込 file as bytes (header, data, trailer, end)."""
    raw = data_records(payments)
    data = [raw[i:i + RECORD_LENGTH] for i in range(0, len(raw), RECORD_LENGTH)]
    total = int(payments["amount"].sum()) if len(payments) else 0
    records = [header_record(remitter, transfer_date), *data, trailer_record(len(data), total), end_record()]
    return record_separator.join(records) + record_separator


def write_transfer_file(path: str | Path, payments: pd.DataFrame, remitter: Remitter, transfer_date: dt.date,
                        record_separator: bytes = b"\r\n") -> Path:
    """Write :func:`build_transfer_file` to ``path``; returns the path."""
    # atomic: a crash never leaves a half-written transfer file
    return write_private_file(path, build_transfer_file(payments, remitter, transfer_date, record_separator))


@dataclass(frozen=True)
class TransferFile:
    """A parsed 総合振込 file."""

    header: dict[str, str]
    data: pd.DataFrame
    trailer: dict[str, int]


def _split_records(raw: bytes) -> list[bytes]:
    if b"\n" in raw:
        records = [line.rstrip(b"\r") for line in raw.split(b"\n")]
        records = [r for r in records if r]
    else:
        if len(raw) % RECORD_LENGTH:
            raise ZenginFormatError("the file length is not a multiple of 120 bytes")
        records = [raw[i:i + RECORD_LENGTH] for i in range(0, len(raw), RECORD_LENGTH)]
    for number, record in enumerate(records, start=1):
        if len(record) != RECORD_LENGTH:
            raise ZenginFormatError(f"record {number} is {len(record)} bytes, not 120")
    return records


def _fields(record: bytes, layout: list[tuple[str, int]]) -> dict[str, str]:
    out, position = {}, 0
    for name, width in layout:
        out[name] = record[position:position + width].decode(ENCODING).rstrip(" ")
        position += width
    return out


def _data_fields(records: list[bytes]) -> pd.DataFrame:
    """The data records as a frame of :data:`DATA_LAYOUT` fields (text, trailing spaces removed).

    Column-wise: every character of a well-formed record is one byte in CP932, so the records are decoded
    together and each field is one slice of the decoded text. A record holding anything else is read field by
    field (:func:`_fields`), which reports it exactly as before.
    """
    columns = [name for name, _ in DATA_LAYOUT]
    try:
        text = b"".join(records).decode(ENCODING)
    except UnicodeDecodeError:
        text = ""
    if len(text) != RECORD_LENGTH * len(records) or not records:
        return pd.DataFrame([_fields(r, DATA_LAYOUT) for r in records], columns=columns)
    lines = pd.Series([text[i:i + RECORD_LENGTH] for i in range(0, len(text), RECORD_LENGTH)], dtype=object)
    data, position = {}, 0
    for name, width in DATA_LAYOUT:
        data[name] = lines.str.slice(position, position + width).str.rstrip(" ").to_numpy(dtype=object)
        position += width
    return pd.DataFrame(data, columns=columns)


HEADER_LAYOUT = [("data_type", 1), ("type_code", 2), ("code_set", 1), ("remitter_code", 10),
                 ("remitter_name", 40), ("transfer_mmdd", 4), ("bank_code", 4), ("bank_name", 15),
                 ("branch_code", 3), ("branch_name", 15), ("account_type", 1), ("account_number", 7),
                 ("dummy", 17)]
DATA_LAYOUT = [("data_type", 1), ("bank_code", 4), ("bank_name", 15), ("branch_code", 3), ("branch_name", 15),
               ("clearing_house", 4), ("account_type", 1), ("account_number", 7), ("account_holder_kana", 30),
               ("amount", 10), ("new_code", 1), ("customer_code", 10), ("customer_code_2", 10),
               ("transfer_kind", 1), ("identification", 1), ("dummy", 7)]
TRAILER_LAYOUT = [("data_type", 1), ("count", 6), ("total", 12), ("dummy", 101)]


def parse_transfer_file(raw: bytes) -> TransferFile:
    """Read a 総合振込 file back (CRLF/LF-separated or contiguous) and check its structure and totals."""
    records = _split_records(raw)
    kinds = "".join(chr(r[0]) for r in records)
    if not (kinds.startswith("1") and kinds.endswith("89") and set(kinds[1:-2]) <= {"2"}):
        raise ZenginFormatError("records must be: header 1, data 2…, trailer 8, end 9")
    header = _fields(records[0], HEADER_LAYOUT)
    if header["type_code"] != TRANSFER_TYPE_CODE:
        raise ZenginFormatError("header: 種別コード is not 21 (総合振込)")
    data = _data_fields(records[1:-2])
    data["amount"] = data["amount"].astype("int64")
    trailer_raw = _fields(records[-2], TRAILER_LAYOUT)
    trailer = {"count": int(trailer_raw["count"]), "total": int(trailer_raw["total"])}
    if trailer["count"] != len(data) or trailer["total"] != int(data["amount"].sum()):
        raise ZenginFormatError("trailer totals do not match the data records")
    return TransferFile(header=header, data=data.drop(columns=["dummy"]), trailer=trailer)
