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

from collections.abc import Callable, Mapping
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
    # Endorsements of cover terms (issue 11): the period's terms as started, the cover endorsements
    # in effective order (each with the terms after it), the return premium they decided, and the
    # collection stream an extra premium opened (its first debit index, nominal and actual date).
    base_terms: dict[str, Any] | None = None
    cover_stack: list[dict[str, Any]] = field(default_factory=list)
    refunded: int = 0
    charge_since: int = 0
    charge_nominal_debit_date: date | None = None
    charge_debit_date: date | None = None

    @classmethod
    def from_facts(cls, facts: dict[str, Any]) -> Period:
        p = cls(**{k: facts[k] for k in _PERIOD_FACT_KEYS})
        p.coinsurers = [dict(c) for c in facts.get("coinsurers", ())]
        p.limits = dict(p.limits)
        p.paid = {s: 0 for s in p.limits}
        p.base_terms = period_terms(facts)
        return p

    @property
    def net_collected(self) -> int:
        """Collected less the return premium endorsements decided."""
        return self.collected - self.refunded

    @property
    def outstanding(self) -> int:
        return max(0, self.premium - self.net_collected)

    @property
    def is_collected(self) -> bool:
        return self.net_collected >= self.premium

    @property
    def stream(self) -> list[DebitAttempt]:
        """The debit attempts of what is being collected now (an extra premium has its own)."""
        return self.debits[self.charge_since :]

    @property
    def stream_failures(self) -> int:
        return sum(1 for d in self.stream if d.outcome == "failed")

    @property
    def stream_nominal_debit_date(self) -> date:
        return self.charge_nominal_debit_date or self.nominal_debit_date

    @property
    def collecting_extra(self) -> bool:
        """True while an extra premium (after the period's premium was collected) is collected."""
        return self.charge_since > 0

    @property
    def failed_attempts(self) -> int:
        return sum(1 for d in self.debits if d.outcome == "failed")

    @property
    def next_debit_date(self) -> date | None:
        if self.is_collected or self.lapsed_at is not None:
            return None
        stream = self.stream
        if not stream:
            return self.charge_debit_date or self.debit_date
        return stream[-1].next_debit_date

    def remaining(self) -> dict[str, int]:
        """Never below 0: a lowered limit leaves nothing when more was paid already."""
        return {s: max(0, self.limits[s] - self.paid.get(s, 0)) for s in self.limits}

    def terms_at(self, moment: datetime | None) -> dict[str, Any]:
        """Cover terms for an incident discovered at ``moment``: those of the last cover
        endorsement effective at or before it (None: the terms now, after every endorsement)."""
        terms = self.base_terms or period_terms(self.__dict__)
        for item in self.cover_stack:
            if moment is not None and item["effective_at"] > moment:
                break
            terms = item["terms"]
        return terms

    def limits_at(self, moment: datetime | None) -> dict[str, int]:
        return dict(self.terms_at(moment)["limits"])

    def unearned(self, months_left: int) -> int:
        """Premium for ``months_left`` whole months not yet begun: the period's premium pro rata,
        each endorsement's delta pro rata over the months it was charged for; at most what was
        collected (net of returns)."""
        if not self.months:
            return 0
        base = self.premium - sum(x["premium_delta"] for x in self.cover_stack)
        amount = base * months_left // self.months
        for x in self.cover_stack:
            if x["months_left"]:
                amount += x["premium_delta"] * min(months_left, x["months_left"]) // x["months_left"]
        return max(0, min(self.net_collected, amount))

    def contains(self, moment: datetime) -> bool:
        return in_cover(self.start, self.end, moment)


COVER_TERMS = ("plan", "liability_limit", "network_rider", "annual_sales")


def period_terms(facts: Mapping[str, Any]) -> dict[str, Any]:
    """The cover terms a period started with (what cover endorsements change)."""
    basis = facts["basis"]
    return {
        "plan": basis["plan"],
        "liability_limit": basis.get("liability_limit"),
        "network_rider": bool(facts["network_rider"]),
        "annual_sales": basis["annual_sales"],
        "annual_premium": facts["annual_premium"],
        "limits": dict(facts["limits"]),
    }


def _order(item: Mapping[str, Any]) -> tuple[datetime, int]:
    return (item["effective_at"], item["number"])


def prorate_delta(annual_delta: int, months_left: int, rounding_unit: int) -> int:
    """An endorsement's premium delta: the change of annual premium × whole months not yet begun
    / 12, rounded as the tariff rounds (down to the unit, in amount: a return is never larger
    than the months left of the change)."""
    amount = abs(annual_delta) * months_left // 12
    amount -= amount % rounding_unit
    return amount if annual_delta >= 0 else -amount


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
        """v2 added ``accident_limits``: the section limits in force at the claim's discovery (a
        cover endorsement applies to incidents discovered from its effective time); v1 reads as
        none (the period's limits)."""

        TOPIC = "policy_admin:Policy.ClaimRegistered"
        class_version = 2
        claim_id: UUID
        period_number: int
        accident_limits: dict[str, int] | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.setdefault("accident_limits", None)

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
        """A mid-term change (異動): holder details, the direct-debit account and/or cover terms.

        ``holder`` is the whole holder record after the change, ``bank_account`` the new mandate
        (None when not changed): personal data in the fields that issue 12 encrypts.

        v2 added cover terms: ``cover`` the changes asked for (plan, liability_limit,
        network_rider, annual_sales), ``terms`` the period's cover terms after it (re-rated with
        the period's tariff version: annual premium and limits), ``months_left`` (whole months
        not yet begun), ``premium_delta`` decided from them; and the money of the whole change
        (recorded on the last event of an out-of-sequence batch): ``refund`` (return premium out
        of what was collected) and ``charge`` (an extra premium's own debit stream: first debit
        index, nominal and actual debit date). v1 histories read as no cover change.
        """

        TOPIC = "policy_admin:Policy.Endorsed"
        class_version = 2
        number: int
        period_number: int
        effective_at: datetime
        holder: dict[str, Any] | None
        bank_account: dict[str, str] | None
        changed: list[str]
        premium_delta: int
        reason: str
        cover: dict[str, Any]
        terms: dict[str, Any] | None
        months_left: int
        refund: int
        charge: dict[str, Any] | None
        claim_limits: dict[str, dict[str, int]]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.setdefault("claim_limits", {})
            state.setdefault("cover", {})
            state.setdefault("terms", None)
            state.setdefault("months_left", 0)
            state.setdefault("refund", 0)
            state.setdefault("charge", None)

    class EndorsementReversed(Aggregate.Event):
        """Out of sequence: a cover endorsement effective after a newly recorded earlier one is
        taken off the period (its premium delta undone) before it is re-applied on top."""

        TOPIC = "policy_admin:Policy.EndorsementReversed"
        number: int
        period_number: int
        by_number: int
        premium_delta: int
        refund: int
        charge: dict[str, Any] | None
        claim_limits: dict[str, dict[str, int]]

    class EndorsementReapplied(Aggregate.Event):
        """The reversed endorsement applied again on top of the earlier one: re-rated, with its
        premium delta recomputed."""

        TOPIC = "policy_admin:Policy.EndorsementReapplied"
        number: int
        period_number: int
        by_number: int
        effective_at: datetime
        cover: dict[str, Any]
        terms: dict[str, Any]
        months_left: int
        premium_delta: int
        refund: int
        charge: dict[str, Any] | None
        claim_limits: dict[str, dict[str, int]]

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
        if amount != p.outstanding:
            raise InvalidInput(
                f"debited amount {amount:,} differs from the {p.outstanding:,} yen due",
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
        behind = _paid_claims_discovered_from(p, effective_at, paid_claims_discovered)
        if behind:
            raise Conflict(
                f"cancellation effective {effective_at.isoformat()} is before the discovery of "
                f"paid claim(s) {', '.join(behind)}; reverse their payments first",
                code="paid_claims_after_effective_date",
                claims=behind,
            )
        # Whole months not yet begun are returned pro rata from what was collected (project reading).
        months_left = _whole_months_left(effective_at, p.end)
        unearned = p.unearned(months_left)
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

    def register_claim(
        self, claim_id: UUID, period_number: int, discovered_at: datetime | None = None
    ) -> None:
        p = self.period(period_number)
        self._claim_registered(
            claim_id=claim_id, period_number=period_number, accident_limits=p.limits_at(discovered_at)
        )

    @event(ClaimRegistered)
    def _claim_registered(
        self, claim_id: UUID, period_number: int, accident_limits: dict[str, int] | None = None
    ) -> None:
        self.periods[period_number - 1].claims.append(claim_id.hex)

    def record_claim_payment(
        self,
        period_number: int,
        claim_id: UUID,
        payment_number: int,
        sections: dict[str, int],
        discovered_at: datetime | None = None,
    ) -> None:
        """The cap invariant: a period never pays more than a section's limit (the limits in force
        for an incident discovered at ``discovered_at``: a cover endorsement applies to incidents
        discovered from its effective time, the period aggregate carrying over)."""
        p = self.period(period_number)
        limits = p.limits_at(discovered_at)
        if p.lapsed_at is not None or (self.cancelled_at is not None and p.start >= self.cancelled_at):
            raise Conflict(f"period {period_number} gives no cover", code="policy_not_in_force")
        if not p.is_collected and not p.collecting_extra:  # an unpaid extra premium is arrears
            raise Conflict(
                f"the premium for period {period_number} is not collected "
                f"({p.collected:,} of {p.premium:,} yen)",
                code="premium_not_collected",
            )
        for section, amount in sections.items():
            if section not in limits:
                raise InvalidInput(f"unknown section {section!r}", code="unknown_section")
            _check_yen(amount, section)
            if amount and p.paid[section] + amount > limits[section]:
                raise Conflict(
                    f"{section}: paying {amount:,} would exceed the period limit "
                    f"({p.paid[section]:,} of {limits[section]:,} paid)",
                    code="limit_exceeded",
                )
            used = p.claim_paid.get(claim_id.hex, {}).get(section, 0)
            if amount and used + amount > limits[section]:
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
        cover: dict[str, Any] | None = None,
        rerate: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        rounding_unit: int = 10,
        paid_claims_discovered: Mapping[str, datetime] | None = None,
        next_charge: Callable[[], tuple[date, date]] | None = None,
        claims_discovered: Mapping[str, datetime] | None = None,
    ) -> dict[str, Any]:
        """A mid-term change effective at ``effective_at`` inside the current period.

        Holder and bank-account changes have no premium effect and may be back-dated freely.
        ``cover`` changes terms: ``rerate(terms)`` (the period's tariff version) gives the new
        annual premium and limits; the premium delta is pro rata by whole months not yet begun.
        An endorsement effective before cover endorsements already recorded in the period is
        applied in effective order: the later ones are reversed and re-applied on top. Refused
        (409) when effective at or before the discovery of a claim paid in the period.
        ``next_charge()`` gives the (nominal, actual) first debit date of an extra premium.
        """
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
        number = len(getattr(self, "endorsements", [])) + 1
        stack = list(p.cover_stack)
        earlier = [x for x in stack if x["effective_at"] <= effective_at]
        later = [x for x in stack if x["effective_at"] > effective_at]
        before = earlier[-1]["terms"] if earlier else p.terms_at(p.start)
        asked = {k: v for k, v in (cover or {}).items() if k in COVER_TERMS}
        if "plan" in asked and asked["plan"] != "E" and "liability_limit" not in asked:
            asked["liability_limit"] = None
        asked = {k: v for k, v in asked.items() if before.get(k) != v}
        changed = [k for k, v in (("holder", new_holder), ("bank_account", bank_account)) if v is not None]
        changed += sorted(asked)
        if not changed:
            raise InvalidInput("the endorsement changes nothing", code="nothing_to_endorse")
        terms: dict[str, Any] | None = None
        months_left = 0
        delta = 0
        reapplied: list[dict[str, Any]] = []
        if asked:
            if rerate is None:
                raise InvalidInput("cover terms need re-rating", code="endorsement_change_not_supported")
            behind = _paid_claims_discovered_from(p, effective_at, paid_claims_discovered)
            if behind:
                raise Conflict(
                    f"a change of cover terms effective {effective_at.isoformat()} is before the "
                    f"discovery of paid claim(s) {', '.join(behind)}; their settlement would change",
                    code="paid_claims_after_effective_date",
                    claims=behind,
                )
            terms = rerate({**before, **asked})
            months_left = _whole_months_left(effective_at, p.end)
            delta = prorate_delta(
                terms["annual_premium"] - before["annual_premium"], months_left, rounding_unit
            )
            prev = terms
            for item in later:  # re-applied on top, in effective order, re-rated and re-priced
                t = rerate({**prev, **item["cover"]})
                m = item["months_left"]
                reapplied.append(
                    {
                        **item,
                        "terms": t,
                        "premium_delta": prorate_delta(
                            t["annual_premium"] - prev["annual_premium"], m, rounding_unit
                        ),
                    }
                )
                prev = t
        else:
            later = []
        # The money of the whole change, decided once and recorded on its last event.
        premium_after = (
            p.premium
            + delta
            + sum(r["premium_delta"] - x["premium_delta"] for r, x in zip(reapplied, later, strict=True))
        )
        refund = max(0, p.net_collected - premium_after)
        charge = None
        if premium_after > p.net_collected and p.is_collected and p.debits and next_charge is not None:
            nominal, actual = next_charge()
            charge = {
                "since": len(p.debits),
                "nominal_debit_date": nominal,
                "debit_date": actual,
                "next_debit_date": actual,
            }
        elif premium_after > p.net_collected and p.collecting_extra and later:
            # The batch's reversals take the open extra premium off for a moment: the last event
            # states the stream again (its next debit date unchanged) for the views.
            charge = {
                "since": p.charge_since,
                "nominal_debit_date": p.charge_nominal_debit_date,
                "debit_date": p.charge_debit_date,
                "next_debit_date": p.next_debit_date,
            }
        last_is_endorsed = not reapplied
        # Claims of the period whose limits at discovery the change moves (recorded for the views).
        after_stack = sorted(
            [
                *(x for x in stack if x["effective_at"] <= effective_at),
                *([{"number": number, "effective_at": effective_at, "terms": terms}] if terms else []),
                *(
                    {"number": r["number"], "effective_at": r["effective_at"], "terms": r["terms"]}
                    for r in reapplied
                ),
            ],
            key=_order,
        )
        claim_limits: dict[str, dict[str, int]] = {}
        for hex_id, discovered in (claims_discovered or {}).items():
            old = p.limits_at(discovered)
            new = next(
                (x["terms"]["limits"] for x in reversed(after_stack) if x["effective_at"] <= discovered),
                (p.base_terms or period_terms(p.__dict__))["limits"],
            )
            if dict(new) != old:
                claim_limits[hex_id] = dict(new)
        for x in reversed(later):
            self._endorsement_reversed(
                number=x["number"],
                period_number=p.number,
                by_number=number,
                premium_delta=x["premium_delta"],
                refund=0,
                charge=None,
                claim_limits={},
            )
        self._endorsed(
            number=number,
            period_number=p.number,
            effective_at=effective_at,
            holder=new_holder,
            bank_account=dict(bank_account) if bank_account else None,
            changed=changed,
            premium_delta=delta,
            reason=reason,
            cover=asked,
            terms=terms,
            months_left=months_left,
            refund=refund if last_is_endorsed else 0,
            charge=charge if last_is_endorsed else None,
            claim_limits=claim_limits if last_is_endorsed else {},
        )
        for i, r in enumerate(reapplied):
            last = i == len(reapplied) - 1
            self._endorsement_reapplied(
                number=r["number"],
                period_number=p.number,
                by_number=number,
                effective_at=r["effective_at"],
                cover=dict(r["cover"]),
                terms=r["terms"],
                months_left=r["months_left"],
                premium_delta=r["premium_delta"],
                refund=refund if last else 0,
                charge=charge if last else None,
                claim_limits=claim_limits if last else {},
            )
        return next(e for e in self.endorsements if e["number"] == number)

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
        cover: dict[str, Any],
        terms: dict[str, Any] | None,
        months_left: int,
        refund: int,
        charge: dict[str, Any] | None,
        claim_limits: dict[str, dict[str, int]] | None = None,
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
                "cover": dict(cover or {}),
                "premium_delta": premium_delta,
                "months_left": months_left,
                "reapplied": 0,
                "reason": reason,
            },
        ]
        if terms is not None:
            self._stack_cover(period_number, number, effective_at, cover, terms, months_left, premium_delta)
        self._settle_change(period_number, refund, charge)

    @event(EndorsementReversed)
    def _endorsement_reversed(
        self,
        number: int,
        period_number: int,
        by_number: int,
        premium_delta: int,
        refund: int,
        charge: dict[str, Any] | None,
        claim_limits: dict[str, dict[str, int]] | None = None,
    ) -> None:
        p = self.periods[period_number - 1]
        p.cover_stack = [x for x in p.cover_stack if x["number"] != number]
        p.premium -= premium_delta
        self._follow_terms(p)
        self._settle_change(period_number, refund, charge)

    @event(EndorsementReapplied)
    def _endorsement_reapplied(
        self,
        number: int,
        period_number: int,
        by_number: int,
        effective_at: datetime,
        cover: dict[str, Any],
        terms: dict[str, Any],
        months_left: int,
        premium_delta: int,
        refund: int,
        charge: dict[str, Any] | None,
        claim_limits: dict[str, dict[str, int]] | None = None,
    ) -> None:
        self._stack_cover(period_number, number, effective_at, cover, terms, months_left, premium_delta)
        for e in self.endorsements:
            if e["number"] == number:
                e["premium_delta"] = premium_delta
                e["reapplied"] = e.get("reapplied", 0) + 1
        self._settle_change(period_number, refund, charge)

    def _stack_cover(
        self,
        period_number: int,
        number: int,
        effective_at: datetime,
        cover: dict[str, Any],
        terms: dict[str, Any],
        months_left: int,
        premium_delta: int,
    ) -> None:
        p = self.periods[period_number - 1]
        item = {
            "number": number,
            "effective_at": effective_at,
            "cover": dict(cover),
            "terms": dict(terms),
            "months_left": months_left,
            "premium_delta": premium_delta,
        }
        p.cover_stack = sorted([*p.cover_stack, item], key=_order)
        p.premium += premium_delta
        self._follow_terms(p)

    def _follow_terms(self, p: Period) -> None:
        """The period's (and the policy's, for renewal) terms are those after every endorsement."""
        t = p.terms_at(None)
        p.limits = dict(t["limits"])
        p.network_rider = t["network_rider"]
        p.annual_premium = t["annual_premium"]
        for s in p.limits:
            p.paid.setdefault(s, 0)
        if p.number == len(self.periods):
            self.plan = t["plan"]
            self.liability_limit = t["liability_limit"]
            self.network_rider = t["network_rider"]
            self.annual_sales = t["annual_sales"]

    def _settle_change(self, period_number: int, refund: int, charge: dict[str, Any] | None) -> None:
        p = self.periods[period_number - 1]
        p.refunded += refund
        if charge is not None:
            p.charge_since = charge["since"]
            p.charge_nominal_debit_date = charge["nominal_debit_date"]
            p.charge_debit_date = charge["debit_date"]

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


def _paid_claims_discovered_from(
    period: Any, effective_at: datetime, paid_claims_discovered: Mapping[str, datetime] | None
) -> list[str]:
    """The claims (hex ids, sorted) with money paid from ``period`` that were discovered at or after
    ``effective_at``: a back-dated cancellation or cover change would alter their settlement."""
    return sorted(
        hex_id
        for hex_id, discovered in (paid_claims_discovered or {}).items()
        if sum(period.claim_paid.get(hex_id, {}).values()) > 0 and effective_at <= discovered
    )


def _whole_months_left(moment: datetime, end: datetime) -> int:
    """Whole months from ``moment`` to ``end`` not yet begun (a begun month is earned)."""
    a, b = moment.astimezone(TOKYO), end.astimezone(TOKYO)
    months = (b.year - a.year) * 12 + b.month - a.month
    if (a.day, a.time()) > (b.day, b.time()):
        months -= 1
    return max(0, months)
