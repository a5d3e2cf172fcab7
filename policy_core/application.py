"""The application service: use cases for the back office, reads for auditors.

Every command validates and decides first (pure functions), then records
decided facts. Commands a scheduler may repeat (activate, debit for period N,
renew into N+1, lapse, expire) are idempotent. A stale save
(``IntegrityError``: another writer got there first) re-runs the command
against the new state.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, JSONTranscoder, StoredEvent, Transcoding
from psycopg import sql
from psycopg.rows import tuple_row

from .aggregates.claim import CLOSED, DENIED, Claim
from .aggregates.policy import DebitAttempt, Period, Policy
from .bank import validate_bank_account
from .bank_directory import check_bank_and_branch
from .calendar import boundary, debit_date_for_attempt, require_date
from .errors import Conflict, DomainError, InvalidInput, NotFound
from .holidays import is_bank_holiday
from .quoting import PeriodDecision, decide_first_period, decide_renewal
from .scheme import Scheme, get_scheme, load_scheme
from .settlement import (
    CAUSES,
    DENIAL_REASONS,
    Settlement,
    SettlementTerms,
    coverage_denial,
    settle,
    validate_loss_item,
)

log = logging.getLogger("policy_core.application")

APPLICATION_NAME = "policy_admin"
MAX_RETRIES = 20

T = TypeVar("T")


def fold(aggregate: Any, events: Iterable[Any]) -> Any:
    """Apply events in order: the library's projector minus its per-event runtime protocol check
    (half the replay time, measured in docs/performance.md)."""
    for e in events:
        aggregate = e.mutate(aggregate)
    return aggregate


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


@dataclass(frozen=True)
class DebitOutcome:
    """One debit attempt's result, as the bank reported it."""

    policy_id: UUID
    period_number: int
    attempt: int
    debit_date: date
    success: bool
    amount: int = 0
    result_code: str = "0"
    reason: str = "debited"
    reference: str | None = None


@dataclass(frozen=True)
class Actor:
    """Who did it: recorded in every event's metadata (never a secret)."""

    role: str
    key_id: str

    def as_metadata(self) -> dict[str, str]:
        return {"role": self.role, "key_id": self.key_id}


SYSTEM = Actor(role="system", key_id="system")


def _aware(value: Any, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise InvalidInput(f"{name} must be a date and time with offset", code="invalid_datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(f"{name} must carry a timezone offset", code="naive_datetime")
    return value


def _text(value: Any, name: str, *, max_len: int = 200, required: bool = True) -> str:
    if not isinstance(value, str) or (required and not value.strip()):
        raise InvalidInput(f"{name} must be a non-empty string", code="invalid_text", field=name)
    if len(value) > max_len:
        raise InvalidInput(f"{name} is longer than {max_len} characters", code="invalid_text", field=name)
    if any(ord(c) < 32 and c not in "\t\n\r" for c in value):
        raise InvalidInput(f"{name} contains control characters", code="invalid_text", field=name)
    return value.strip()


class PeriodAsDict(Transcoding):
    """Policy snapshots hold Period dataclasses: encoded as their fields."""

    type = Period
    name = "policy_period"

    def encode(self, obj: Period) -> dict[str, Any]:
        return {f.name: getattr(obj, f.name) for f in fields(Period)}

    def decode(self, data: dict[str, Any]) -> Period:
        return Period(**data)


class DebitAttemptAsDict(Transcoding):
    type = DebitAttempt
    name = "policy_debit_attempt"

    def encode(self, obj: DebitAttempt) -> dict[str, Any]:
        return {f.name: getattr(obj, f.name) for f in fields(DebitAttempt)}

    def decode(self, data: dict[str, Any]) -> DebitAttempt:
        return DebitAttempt(**data)


SNAPSHOT_INTERVAL = 100


class PolicyAdministration(Application[UUID]):
    name = APPLICATION_NAME
    env = {"COMPRESSOR_TOPIC": ""}
    # A policy snapshot every 100 events: current and as-of reads start from the nearest one.
    snapshotting_intervals = {Policy: SNAPSHOT_INTERVAL}

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        is_holiday: Callable[[date], bool] = is_bank_holiday,
        participants: Callable[[str], int] | None = None,
    ) -> None:
        super().__init__(env)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.is_holiday = is_holiday
        # How many policies the scheme has in force: feeds the group discount.
        # The portfolio read model provides it; with none, no discount.
        self.participants = participants or (lambda scheme: 0)
        self.conflicts_retried = 0

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())
        transcoder.register(PeriodAsDict())
        transcoder.register(DebitAttemptAsDict())

    def _take_snapshots(self, processing_event: Any) -> None:
        """Snapshot when a save crosses a multiple of the interval (the library only checks
        whether it ends on one, so a multi-event save would skip it)."""
        if not self.snapshots:
            return
        # Counted once per save: a bulk save holds a thousand aggregates and twice as many events.
        new_events = Counter(e.originator_id for e in processing_event.events)
        for aggregate in processing_event.aggregates.values():
            interval = self.snapshotting_intervals.get(type(aggregate))
            if not interval:
                continue
            new = new_events[aggregate.id]
            if aggregate.version // interval > (aggregate.version - new) // interval:
                self.take_snapshot(aggregate.id, version=aggregate.version // interval * interval)

    # ------------------------------------------------------------------ plumbing
    def _retrying(self, command: Callable[[], T]) -> T:
        """Re-run a command that lost an optimistic-concurrency race."""
        for attempt in range(1, MAX_RETRIES + 1):
            try:
                return command()
            except IntegrityError:
                if attempt == MAX_RETRIES:
                    raise
                self.conflicts_retried += 1
                log.info("concurrency conflict, retrying", extra={"attempt": attempt})
        raise AssertionError("unreachable")

    def _save(self, *aggregates: Any, actor: Actor | None, command: str) -> None:
        metadata = {"actor": (actor or SYSTEM).as_metadata(), "command": command}
        for agg in aggregates:
            for e in agg.pending_events:
                object.__setattr__(e, "metadata", metadata)
        self.save(*aggregates)

    def _get(self, cls: type[T], aggregate_id: UUID) -> T:
        if not isinstance(aggregate_id, UUID):
            raise NotFound(
                f"{cls.__name__.lower()} {aggregate_id!r} not found", code=f"{cls.__name__.lower()}_not_found"
            )
        try:
            agg = self.repository.get(aggregate_id, projector_func=fold)
        except AggregateNotFoundError:
            raise NotFound(
                f"{cls.__name__.lower()} {aggregate_id} not found", code=f"{cls.__name__.lower()}_not_found"
            ) from None
        if not isinstance(agg, cls):
            raise NotFound(
                f"{cls.__name__.lower()} {aggregate_id} not found", code=f"{cls.__name__.lower()}_not_found"
            )
        return agg

    def scheme_of(self, policy: Policy) -> Scheme:
        return load_scheme(policy.scheme)

    # ------------------------------------------------------------------ quotes
    def quote(
        self,
        *,
        scheme: str,
        industry: str,
        annual_sales: int,
        plan: str,
        liability_limit: int | None = None,
        network_rider: bool = False,
        application_date: date,
        enrollment: str | None = None,
    ) -> PeriodDecision:
        s = get_scheme(scheme)
        return decide_first_period(
            s,
            industry=industry,
            annual_sales=annual_sales,
            plan=plan,
            liability_limit=liability_limit,
            network_rider=network_rider,
            application_date=application_date,
            enrollment=enrollment,
            participants=self.participants(scheme),
            is_holiday=self.is_holiday,
        )

    # ------------------------------------------------------------------ policies
    def apply(
        self,
        *,
        scheme: str,
        member_number: str,
        holder: dict[str, Any],
        industry: str,
        annual_sales: int,
        plan: str,
        liability_limit: int | None = None,
        network_rider: bool = False,
        bank_account: dict[str, Any],
        application_date: date,
        enrollment: str | None = None,
        actor: Actor | None = None,
    ) -> UUID:
        member_number = _text(member_number, "member_number", max_len=50)
        if not isinstance(holder, dict):
            raise InvalidInput("holder must be an object with at least a name", code="invalid_holder")
        holder = {k: v for k, v in holder.items() if v is not None}
        holder["name"] = _text(holder.get("name"), "holder.name")
        for k, v in holder.items():
            if not isinstance(v, str):
                raise InvalidInput(f"holder.{k} must be a string", code="invalid_holder")
        if not isinstance(bank_account, dict):
            raise InvalidInput("bank_account must be an object", code="invalid_bank_account")
        account = validate_bank_account(
            bank_account.get("bank_code"),
            bank_account.get("branch_code"),
            bank_account.get("account_type"),
            bank_account.get("account_number"),
            bank_account.get("holder_kana"),
        )
        check_bank_and_branch(account.bank_code, account.branch_code)
        decision = self.quote(
            scheme=scheme,
            industry=industry,
            annual_sales=annual_sales,
            plan=plan,
            liability_limit=liability_limit,
            network_rider=network_rider,
            application_date=application_date,
            enrollment=enrollment,
        )
        policy_id = Policy.id_for(scheme, member_number, decision.term.start)
        policy = Policy(
            id=policy_id,
            scheme=scheme,
            member_number=member_number,
            holder=holder,
            industry=industry,
            annual_sales=annual_sales,
            plan=plan,
            liability_limit=liability_limit if plan == "E" else None,
            network_rider=network_rider,
            bank_account=account.to_dict(),
            application_date=application_date,
            enrollment=decision.term.enrollment,
            period=decision.facts(),
        )
        try:
            self._save(policy, actor=actor, command="apply")
        except IntegrityError:  # the business-key id exists: the primary key decides, no pre-read
            raise Conflict(
                f"member {member_number} already applied to {scheme} for cover from "
                f"{decision.term.start.isoformat()}",
                code="already_applied",
                policy_id=str(policy_id),
            ) from None
        log.info("policy applied", extra={"policy_id": str(policy_id), "scheme": scheme, "plan": plan})
        return policy_id

    def activate(self, policy_id: UUID, period_number: int, *, actor: Actor | None = None) -> bool:
        def command() -> bool:
            policy = self._get(Policy, policy_id)
            if not policy.activate(period_number):
                return False
            self._save(policy, actor=actor, command="activate")
            return True

        return self._retrying(command)

    def record_debit_success(
        self,
        policy_id: UUID,
        period_number: int,
        *,
        attempt: int,
        amount: int,
        debit_date: date,
        reference: str | None = None,
        actor: Actor | None = None,
    ) -> bool:
        require_date(debit_date, "debit_date")
        outcome = DebitOutcome(
            policy_id, period_number, attempt, debit_date, True, amount=amount, reference=reference
        )
        return self._record_one_debit(outcome, actor, "record_debit_success")

    def record_debit_failure(
        self,
        policy_id: UUID,
        period_number: int,
        *,
        attempt: int,
        debit_date: date,
        result_code: str,
        reason: str,
        actor: Actor | None = None,
    ) -> bool:
        """A failed debit is retried on the next debit date; the last allowed failure lapses the policy."""
        require_date(debit_date, "debit_date")
        outcome = DebitOutcome(
            policy_id,
            period_number,
            attempt,
            debit_date,
            False,
            result_code=_text(result_code, "result_code", max_len=10),
            reason=_text(reason, "reason"),
        )
        return self._record_one_debit(outcome, actor, "record_debit_failure")

    def _record_one_debit(self, outcome: DebitOutcome, actor: Actor | None, command_name: str) -> bool:
        def command() -> bool:
            aggregates, _ = self._decide_debits([outcome])
            if not aggregates:
                return False
            self._save(*aggregates, actor=actor, command=command_name)
            return True

        return self._retrying(command)

    def _lapse(self, policy: Policy, period_number: int, reason: str) -> list[Claim]:
        """Lapse and deny the period's open claims: an uncollected period gives no cover."""
        if not policy.lapse(period_number, reason):
            return []
        denied = []
        for claim_hex in policy.period(period_number).claims:
            claim = self._get(Claim, UUID(claim_hex))
            if claim.status in (CLOSED, DENIED):
                continue
            if claim.deny("policy_not_in_force", f"policy lapsed for non-payment of period {period_number}"):
                denied.append(claim)
        return denied

    def lapse(
        self, policy_id: UUID, period_number: int, *, reason: str = "non_payment", actor: Actor | None = None
    ) -> bool:
        def command() -> bool:
            policy = self._get(Policy, policy_id)
            if policy.lapsed_at is not None:
                return False
            claims = self._lapse(policy, period_number, reason)
            self._save(policy, *claims, actor=actor, command="lapse")
            return True

        return self._retrying(command)

    def renew(self, policy_id: UUID, into_period: int, *, actor: Actor | None = None) -> bool:
        """Re-rate with the tariff in force at the anniversary and the latest declared sales."""

        def command() -> bool:
            policy = self._get(Policy, policy_id)
            if not self._renew_decided(policy, into_period):
                return False
            self._save(policy, actor=actor, command="renew")
            return True

        return self._retrying(command)

    def expire(self, policy_id: UUID, period_number: int, *, actor: Actor | None = None) -> bool:
        def command() -> bool:
            policy = self._get(Policy, policy_id)
            if not policy.expire(period_number):
                return False
            self._save(policy, actor=actor, command="expire")
            return True

        return self._retrying(command)

    def issue_renewal_notice(
        self, policy_id: UUID, period_number: int, *, issued_on: date, actor: Actor | None = None
    ) -> bool:
        def command() -> bool:
            policy = self._get(Policy, policy_id)
            if not policy.issue_renewal_notice(period_number, issued_on):
                return False
            self._save(policy, actor=actor, command="issue_renewal_notice")
            return True

        return self._retrying(command)

    def record_debit_results(
        self,
        results: Iterable[DebitOutcome],
        *,
        actor: Actor | None = None,
        batch_size: int = 500,
        loaded: dict[UUID, Policy] | None = None,
    ) -> dict[str, int]:
        """Record a debit run's results, many policies per atomic save (the store locks per write).

        ``loaded`` are policies the caller already read for this run (the debit run reads them
        for the bank accounts): used once instead of read again. A batch that loses a concurrency
        race, stale ``loaded`` copies included, is recorded again policy by policy from fresh
        reads (each idempotent).
        """
        loaded = dict(loaded or {})
        counts = {"debited": 0, "failed": 0, "lapsed": 0, "unchanged": 0}
        batch: list[DebitOutcome] = []

        def flush() -> None:
            if not batch:
                return
            try:
                aggregates, outcome = self._decide_debits(
                    batch, {r.policy_id: p for r in batch if (p := loaded.pop(r.policy_id, None)) is not None}
                )
                self._save(*aggregates, actor=actor, command="record_debit_results")
            except IntegrityError:
                outcome = {"debited": 0, "failed": 0, "lapsed": 0, "unchanged": 0}
                for r in batch:

                    def one(r: DebitOutcome = r) -> dict[str, int]:
                        aggs, o = self._decide_debits([r])
                        self._save(*aggs, actor=actor, command="record_debit_results")
                        return o

                    for k, v in self._retrying(one).items():
                        outcome[k] += v
            for k, v in outcome.items():
                counts[k] += v
            batch.clear()

        for r in results:
            batch.append(r)
            if len(batch) >= batch_size:
                flush()
        flush()
        return counts

    def _decide_debits(
        self, outcomes: list[DebitOutcome], loaded: dict[UUID, Policy] | None = None
    ) -> tuple[list[Any], dict[str, int]]:
        counts = {"debited": 0, "failed": 0, "lapsed": 0, "unchanged": 0}
        touched: dict[UUID, Any] = {}
        loaded = loaded or {}
        for o in outcomes:
            policy = touched.get(o.policy_id) or loaded.get(o.policy_id) or self._get(Policy, o.policy_id)
            touched[policy.id] = policy
            if o.success:
                changed = policy.record_debit(o.period_number, o.attempt, o.amount, o.debit_date, o.reference)
                counts["debited" if changed else "unchanged"] += 1
            else:
                scheme = self.scheme_of(policy)
                period = policy.period(o.period_number)
                last = o.attempt >= scheme.lapse_after_failed_debits
                next_date = (
                    None
                    if last
                    else debit_date_for_attempt(
                        scheme.calendar, period.nominal_debit_date, o.attempt + 1, self.is_holiday
                    )
                )
                changed = policy.record_debit_failure(
                    o.period_number, o.attempt, o.debit_date, o.result_code, o.reason, next_date
                )
                counts["failed" if changed else "unchanged"] += 1
                if changed and last and not policy.is_terminated:
                    for claim in self._lapse(
                        policy, o.period_number, f"non_payment: {o.attempt} failed debits"
                    ):
                        touched[claim.id] = claim
                    counts["lapsed"] += 1
        return [a for a in touched.values() if a.pending_events], counts

    def give_non_renewal_notice(
        self, policy_id: UUID, *, received_on: date, actor: Actor | None = None
    ) -> bool:
        require_date(received_on, "received_on")

        def command() -> bool:
            policy = self._get(Policy, policy_id)
            if not policy.give_non_renewal_notice(received_on):
                return False
            self._save(policy, actor=actor, command="give_non_renewal_notice")
            return True

        return self._retrying(command)

    def cancel(
        self, policy_id: UUID, *, effective_date: date, reason: str, actor: Actor | None = None
    ) -> None:
        """Cancellation takes effect at 16:00 Asia/Tokyo on ``effective_date``."""
        require_date(effective_date, "effective_date")
        reason = _text(reason, "reason")

        def command() -> None:
            policy = self._get(Policy, policy_id)
            policy.cancel(boundary(effective_date, self.scheme_of(policy).calendar), reason)
            self._save(policy, actor=actor, command="cancel")

        self._retrying(command)

    def declare_sales(
        self, policy_id: UUID, *, annual_sales: int, declared_on: date, actor: Actor | None = None
    ) -> None:
        require_date(declared_on, "declared_on")

        def command() -> None:
            policy = self._get(Policy, policy_id)
            policy.declare_sales(annual_sales, declared_on)
            self._save(policy, actor=actor, command="declare_sales")

        self._retrying(command)

    # ------------------------------------------------------------------ claims
    def report_incident(
        self,
        *,
        policy_id: UUID,
        occurred_at: datetime,
        discovered_at: datetime,
        cause: str,
        records_affected: int,
        description: str,
        own_staff_information: bool = False,
        outside_japan: bool = False,
        record_if_outside_cover: bool = False,
        actor: Actor | None = None,
    ) -> UUID:
        """Open a claim. Not covered: recorded and denied at once with its reason.

        An incident discovered outside every period of cover is refused as bad input
        (nothing recorded) unless ``record_if_outside_cover`` asks to keep it on file
        as a denied claim (what the back office does with a notification).
        """
        occurred_at = _aware(occurred_at, "occurred_at")
        discovered_at = _aware(discovered_at, "discovered_at")
        if occurred_at > discovered_at:
            raise InvalidInput("occurred_at is after discovered_at", code="invalid_incident_dates")
        if discovered_at > self.clock():
            raise InvalidInput("discovered_at is in the future", code="invalid_incident_dates")
        if cause not in CAUSES:
            raise InvalidInput(
                f"unknown cause {cause!r}: expected one of {', '.join(CAUSES)}", code="unknown_cause"
            )
        if (
            isinstance(records_affected, bool)
            or not isinstance(records_affected, int)
            or records_affected < 0
        ):
            raise InvalidInput(
                "records_affected must be a non-negative integer", code="invalid_records_affected"
            )
        description = _text(description, "description", max_len=5000, required=False)
        for flag, name in (
            (own_staff_information, "own_staff_information"),
            (outside_japan, "outside_japan"),
        ):
            if not isinstance(flag, bool):
                raise InvalidInput(f"{name} must be true or false", code="invalid_flag")

        def command() -> UUID:
            policy = self._get(Policy, policy_id)
            period = policy.period_at(discovered_at)
            if period is None and not record_if_outside_cover:
                raise InvalidInput(
                    f"incident discovered at {discovered_at.isoformat()} is outside every period of cover of "
                    f"policy {policy_id}",
                    code="discovered_outside_cover",
                )
            denial = coverage_denial(
                cause=cause,
                network_rider=period.network_rider if period else policy.network_rider,
                discovered_in_cover=period is not None,
                policy_in_force=policy.in_force_at(discovered_at) if period else True,
                own_staff_information=own_staff_information,
                outside_japan=outside_japan,
            )
            claim = Claim(
                policy_id=policy.id,
                period_number=period.number if period else None,
                occurred_at=occurred_at,
                discovered_at=discovered_at,
                cause=cause,
                records_affected=records_affected,
                description=description,
                own_staff_information=own_staff_information,
                outside_japan=outside_japan,
            )
            if denial is not None:
                claim.deny(denial.reason, denial.message)
            if period is not None:
                policy.register_claim(claim.id, period.number)
                self._save(claim, policy, actor=actor, command="report_incident")
            else:
                self._save(claim, actor=actor, command="report_incident")
            return claim.id

        return self._retrying(command)

    def assess_losses(
        self, claim_id: UUID, items: Iterable[dict[str, Any]], *, actor: Actor | None = None
    ) -> None:
        if isinstance(items, (str, bytes, dict)) or not isinstance(items, Iterable):
            raise InvalidInput("items must be a list of loss items", code="no_loss_items")
        losses = [
            validate_loss_item(i.get("category"), i.get("risk"), i.get("amount"), i.get("recipients"))
            if isinstance(i, dict)
            else _bad_item()
            for i in items
        ]

        def command() -> None:
            claim = self._get(Claim, claim_id)
            claim.assess(losses)
            self._save(claim, actor=actor, command="assess_losses")

        self._retrying(command)

    def pay_claim(self, claim_id: UUID, *, actor: Actor | None = None) -> dict[str, Any]:
        """Pay what newly became payable; the claim and the period usage are saved atomically."""

        def command() -> dict[str, Any]:
            claim = self._get(Claim, claim_id)
            claim._check_open()
            policy = self._get(Policy, claim.policy_id)
            if claim.period_number is None:
                raise Conflict("claim has no period of cover", code="policy_not_in_force")
            period = policy.period(claim.period_number)
            settlement: Settlement = settle(
                self.terms_of(period),
                claim.loss_items(),
                paid_on_claim=claim.paid,
                period_paid=period.paid,
            )
            # The policy guards the invariant (collected premium, caps) before anything is recorded.
            payment_number = len(claim.payments) + 1
            policy.record_claim_payment(
                period.number, claim.id, payment_number, {s: r.paid for s, r in settlement.sections.items()}
            )
            payment = claim.pay(settlement, period.number)
            self._save(claim, policy, actor=actor, command="pay_claim")
            return payment

        return self._retrying(command)

    @staticmethod
    def terms_of(period: Any) -> SettlementTerms:
        return SettlementTerms(
            limits=dict(period.limits),
            deductible=period.deductible,
            expense_basic_coinsurance_percent=period.expense_basic_coinsurance_percent,
            condolence_cap_per_person=period.condolence_cap_per_person,
            network_rider=period.network_rider,
        )

    def deny_claim(self, claim_id: UUID, *, reason: str, message: str, actor: Actor | None = None) -> bool:
        if reason not in DENIAL_REASONS:
            raise InvalidInput(
                f"unknown denial reason {reason!r}: expected one of {', '.join(DENIAL_REASONS)}",
                code="unknown_denial_reason",
            )
        message = _text(message, "message", max_len=2000)

        def command() -> bool:
            claim = self._get(Claim, claim_id)
            if not claim.deny(reason, message):
                return False
            self._save(claim, actor=actor, command="deny_claim")
            return True

        return self._retrying(command)

    def close_claim(self, claim_id: UUID, *, reason: str, actor: Actor | None = None) -> bool:
        reason = _text(reason, "reason")

        def command() -> bool:
            claim = self._get(Claim, claim_id)
            if not claim.close(reason):
                return False
            self._save(claim, actor=actor, command="close_claim")
            return True

        return self._retrying(command)

    def renew_many(
        self,
        items: Iterable[tuple[UUID, int]],
        *,
        activate: bool = True,
        actor: Actor | None = None,
        batch_size: int = 500,
    ) -> dict[str, Any]:
        """Renew many policies into period ``n`` (and activate it), many per atomic save.

        The same decisions as ``renew`` then ``activate`` for each policy; what the anniversary
        run does for a whole scheme. The policies of a batch are read with one query. A batch that
        loses a concurrency race is done again policy by policy through ``renew``/``activate``
        (each idempotent). A policy the aggregate refuses is reported in ``errors`` and the
        rest of its batch goes on.
        """
        out: dict[str, Any] = {"renewed": 0, "activated": 0, "unchanged": 0, "errors": []}
        items = list(items)
        for start in range(0, len(items), batch_size):
            chunk = items[start : start + batch_size]
            policies = self.get_policies([pid for pid, _ in chunk])
            counts = {"renewed": 0, "activated": 0, "unchanged": 0}
            changed: list[Policy] = []
            errors = []
            for pid, n in chunk:
                try:
                    policy = policies.get(pid) or self._get(Policy, pid)
                except NotFound as exc:
                    errors.append(_job_error("anniversary", pid, exc))
                    continue
                # The callables run at once, inside the helper: the loop variables are current.
                _renew_then_activate(
                    pid,
                    lambda: self._renew_decided(policy, n),
                    (lambda: policy.activate(n)) if activate else None,
                    counts,
                    errors,
                )
                if policy.pending_events:
                    changed.append(policy)
            try:
                if changed:
                    self._save(*changed, actor=actor, command="renew")
            except IntegrityError:
                counts = {"renewed": 0, "activated": 0, "unchanged": 0}
                errors = []
                for pid, n in chunk:
                    _renew_then_activate(
                        pid,
                        lambda: self.renew(pid, n, actor=actor),
                        (lambda: self.activate(pid, n, actor=actor)) if activate else None,
                        counts,
                        errors,
                    )
            for k, v in counts.items():
                out[k] += v
            out["errors"].extend(errors)
        return out

    def _renew_decided(self, policy: Policy, into_period: int) -> bool:
        if not policy.check_renewable(into_period):
            return False
        decision = decide_renewal(
            self.scheme_of(policy),
            number=into_period,
            previous_end=policy.current_period.end,
            industry=policy.industry,
            annual_sales=policy.annual_sales,
            plan=policy.plan,
            liability_limit=policy.liability_limit,
            network_rider=policy.network_rider,
            participants=self.participants(policy.scheme),
            is_holiday=self.is_holiday,
        )
        policy.renew(decision.facts())
        return True

    # ------------------------------------------------------------------ reads
    def get_policies(self, policy_ids: Iterable[UUID]) -> dict[UUID, Policy]:
        """Many current policies read with one query (their whole histories), for bulk runs.

        Ids that are not policies are left out. Slower per policy than ``get_policy`` only for
        histories long enough to have snapshots, which a bulk run rarely meets.
        """
        ids = [i for i in dict.fromkeys(policy_ids) if isinstance(i, UUID)]
        if not ids:
            return {}
        recorder = self.recorder
        if not hasattr(recorder, "events_table_name"):  # not PostgreSQL (the in-memory store in unit tests)
            found = {}
            for i in ids:
                try:
                    found[i] = self._get(Policy, i)
                except NotFound:
                    pass
            return found
        statement = sql.SQL(
            "SELECT originator_id, originator_version, topic, state FROM {}.{}"
            " WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version"
        ).format(
            sql.Identifier(recorder.datastore.schema or "public"), sql.Identifier(recorder.events_table_name)
        )
        with recorder.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
            cur.execute(statement, [ids])
            rows = cur.fetchall()
        to_domain = self.mapper.to_domain_event
        histories: dict[UUID, list[Any]] = {}
        for oid, version, topic, state in rows:
            histories.setdefault(oid, []).append(to_domain(StoredEvent(oid, version, topic, bytes(state))))
        out = {}
        for oid, events in histories.items():
            if getattr(events[0], "originator_topic", None) == Policy.TOPIC:
                out[oid] = fold(None, events)
        return out

    def get_policy(self, policy_id: UUID, *, as_of: datetime | None = None) -> Policy:
        return self._read(Policy, policy_id, as_of)

    def get_claim(self, claim_id: UUID, *, as_of: datetime | None = None) -> Claim:
        return self._read(Claim, claim_id, as_of)

    def _read(self, cls: type[T], aggregate_id: UUID, as_of: datetime | None) -> T:
        if as_of is None:
            return self._get(cls, aggregate_id)
        as_of = _aware(as_of, "as_of")
        start = self._snapshot_before(aggregate_id, as_of) if cls is Policy else None
        if start is not None:
            later = self.events.get(aggregate_id, gt=start.originator_version)
            return fold(fold(None, [start]), (e for e in later if e.timestamp <= as_of))
        events = [e for e in self.history(aggregate_id, cls=cls) if e.timestamp <= as_of]
        if not events:
            raise NotFound(
                f"{cls.__name__.lower()} {aggregate_id} did not exist at {as_of.isoformat()}",
                code=f"{cls.__name__.lower()}_not_found",
            )
        return fold(None, events)

    def _snapshot_before(self, aggregate_id: UUID, as_of: datetime) -> Any:
        """The latest snapshot of a state last changed at or before ``as_of``.

        An aggregate's recorded timestamps rise with its version (each save follows a read of
        the previous state), so a binary search over the snapshot versions finds it, decoding
        one small event per probe."""
        if self.snapshots is None:
            return None
        latest = list(self.snapshots.get(aggregate_id, desc=True, limit=1))
        if not latest:
            return None
        if latest[0].state["_modified_on"] <= as_of:
            return latest[0]
        versions = list(range(SNAPSHOT_INTERVAL, latest[0].originator_version, SNAPSHOT_INTERVAL))
        lo, hi, best = 0, len(versions) - 1, None
        while lo <= hi:
            mid = (lo + hi) // 2
            event = next(iter(self.events.get(aggregate_id, gt=versions[mid] - 1, lte=versions[mid])))
            if event.timestamp <= as_of:
                best, lo = versions[mid], mid + 1
            else:
                hi = mid - 1
        if best is None:
            return None
        found = list(self.snapshots.get(aggregate_id, gt=best - 1, lte=best))
        return found[0] if found else None

    def history(self, aggregate_id: UUID, *, cls: type | None = None) -> list[Any]:
        """Every event of one aggregate, in order (the auditor's replay)."""
        if not isinstance(aggregate_id, UUID):
            raise NotFound(f"{aggregate_id!r} not found", code="not_found")
        events = list(self.events.get(aggregate_id))
        if not events or (cls is not None and getattr(events[0], "originator_topic", None) != cls.TOPIC):
            name = cls.__name__.lower() if cls else "aggregate"
            raise NotFound(f"{name} {aggregate_id} not found", code=f"{name}_not_found")
        return events


def _job_error(job: str, policy_id: UUID, exc: DomainError) -> dict[str, str]:
    return {"job": job, "policy_id": str(policy_id), "code": exc.code, "detail": exc.message}


def _renew_then_activate(
    policy_id: UUID,
    renew: Callable[[], bool],
    activate: Callable[[], bool] | None,
    counts: dict[str, int],
    errors: list[dict[str, str]],
) -> None:
    """One policy's anniversary, counted: renew, then (if renewing was not refused) activate."""
    try:
        counts["renewed" if renew() else "unchanged"] += 1
    except DomainError as exc:
        errors.append(_job_error("anniversary", policy_id, exc))
        return
    if activate is None:
        return
    try:
        counts["activated" if activate() else "unchanged"] += 1
    except DomainError as exc:
        errors.append(_job_error("activate", policy_id, exc))


def _bad_item() -> Any:
    raise InvalidInput("each loss item must be an object", code="invalid_loss_item")


__all__ = ["APPLICATION_NAME", "Actor", "PolicyAdministration", "SYSTEM"]
