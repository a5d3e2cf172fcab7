"""Zengin direct-debit account validation and holder-name normalisation."""

from __future__ import annotations

import json

import pytest

from policy_core.bank import (
    ZENGIN_ACCOUNT_TYPE_CODES,
    ZENGIN_ALLOWED,
    BankAccount,
    normalize_zengin_kana,
    validate_bank_account,
)
from policy_core.errors import InvalidInput

NUMBER = "1234567"
GOOD = dict(
    bank_code="0001",
    branch_code="123",
    account_type="ordinary",
    account_number=NUMBER,
    holder_kana="ﾔﾏﾀﾞ ﾀﾛｳ",
)


def _account(**overrides: object) -> BankAccount:
    return validate_bank_account(**{**GOOD, **overrides})  # type: ignore[arg-type]


def _error(**overrides: object) -> InvalidInput:
    with pytest.raises(InvalidInput) as exc:
        _account(**overrides)
    assert exc.value.code == "invalid_bank_account"
    return exc.value


# --- valid -----------------------------------------------------------------


def test_valid_half_width_input_is_kept() -> None:
    acc = _account()
    assert acc == BankAccount("0001", "123", "ordinary", NUMBER, "ﾔﾏﾀﾞ ﾀﾛｳ")


def test_current_account_type() -> None:
    assert _account(account_type="current").account_type == "current"
    assert ZENGIN_ACCOUNT_TYPE_CODES == {"ordinary": "1", "current": "2"}


def test_full_width_katakana_and_ideographic_space_are_normalised() -> None:
    assert _account(holder_kana="ヤマダ　タロウ").holder_kana == "ﾔﾏﾀﾞ ﾀﾛｳ"


def test_company_name_with_full_width_parenthesis() -> None:
    assert _account(holder_kana="カ）ヤマダショウテン").holder_kana == "ｶ)ﾔﾏﾀﾞｼﾖｳﾃﾝ"
    assert _account(holder_kana="（カ）ヤマダショウテン").holder_kana == "(ｶ)ﾔﾏﾀﾞｼﾖｳﾃﾝ"


def test_full_width_digits_in_codes_are_accepted() -> None:
    acc = _account(bank_code="０００１", branch_code="１２３", account_number="１２３４５６７")
    assert (acc.bank_code, acc.branch_code, acc.account_number) == ("0001", "123", NUMBER)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ガギグゲゴ", "ｶﾞｷﾞｸﾞｹﾞｺﾞ"),
        ("パピプペポ", "ﾊﾟﾋﾟﾌﾟﾍﾟﾎﾟ"),
        ("ヴ", "ｳﾞ"),
        ("カ\u3099", "ｶﾞ"),  # decomposed (NFD) input
        ("ハ゜", "ﾊﾟ"),  # spacing semi-voiced mark
        ("キャノン", "ｷﾔﾉﾝ"),  # no small kana in Zengin
        ("ァィゥェォッャュョ", "ｱｲｳｴｵﾂﾔﾕﾖ"),
        ("ｧｨｩｪｫｯｬｭｮ", "ｱｲｳｴｵﾂﾔﾕﾖ"),
        ("ヶ", "ｹ"),
        ("ラーメン", "ﾗｰﾒﾝ"),
        ("ヲ", "ｦ"),
        ("ＡＢＣ　１２３", "ABC 123"),
        ("abc Corp.", "ABC CORP."),
        ("ｙａｍａｄａ", "YAMADA"),
        ("（カ）．－／", "(ｶ).-/"),
        ("  ﾔﾏﾀﾞ   ﾀﾛｳ  ", "ﾔﾏﾀﾞ ﾀﾛｳ"),
    ],
)
def test_normalize_zengin_kana(raw: str, expected: str) -> None:
    assert normalize_zengin_kana(raw) == expected
    assert _account(holder_kana=raw).holder_kana == expected


def test_normalisation_is_idempotent() -> None:
    once = normalize_zengin_kana("（カ）ヤマダ　ショウテン")
    assert normalize_zengin_kana(once) == once


def test_thirty_characters_is_allowed_counting_voicing_marks() -> None:
    name = "ｶﾞ" * 15  # 30 characters after normalisation
    assert _account(holder_kana="ガ" * 15).holder_kana == name


# --- invalid codes ---------------------------------------------------------


@pytest.mark.parametrize("bank_code", ["001", "00001", "", "00a1", "ABCD", "0-01", 1, None])
def test_bad_bank_code(bank_code: object) -> None:
    err = _error(bank_code=bank_code)
    assert "bank_code" in err.message
    assert err.details["field"] == "bank_code"


@pytest.mark.parametrize("branch_code", ["1234", "12", "", "12a", "ABC", 123])
def test_bad_branch_code(branch_code: object) -> None:
    err = _error(branch_code=branch_code)
    assert "branch_code" in err.message


@pytest.mark.parametrize(
    "account_number",
    ["123456", "12345678", "", "12345a7", "123-456", "１２３４５６", 1234567, None],
)
def test_bad_account_number(account_number: object) -> None:
    err = _error(account_number=account_number)
    assert "account_number" in err.message


def test_six_digit_account_number_is_not_padded() -> None:
    err = _error(account_number="234567")
    assert "7 digits" in err.message
    assert "234567" not in err.message


@pytest.mark.parametrize("account_type", ["savings", "Ordinary", "普通", "", None, 1])
def test_unknown_account_type(account_type: object) -> None:
    err = _error(account_type=account_type)
    assert "account_type" in err.message


# --- invalid holder names --------------------------------------------------


@pytest.mark.parametrize(
    ("name", "offending"),
    [
        ("山田太郎", ["山", "田", "太", "郎"]),
        ("やまだ たろう", ["や", "ま", "だ", "た", "ろ", "う"]),
        ("ﾔﾏﾀﾞ@ﾀﾛｳ", ["@"]),
        ("ﾔﾏﾀﾞ＠ﾀﾛｳ", ["＠"]),
        ("ﾔﾏﾀﾞ・ﾀﾛｳ", ["・"]),
        ("ﾔﾏﾀﾞ\tﾀﾛｳ", ["\t"]),
        ("STRAßE", ["ß"]),
    ],
)
def test_holder_outside_zengin_set(name: str, offending: list[str]) -> None:
    err = _error(holder_kana=name)
    assert "holder_kana" in err.message
    for ch in offending:
        assert repr(ch) in err.message
    assert ZENGIN_ALLOWED in err.message


@pytest.mark.parametrize("name", ["", "   ", "\u3000"])
def test_empty_holder(name: str) -> None:
    err = _error(holder_kana=name)
    assert "holder_kana" in err.message
    assert "empty" in err.message


def test_holder_too_long() -> None:
    err = _error(holder_kana="ｱ" * 31)
    assert "holder_kana" in err.message
    assert "30" in err.message


def test_voicing_marks_count_towards_the_length() -> None:
    # 16 full-width ガ become 32 half-width characters.
    err = _error(holder_kana="ガ" * 16)
    assert "holder_kana" in err.message


def test_holder_not_a_string() -> None:
    assert "holder_kana" in _error(holder_kana=None).message


# --- secrecy of the account number ----------------------------------------


def test_masked_never_contains_the_full_number() -> None:
    acc = _account()
    masked = acc.masked()
    assert masked == {
        "bank_code": "0001",
        "branch_code": "123",
        "account_type": "ordinary",
        "account_number_masked": "****567",
    }
    assert NUMBER not in json.dumps(masked)
    assert "holder_kana" not in masked


def test_repr_and_str_do_not_leak_the_number() -> None:
    acc = _account()
    assert NUMBER not in repr(acc)
    assert NUMBER not in str(acc)
    assert "****567" in repr(acc)


@pytest.mark.parametrize(
    "overrides",
    [
        dict(bank_code="001"),
        dict(branch_code="12"),
        dict(account_type="savings"),
        dict(holder_kana="山田"),
        dict(holder_kana=""),
        dict(holder_kana="ｱ" * 31),
    ],
)
def test_error_messages_never_contain_the_account_number(overrides: dict) -> None:
    err = _error(**overrides)
    assert NUMBER not in err.message
    assert NUMBER not in str(err.details)


@pytest.mark.parametrize("number", ["12345678", "1234567a", "123456", "１２３４５６７８"])
def test_bad_account_number_message_does_not_echo_it(number: str) -> None:
    err = _error(account_number=number)
    assert number not in err.message
    assert number.rstrip("a") not in err.message
    assert number not in str(err.details)


# --- serialisation and construction ---------------------------------------


def test_to_dict_from_dict_round_trip() -> None:
    acc = _account(holder_kana="（カ）ヤマダショウテン")
    data = json.loads(json.dumps(acc.to_dict()))
    assert data["account_number"] == NUMBER
    assert BankAccount.from_dict(data) == acc


def test_from_dict_revalidates_and_reports_missing_fields() -> None:
    with pytest.raises(InvalidInput) as exc:
        BankAccount.from_dict({**GOOD, "account_number": "123456"})
    assert exc.value.code == "invalid_bank_account"
    bad = dict(GOOD)
    del bad["holder_kana"]
    with pytest.raises(InvalidInput) as exc:
        BankAccount.from_dict(bad)
    assert "holder_kana" in exc.value.message


def test_direct_construction_cannot_bypass_rules() -> None:
    with pytest.raises(InvalidInput) as exc:
        BankAccount("0001", "123", "ordinary", "123456", "ﾔﾏﾀﾞ")
    assert exc.value.code == "invalid_bank_account"
    with pytest.raises(InvalidInput) as exc:
        BankAccount("0001", "123", "ordinary", NUMBER, "ヤマダ")  # not normalised
    assert exc.value.code == "invalid_bank_account"


def test_an_account_from_the_store_is_rebuilt_as_recorded_without_a_second_validation() -> None:
    recorded = _account(holder_kana="ﾔﾏﾀﾞ　ﾀﾛｳ").to_dict()  # normalised when recorded
    again = BankAccount.from_recorded(recorded)
    assert again == BankAccount.from_dict(recorded)
    assert again.to_dict() == recorded and "1234567" not in repr(again)
