"""The Policy aggregate: one member business's cover, period by period.

Every event records decided facts (premium, tariff version, limits in force, the
money used per section), so an old history replays to the same state whatever
the tariffs or rules say today. Guard methods (plain methods) validate and
decide; the ``@event`` methods only assign, because their bodies run again on
replay.

Invariant kept here under optimistic concurrency: the amount paid in a period
never exceeds a section's limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from ..bounds import MAX_ANNUAL_SALES, MAX_YEN
from ..calendar import TOKYO, in_cover
from ..errors import Conflict, InvalidInput

APPLIED, ACTIVE, LAPSED, CANCELLED, EXPIRED = "applied", "active", "lapsed", "cancelled", "expired"
POLICY_NAMESPACE = uuid5(NAMESPACE_URL, "urn:policy-admin:policy")


@dataclass
class DebitAttempt:
    attempt: int
    debit_date: date
    outcome: str  # "debited" | "failed"
    amount: int = 0
    result_code: str | None = None
    reason: str | None = None
    next_debit_date: date | None = None
    reference: str | None = None


@dataclass
class Period:
    """One period of cover as decided, with what happened to it since."""

    number: int
    enrollment: str
    start: datetime
    end: datetime
    months: int
    nominal_debit_date: date
    debit_date: date
    annual_premium: int
    premium: int
    tariff_version: str
    rating: dict[str, Any]
    limits: dict[str, int]
    deductible: int
    expense_basic_coinsurance_percent: int
    condolence_cap_per_person: int
    network_rider: bool
    basis: dict[str, Any]
    coinsurers: list[dict[str, Any]] = field(default_factory=list)  # shares in force for this period
    activated_at: datetime | None = None
    collected: int = 0
    debits: list[DebitAttempt] = field(default_factory=list)
    lapsed_at: datetime | None = None
    paid: dict[str, int] = field(default_factory=dict)
    claim_paid: dict[str, dict[str, int]] = field(default_factory=dict)  # claim id hex -> section -> yen
    claims: list[str] = field(default_factory=list)
    renewal_notice_on: date | None = None
    refund_due: int = 0  # money received for a period that gives no cover (a late debit after a lapse)

    @classmethod
    def from_facts(cls, facts: dict[str, Any]) -> Period:
        p = cls(**{k: facts[k] for k in _PERIOD_FACT_KEYS})
        p.coinsurers = [dict(c) for c in facts.get("coinsurers", ())]
        p.limits = dict(p.limits)
        p.paid = {s: 0 for s in p.limits}
        return p

    @property
    def is_collected(self) -> bool:
        return self.collected >= self.premium

    @property
    def failed_attempts(self) -> int:
        return sum(1 for d in self.debits if d.outcome == "failed")

    @property
    def next_debit_date(self) -> date | None:
        if self.is_collected or self.lapsed_at is not None:
            return None
        if not self.debits:
            return self.debit_date
        return self.debits[-1].next_debit_date

    def remaining(self) -> dict[str, int]:
        return {s: self.limits[s] - self.paid.get(s, 0) for s in self.limits}

    def contains(self, moment: datetime) -> bool:
        return in_cover(self.start, self.end, moment)


_PERIOD_FACT_KEYS = (
    "number",
    "enrollment",
    "start",
    "end",
    "months",
    "nominal_debit_date",
    "debit_date",
    "annual_premium",
    "premium",
    "tariff_version",
    "rating",
    "limits",
    "deductible",
    "expense_basic_coinsurance_percent",
    "condolence_cap_per_person",
    "network_rider",
    "basis",
)


class Policy(Aggregate):
    TOPIC = "policy_admin:Policy"

    class Created(Aggregate.Created):
        TOPIC = "policy_admin:Policy.Created"  # not triggered; the library declares it

    class Applied(Created):
        """v2 added ``number`` (the policy number, 証券番号); v1 histories read as none."""

        TOPIC = "policy_admin:Policy.Applied"
        class_version = 2
        number: str | None
        scheme: str
        member_number: str
        holder: dict[str, Any]
        industry: str
        annual_sales: int
        plan: str
        liability_limit: int | None
        network_rider: bool
        bank_account: dict[str, str]
        application_date: date
        enrollment: str
        period: dict[str, Any]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.setdefault("number", None)

    class Activated(Aggregate.Event):
        TOPIC = "policy_admin:Policy.Activated"
        period_number: int
        effective_at: datetime

    class PremiumDebited(Aggregate.Event):
        TOPIC = "policy_admin:Policy.PremiumDebited"
        period_number: int
        attempt: int
        amount: int
        debit_date: date
        reference: str | None

    class PremiumDebitFailed(Aggregate.Event):
        TOPIC = "policy_admin:Policy.PremiumDebitFailed"
        period_number: int
        attempt: int
        debit_date: date
        result_code: str
        reason: str
        next_debit_date: date | None

    class Lapsed(Aggregate.Event):
        """v2 added ``later_periods``: the periods after the unpaid one whose cover the lapse ends
        too, each with the premium already collected for it that is now to be refunded
        (``[{"number": n, "refund_due": yen}]``). v1 histories read as none."""

        TOPIC = "policy_admin:Policy.Lapsed"
        class_version = 2
        period_number: int
        effective_at: datetime
        reason: str
        later_periods: list[dict[str, int]]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.setdefault("later_periods", [])

    class PremiumReceivedAfterLapse(Aggregate.Event):
        """A successful debit for a period that no longer gives cover: money to refund, never cover."""

        TOPIC = "policy_admin:Policy.PremiumReceivedAfterLapse"
        period_number: int
        attempt: int
        amount: int
        debit_date: date
        reference: str | None

    class Renewed(Aggregate.Event):
        TOPIC = "policy_admin:Policy.Renewed"
        period: dict[str, Any]

    class NonRenewalNoticeGiven(Aggregate.Event):
        TOPIC = "policy_admin:Policy.NonRenewalNoticeGiven"
        received_on: date
        effective_at: datetime  # the anniversary at which cover ends

    class RenewalNoticeIssued(Aggregate.Event):
        TOPIC = "policy_admin:Policy.RenewalNoticeIssued"
        period_number: int  # the period that ends at the anniversary
        anniversary: datetime
        issued_on: date

    class Expired(Aggregate.Event):
        TOPIC = "policy_admin:Policy.Expired"
        period_number: int
        effective_at: datetime

    class Cancelled(Aggregate.Event):
        """v2 added ``void`` (cancelled from inception at the holder's request); v1 reads as false."""

        TOPIC = "policy_admin:Policy.Cancelled"
        class_version = 2
        period_number: int
        effective_at: datetime
        reason: str
        unearned_months: int
        return_premium: int
        void: bool

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.setdefault("void", False)

    class SalesDeclared(Aggregate.Event):
        TOPIC = "policy_admin:Policy.SalesDeclared"
        annual_sales: int
        declared_on: date

    class ClaimRegistered(Aggregate.Event):
        TOPIC = "policy_admin:Policy.ClaimRegistered"
        claim_id: UUID
        period_number: int

    class ClaimPaymentRecorded(Aggregate.Event):
        TOPIC = "policy_admin:Policy.ClaimPaymentRecorded"
        period_number: int
        claim_id: UUID
        payment_number: int
        sections: dict[str, int]
        total: int

    class ClaimPaymentReversed(Aggregate.Event):
        """A claim payment reversed: the period's and the claim's used limits are restored."""

        TOPIC = "policy_admin:Policy.ClaimPaymentReversed"
        period_number: int
        claim_id: UUID
        payment_number: int
        sections: dict[str, int]
        total: int
        reason: str

    class Reinstated(Aggregate.Event):
        """A cancellation undone (復活): cover restored as if it had not been cancelled; the return
        premium the cancellation decided is withdrawn (or re-collected if already refunded)."""

        TOPIC = "policy_admin:Policy.Reinstated"
        period_number: int
        cancelled_effective_at: datetime
        return_premium_withdrawn: int
        reason: str

    class Endorsed(Aggregate.Event):
        """A mid-term change (異動) of the holder's details and/or the direct-debit account.

        ``holder`` is the whole holder record after the change, ``bank_account`` the new mandate
        (None when not changed): personal data in the fields that issue 12 encrypts."""

        TOPIC = "policy_admin:Policy.Endorsed"
        number: int
        period_number: int
        effective_at: datetime
        holder: dict[str, Any] | None
        bank_account: dict[str, str] | None
        changed: list[str]
        premium_delta: int
        reason: str

    # ------------------------------------------------------------------ identity
    @staticmethod
    def id_for(scheme: str, member_number: str, start: datetime) -> UUID:
        """One policy per member, scheme and first cover start: a repeated apply finds it."""
        return uuid5(POLICY_NAMESPACE, f"{scheme}/{member_number}/{start.isoformat()}")

    # ------------------------------------------------------------------ creation
    @event(Applied)
    def __init__(
        self,
        id: UUID,  # noqa: A002 - the business-key id from id_for(), taken by the library
        scheme: str,
        member_number: str,
        holder: dict[str, Any],
        industry: str,
        annual_sales: int,
        plan: str,
        liability_limit: int | None,
        network_rider: bool,
        bank_account: dict[str, str],
        application_date: date,
        enrollment: str,
        period: dict[str, Any],
        number: str | None = None,
    ) -> None:
        self.number = number
        self.scheme = scheme
        self.member_number = member_number
        self.holder = dict(holder)
        self.industry = industry
        self.annual_sales = annual_sales
        self.plan = plan
        self.liability_limit = liability_limit
        self.network_rider = network_rider
        self.bank_account = dict(bank_account)
        self.application_date = application_date
        self.enrollment = enrollment
        self.periods: list[Period] = [Period.from_facts(period)]
        self.lapsed_at: datetime | None = None
        self.cancelled_at: datetime | None = None
        self.cancellation_reason: str | None = None
        self.expired_at: datetime | None = None
        self.non_renewal_notice_on: date | None = None
        self.lapse_reason: str | None = None
        self.endorsements: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ reads
    @property
    def status(self) -> str:
        if self.cancelled_at is not None:
            return CANCELLED
        if self.lapsed_at is not None:
            return LAPSED
        if self.expired_at is not None:
            return EXPIRED
        if any(p.activated_at is not None for p in self.periods):
            return ACTIVE
        return APPLIED

    @property
    def current_period(self) -> Period:
        return self.periods[-1]

    @property
    def is_terminated(self) -> bool:
        return self.status in (LAPSED, CANCELLED, EXPIRED)

    def period(self, number: int) -> Period:
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= len(self.periods):
            raise InvalidInput(
                f"policy has periods 1..{len(self.periods)}, not {number!r}", code="unknown_period"
            )
        return self.periods[number - 1]

    def period_at(self, moment: datetime) -> Period | None:
        for p in self.periods:
            if p.contains(moment):
                return p
        return None

    def in_force_at(self, moment: datetime) -> bool:
        """Cover on a moment: inside a period that did not lapse, before any cancellation."""
        p = self.period_at(moment)
        if p is None or p.lapsed_at is not None:
            return False
        if self.lapsed_at is not None and moment >= self.lapsed_at:
            return False  # a lapse ends cover from the unpaid period's start for every later period too
        return not (self.cancelled_at is not None and moment >= self.cancelled_at)

    def periods_without_cover_from(self, period_number: int) -> list[Period]:
        """The period ``period_number`` and every later one (what a lapse of it ends)."""
        return self.periods[period_number - 1 :]

    # ------------------------------------------------------------------ commands
    def activate(self, period_number: int) -> bool:
        """Idempotent: an activated period is left as it is."""
        p = self.period(period_number)
        if p.activated_at is not None:
            return False
        if self.is_terminated:
            raise Conflict(
                f"policy is {self.status}; period {period_number} cannot start", code="policy_terminated"
            )
        self._activated(period_number=period_number, effective_at=p.start)
        return True

    @event(Activated)
    def _activated(self, period_number: int, effective_at: datetime) -> None:
        self.periods[period_number - 1].activated_at = effective_at

    def record_debit(
        self, period_number: int, attempt: int, amount: int, debit_date: date, reference: str | None
    ) -> bool:
        p = self.period(period_number)
        if p.is_collected:
            return False  # a repeated or late success for a collected period changes nothing
        self._check_attempt(p, attempt)
        if p.lapsed_at is not None:
            # The bank took the money after the lapse: it is owed back, it buys no cover.
            if not _is_yen(amount) or amount <= 0:
                raise InvalidInput(
                    f"debited amount must be positive yen, got {amount!r}", code="invalid_amount"
                )
            self._premium_received_after_lapse(
                period_number=period_number,
                attempt=attempt,
                amount=amount,
                debit_date=debit_date,
                reference=reference,
            )
            return True
        if amount != p.premium - p.collected:
            raise InvalidInput(
                f"debited amount {amount:,} differs from the {p.premium - p.collected:,} yen due",
                code="invalid_amount",
            )
        self._premium_debited(
            period_number=period_number,
            attempt=attempt,
            amount=amount,
            debit_date=debit_date,
            reference=reference,
        )
        return True

    @event(PremiumReceivedAfterLapse)
    def _premium_received_after_lapse(
        self, period_number: int, attempt: int, amount: int, debit_date: date, reference: str | None
    ) -> None:
        p = self.periods[period_number - 1]
        p.refund_due += amount
        p.debits.append(DebitAttempt(attempt, debit_date, "refund_due", amount=amount, reference=reference))

    def _check_attempt(self, p: Period, attempt: int) -> None:
        expected = len(p.debits) + 1
        if not isinstance(attempt, int) or isinstance(attempt, bool) or attempt != expected:
            raise Conflict(
                f"period {p.number} expects debit attempt {expected}, not {attempt!r}",
                code="unexpected_debit_attempt",
            )

    @event(PremiumDebited)
    def _premium_debited(
        self, period_number: int, attempt: int, amount: int, debit_date: date, reference: str | None
    ) -> None:
        p = self.periods[period_number - 1]
        p.collected += amount
        p.debits.append(DebitAttempt(attempt, debit_date, "debited", amount=amount, reference=reference))

    def record_debit_failure(
        self,
        period_number: int,
        attempt: int,
        debit_date: date,
        result_code: str,
        reason: str,
        next_debit_date: date | None,
    ) -> bool:
        p = self.period(period_number)
        if any(d.attempt == attempt and d.outcome == "failed" for d in p.debits):
            return False  # the same result file ingested twice
        if p.is_collected:
            raise Conflict(f"period {period_number} is already collected", code="already_collected")
        self._check_attempt(p, attempt)
        if p.lapsed_at is not None:
            return False
        self._premium_debit_failed(
            period_number=period_number,
            attempt=attempt,
            debit_date=debit_date,
            result_code=result_code,
            reason=reason,
            next_debit_date=next_debit_date,
        )
        return True

    @event(PremiumDebitFailed)
    def _premium_debit_failed(
        self,
        period_number: int,
        attempt: int,
        debit_date: date,
        result_code: str,
        reason: str,
        next_debit_date: date | None,
    ) -> None:
        self.periods[period_number - 1].debits.append(
            DebitAttempt(
                attempt,
                debit_date,
                "failed",
                result_code=result_code,
                reason=reason,
                next_debit_date=next_debit_date,
            )
        )

    def lapse(self, period_number: int, reason: str) -> bool:
        """Lapse for non-payment: an uncollected period gives no cover, from its start."""
        p = self.period(period_number)
        if self.lapsed_at is not None:
            return False
        if self.status in (CANCELLED, EXPIRED):
            raise Conflict(f"policy is {self.status}", code="policy_terminated")
        if p.is_collected:
            raise Conflict(
                f"period {period_number} is collected; it cannot lapse for non-payment",
                code="already_collected",
            )
        later = [{"number": q.number, "refund_due": q.collected} for q in self.periods[period_number:]]
        self._lapsed(period_number=period_number, effective_at=p.start, reason=reason, later_periods=later)
        return True

    @event(Lapsed)
    def _lapsed(
        self, period_number: int, effective_at: datetime, reason: str, later_periods: list[dict[str, int]]
    ) -> None:
        self.periods[period_number - 1].lapsed_at = effective_at
        for later in later_periods:
            q = self.periods[later["number"] - 1]
            q.lapsed_at = q.start
            q.refund_due += later["refund_due"]
        self.lapsed_at = effective_at
        self.lapse_reason = reason

    def check_renewable(self, into_period: int) -> bool:
        """False when already renewed into that period; raises when renewal is not allowed."""
        if into_period <= len(self.periods):
            return False
        if into_period != len(self.periods) + 1:
            raise Conflict(
                f"policy has {len(self.periods)} periods; cannot renew into {into_period}",
                code="unexpected_period",
            )
        if self.is_terminated:
            raise Conflict(f"policy is {self.status}; it does not renew", code="policy_terminated")
        if self.non_renewal_notice_on is not None:
            raise Conflict("the holder gave notice of non-renewal", code="non_renewal_notice")
        return True

    def renew(self, period: dict[str, Any]) -> bool:
        if not self.check_renewable(period["number"]):
            return False
        if period["start"] != self.current_period.end:
            raise InvalidInput("a renewal starts where the current period ends", code="invalid_period")
        self._renewed(period=period)
        return True

    @event(Renewed)
    def _renewed(self, period: dict[str, Any]) -> None:
        self.periods.append(Period.from_facts(period))
        basis = period["basis"]
        self.annual_sales = basis["annual_sales"]

    def issue_renewal_notice(self, period_number: int, issued_on: date) -> bool:
        """The holder is told, before the anniversary, that the policy renews unless they give notice."""
        p = self.period(period_number)
        if p.renewal_notice_on is not None:
            return False
        if self.is_terminated or period_number != len(self.periods):
            return False
        self._renewal_notice_issued(period_number=period_number, anniversary=p.end, issued_on=issued_on)
        return True

    @event(RenewalNoticeIssued)
    def _renewal_notice_issued(self, period_number: int, anniversary: datetime, issued_on: date) -> None:
        self.periods[period_number - 1].renewal_notice_on = issued_on

    def give_non_renewal_notice(self, received_on: date) -> bool:
        if self.non_renewal_notice_on is not None:
            return False
        if self.is_terminated:
            raise Conflict(f"policy is {self.status}", code="policy_terminated")
        self._non_renewal_notice_given(received_on=received_on, effective_at=self.current_period.end)
        return True

    @event(NonRenewalNoticeGiven)
    def _non_renewal_notice_given(self, received_on: date, effective_at: datetime) -> None:
        self.non_renewal_notice_on = received_on

    def expire(self, period_number: int) -> bool:
        """Cover ends at the anniversary after a non-renewal notice."""
        if self.expired_at is not None:
            return False
        p = self.period(period_number)
        if period_number != len(self.periods):
            raise Conflict("only the last period can expire", code="unexpected_period")
        if self.status in (LAPSED, CANCELLED):
            raise Conflict(f"policy is {self.status}", code="policy_terminated")
        if self.non_renewal_notice_on is None:
            raise Conflict(
                "without a non-renewal notice the policy renews; it does not expire",
                code="no_non_renewal_notice",
            )
        self._expired(period_number=period_number, effective_at=p.end)
        return True

    @event(Expired)
    def _expired(self, period_number: int, effective_at: datetime) -> None:
        self.expired_at = effective_at

    def cancel(
        self,
        effective_at: datetime,
        reason: str,
        *,
        void: bool = False,
        paid_claims_discovered: Mapping[str, datetime] | None = None,
    ) -> None:
        """Cancel at ``effective_at`` (in the current period), or void from inception.

        ``paid_claims_discovered``: discovery time of each claim (id hex) with money paid and not
        reversed in the current period (the application reads them from the claims). A
        cancellation effective before such a discovery would take that claim's cover away after
        it was paid: refused, naming the claims, until the payments are reversed.
        """
        if self.cancelled_at is not None:
            raise Conflict("policy is already cancelled", code="already_cancelled")
        if self.status in (LAPSED, EXPIRED):
            raise Conflict(f"policy is {self.status}", code="policy_terminated")
        if not isinstance(void, bool):
            raise InvalidInput("void must be true or false", code="invalid_flag")
        first, last = self.periods[0], self.current_period
        if void:
            if len(self.periods) > 1:
                raise Conflict(
                    "only a policy still in its first period can be voided from inception",
                    code="void_not_allowed",
                )
            if first.claims:
                raise Conflict(
                    f"a period with {len(first.claims)} claim(s) recorded cannot be voided",
                    code="void_not_allowed",
                    claims=list(first.claims),
                )
            p = first
            effective_at = first.start
        else:
            if effective_at < first.start:
                raise InvalidInput(
                    f"effective date is before cover starts ({first.start.isoformat()}); "
                    'send "void": true to cancel from inception',
                    code="effective_before_cover_start",
                )
            found = self.period_at(effective_at)
            if found is None:
                raise InvalidInput(
                    f"effective date is after the current period ends ({last.end.isoformat()})",
                    code="invalid_effective_date",
                )
            p = found
        if p.number != last.number:
            raise InvalidInput(
                "cancellation must take effect in the current period", code="invalid_effective_date"
            )
        behind = sorted(
            hex_id
            for hex_id, discovered in (paid_claims_discovered or {}).items()
            if sum(p.claim_paid.get(hex_id, {}).values()) > 0 and effective_at <= discovered
        )
        if behind:
            raise Conflict(
                f"cancellation effective {effective_at.isoformat()} is before the discovery of "
                f"paid claim(s) {', '.join(behind)}; reverse their payments first",
                code="paid_claims_after_effective_date",
                claims=behind,
            )
        # Whole months not yet begun are returned pro rata from what was collected (project reading).
        months_left = _whole_months_left(effective_at, p.end)
        unearned = min(p.collected, p.premium * months_left // p.months) if p.months else 0
        self._cancelled(
            period_number=p.number,
            effective_at=effective_at,
            reason=reason,
            unearned_months=months_left,
            return_premium=unearned,
            void=void,
        )

    @event(Cancelled)
    def _cancelled(
        self,
        period_number: int,
        effective_at: datetime,
        reason: str,
        unearned_months: int,
        return_premium: int,
        void: bool,
    ) -> None:
        self.cancelled_at = effective_at
        self.cancellation_reason = reason
        self.cancellation_return_premium = return_premium

    def reinstate(
        self, reason: str, *, cancellation_recorded_at: datetime, now: datetime, window_days: int
    ) -> None:
        """Undo the cancellation within ``window_days`` after it was recorded."""
        if self.cancelled_at is None:
            raise Conflict(f"policy is {self.status}, not cancelled", code="not_cancelled")
        if self.lapsed_at is not None or self.expired_at is not None:
            raise Conflict(
                f"policy is also {'lapsed' if self.lapsed_at else 'expired'}", code="policy_terminated"
            )
        deadline = cancellation_recorded_at + timedelta(days=window_days)
        if now > deadline:
            raise Conflict(
                f"the cancellation was recorded {cancellation_recorded_at.isoformat()}; reinstatement was "
                f"possible until {deadline.isoformat()} ({window_days} days)",
                code="reinstatement_window_passed",
            )
        self._reinstated(
            period_number=self.current_period.number,
            cancelled_effective_at=self.cancelled_at,
            return_premium_withdrawn=getattr(self, "cancellation_return_premium", 0),
            reason=reason,
        )

    @event(Reinstated)
    def _reinstated(
        self, period_number: int, cancelled_effective_at: datetime, return_premium_withdrawn: int, reason: str
    ) -> None:
        self.cancelled_at = None
        self.cancellation_reason = None
        self.cancellation_return_premium = 0

    def declare_sales(self, annual_sales: int, declared_on: date) -> None:
        _check_yen(annual_sales, "annual_sales", MAX_ANNUAL_SALES)
        if self.is_terminated:
            raise Conflict(f"policy is {self.status}", code="policy_terminated")
        self._sales_declared(annual_sales=annual_sales, declared_on=declared_on)

    @event(SalesDeclared)
    def _sales_declared(self, annual_sales: int, declared_on: date) -> None:
        self.annual_sales = annual_sales

    def register_claim(self, claim_id: UUID, period_number: int) -> None:
        self.period(period_number)
        self._claim_registered(claim_id=claim_id, period_number=period_number)

    @event(ClaimRegistered)
    def _claim_registered(self, claim_id: UUID, period_number: int) -> None:
        self.periods[period_number - 1].claims.append(claim_id.hex)

    def record_claim_payment(
        self, period_number: int, claim_id: UUID, payment_number: int, sections: dict[str, int]
    ) -> None:
        """The cap invariant: a period never pays more than a section's limit."""
        p = self.period(period_number)
        if p.lapsed_at is not None or (self.cancelled_at is not None and p.start >= self.cancelled_at):
            raise Conflict(f"period {period_number} gives no cover", code="policy_not_in_force")
        if not p.is_collected:
            raise Conflict(
                f"the premium for period {period_number} is not collected "
                f"({p.collected:,} of {p.premium:,} yen)",
                code="premium_not_collected",
            )
        for section, amount in sections.items():
            if section not in p.limits:
                raise InvalidInput(f"unknown section {section!r}", code="unknown_section")
            _check_yen(amount, section)
            if p.paid[section] + amount > p.limits[section]:
                raise Conflict(
                    f"{section}: paying {amount:,} would exceed the period limit "
                    f"({p.paid[section]:,} of {p.limits[section]:,} paid)",
                    code="limit_exceeded",
                )
            used = p.claim_paid.get(claim_id.hex, {}).get(section, 0)
            if used + amount > p.limits[section]:
                raise Conflict(
                    f"{section}: paying {amount:,} would exceed the per-accident limit", code="limit_exceeded"
                )
        self._claim_payment_recorded(
            period_number=period_number,
            claim_id=claim_id,
            payment_number=payment_number,
            sections=dict(sections),
            total=sum(sections.values()),
        )

    @event(ClaimPaymentRecorded)
    def _claim_payment_recorded(
        self, period_number: int, claim_id: UUID, payment_number: int, sections: dict[str, int], total: int
    ) -> None:
        p = self.periods[period_number - 1]
        used = p.claim_paid.setdefault(claim_id.hex, {})
        for section, amount in sections.items():
            p.paid[section] = p.paid.get(section, 0) + amount
            used[section] = used.get(section, 0) + amount

    def endorse(
        self,
        effective_at: datetime,
        reason: str,
        *,
        holder: dict[str, Any] | None = None,
        bank_account: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Holder and bank-account changes: no premium effect, may be back-dated within the period."""
        if self.is_terminated:
            raise Conflict(f"policy is {self.status}", code="policy_terminated")
        p = self.current_period
        if not p.start <= effective_at < p.end:
            raise InvalidInput(
                f"an endorsement takes effect inside the current period ({p.start.isoformat()} to "
                f"{p.end.isoformat()}), not at {effective_at.isoformat()}",
                code="invalid_effective_date",
            )
        new_holder = {**self.holder, **holder} if holder else None
        if new_holder == self.holder:
            new_holder = None
        if bank_account == self.bank_account:
            bank_account = None
        changed = [k for k, v in (("holder", new_holder), ("bank_account", bank_account)) if v is not None]
        if not changed:
            raise InvalidInput("the endorsement changes nothing", code="nothing_to_endorse")
        self._endorsed(
            number=len(getattr(self, "endorsements", [])) + 1,
            period_number=p.number,
            effective_at=effective_at,
            holder=new_holder,
            bank_account=dict(bank_account) if bank_account else None,
            changed=changed,
            premium_delta=0,
            reason=reason,
        )
        return self.endorsements[-1]

    @event(Endorsed)
    def _endorsed(
        self,
        number: int,
        period_number: int,
        effective_at: datetime,
        holder: dict[str, Any] | None,
        bank_account: dict[str, str] | None,
        changed: list[str],
        premium_delta: int,
        reason: str,
    ) -> None:
        if holder is not None:
            self.holder = dict(holder)
        if bank_account is not None:
            self.bank_account = dict(bank_account)
            # Zengin 新規コード: the next debit goes to a changed account.
            self.bank_account_since_debits = self._debited_count()
        self.endorsements = [
            *getattr(self, "endorsements", []),
            {
                "number": number,
                "period": period_number,
                "effective_at": effective_at,
                "changed": list(changed),
                "premium_delta": premium_delta,
                "reason": reason,
            },
        ]

    def _debited_count(self) -> int:
        return sum(1 for p in self.periods for d in p.debits if d.outcome == "debited")

    @property
    def zengin_new_code(self) -> str:
        """新規コード for the next debit request: 1 first debit from a new mandate, 2 first after
        the account was changed, 0 otherwise."""
        mark = getattr(self, "bank_account_since_debits", None)
        if mark is None:
            return "1" if self._debited_count() == 0 else "0"
        return "2" if self._debited_count() == mark else "0"

    def record_claim_payment_reversal(
        self, period_number: int, claim_id: UUID, payment_number: int, sections: dict[str, int], reason: str
    ) -> None:
        p = self.period(period_number)
        used = p.claim_paid.get(claim_id.hex, {})
        for section, amount in sections.items():
            if used.get(section, 0) < amount or p.paid.get(section, 0) < amount:
                raise Conflict(
                    f"{section}: reversing {amount:,} exceeds what the claim has paid in the period",
                    code="inconsistent_reversal",
                )
        self._claim_payment_reversed(
            period_number=period_number,
            claim_id=claim_id,
            payment_number=payment_number,
            sections=dict(sections),
            total=sum(sections.values()),
            reason=reason,
        )

    @event(ClaimPaymentReversed)
    def _claim_payment_reversed(
        self,
        period_number: int,
        claim_id: UUID,
        payment_number: int,
        sections: dict[str, int],
        total: int,
        reason: str,
    ) -> None:
        p = self.periods[period_number - 1]
        used = p.claim_paid.setdefault(claim_id.hex, {})
        for section, amount in sections.items():
            p.paid[section] -= amount
            used[section] = used.get(section, 0) - amount


def _is_yen(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_yen(value: Any, name: str, high: int = MAX_YEN) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
        raise InvalidInput(
            f"{name} must be an integer number of yen from 0 to {high:,}, got {value!r}",
            code="invalid_amount",
        )


def _whole_months_left(moment: datetime, end: datetime) -> int:
    """Whole months from ``moment`` to ``end`` not yet begun (a begun month is earned)."""
    a, b = moment.astimezone(TOKYO), end.astimezone(TOKYO)
    months = (b.year - a.year) * 12 + b.month - a.month
    if (a.day, a.time()) > (b.day, b.time()):
        months -= 1
    return max(0, months)
