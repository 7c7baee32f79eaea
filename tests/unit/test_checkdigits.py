"""Check digits (domain.md §5, case T22): scalar and vectorised forms agree."""

import pandas as pd
import pytest

from rules import checkdigits as cd

VALID_MOD10 = [
    pytest.param("06130488", (8,), id="保険者番号 06130488 (MHLW 別添２ example) is valid"),
    pytest.param("53046017", (8,), id="公費負担者番号 53046017 (宮城県 措置児童) is valid"),
    pytest.param("01040013", (8,), id="保険者番号 01040013 (協会けんぽ宮城支部) is valid"),
    pytest.param("3410712362", (10,), id="医療機関コード 3410712362 (別添２ 第4 example) is valid"),
    pytest.param("33120015", (8,), id="保険者番号 33120015 (secondary example) is valid"),
    pytest.param("54016027", (8,), id="公費負担者番号 54016027 (secondary example) is valid"),
]
INVALID_MOD10 = [
    pytest.param("53046018", (8,), id="53046018 has a wrong check digit"),
    pytest.param("06130487", (8,), id="06130487 has a wrong check digit"),
    pytest.param("0613048", (8,), id="seven digits are not an 8-digit number"),
    pytest.param("0613048a", (8,), id="a letter is not a digit"),
]


@pytest.mark.parametrize(("number", "lengths"), VALID_MOD10)
def test_modulus10_weight21_accepts_the_published_examples(number, lengths):
    assert cd.is_valid_modulus10_w21(number, lengths)
    assert cd.valid_modulus10_w21(pd.Series([number]), lengths).tolist() == [True]


@pytest.mark.parametrize(("number", "lengths"), INVALID_MOD10)
def test_modulus10_weight21_rejects_wrong_numbers(number, lengths):
    assert not cd.is_valid_modulus10_w21(number, lengths)
    assert cd.valid_modulus10_w21(pd.Series([number]), lengths).tolist() == [False]


@pytest.mark.parametrize(("number", "valid"), [
    pytest.param("123456789018", True, id="123456789018 is valid (Σ=212, 212 mod 11 = 3, 11-3 = 8)"),
    pytest.param("983205673214", True, id="983205673214 is valid"),
    pytest.param("983205673210", False, id="983205673210 is invalid"),
    pytest.param("123456789019", False, id="123456789019 is invalid"),
    pytest.param("000111111111", True, id="remainder 10 gives check digit 1"),
    pytest.param("１２３４５６７８９０１８", False, id="full-width digits are not accepted as input"),
    pytest.param("12345678901", False, id="eleven digits are too short"),
])
def test_my_number_check_digit(number, valid):
    assert cd.is_valid_my_number(number) is valid
    assert cd.valid_my_number(pd.Series([number])).tolist() == [valid]


def test_remainder_zero_or_one_gives_check_digit_zero():
    bodies = [f"{n:011d}" for n in range(0, 3000)]
    zero_or_one = [b for b in bodies if sum(int(d) * w for d, w in zip(b, cd._MY_NUMBER_WEIGHTS)) % 11 <= 1]
    assert zero_or_one and all(cd.my_number_check_digit(b) == 0 for b in zero_or_one)


def test_vectorised_forms_handle_missing_and_mixed_values():
    values = pd.Series(["123456789018", None, "", "12345678901x", "983205673214"], dtype="string")
    assert cd.valid_my_number(values).tolist() == [True, False, False, False, True]
    insurers = pd.Series(["06130488", "138057", None, "1380570"])
    assert cd.valid_insurer_number(insurers).tolist() == [True, cd.is_valid_modulus10_w21("138057", (6,)), False, False]


def test_recipient_numbers_are_sequential_and_self_checking():
    numbers = cd.assign_recipient_numbers(123456, 3)
    assert numbers[0] == "1234566"  # domain.md §5.2 worked example
    assert [n[:6] for n in numbers] == ["123456", "123457", "123458"]
    assert cd.valid_recipient_number(pd.Series(numbers)).all()
    with pytest.raises(ValueError):
        cd.assign_recipient_numbers(999_999, 1)


def test_hot_path_check_digits_match_the_rules():
    """The byte forms the PMH relay and simulator use agree with the reference forms (moved from test_pmh_payload)."""
    import random

    from devtools.pmh_synthetic import synthetic_my_numbers

    rng = random.Random(7)
    values = [f"{rng.randrange(10 ** 12):012d}" for _ in range(3000)] + synthetic_my_numbers(1, 200) + [
        "", "12345678901", "１２３４５６７８９０１２", "12345678901a"]
    assert [cd.my_number_ok(v) for v in values] == [cd.is_valid_my_number(v) for v in values]
    for length in (7, 8):
        values = [f"{rng.randrange(10 ** length):0{length}d}" for _ in range(3000)] + ["", "１" * length, "x" * length]
        assert [cd.modulus10_w21_ok(v, length) for v in values] == [
            cd.is_valid_modulus10_w21(v, (length,)) for v in values]


def test_vectorised_check_digits_match_the_scalar_forms():
    import numpy as np

    rng = np.random.default_rng(11)
    bodies = rng.integers(0, 10, (500, 11))
    texts = ["".join(map(str, row)) for row in bodies]
    assert cd.my_number_check_digits(bodies).tolist() == [cd.my_number_check_digit(t) for t in texts]
    for width in (5, 6, 7, 9):
        assert cd.modulus10_w21_check_digits(bodies[:, :width]).tolist() == [
            cd.modulus10_w21_check_digit(t[:width]) for t in texts]
