"""Request bodies, named by role. Yen are strict integers: 1.5 or "100" is refused (422).

The bounds come from ``policy_core.bounds`` (the same constants size the read-model columns);
the text types refuse control and format characters (Cc, Cf) through the domain's one text
check, and names refuse a value that is blank after trimming. Routes of every router use these
types (``Text``, ``Name``, ``LongText``, ``Timestamp``, ``Day``, ``Yen``) for new fields.
"""

from __future__ import annotations

import re
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


def _text_check(*, max_len: int, required: bool, multiline: bool = False) -> AfterValidator:
    def check(value: str) -> str:
        try:
            bounds.clean_text(value, "value", max_len=max_len, required=required, multiline=multiline)
        except DomainError as exc:
            raise ValueError(exc.message.removeprefix("value ")) from None
        return value

    return AfterValidator(check)


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


# Spelled out (not built by a function) so that type checkers read them as types.
Yen = Annotated[StrictInt, Field(ge=0, le=MAX_YEN, description="integer yen")]
AnnualSales = Annotated[
    StrictInt, Field(ge=0, le=bounds.MAX_ANNUAL_SALES, description="declared annual sales, integer yen")
]
LiabilityLimit = Annotated[
    StrictInt, Field(ge=0, le=bounds.MAX_LIABILITY_LIMIT, description="plan E liability limit, integer yen")
]
LossAmount = Annotated[
    StrictInt, Field(ge=0, le=bounds.MAX_LOSS_ITEM_YEN, description="one loss item, integer yen")
]
People = Annotated[StrictInt, Field(ge=0, le=bounds.MAX_PEOPLE, description="a number of individuals")]
Recipients = Annotated[
    StrictInt, Field(ge=1, le=bounds.MAX_PEOPLE, description="individuals who received it")
]

Text = Annotated[str, Field(max_length=bounds.MAX_TEXT), _text_check(max_len=bounds.MAX_TEXT, required=False)]
Name = Annotated[
    str, Field(min_length=1, max_length=bounds.MAX_TEXT), _text_check(max_len=bounds.MAX_TEXT, required=True)
]
LongText = Annotated[
    str,
    Field(max_length=bounds.MAX_LONG_TEXT),
    _text_check(max_len=bounds.MAX_LONG_TEXT, required=False, multiline=True),
]
Message = Annotated[
    str,
    Field(min_length=1, max_length=bounds.MAX_MESSAGE),
    _text_check(max_len=bounds.MAX_MESSAGE, required=True, multiline=True),
]
MemberNumber = Annotated[
    str,
    Field(min_length=1, max_length=bounds.MAX_MEMBER_NUMBER),
    _text_check(max_len=bounds.MAX_MEMBER_NUMBER, required=True),
]
Day = Annotated[date, BeforeValidator(_iso_day)]
Timestamp = Annotated[AwareDatetime, BeforeValidator(_iso_moment)]
Enrollment = Literal["regular", "mid_term"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QuoteRequest(Strict):
    scheme: Text
    industry: Text
    annual_sales: AnnualSales
    plan: Text
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


class BankAccountIn(Strict):
    bank_code: Text
    branch_code: Text
    account_type: Literal["ordinary", "current"]
    account_number: Text
    holder_kana: Name


class PolicyApplication(QuoteRequest):
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
    policy_id: UUID
    occurred_at: Timestamp
    discovered_at: Timestamp
    cause: Text
    records_affected: People
    description: LongText = ""
    own_staff_information: StrictBool = False
    outside_japan: StrictBool = False


class LossItemIn(Strict):
    category: Text
    risk: Literal["basic", "recourse"]
    amount: LossAmount
    recipients: Recipients | None = None


class LossAssessment(Strict):
    items: Annotated[list[LossItemIn], Field(min_length=1, max_length=bounds.MAX_LOSS_ITEMS_PER_REQUEST)]


class ClaimDenial(Strict):
    reason: Text
    message: Message


class ClaimClosure(Strict):
    reason: Name


class RunDueRequest(Strict):
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
]


class Correction(Strict):
    """Any correction: why (recorded with the actor; the original event stays)."""

    reason: Name


class ReserveRequest(Strict):
    sections: Annotated[dict[Section, ReserveYen], Field(min_length=1)]
    reason: Name


class LossCorrection(Strict):
    amount: LossAmount | None = None
    recipients: Recipients | None = None
    reason: Name


class HolderChange(Strict):
    name: Name | None = None
    name_kana: Text | None = None
    representative: Text | None = None
    address: Text | None = None
    phone: Text | None = None
    email: Text | None = None


class EndorsementChanges(Strict):
    holder: HolderChange | None = None
    bank_account: BankAccountIn | None = None
    plan: Text | None = None
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
FilterText = Annotated[str | None, _filter_query(), _text_check(max_len=bounds.MAX_TEXT, required=False)]


def _required_query() -> Any:
    from fastapi import Query

    return Query(min_length=1, max_length=bounds.MAX_TEXT)


#: A required text query parameter, checked as ``FilterText``.
QueryText = Annotated[str, _required_query(), _text_check(max_len=bounds.MAX_TEXT, required=True)]


def _path_text() -> Any:
    from fastapi import Path

    return Path(min_length=1, max_length=bounds.MAX_TEXT)


#: A text path parameter, checked as ``FilterText``.
PathText = Annotated[str, _path_text(), _text_check(max_len=bounds.MAX_TEXT, required=True)]
