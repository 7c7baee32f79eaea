"""Check digits of the numbers the subsidy handles, scalar and vectorised.

* 個人番号 (My Number, 12 digits): 行政手続における特定の個人を識別するための番号の利用等に関する法律
  施行規則 (総務省令第85号) 第5条. check = 11 - (Σ Pn·Qn mod 11), 0 when the remainder is 0 or 1;
  Pn is the n-th digit counted from the lowest of the 11-digit body, Qn = n+1 (n ≤ 6), n-5 (n ≥ 7).
* 保険者番号 (8 digits; 6-digit 国保 numbers), 公費負担者番号 (8 digits), 公費受給者番号 (7 digits) and
  医療機関コード (10 digits): モジュラス10 ウエイト2・1分割 — multiply the body digits by 2,1,2,1…
  from the rightmost digit, add the digits of each product, check = (10 - sum mod 10) mod 10.
  Source: 厚生労働省 別添２「保険者番号、公費負担者番号、公費負担医療の受給者番号並びに医療機関コード
  及び薬局コード設定要領」 (domain.md §5, worked examples 06130488, 53046017, 3410712362).

The vectorised forms take a pandas Series of strings and return a boolean Series; non-digit or
wrong-length values are simply invalid (never an exception), so they can be used as Pandera checks.
"""

from __future__ import annotations

import operator

import numpy as np
import pandas as pd

_MY_NUMBER_WEIGHT_LIST = (6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2)  # left → right over the 11-digit body
_MY_NUMBER_WEIGHTS = np.array(_MY_NUMBER_WEIGHT_LIST)


def _ascii_digits(text: str) -> bool:
    """ASCII 0-9 only: ``str.isdigit`` alone would accept full-width and other Unicode digits."""
    return text.isascii() and text.isdigit()


def my_number_check_digit(body: str) -> int:
    """Return the check digit for an 11-digit My Number body (総務省令第85号 第5条)."""
    if len(body) != 11 or not _ascii_digits(body):
        raise ValueError("a My Number body has exactly 11 ASCII digits")
    remainder = int(sum(int(d) * int(w) for d, w in zip(body, _MY_NUMBER_WEIGHTS, strict=True)) % 11)
    return 0 if remainder <= 1 else 11 - remainder


def is_valid_my_number(value: str) -> bool:
    """True when ``value`` is 12 digits whose last digit is the statutory check digit."""
    return bool(
        isinstance(value, str) and len(value) == 12 and _ascii_digits(value)
        and my_number_check_digit(value[:11]) == int(value[11])
    )


def modulus10_w21_check_digit(body: str) -> int:
    """Return the モジュラス10 ウエイト2・1分割 check digit of a digit string (weights from the right)."""
    if not body or not _ascii_digits(body):
        raise ValueError("the body must be a non-empty digit string")
    total = 0
    for position, digit in enumerate(reversed(body)):
        product = int(digit) * (2 if position % 2 == 0 else 1)
        total += product // 10 + product % 10
    return (10 - total % 10) % 10


def is_valid_modulus10_w21(value: str, lengths: tuple[int, ...]) -> bool:
    """True when ``value`` has one of ``lengths`` digits and a valid モジュラス10 ウエイト2・1 check digit."""
    return bool(
        isinstance(value, str) and len(value) in lengths and _ascii_digits(value)
        and modulus10_w21_check_digit(value[:-1]) == int(value[-1])
    )


def with_modulus10_w21(body: str) -> str:
    """Append the モジュラス10 ウエイト2・1 check digit to ``body``."""
    return body + str(modulus10_w21_check_digit(body))


def with_my_number_check_digit(body: str) -> str:
    """Append the statutory check digit to an 11-digit My Number body."""
    return body + str(my_number_check_digit(body))


# ---------------------------------------------------------------------------------------------
# Hot-path scalar forms: the same rules on the digits' bytes (the PMH relay and simulator check a
# record at a time; tests/unit/test_checkdigits.py proves they agree with the forms above)
# ---------------------------------------------------------------------------------------------
_MY_NUMBER_OFFSET = 48 * sum(_MY_NUMBER_WEIGHT_LIST)  # the weights times the code point of "0"
_W21_SUM = tuple((d * 2) // 10 + (d * 2) % 10 for d in range(10))  # digit sum of 2·d


def my_number_ok(value: str) -> bool:
    """:func:`is_valid_my_number` for a ``str`` (総務省令第85号 第5条), computed on the digits' bytes."""
    if len(value) != 12 or not (value.isascii() and value.isdigit()):
        return False
    raw = value.encode()
    remainder = (sum(map(operator.mul, raw[:11], _MY_NUMBER_WEIGHT_LIST)) - _MY_NUMBER_OFFSET) % 11
    return (0 if remainder <= 1 else 11 - remainder) == raw[11] - 48


def modulus10_w21_ok(value: str, length: int) -> bool:
    """``is_valid_modulus10_w21(value, (length,))`` for a ``str`` (厚労省 別添２), computed on bytes."""
    if len(value) != length or length < 2 or not (value.isascii() and value.isdigit()):
        return False
    digits = [c - 48 for c in value.encode()]
    total = sum(_W21_SUM[d] for d in digits[-2::-2]) + sum(digits[-3::-2])
    return (10 - total % 10) % 10 == digits[-1]


# ---------------------------------------------------------------------------------------------
# Vectorised forms (pandas Series of str → bool Series)
# ---------------------------------------------------------------------------------------------


def _digit_matrix(values: pd.Series, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (ok_mask, digits[n, length]) for values that are exactly ``length`` ASCII digits.

    Works on a fixed-width UCS-4 view of the strings (no per-value regex): a value is valid when it has
    the length and every code point is an ASCII digit.
    """
    n = len(values)
    if n == 0:
        return np.zeros(0, dtype=bool), np.empty((0, length), dtype=np.int64)
    text = values.astype(object).where(values.notna(), "").to_numpy()
    lengths = np.fromiter((len(v) if isinstance(v, str) else -1 for v in text), dtype=np.int64, count=n)
    fixed = np.asarray([v if isinstance(v, str) else "" for v in text], dtype=f"U{length + 1}")
    codes = fixed.view(np.uint32).reshape(n, length + 1)[:, :length].astype(np.int64)
    digits = codes - 48
    ok = (lengths == length) & ((digits >= 0) & (digits <= 9)).all(axis=1)
    return ok, np.where(ok[:, None], digits, 0)


def my_number_check_digits(bodies: np.ndarray) -> np.ndarray:
    """Vectorised :func:`my_number_check_digit` over a digit matrix ``bodies[n, 11]`` (integers 0-9)."""
    remainder = (bodies * _MY_NUMBER_WEIGHTS).sum(axis=1) % 11
    return np.where(remainder <= 1, 0, 11 - remainder)


def modulus10_w21_check_digits(bodies: np.ndarray) -> np.ndarray:
    """Vectorised :func:`modulus10_w21_check_digit` over a digit matrix ``bodies[n, width]`` (0-9)."""
    width = bodies.shape[1]
    weights = np.array([2 if (width - 1 - i) % 2 == 0 else 1 for i in range(width)], dtype=bodies.dtype)
    products = bodies * weights
    total = (products // 10 + products % 10).sum(axis=1)
    return (10 - total % 10) % 10


def valid_my_number(values: pd.Series) -> pd.Series:
    """Vectorised :func:`is_valid_my_number`."""
    ok, digits = _digit_matrix(values, 12)
    if len(digits) == 0:
        return pd.Series(ok, index=values.index)
    return pd.Series(ok & (my_number_check_digits(digits[:, :11]) == digits[:, 11]), index=values.index)


def valid_modulus10_w21(values: pd.Series, lengths: tuple[int, ...]) -> pd.Series:
    """Vectorised :func:`is_valid_modulus10_w21` for values of any of ``lengths`` digits."""
    result = np.zeros(len(values), dtype=bool)
    for length in lengths:
        ok, digits = _digit_matrix(values, length)
        if len(digits) == 0:
            continue
        result |= ok & (modulus10_w21_check_digits(digits[:, :-1]) == digits[:, -1])
    return pd.Series(result, index=values.index)


def valid_insurer_number(values: pd.Series) -> pd.Series:
    """保険者番号: 8 digits (被用者保険, 国保組合) or 6 digits (市町村国保), modulus 10 weight 2-1."""
    return valid_modulus10_w21(values, (6, 8))


def valid_public_payer_number(values: pd.Series) -> pd.Series:
    """公費負担者番号: 8 digits, modulus 10 weight 2-1."""
    return valid_modulus10_w21(values, (8,))


def valid_recipient_number(values: pd.Series) -> pd.Series:
    """公費受給者番号: 7 digits, modulus 10 weight 2-1 (method [I], domain.md §5.2)."""
    return valid_modulus10_w21(values, (7,))


def valid_medical_institution_code(values: pd.Series) -> pd.Series:
    """医療機関コード: 10 digits (都道府県2 + 点数表1 + 郡市区2 + 機関番号4 + 検証番号1)."""
    return valid_modulus10_w21(values, (10,))


#: The highest 6-digit sequence assigned to a 受給者番号 (7 digits = sequence + check digit, domain.md §5.2):
#: one 公費負担者番号 numbers at most this many recipients. The all-nines sequence 999999 is not assigned
#: (a placeholder value in receipt software; docs/assumptions.md).
LAST_RECIPIENT_SEQUENCE = 999_998


def assign_recipient_numbers(first_sequence: int, count: int) -> list[str]:
    """Return ``count`` 7-digit 受給者番号: a 6-digit sequence from ``first_sequence`` plus check digit."""
    if first_sequence < 1 or first_sequence + count - 1 > LAST_RECIPIENT_SEQUENCE:
        raise ValueError("the 6-digit 受給者番号 sequence is exhausted")
    if count <= 0:
        return []
    # Vectorised: the six digits of every sequence number as a matrix, their check digits in one pass.
    sequence = np.arange(first_sequence, first_sequence + count, dtype=np.int64)
    bodies = (sequence[:, None] // 10 ** np.arange(5, -1, -1, dtype=np.int64)) % 10
    numbers = sequence * 10 + modulus10_w21_check_digits(bodies)
    return [f"{n:07d}" for n in numbers.tolist()]
