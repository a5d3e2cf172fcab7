"""Request bodies, named by role. Yen are strict integers: 1.5 or "100" is refused (422).

The bounds come from ``policy_core.bounds`` (the same constants size the read-model columns);
the text types refuse control and format characters (Cc, Cf) through the domain's one text
check, and names refuse a value that is blank after trimming. Routes of every router use these
types (``Text``, ``Name``, ``LongText``, ``Timestamp``, ``Day``, ``Yen``) for new fields.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
)

from policy_core import bounds
from policy_core.errors import DomainError

MAX_YEN = bounds.MAX_YEN


def _text_check(*, max_len: int, required: bool, multiline: bool = False) -> Any:
    def check(value: str) -> str:
        try:
            bounds.clean_text(value, "value", max_len=max_len, required=required, multiline=multiline)
        except DomainError as exc:
            raise ValueError(exc.message.removeprefix("value ")) from None
        return value

    return AfterValidator(check)


def _ranges(codes: list[int]) -> str:
    out, i = [], 0
    while i < len(codes):
        j = i
        while j + 1 < len(codes) and codes[j + 1] == codes[j] + 1:
            j += 1
        out.append(f"\\u{codes[i]:04x}" + (f"-\\u{codes[j]:04x}" if j > i else ""))
        i = j + 1
    return "".join(out)


def text_pattern(*, multiline: bool, required: bool) -> str:
    """The text check as a pattern (the Basic Multilingual Plane's Cc, Cf and surrogates refused;
    with ``required``, at least one character that is not white space), so that the schema says
    what the server refuses."""
    bad = [
        c
        for c in range(0x10000)
        if (unicodedata.category(chr(c)) in ("Cc", "Cf") and not (multiline and chr(c) in "\n\t"))
        or 0xD800 <= c <= 0xDFFF
    ]
    allowed = f"[^{_ranges(bad)}]"
    if not required:
        return f"^{allowed}*$"
    spaces = [c for c in range(0x10000) if chr(c).isspace() and c not in bad]
    solid = f"[^{_ranges(sorted(bad + spaces))}]"
    return f"^{allowed}*{solid}{allowed}*$"


def _pattern(*, multiline: bool = False, required: bool = False) -> Any:
    """The pattern in the schema only: the validator (``_text_check``) is what refuses."""
    return Field(json_schema_extra={"pattern": text_pattern(multiline=multiline, required=required)})


_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _iso_day(value: Any) -> Any:
    """A calendar date as ``YYYY-MM-DD`` only (not a number of seconds, not a datetime)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO_DAY.match(value):
        raise ValueError("expected a date as YYYY-MM-DD")
    return value


def _iso_moment(value: Any) -> Any:
    """A moment as ISO 8601 text with an offset (a bare number is not taken as Unix time)."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO_MOMENT.match(value):
        raise ValueError("expected an ISO 8601 date and time with offset, e.g. 2026-04-01T09:00:00+09:00")
    return value


def _integral(value: Any) -> Any:
    """JSON Schema's ``integer`` includes ``1.0``: an integral number is taken as that integer (a
    fraction such as 1.5 and text such as "100" are still refused)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Integral = BeforeValidator(_integral)

# Spelled out (not built by a function) so that type checkers read them as types. The bounds come
# before ``Integral``: so they apply to the integer and the schema states them (minimum, maximum).
Yen = Annotated[StrictInt, Field(ge=0, le=MAX_YEN, description="integer yen"), Integral]
AnnualSales = Annotated[
    StrictInt,
    Field(ge=0, le=bounds.MAX_ANNUAL_SALES, description="declared annual sales, integer yen"),
    Integral,
]
LiabilityLimit = Annotated[
    StrictInt,
    Field(ge=0, le=bounds.MAX_LIABILITY_LIMIT, description="plan E liability limit, integer yen"),
    Integral,
]
LossAmount = Annotated[
    StrictInt, Field(ge=0, le=bounds.MAX_LOSS_ITEM_YEN, description="one loss item, integer yen"), Integral
]
People = Annotated[
    StrictInt, Field(ge=0, le=bounds.MAX_PEOPLE, description="a number of individuals"), Integral
]
Recipients = Annotated[
    StrictInt, Field(ge=1, le=bounds.MAX_PEOPLE, description="individuals who received it"), Integral
]

Text = Annotated[
    str, Field(max_length=bounds.MAX_TEXT), _pattern(), _text_check(max_len=bounds.MAX_TEXT, required=False)
]
Name = Annotated[
    str,
    Field(min_length=1, max_length=bounds.MAX_TEXT),
    _pattern(required=True),
    _text_check(max_len=bounds.MAX_TEXT, required=True),
]
LongText = Annotated[
    str,
    Field(max_length=bounds.MAX_LONG_TEXT),
    _pattern(multiline=True),
    _text_check(max_len=bounds.MAX_LONG_TEXT, required=False, multiline=True),
]
Message = Annotated[
    str,
    Field(min_length=1, max_length=bounds.MAX_MESSAGE),
    _pattern(multiline=True, required=True),
    _text_check(max_len=bounds.MAX_MESSAGE, required=True, multiline=True),
]
MemberNumber = Annotated[
    str,
    Field(min_length=1, max_length=bounds.MAX_MEMBER_NUMBER),
    _pattern(required=True),
    _text_check(max_len=bounds.MAX_MEMBER_NUMBER, required=True),
]
Day = Annotated[date, BeforeValidator(_iso_day)]
#: the static part of a moment's range (2000-01-01 .. now): the year. What the pattern admits and the
#: server still refuses moves with the clock (after now; 2000-01-01 at an offset east of Tokyo).
MOMENT_YEARS = r"^2[0-9]{3}-"
Timestamp = Annotated[
    AwareDatetime, BeforeValidator(_iso_moment), Field(json_schema_extra={"pattern": MOMENT_YEARS})
]
Enrollment = Literal["regular", "mid_term"]


# ---------------------------------------------------------------- closed sets, as enums in the schema
def _closed(values: Any, description: str, example: str | None = None) -> Any:
    """A string of a closed set: listed as an ``enum`` in the OpenAPI document, checked by the
    domain (which answers 422 or 404 with its own problem code for a value outside it)."""
    values = sorted(dict.fromkeys(values))
    extra: dict[str, Any] = {"enum": values}
    return Field(description=description, json_schema_extra=extra, examples=[example or values[0]])


def _schemes() -> list[str]:
    from policy_core.scheme import all_schemes

    return [s.key for s in all_schemes()]


def _plans() -> list[str]:
    from policy_core.scheme import all_schemes

    return [p for s in all_schemes() for p in s.plans]


def _industries() -> list[str]:
    from policy_core.scheme import all_schemes

    return [i for s in all_schemes() for i in s.industries]


from policy_core import settlement as _settlement  # noqa: E402

SCHEME_KEYS = _schemes()
PLAN_KEYS = _plans()
INDUSTRY_KEYS = _industries()
CAUSES = list(_settlement.CAUSES)
LOSS_CATEGORIES = [*_settlement.LIABILITY_CATEGORIES, *_settlement.EXPENSE_CATEGORIES]
DENIAL_REASONS = list(_settlement.DENIAL_REASONS)
POLICY_STATUSES = ["applied", "active", "lapsed", "cancelled", "expired"]
CLAIM_STATUSES = ["reported", "assessed", "paid", "denied", "closed"]

SchemeKey = Annotated[Text, _closed(SCHEME_KEYS, "the scheme (制度) key", "chuokai")]
PlanKey = Annotated[Text, _closed(PLAN_KEYS, "the plan (A..E); plan E takes a liability_limit", "B")]
IndustryKey = Annotated[Text, _closed(INDUSTRY_KEYS, "the member's industry (業種)", "printing")]
CauseKey = Annotated[Text, _closed(CAUSES, "how the information leaked", "insider")]
LossCategory = Annotated[Text, _closed(LOSS_CATEGORIES, "what the loss item is", "damages")]
DenialReason = Annotated[Text, _closed(DENIAL_REASONS, "why the claim is not covered")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QuoteRequest(Strict):
    """A quote (seed: chuokai plan B clinic, 300,000,000 yen sales → 150,000 yen a year)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "scheme": "chuokai",
                    "industry": "clinic",
                    "annual_sales": 300_000_000,
                    "plan": "B",
                    "network_rider": False,
                    "application_date": "2026-01-10",
                }
            ]
        },
    )

    scheme: SchemeKey
    industry: IndustryKey
    annual_sales: AnnualSales
    plan: PlanKey
    liability_limit: LiabilityLimit | None = None
    network_rider: StrictBool = False
    application_date: Day
    enrollment: Enrollment | None = None


class HolderIn(Strict):
    name: Name
    name_kana: Name | None = None
    representative: Name | None = None
    address: Text | None = None
    phone: Text | None = None
    email: Text | None = None


def digits_pattern(n: int) -> str:
    """What ``policy_core.bank`` takes as ``n`` digits: ASCII or full-width digits, white space
    around them (not a control or format character, which the text check refuses)."""
    spaces = [
        c for c in range(0x10000) if chr(c).isspace() and unicodedata.category(chr(c)) not in ("Cc", "Cf")
    ]
    around = f"[{_ranges(spaces)}]*"
    return f"^{around}[0-9\\uff10-\\uff19]{{{n}}}{around}$"


def _digits(n: int) -> Any:
    return Field(max_length=bounds.MAX_TEXT, json_schema_extra={"pattern": digits_pattern(n)})


BankCode = Annotated[str, _digits(4), _text_check(max_len=bounds.MAX_TEXT, required=False)]
BranchCode = Annotated[str, _digits(3), _text_check(max_len=bounds.MAX_TEXT, required=False)]
AccountNumber = Annotated[str, _digits(7), _text_check(max_len=bounds.MAX_TEXT, required=False)]


class BankAccountIn(Strict):
    bank_code: BankCode
    branch_code: BranchCode
    account_type: Literal["ordinary", "current"]
    account_number: AccountNumber
    holder_kana: Name


#: seed 003 as a request body: the document's example, and the e2e tests' application
SEED_APPLICATION: dict[str, Any] = {
    "scheme": "chuokai",
    "member_number": "M-100",
    "holder": {"name": "山田印刷株式会社"},
    "industry": "printing",
    "annual_sales": 200_000_000,
    "plan": "B",
    "network_rider": False,
    "bank_account": {
        "bank_code": "0001",
        "branch_code": "001",
        "account_type": "ordinary",
        "account_number": "1234567",
        "holder_kana": "ﾔﾏﾀﾞ ｲﾝｻﾂ(ｶ",
    },
    "application_date": "2026-01-10",
}


class PolicyApplication(QuoteRequest):
    """An application (seed 003: chuokai plan B, printing, 200,000,000 yen sales → 100,000 yen)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [SEED_APPLICATION]},
    )

    member_number: MemberNumber
    holder: HolderIn
    bank_account: BankAccountIn


class CancellationRequest(Strict):
    effective_date: Day
    reason: Name
    void: StrictBool = False  # cancel from inception (only a first period with no claim recorded)


class NonRenewalRequest(Strict):
    received_on: Day | None = None


class SalesDeclaration(Strict):
    annual_sales: AnnualSales
    declared_on: Day


class ClaimReport(Strict):
    """An incident report (seed 003: an employee sold a customer list of 3,000 records)."""

    policy_id: UUID
    occurred_at: Timestamp
    discovered_at: Timestamp
    cause: CauseKey
    records_affected: People
    description: LongText = ""
    own_staff_information: StrictBool = False
    outside_japan: StrictBool = False


class LossItemIn(Strict):
    """A loss item; a condolence item (見舞金) names its recipients, any other item none (422
    ``invalid_recipients``)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "if": {"properties": {"category": {"const": "condolence"}}, "required": ["category"]},
            "then": {"required": ["recipients"], "properties": {"recipients": {"type": "integer"}}},
            "else": {"properties": {"recipients": {"type": "null"}}},
        },
    )

    category: LossCategory
    risk: Literal["basic", "recourse"]
    amount: LossAmount
    recipients: Recipients | None = None


class LossAssessment(Strict):
    """Assessed loss items in yen (seed 003: 43,900,000 yen payable after limits)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {"category": "damages", "risk": "basic", "amount": 37_000_000},
                        {"category": "defence_costs", "risk": "basic", "amount": 2_000_000},
                        {"category": "condolence", "risk": "basic", "amount": 1_000_000, "recipients": 2000},
                        {"category": "advertising", "risk": "basic", "amount": 5_000_000},
                    ]
                }
            ]
        },
    )

    items: Annotated[list[LossItemIn], Field(min_length=1, max_length=bounds.MAX_LOSS_ITEMS_PER_REQUEST)]


class ClaimDenial(Strict):
    reason: DenialReason
    message: Message


class ClaimClosure(Strict):
    reason: Name


class RunDueRequest(Strict):
    """Run what is due up to a moment (seed 003: cover started, premium debited 27 April 2026)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"as_of": "2026-05-01T12:00:00+09:00"}]}
    )

    as_of: Timestamp


def as_of_query() -> Any:
    from fastapi import Query

    return Query(
        description="recorded time to read as of (ISO 8601 with offset, 2000-01-01 .. now); default now"
    )


AsOf = Annotated[Timestamp | None, as_of_query()]


# ---------------------------------------------------------------- corrections and reserves (issue 11)
Section = Literal["liability_basic", "liability_recourse", "expense_basic", "expense_recourse"]
ReserveYen = Annotated[
    StrictInt,
    Field(ge=0, le=bounds.MAX_CLAIM_LOSS_YEN, description="case reserve for a section, integer yen"),
    Integral,
]


class Correction(Strict):
    """Any correction: why (recorded with the actor; the original event stays)."""

    reason: Name


class ReserveRequest(Strict):
    sections: Annotated[dict[Section, ReserveYen], Field(min_length=1)]
    reason: Name


class LossCorrection(Strict):
    """A correction names the corrected amount, the recipients, or both (422 ``nothing_to_correct``)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [
                {"required": [f], "properties": {f: {"type": "integer"}}} for f in ("amount", "recipients")
            ]
        },
    )

    amount: LossAmount | None = None
    recipients: Recipients | None = None
    reason: Name


class HolderChange(Strict):
    """A changed holder field is not blank (422 ``invalid_text``); null or absent: unchanged."""

    name: Name | None = None
    name_kana: Name | None = None
    representative: Name | None = None
    address: Name | None = None
    phone: Name | None = None
    email: Name | None = None


_HOLDER_FIELDS = ("name", "name_kana", "representative", "address", "phone", "email")
_COVER_TYPES = {
    "plan": "string",
    "liability_limit": "integer",
    "network_rider": "boolean",
    "annual_sales": "integer",
}


_COVER_CHANGES: list[Any] = [
    {"required": [f], "properties": {f: {"type": t}}} for f, t in _COVER_TYPES.items()
]


class EndorsementChanges(Strict):
    """At least one change: a holder field, a bank account or a cover term, not null (422
    ``nothing_to_endorse``)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [
                {
                    "required": ["holder"],
                    "properties": {
                        "holder": {
                            "type": "object",
                            "anyOf": [
                                {"required": [f], "properties": {f: {"type": "string"}}}
                                for f in _HOLDER_FIELDS
                            ],
                        }
                    },
                },
                {"required": ["bank_account"], "properties": {"bank_account": {"type": "object"}}},
                *_COVER_CHANGES,
            ]
        },
    )

    holder: HolderChange | None = None
    bank_account: BankAccountIn | None = None
    plan: PlanKey | None = None
    liability_limit: LiabilityLimit | None = None
    network_rider: StrictBool | None = None
    annual_sales: AnnualSales | None = None


class EndorsementRequest(Strict):
    effective_date: Day
    changes: EndorsementChanges
    reason: Name


def _filter_query() -> Any:
    from fastapi import Query

    return Query(max_length=bounds.MAX_TEXT)


#: A text filter of a list (query string): the same text check as bodies (a NUL, a control or a
#: format character is refused with 422 before it reaches the database). Every text query
#: parameter is one of these (``tests/e2e/test_api_contract.py`` walks the spec to check).
FilterText = Annotated[
    str | None, _filter_query(), _pattern(), _text_check(max_len=bounds.MAX_TEXT, required=False)
]


def _required_query() -> Any:
    from fastapi import Query

    return Query(min_length=1, max_length=bounds.MAX_TEXT)


#: A required text query parameter, checked as ``FilterText``.
QueryText = Annotated[
    str, _required_query(), _pattern(required=True), _text_check(max_len=bounds.MAX_TEXT, required=True)
]


def _path_text() -> Any:
    from fastapi import Path

    return Path(min_length=1, max_length=bounds.MAX_TEXT)


#: A text path parameter, checked as ``FilterText``.
PathText = Annotated[
    str, _path_text(), _pattern(required=True), _text_check(max_len=bounds.MAX_TEXT, required=True)
]


# ---------------------------------------------------------------- scheme parameters: the closed set
#: where a query or path parameter names a scheme and the server refuses any other (422
#: ``unknown_scheme``), the schema lists the set, so that what it admits the server accepts.
_SCHEME_ENUM: dict[str, Any] = {"enum": sorted(SCHEME_KEYS)}
SchemeFilter = Annotated[
    str | None,
    _filter_query(),
    Field(json_schema_extra=_SCHEME_ENUM),
    _text_check(max_len=bounds.MAX_TEXT, required=False),
]
SchemeQuery = Annotated[
    str,
    _required_query(),
    Field(json_schema_extra=_SCHEME_ENUM),
    _text_check(max_len=bounds.MAX_TEXT, required=True),
]
SchemePath = Annotated[
    str,
    _path_text(),
    Field(json_schema_extra=_SCHEME_ENUM),
    _text_check(max_len=bounds.MAX_TEXT, required=True),
]
