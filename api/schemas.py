"""Request bodies, named by role. Yen are strict integers: 1.5 or "100" is refused (422)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StringConstraints

MAX_YEN = 10**15  # a quadrillion yen: far above any real amount, inside PostgreSQL bigint

Yen = Annotated[StrictInt, Field(ge=0, le=MAX_YEN)]
Text = Annotated[str, StringConstraints(max_length=200, pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f]*$")]
LongText = Annotated[str, StringConstraints(max_length=5000, pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f]*$")]
Enrollment = Literal["regular", "mid_term"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QuoteRequest(Strict):
    scheme: Text
    industry: Text
    annual_sales: Yen
    plan: Text
    liability_limit: Yen | None = None
    network_rider: StrictBool = False
    application_date: date
    enrollment: Enrollment | None = None


class HolderIn(Strict):
    name: Text
    name_kana: Text | None = None
    representative: Text | None = None
    address: Text | None = None
    phone: Text | None = None
    email: Text | None = None


class BankAccountIn(Strict):
    bank_code: Text
    branch_code: Text
    account_type: Literal["ordinary", "current"]
    account_number: Text
    holder_kana: Text


class PolicyApplication(QuoteRequest):
    member_number: Text
    holder: HolderIn
    bank_account: BankAccountIn


class CancellationRequest(Strict):
    effective_date: date
    reason: Text


class NonRenewalRequest(Strict):
    received_on: date | None = None


class SalesDeclaration(Strict):
    annual_sales: Yen
    declared_on: date


class ClaimReport(Strict):
    policy_id: UUID
    occurred_at: AwareDatetime
    discovered_at: AwareDatetime
    cause: Text
    records_affected: Annotated[StrictInt, Field(ge=0, le=10**12)]
    description: LongText = ""
    own_staff_information: StrictBool = False
    outside_japan: StrictBool = False


class LossItemIn(Strict):
    category: Text
    risk: Literal["basic", "recourse"]
    amount: Yen
    recipients: Annotated[StrictInt, Field(ge=1, le=10**12)] | None = None


class LossAssessment(Strict):
    items: Annotated[list[LossItemIn], Field(min_length=1, max_length=1000)]


class ClaimDenial(Strict):
    reason: Text
    message: LongText


class ClaimClosure(Strict):
    reason: Text


class RunDueRequest(Strict):
    as_of: AwareDatetime
