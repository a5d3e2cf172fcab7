"""Direct-debit bank account validation (Zengin).

The Zengin direct-debit file is fixed-width and accepts only a small
single-byte character set, so holder names are normalised to it here, at
the edge, rather than failing later when the debit file is written. The
account number is a secret of the holder: it never appears in error
messages, ``repr`` or ``masked()``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from policy_core.errors import InvalidInput

ERROR_CODE = "invalid_bank_account"

ACCOUNT_TYPES: tuple[str, ...] = ("ordinary", "current")

ZENGIN_ACCOUNT_TYPE_CODES: dict[str, str] = {"ordinary": "1", "current": "2"}
"""Zengin 預金種目 codes (普通 = 1, 当座 = 2), for the debit-file writer."""

HOLDER_MAX_LENGTH = 30

ZENGIN_ALLOWED = (
    "half-width katakana (ｦ-ﾝ without small kana, ｰ, ﾞ, ﾟ), digits 0-9, upper-case A-Z, space and ( ) . - /"
)
"""What a holder name may contain after normalisation, for messages."""

_SMALL_HALF_WIDTH = "ｧｨｩｪｫｯｬｭｮ"
_LARGE_HALF_WIDTH = "ｱｲｳｴｵﾂﾔﾕﾖ"

_ALLOWED: frozenset[str] = frozenset(
    {chr(c) for c in range(0xFF66, 0xFFA0)} - set(_SMALL_HALF_WIDTH)
    | set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ ().-/")
)


def _build_char_map() -> dict[str, str]:
    """Map single characters to their Zengin form; unmapped characters pass through."""
    table: dict[str, str] = {}
    # Full-width katakana -> half-width, by inverting NFKC of the half-width block.
    # NFKC of ﾞ/ﾟ are the combining marks U+3099/U+309A, so NFD input maps too.
    for code in range(0xFF66, 0xFFA0):
        half = chr(code)
        full = unicodedata.normalize("NFKC", half)
        table.setdefault(full, half)
    # Voiced / semi-voiced full-width kana: base + mark.
    for code in range(0x30A1, 0x30FB):
        full = chr(code)
        if full in table:
            continue
        decomposed = unicodedata.normalize("NFD", full)
        if len(decomposed) == 2 and decomposed[0] in table and decomposed[1] in table:
            table[full] = table[decomposed[0]] + table[decomposed[1]]
    # Zengin has no small kana: use the large forms.
    table.update(zip(_SMALL_HALF_WIDTH, _LARGE_HALF_WIDTH, strict=True))
    for small, large in zip("ァィゥェォッャュョヮヵヶ", "ｱｲｳｴｵﾂﾔﾕﾖﾜｶｹ", strict=True):
        table[small] = large
    table["ヴ"] = "ｳﾞ"
    # Spacing (non-combining) voicing marks.
    table["゛"] = "ﾞ"
    table["゜"] = "ﾟ"
    # Full-width ASCII (U+FF01..U+FF5E) and the ideographic space.
    for code in range(0xFF01, 0xFF5F):
        table[chr(code)] = chr(code - 0xFEE0)
    table["\u3000"] = " "
    # Dashes people type for the hyphen in company names; ー stays a long vowel.
    for dash in "\u2010\u2011\u2212":
        table[dash] = "-"
    return table


_CHAR_MAP = _build_char_map()


def _normalize_char(ch: str) -> str:
    mapped = _CHAR_MAP.get(ch, ch)
    # ASCII only: str.upper() would turn e.g. "ß" into "SS" and let it through.
    return mapped.upper() if mapped.isascii() else mapped


def normalize_zengin_kana(text: str) -> str:
    """Bring a holder name to Zengin form; characters it cannot map are left for validation."""
    mapped = "".join(_normalize_char(ch) for ch in text)
    # Zengin fields are space padded, so outer and repeated spaces carry no meaning.
    return " ".join(part for part in mapped.split(" ") if part)


def _offending(text: str) -> list[str]:
    bad: list[str] = []
    for ch in text:
        if any(c not in _ALLOWED for c in _normalize_char(ch)) and ch not in bad:
            bad.append(ch)
    return bad


def _fail(field: str, message: str) -> InvalidInput:
    return InvalidInput(f"{field}: {message}", code=ERROR_CODE, field=field)


def _digits(field: str, value: object, length: int, *, secret: bool = False) -> str:
    """Exactly ``length`` ASCII digits; full-width digits are accepted, nothing is padded."""
    if not isinstance(value, str):
        raise _fail(field, f"must be a string of {length} digits")
    text = "".join(chr(ord(ch) - 0xFEE0) if "\uff10" <= ch <= "\uff19" else ch for ch in value.strip())
    if not all("0" <= ch <= "9" for ch in text):
        if secret:
            raise _fail(field, f"must be exactly {length} digits; it contains non-digit characters")
        raise _fail(field, f"must be exactly {length} digits, got {value!r}")
    if len(text) != length:
        if secret:
            raise _fail(field, f"must be exactly {length} digits, got {len(text)} digits")
        raise _fail(field, f"must be exactly {length} digits, got {value!r}")
    return text


def _holder(value: object) -> str:
    if not isinstance(value, str):
        raise _fail("holder_kana", "must be a string")
    bad = _offending(value)
    if bad:
        shown = " ".join(repr(ch) for ch in bad)
        raise _fail(
            "holder_kana",
            f"contains characters outside the Zengin set: {shown}; allowed: {ZENGIN_ALLOWED}",
        )
    normalized = normalize_zengin_kana(value)
    if not normalized:
        raise _fail("holder_kana", "must not be empty")
    if len(normalized) > HOLDER_MAX_LENGTH:
        raise _fail(
            "holder_kana",
            f"is {len(normalized)} characters after normalisation; at most {HOLDER_MAX_LENGTH} "
            "(each ﾞ and ﾟ counts as one)",
        )
    return normalized


def _account_type(value: object) -> str:
    if value not in ACCOUNT_TYPES:
        raise _fail("account_type", f"must be one of {', '.join(ACCOUNT_TYPES)}, got {value!r}")
    return value


@dataclass(frozen=True, repr=False)
class BankAccount:
    """A validated direct-debit account; construct it with ``validate_bank_account``."""

    bank_code: str
    branch_code: str
    account_type: str
    account_number: str
    holder_kana: str

    def __post_init__(self) -> None:
        # Direct construction must not bypass the rules: accept canonical form only.
        canonical = (
            _digits("bank_code", self.bank_code, 4),
            _digits("branch_code", self.branch_code, 3),
            _account_type(self.account_type),
            _digits("account_number", self.account_number, 7, secret=True),
            _holder(self.holder_kana),
        )
        if canonical != (
            self.bank_code,
            self.branch_code,
            self.account_type,
            self.account_number,
            self.holder_kana,
        ):
            raise InvalidInput(
                "bank account is not in normalised form; use validate_bank_account",
                code=ERROR_CODE,
            )

    @property
    def account_number_masked(self) -> str:
        return "****" + self.account_number[-3:]

    def masked(self) -> dict[str, str]:
        """Safe to show or log: no full account number and no holder name."""
        return {
            "bank_code": self.bank_code,
            "branch_code": self.branch_code,
            "account_type": self.account_type,
            "account_number_masked": self.account_number_masked,
        }

    def to_dict(self) -> dict[str, str]:
        """Full details, for the event store and the debit file only."""
        return {
            "bank_code": self.bank_code,
            "branch_code": self.branch_code,
            "account_type": self.account_type,
            "account_number": self.account_number,
            "holder_kana": self.holder_kana,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BankAccount:
        missing = [
            k
            for k in ("bank_code", "branch_code", "account_type", "account_number", "holder_kana")
            if k not in data
        ]
        if missing:
            raise InvalidInput(
                f"bank account is missing {', '.join(missing)}", code=ERROR_CODE, field=missing[0]
            )
        return validate_bank_account(
            data["bank_code"],
            data["branch_code"],
            data["account_type"],
            data["account_number"],
            data["holder_kana"],
        )

    @classmethod
    def from_recorded(cls, data: Mapping[str, Any]) -> BankAccount:
        """An account as an event recorded it: validated and normalised when it was recorded.

        No second validation pass (it costs more than the rest of a debit request): the debit
        run builds 100,000 of these from the store. Input from outside goes through ``from_dict``.
        """
        account = object.__new__(cls)
        for k in ("bank_code", "branch_code", "account_type", "account_number", "holder_kana"):
            object.__setattr__(account, k, data[k])
        return account

    def __repr__(self) -> str:
        return (
            f"BankAccount(bank_code={self.bank_code!r}, branch_code={self.branch_code!r}, "
            f"account_type={self.account_type!r}, account_number={self.account_number_masked!r})"
        )


def validate_bank_account(
    bank_code: Any,
    branch_code: Any,
    account_type: Any,
    account_number: Any,
    holder_kana: Any,
) -> BankAccount:
    """Normalise and check every field; errors name the field but never echo the account number."""
    return BankAccount(
        bank_code=_digits("bank_code", bank_code, 4),
        branch_code=_digits("branch_code", branch_code, 3),
        account_type=_account_type(account_type),
        account_number=_digits("account_number", account_number, 7, secret=True),
        holder_kana=_holder(holder_kana),
    )
