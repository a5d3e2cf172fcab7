"""Response bodies, typed: what every operation answers, every field with its unit.

These models document the answers (``responses={status: {"model": ...}}`` through :func:`typed`);
the routes still build their answers as they did (presenters, read-model rows), so documenting
them changed no body. They are closed (``additionalProperties: false``): a field the server
sends and the document does not describe is a schema violation, which the schemathesis run
(``tests/e2e/test_api_fuzz.py``, ``response_schema_conformance``) and the e2e suite's check of
every JSON answer (``tests/e2e/conftest.py``) report.

Units: money is integer yen; moments are ISO 8601 at the Tokyo offset (``+09:00``) unless said
otherwise (signed audit statements keep UTC, as signed); dates are Asia/Tokyo calendar days;
shares in basis points (1/10,000); ratios say theirs in the name (``_percent``, ``_permille``,
``_bp``; ``loss_ratio`` a fraction). Open maps (per section, per plan) are typed by their values.
"""

from __future__ import annotations

import copy
from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.schemas import CAUSES, CLAIM_STATUSES, DENIAL_REASONS, LOSS_CATEGORIES, POLICY_STATUSES
from api.tabular import CSV_CONTENT

Section = Literal["liability_basic", "liability_recourse", "expense_basic", "expense_recourse"]


# closed sets as an ``enum`` in the document (spelled out so that type checkers read them as types)
PolicyStatus = Annotated[str, Field(json_schema_extra={"enum": sorted(POLICY_STATUSES)})]
ClaimStatus = Annotated[str, Field(json_schema_extra={"enum": sorted(CLAIM_STATUSES)})]
Cause = Annotated[str, Field(json_schema_extra={"enum": sorted(CAUSES)})]
LossCategoryOut = Annotated[str, Field(json_schema_extra={"enum": sorted(LOSS_CATEGORIES)})]
DenialReasonOut = Annotated[str, Field(json_schema_extra={"enum": sorted(DENIAL_REASONS)})]
Enrollment = Literal["regular", "mid_term"]
Risk = Literal["basic", "recourse"]
AccountType = Literal["ordinary", "current"]
LimitedBy = Literal["per_accident_limit", "period_aggregate"]

TOKYO_MOMENT = "ISO 8601 at the Tokyo offset (+09:00)"


def yen(what: str, **kw: Any) -> Any:
    """A money field: ``what``, in integer yen."""
    return Field(description=f"{what}, integer yen", **kw)


def count(what: str, **kw: Any) -> Any:
    return Field(description=f"{what} (a count)", **kw)


def moment(what: str, **kw: Any) -> Any:
    return Field(description=f"{what}, {TOKYO_MOMENT}", **kw)


def day(what: str, **kw: Any) -> Any:
    return Field(description=f"{what}, an Asia/Tokyo calendar date", **kw)


def seq(what: str, **kw: Any) -> Any:
    """An ordinal or sequence number (no unit): say what it numbers."""
    return Field(description=f"{what} (a sequence number, from 1)", **kw)


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Actor(Out):
    role: str = Field(description="the API key's role (operator, auditor, dashboard) or a process")
    key_id: str | None = Field(
        default=None, description="keyed hash (HMAC) of the API key that acted; never the key"
    )


class Page(Out):
    limit: int = count("the page size asked for (items at most)")
    offset: int = count("items skipped before this page")
    position: int = Field(description="the log position (notification id) the read model stands at")


# ---------------------------------------------------------------------------- health
class Health(Out):
    status: Literal["ok"] = Field(description="the process is alive")


class ViewLag(Out):
    built: bool = Field(description="built at this code's version")
    position: int = Field(description="the log position (notification id) the view stands at")
    head: int = Field(description="the log's head position")
    events_behind: int | None = count("events not yet applied")
    seconds_behind: float | None = Field(
        default=None, description="age of the oldest event not applied, seconds"
    )
    last_error: str | None = Field(default=None, description="why the view stopped, null when applying")


class AuditLag(ViewLag):
    links: int = count("chain links sealed")
    last_checkpoint_at: datetime | None = Field(default=None, description="the last signed checkpoint, UTC")
    running: bool | None = Field(default=None, description="whether the sealer runs in this process")


class Ready(Out):
    status: Literal["ready", "not_ready"] = Field(
        description="ready: the database answers, every view current"
    )
    database: Literal["ok"] = Field(description="the database answers")
    projections: dict[str, ViewLag] = Field(description="per read model: its position, lag and last error")
    audit: AuditLag = Field(description="the audit sealer's position and lag")


# ---------------------------------------------------------------------------- schemes
class PlanLimits(Out):
    liability: int | None = yen("the liability section's limit per accident and period (plan E: chosen)")
    expense: int = yen("the expense section's limit per accident and period")


class MonthDay(Out):
    month: int = Field(description="month of the year, 1..12")
    day: int = Field(description="day of the month, 1..31")


class EnrollmentRule(Out):
    kind: Enrollment = Field(description="regular (at the anniversary) or mid_term enrolment")
    window_start: MonthDay = Field(description="first day applications are taken (Tokyo)")
    window_end: MonthDay = Field(description="last day applications are taken (Tokyo)")
    start_lead_months: int = Field(description="months from the application to the start of cover")
    start_day: int = Field(description="day of the month cover starts, 1..31")
    debit_lead_months: int = Field(description="months from the application to the first debit")
    debit_day: int = Field(description="nominal day of the month of the direct debit, 1..31")


class RenewalDebit(Out):
    month_offset: int = Field(description="months after the anniversary the renewal premium is debited")
    day: int = Field(description="nominal day of the month of the renewal debit, 1..31")


class SchemeCalendar(Out):
    anniversary: MonthDay = Field(description="the scheme's anniversary (Tokyo)")
    boundary_hour: int = Field(description="hour of the day (Tokyo, 0..23) cover starts and ends")
    timezone: Literal["Asia/Tokyo"] = Field(description="the time zone of every scheme date")
    enrollments: list[EnrollmentRule]
    renewal_debit: RenewalDebit


class DiscountTier(Out):
    min_participants: int = count("participants from which the discount applies")
    percent: int = Field(description="the group discount, percent of the premium")


class Coinsurer(Out):
    key: str = Field(description="the co-insurer's key")
    name: str = Field(description="the co-insurer's name")
    share_bp: int = Field(description="its share of premium and losses, basis points (10,000 = all)")


class TariffVersion(Out):
    version: str = Field(description="the tariff version's key")
    effective_from: date = day("first application date it rates")


class SchemeOut(Out):
    key: str = Field(description="the scheme (制度) key")
    name: str
    association: str = Field(description="the association that holds the group policy")
    deductible: int = yen("deductible per accident and section")
    expense_basic_coinsurance_percent: int = Field(description="share of basic expense paid, percent")
    condolence_cap_per_person: int = yen("condolence money (見舞金) paid at most per person")
    network_rider_available: bool
    lapse_after_failed_debits: int = count("failed direct debits after which a policy lapses")
    plan_e_liability_floor: int = yen("the smallest liability limit plan E may choose")
    plans: dict[str, PlanLimits] = Field(description="plan (A..E) -> its limits (yen)")
    industries: list[str] = Field(description="the industries (業種) the scheme rates")
    calendar: SchemeCalendar
    discount_tiers: list[DiscountTier]
    coinsurers: list[Coinsurer]
    tariffs: list[TariffVersion]


class SchemeList(Out):
    items: list[SchemeOut]


# ---------------------------------------------------------------------------- rating and quotes
class RatingBreakdownOut(Out):
    industry: str = Field(description="the industry rated")
    annual_sales: int = yen("the declared annual sales rated")
    plan: str = Field(description="the plan rated (A..E)")
    liability_limit: int | None = yen("plan E's chosen liability limit (only for plan E)", default=None)
    rate_per_million_sales: int = yen("premium per 1,000,000 yen of sales")
    sales_premium: int = yen("sales / 1,000,000 x rate")
    plan_factor_permille: int = Field(description="the plan's factor, permille (1,000 = x1)")
    factored_premium: int = yen("sales premium x plan factor")
    minimum_premium: int = yen("the plan's minimum premium")
    minimum_applied: bool = Field(description="whether the minimum premium was charged")
    base_premium: int = yen("the larger of factored and minimum premium")
    network_rider: bool
    rider_loading_percent: int = Field(description="network rider loading, percent of the base premium")
    rider_loading: int = yen("the network rider loading")
    participants: int = count("participants of the scheme counted for the group discount")
    discount_percent: int = Field(description="group discount, percent")
    discount: int = yen("the group discount")
    premium_before_rounding: int = yen("premium before rounding")
    rounding_unit: int = yen("the rounding unit")
    annual_premium: int = yen("the annual premium")


class RatingOut(Out):
    annual_premium: int = yen("the annual premium")
    tariff_version: str = Field(description="the tariff version that rated it")
    breakdown: RatingBreakdownOut


SectionYen = dict[Section, int]


class QuoteOut(Out):
    annual_premium: int = yen("the annual premium")
    premium: int = yen("the premium of the first period (pro rata for a mid-term enrolment)")
    months: int = Field(description="length of the first period, months")
    enrollment: Enrollment
    coverage_start: datetime = moment("start of cover")
    coverage_end: datetime = moment("end of cover")
    debit_date: date = day("the first direct debit's nominal date")
    tariff_version: str
    limits: SectionYen = yen("limit per section")
    deductible: int = yen("deductible per accident and section")
    breakdown: RatingOut = Field(description="how the premium was reached (yen)")


# ---------------------------------------------------------------------------- policies
class HolderOut(Out):
    """The policyholder (personal data: decrypted for the answer; ``erased`` once erased)."""

    name: str | None = None
    name_kana: str | None = None
    representative: str | None = None
    address: str | None = None
    phone: str | None = None
    email: str | None = None
    erased: bool | None = Field(default=None, description="true once the member's data key is destroyed")


class BankAccountOut(Out):
    """The direct-debit account, masked (never the full number, never the holder's name)."""

    bank_code: str | None = Field(default=None, description="4 digits")
    branch_code: str | None = Field(default=None, description="3 digits")
    account_type: AccountType | None = None
    account_number_masked: str | None = Field(default=None, description="the last three digits, e.g. ****567")
    erased: bool | None = Field(default=None, description="true once the member's data key is destroyed")


class PeriodOut(Out):
    number: int = seq("the period (insurance year) of the policy")
    enrollment: Literal["regular", "mid_term", "renewal"] = Field(description="how the period began")
    start: datetime = moment("start of cover")
    end: datetime = moment("end of cover")
    months: int = Field(description="length of the period, months")
    annual_premium: int = yen("the annual premium")
    premium: int = yen("the premium due for the period")
    collected: int = yen("premium collected")
    tariff_version: str
    debit_date: date = day("the period's direct debit's nominal date")
    next_debit_date: date | None = day("the next debit attempt, null when none is due")
    failed_debits: int = count("failed direct debits")
    activated_at: datetime | None = moment("when cover started, null before")
    lapsed_at: datetime | None = moment("when the period lapsed, null if not")
    refund_due: int = yen("return premium due to the member")
    outstanding: int = yen("premium still to collect")
    endorsement_refund: int = yen("return premium decided by endorsements")
    network_rider: bool
    limits: SectionYen = yen("limit per section")
    paid: SectionYen = yen("claims paid per section")
    remaining: SectionYen = yen("limit remaining per section")
    rating: RatingOut | None = Field(description="how the premium was reached (yen)")


class CoverChange(Out):
    plan: str | None = None
    liability_limit: int | None = yen("plan E's new liability limit", default=None)
    network_rider: bool | None = None
    annual_sales: int | None = yen("the new annual sales", default=None)


class PolicyEndorsementEntry(Out):
    number: int = seq("the endorsement of the policy")
    period: int = seq("the period it changes")
    effective_at: datetime = moment("when it takes effect")
    changed: list[str] = Field(description="what changed: holder, bank_account, plan, ...")
    cover: CoverChange = Field(description="the cover terms it changed (yen)")
    premium_delta: int = yen("premium change for the rest of the period (negative: returned)")
    months_left: int = Field(description="months of the period left at the effective date")
    reapplied: int = count("times re-applied after an earlier-dated endorsement")
    reason: str


class PolicyOut(Out):
    id: UUID
    number: str = Field(description="the policy number, e.g. CHUOKAI-2026-000001")
    version: int = Field(description="the aggregate's version (its number of events)")
    scheme: str
    member_number: str
    holder: HolderOut
    industry: str
    annual_sales: int = yen("declared annual sales")
    plan: str = Field(description="the plan, A..E")
    liability_limit: int = yen("the current period's liability limit (basic)")
    network_rider: bool
    bank_account: BankAccountOut
    application_date: date = day("the application date")
    enrollment: Enrollment
    status: PolicyStatus = Field(description="the policy's status")
    coverage_start: datetime = moment("start of the first period's cover")
    coverage_end: datetime = moment("end of the current period's cover")
    premium: int = yen("the first period's premium")
    debit_date: date = day("the first debit's nominal date")
    tariff_version: str
    current_period: PeriodOut
    periods: list[PeriodOut]
    non_renewal_notice_on: date | None = day("when the member's notice not to renew was received")
    lapsed_at: datetime | None = moment("when the policy lapsed")
    lapse_reason: str | None
    cancelled_at: datetime | None = moment("when the cancellation took effect")
    cancellation_reason: str | None
    expired_at: datetime | None = moment("when the policy expired")
    endorsements: list[PolicyEndorsementEntry]
    modified_on: datetime = moment("the last recorded event's time")


class PolicyRow(Out):
    """A row of the policies read model."""

    id: UUID
    number: str
    scheme: str
    member_number: str
    industry: str
    plan: str
    liability_limit: int | None = yen("plan E's liability limit (null for plans A..D)")
    network_rider: bool
    annual_sales: int = yen("declared annual sales")
    application_date: date = day("the application date")
    enrollment: Enrollment
    status: PolicyStatus
    activated: bool = Field(description="whether cover has started")
    period: int = seq("the current period")
    period_start: datetime = moment("start of the current period")
    period_end: datetime = moment("end of the current period")
    premium: int = yen("the current period's premium")
    annual_premium: int = yen("the annual premium")
    tariff_version: str
    collected: int = yen("premium collected in the current period")
    next_debit_date: date | None = day("the next debit attempt")
    arrears: int = yen("premium overdue")
    failed_debits: int = count("failed direct debits of the current period")
    claims: int = count("claims reported")
    claims_paid: int = yen("claims paid, all periods")
    refund_due: int = yen("return premium due")
    renewal_notice_on: date | None = day("when the renewal notice was sent")
    non_renewal_notice_on: date | None = day("when the notice not to renew was received")
    lapsed_at: datetime | None = moment("when the policy lapsed")
    lapse_reason: str | None
    cancelled_at: datetime | None = moment("when the cancellation took effect")
    cancellation_reason: str | None
    expired_at: datetime | None = moment("when the policy expired")
    created_at: datetime = moment("when the application was recorded")
    updated_at: datetime = moment("the last recorded change")
    version: int = Field(description="the aggregate's version at the last change")
    holder_name: str | None = Field(
        default=None, description="the holder's name (operator and auditor only; absent for the dashboard)"
    )


class PolicyList(Page):
    items: list[PolicyRow]
    total: int = count("policies that match the filters")


# ---------------------------------------------------------------------------- events
class EventMetadata(Out):
    model_config = ConfigDict(extra="allow")

    actor: Actor | None = None
    command: str | None = Field(default=None, description="the command that recorded it")
    request_id: str | None = Field(default=None, description="the HTTP request that recorded it")


class EventOut(Out):
    version: int = Field(description="the event's version in its aggregate (1 first)")
    type: str = Field(description="the event's type, e.g. Applied, IncidentReported")
    recorded_at: datetime = moment("when it was recorded")
    metadata: EventMetadata | None
    data: dict[str, Any] = Field(
        description="the event's fields as recorded, by type (money integer yen, moments +09:00, "
        "bank account numbers masked)"
    )


class EventList(Out):
    items: list[EventOut]


# ---------------------------------------------------------------------------- limits
class SectionLimit(Out):
    limit: int = yen("the period's limit")
    paid: int = yen("paid against it")
    remaining: int = yen("left")


class ClaimSectionLimit(Out):
    accident_limit: int = yen("the limit per accident")
    paid: int = yen("paid on the claim")
    remaining: int = yen("left for the claim")


class PolicyLimits(Out):
    """``GET /policies/{id}/limits`` (documents the answer; the read model's is pre-serialised)."""

    policy_id: UUID
    number: str | None = Field(description="the policy number (証券番号); null before numbers existed")
    period: int = seq("the period")
    start: datetime = moment("start of cover")
    end: datetime = moment("end of cover")
    sections: dict[Section, SectionLimit] = Field(description="per section: limit, paid, remaining (yen)")
    claims: dict[str, dict[Section, ClaimSectionLimit]] = Field(
        description="per claim id, per section: accident limit, paid, remaining (yen)"
    )
    claim_numbers: dict[str, str | None] = Field(
        description="per claim id, its claim number (事故受付番号); null for a claim reported before numbers"
    )
    source: Literal["read_model", "events"] = Field(description="read from the limits view, or replayed")
    position: int | None = Field(default=None, description="the limits view's log position (read_model only)")


# ---------------------------------------------------------------------------- endorsements
class OutOfSequence(Out):
    action: Literal["reversed", "reapplied"]
    by_endorsement: int = seq("the earlier-dated endorsement that caused it")
    premium_delta: int = yen("the premium change as re-applied")
    recorded_at: datetime = moment("when recorded")


class EndorsementChangesOut(Out):
    holder: HolderOut | None = None
    bank_account: BankAccountOut | None = None
    plan: str | None = None
    liability_limit: int | None = yen("plan E's new liability limit", default=None)
    network_rider: bool | None = None
    annual_sales: int | None = yen("the new annual sales", default=None)


class EndorsementOut(Out):
    number: int = seq("the endorsement of the policy")
    effective_at: datetime = moment("when it takes effect")
    period: int = seq("the period it changes")
    changes: EndorsementChangesOut = Field(description="what it changed (bank account masked)")
    changed: list[str] = Field(description="the names of what changed")
    premium_delta: int = yen("premium change for the rest of the period (negative: returned)")
    months_left: int = Field(description="months of the period left at the effective date")
    annual_premium: int | None = yen("the re-rated annual premium (cover changes only)")
    limits: SectionYen | None = yen("the re-rated limits per section (cover changes only)")
    tariff_version: str | None
    refund: int = yen("return premium it decided")
    extra_premium_debit_date: date | None = day("the debit of an extra premium")
    out_of_sequence: list[OutOfSequence]
    reason: str
    recorded_at: datetime = moment("when recorded")
    actor: Actor | None


class EndorsementList(Out):
    items: list[EndorsementOut]


# ---------------------------------------------------------------------------- claims
class LossItemOut(Out):
    number: int = seq("the loss item of the claim")
    category: LossCategoryOut
    risk: Risk
    amount: int = yen("the assessed amount")
    recipients: int | None = count("individuals who received condolence money")
    withdrawn: bool


class SectionSettlementOut(Out):
    section: Section
    gross_loss: int = yen("loss items of the section")
    condolence_cap_reduction: int = yen("condolence above the cap per person")
    eligible: int = yen("gross loss less the condolence cap")
    deductible: int = yen("deductible applied")
    after_deductible: int = yen("eligible less deductible")
    coinsurance_percent: int = Field(description="share paid, percent")
    coinsurance_reduction: int = yen("the part not paid by coinsurance")
    payable_for_accident: int = yen("payable for the accident before limits")
    accident_limit: int = yen("the limit per accident")
    previously_paid_on_claim: int = yen("paid on the claim before")
    accident_limit_remaining: int = yen("per-accident limit left")
    period_limit_remaining: int = yen("period aggregate limit left")
    paid: int = yen("paid now")
    limited_by: LimitedBy | None = Field(description="the limit that capped it, null if none")
    steps: list[str] = Field(description="the explanation, one line per step")


class SettlementOut(Out):
    total: int = yen("paid now, all sections")
    sections: dict[Section, SectionSettlementOut]


class ClaimPaymentEntry(Out):
    payment_number: int = seq("the payment of the claim")
    total: int = yen("paid")
    settlement: SettlementOut
    reversed: bool
    reversal_reason: str | None = None


class ClaimOut(Out):
    id: UUID
    number: str = Field(description="the claim number, e.g. CHUOKAI-2026-C000001")
    version: int = Field(description="the aggregate's version (its number of events)")
    policy_id: UUID
    period: int | None = seq("the policy period the incident falls in")
    status: ClaimStatus
    occurred_at: datetime = moment("when the incident occurred")
    discovered_at: datetime = moment("when it was discovered")
    cause: Cause
    records_affected: int = count("personal records leaked")
    description: str
    own_staff_information: bool
    outside_japan: bool
    losses: list[LossItemOut]
    paid: SectionYen = yen("paid per section")
    paid_total: int = yen("paid, all sections")
    reserve: SectionYen = yen("case reserve (支払備金) per section")
    reserve_total: int = yen("case reserve, all sections")
    incurred: SectionYen = yen("paid plus reserve per section")
    incurred_total: int = yen("paid plus reserve, all sections")
    recoveries_due: SectionYen = yen("overpaid after corrections, to recover, per section")
    recoveries_due_total: int = yen("to recover, all sections")
    payments: list[ClaimPaymentEntry]
    denial_reason: DenialReasonOut | None
    denial_message: str | None
    closed_reason: str | None
    modified_on: datetime = moment("the last recorded event's time")


class ClaimRow(Out):
    """A row of the claims read model."""

    id: UUID
    number: str
    policy_id: UUID
    period: int | None = seq("the policy period")
    status: ClaimStatus
    cause: Cause
    occurred_at: datetime = moment("when the incident occurred")
    discovered_at: datetime = moment("when it was discovered")
    discovered_on: date = day("the day it was discovered")
    records_affected: int = count("personal records leaked")
    own_staff_information: bool
    outside_japan: bool
    loss_items: int = count("loss items assessed")
    assessed_loss: int = yen("loss items assessed, total")
    payments: int = count("payments made")
    paid_liability_basic: int = yen("paid, liability basic")
    paid_liability_recourse: int = yen("paid, liability recourse")
    paid_expense_basic: int = yen("paid, expense basic")
    paid_expense_recourse: int = yen("paid, expense recourse")
    paid_total: int = yen("paid, all sections")
    payments_reversed: int = count("payments reversed")
    reserve_liability_basic: int = yen("reserve, liability basic")
    reserve_liability_recourse: int = yen("reserve, liability recourse")
    reserve_expense_basic: int = yen("reserve, expense basic")
    reserve_expense_recourse: int = yen("reserve, expense recourse")
    reserve_total: int = yen("reserve, all sections")
    incurred_total: int = yen("paid plus reserve")
    recoveries_due: int = yen("to recover")
    reopened: int = count("times reopened")
    denial_reason: DenialReasonOut | None
    closed_reason: str | None
    reported_at: datetime = moment("when reported")
    last_paid_at: datetime | None = moment("the last payment")
    updated_at: datetime = moment("the last recorded change")
    version: int = Field(description="the aggregate's version at the last change")


class ClaimList(Page):
    items: list[ClaimRow]


class PaymentOut(Out):
    number: int = seq("the payment of the claim")
    claim_id: UUID
    period: int | None = seq("the policy period")
    total: int = yen("paid")
    reversed: bool
    paid_at: datetime | None = moment("when it was recorded")
    sections: dict[Section, SectionSettlementOut] = Field(description="the settlement per section (yen)")


class PaymentList(Out):
    items: list[PaymentOut]


class PaidClaim(Out):
    payment: PaymentOut
    claim: ClaimOut


class ReversalOut(Out):
    payment: int = seq("the payment reversed")
    total: int = yen("reversed")
    reason: str


class ReversedClaim(Out):
    reversal: ReversalOut
    claim: ClaimOut


class SettlementPreview(Out):
    claim_id: UUID
    period: int | None = seq("the policy period")
    payment_number: int = seq("the payment a payment now would be")
    payable: bool = Field(description="whether a payment now would pay anything")
    reason: str | None = Field(description="why not, when not payable")
    settlement: SettlementOut
    total: int = yen("a payment now would pay")


# ---------------------------------------------------------------------------- reports
class LossRatios(Out):
    paid_yen: int = yen("claims paid")
    outstanding_reserve_yen: int = yen("case reserve outstanding")
    incurred_yen: int = yen("paid plus outstanding reserve")
    recoveries_due_yen: int = yen("to recover")
    paid_loss_ratio_percent: float | None = Field(description="paid / written premium, percent")
    incurred_loss_ratio_percent: float | None = Field(description="incurred / written premium, percent")
    loss_ratio: float | None = Field(description="incurred / written premium, a fraction (1.0 = 100 %)")


class MixRow(Out):
    plan: str
    industry: str
    periods_written: int = count("periods written")
    policies_in_force: int = count("policies in force")
    written_premium: int = yen("premium written")
    collected_premium: int = yen("premium collected")


class CoinsurerRow(LossRatios):
    scheme: str
    scheme_year: int = Field(description="the scheme year (the calendar year it starts in)")
    coinsurer: str
    share_bp: int = Field(description="its share, basis points (10,000 = all)")
    written_premium: int = yen("its share of premium written")
    collected_premium: int = yen("its share of premium collected")
    return_premium: int = yen("its share of return premium")
    paid_liability_basic: int = yen("its share paid, liability basic")
    paid_liability_recourse: int = yen("its share paid, liability recourse")
    paid_expense_basic: int = yen("its share paid, expense basic")
    paid_expense_recourse: int = yen("its share paid, expense recourse")
    paid_total: int = yen("its share paid, all sections")
    outstanding_reserve: int = yen("its share of reserve outstanding")
    recoveries_due: int = yen("its share to recover")


class Portfolio(LossRatios):
    scheme: str
    scheme_year: int = Field(description="the scheme year (the calendar year it starts in)")
    new_policies: int = count("new policies")
    renewals: int = count("renewals")
    participants: int = count("participants")
    written_premium: int = yen("premium written")
    lapsed_premium: int = yen("premium of lapsed periods")
    return_premium: int = yen("premium returned")
    collected_premium: int = yen("premium collected")
    claims_reported: int = count("claims reported")
    claims_denied: int = count("claims denied")
    claims_paid: int = count("claims paid")
    paid_liability_basic: int = yen("paid, liability basic")
    paid_liability_recourse: int = yen("paid, liability recourse")
    paid_expense_basic: int = yen("paid, expense basic")
    paid_expense_recourse: int = yen("paid, expense recourse")
    paid_total: int = yen("paid, all sections")
    outstanding_reserve: int = yen("reserve outstanding")
    recoveries_due: int = yen("to recover")
    mix: list[MixRow]
    coinsurers: list[CoinsurerRow]
    position: int = Field(description="the log position the answer stands at")
    as_of: datetime | None = Field(default=None, description="the recorded moment read as of (with as_of)")


class ArrearsRow(Out):
    policy_id: UUID
    policy_number: str | None = Field(description="the policy number (証券番号); null before numbers existed")
    period: int = seq("the policy period")
    scheme: str
    premium: int = yen("premium due")
    collected: int = yen("collected")
    outstanding: int = yen("still to collect")
    debit_date: date = day("the debit date (next business day)")
    nominal_debit_date: date = day("the nominal debit date")
    attempts: int = count("debit attempts")
    failed_attempts: int = count("failed attempts")
    next_attempt: int = seq("the next attempt")
    next_debit_date: date | None = day("the next attempt's date")
    last_result_code: str | None = Field(description="the last Zengin result code")
    last_reason: str | None = Field(description="the last result in words")
    state: str = Field(description="the debit's state (due, collected, lapsed ...)")
    policy_status: PolicyStatus | None
    updated_at: datetime = moment("the last change")


class LapseRow(Out):
    policy_id: UUID
    policy_number: str | None = Field(description="the policy number (証券番号); null before numbers existed")
    period: int = seq("the policy period")
    scheme: str
    effective_at: datetime = moment("when the lapse took effect")
    reason: str = Field(description="why it lapsed")
    unpaid_premium: int = yen("premium left unpaid")
    failed_attempts: int = count("failed debit attempts")
    recorded_at: datetime = moment("when recorded")


class Collections(Out):
    arrears: list[ArrearsRow]
    lapses: list[LapseRow]
    position: int = Field(description="the log position the answer stands at")
    as_of: datetime | None = Field(default=None, description="the recorded moment read as of (with as_of)")


class JobError(Out):
    job: str = Field(description="the job (anniversary, activate, debit, ...)")
    policy_id: UUID
    code: str = Field(description="the problem code")
    detail: str


class RunDueOut(Out):
    as_of: datetime = moment("the moment run up to")
    activated: int = count("periods whose cover started")
    renewal_notices: int = count("renewal notices sent")
    renewed: int = count("policies renewed")
    expired: int = count("policies expired")
    debited: int = count("direct debits collected")
    debit_failed: int = count("direct debits failed")
    lapsed: int = count("policies lapsed")
    unchanged: int = count("jobs found nothing to do")
    erased: int = count("members' personal data erased")
    errors: list[JobError] = Field(description="commands refused (each retried by the next run)")
    steps: list[datetime] = Field(description="the moments stepped through, " + TOKYO_MOMENT)


# ---------------------------------------------------------------------------- audit
class SignedStatement(Out):
    """A signed statement as signed (canonical JSON; its moments in UTC, as signed)."""

    model_config = ConfigDict(extra="allow")

    kind: str = Field(description="policy-admin/checkpoint or policy-admin/closing")
    version: int = Field(description="the statement format's version")
    key: str = Field(description="the signing key's fingerprint (ed25519:...)")
    head: str = Field(description="the chain's head digest at the position (hex)")
    position: int = Field(description="the log position (notification id) it seals up to")
    links: int = count("chain links sealed")


class Checkpoint(Out):
    id: int = seq("the checkpoint")
    reason: str = Field(description="why it was signed (on_demand, scheduled, ...)")
    statement: SignedStatement
    signature: str = Field(description="ed25519 signature of the statement, base64")


class CheckpointList(Out):
    items: list[Checkpoint]
    public_key_fingerprint: str = Field(description="the fingerprint of the key that signs (ed25519:...)")


class ClosingStatement(SignedStatement):
    scheme: str
    year: int = Field(description="the scheme year (a calendar year)")
    closed_at: datetime = Field(description="when it was closed, ISO 8601 in UTC (as signed)")
    closed_by: Actor
    totals: dict[str, Any] = Field(
        description="the scheme year's totals and each co-insurer's share, as signed "
        "(money integer yen, shares in basis points)"
    )


class Closing(Out):
    id: int = seq("the closing")
    statement: ClosingStatement
    signature: str = Field(description="ed25519 signature of the statement, base64")


class ClosingList(Out):
    items: list[Closing]


class Difference(Out):
    position: int = Field(description="the first log position where the history differs")
    kind: str = Field(description="how it differs (changed, missing, inserted, signature_invalid ...)")
    detail: str
    originator_id: str | None = None
    originator_version: int | None = Field(default=None, description="the event's version in its aggregate")
    after: int | None = Field(default=None, description="rewritten: the difference lies after this position")


class ClosingCheck(Out):
    id: int = seq("the closing")
    scheme: str
    year: int = Field(description="the scheme year (a calendar year)")
    position: int = Field(description="the log position it sealed")
    signature_ok: bool
    intact: bool = Field(description="its signature holds and the history up to it is as sealed")


class VerificationOut(Out):
    ok: bool
    status: Literal["ok", "failed"]
    events_checked: int = count("events checked")
    sealed_up_to: int = Field(description="the log position sealed up to")
    links: int = count("chain links checked")
    unsealed: int = count("events after the seal")
    checkpoints_checked: int = count("signed checkpoints checked")
    latest_checkpoint: Checkpoint | None
    difference: Difference | None = Field(description="the first difference, null when intact")
    closings: list[ClosingCheck]
    migrations: list[dict[str, Any]] = Field(
        description="authorised, signed migrations found (each as signed)"
    )
    rewritten: int = count("rows a signed migration rewrote since they were sealed")


class Dossier(Out):
    """A policy's signed audit dossier (``format=json``): the items of the JSON-lines form, grouped."""

    header: dict[str, Any] = Field(description="the policy, its claims, when generated (UTC), the key")
    events: list[dict[str, Any]] = Field(
        description="every event of the policy and its claims: position, chain link, actor, command, "
        "the event as recorded (money integer yen)"
    )
    payments: list[dict[str, Any]] = Field(
        description="each payment with its recorded explanation (total integer yen)"
    )
    chain: list[dict[str, Any]] = Field(description="the chain links between the events")
    checkpoint: dict[str, Any] | None = Field(description="the latest signed checkpoint covering them")
    seal: dict[str, Any] = Field(description="the dossier's own signed seal over its items")


# ---------------------------------------------------------------------------- risk questionnaire
class Grade(Out):
    grade: str = Field(description="A..E")
    min_score: int = Field(description="the lowest score of the grade, points of 100")
    label: str
    label_en: str
    summary: str
    summary_en: str


class QuestionnaireCause(Out):
    key: str
    claim_causes: list[str] = Field(description="the claim causes this area protects against")
    title: str
    title_en: str


class QuestionnaireArea(Out):
    key: str
    title: str
    title_en: str
    short_title: str
    weight: int = Field(description="the area's weight in the overall score (a relative weight)")
    questions: list[dict[str, Any]] = Field(description="each question with its choices and their points")


class Questionnaire(Out):
    version: str = Field(description="the questionnaire version in force")
    effective_from: date = day("first day it is in force")
    title: str
    title_en: str
    cause_protected_min_score: int = Field(
        description="area score from which a cause counts as protected, points"
    )
    grades: list[Grade]
    causes: list[QuestionnaireCause]
    areas: list[QuestionnaireArea]


# ---------------------------------------------------------------------------- documents
PDF_SCHEMA = {"type": "string", "format": "binary", "description": "a PDF document (A4, Japanese)"}


# ---------------------------------------------------------------------------- routes
def typed(
    model: type[BaseModel], status: int = 200, *, csv: bool = False, description: str | None = None
) -> dict[str, Any]:
    """``@router.get(..., **typed(Model))``: the answer of ``status`` documented as ``model``
    (and CSV with ``csv``), the route's own answer sent as it is built (no re-serialisation)."""
    doc = description or (model.__doc__ or model.__name__).strip().splitlines()[0]
    response: dict[str, Any] = {"model": model, "description": doc}
    if csv:
        response["description"] = f"{doc}; JSON, or CSV on `Accept: text/csv` (the same columns)"
        response["content"] = copy.deepcopy(CSV_CONTENT)  # FastAPI adds the JSON entry to it
    return {"response_model": None, "responses": {status: response}}
