"""The policy lifecycle: apply, activate, renew, expire, lapse, notices, cancel, declare sales.

Commands a scheduler may repeat (activate, renew into N+1, lapse, expire, notices) are
idempotent: they return False when the fact is already recorded.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import date
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ..aggregates.claim import CLOSED, DENIED, Claim
from ..aggregates.policy import Policy
from ..aggregates.register import POLICY_NUMBERS, MemberRegister
from ..bank import validate_bank_account
from ..bank_directory import check_bank_and_branch
from ..bounds import check_business_date
from ..calendar import boundary, require_date, scheme_year
from ..cover_rules import check_no_overlap
from ..errors import Conflict, InvalidInput
from ..quoting import decide_renewal
from .common import Actor, change_one, text
from .registers import exists, get_or_none, keep_series, take_series

if TYPE_CHECKING:
    from ..application import PolicyAdministration

log = logging.getLogger("policy_core.application")


def apply(
    app: PolicyAdministration,
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
    member_number = text(member_number, "member_number", max_len=50)
    if not isinstance(holder, dict):
        raise InvalidInput("holder must be an object with at least a name", code="invalid_holder")
    holder = {k: v for k, v in holder.items() if v is not None}
    holder["name"] = text(holder.get("name"), "holder.name")
    for k, v in holder.items():
        if not isinstance(v, str):
            raise InvalidInput(f"holder.{k} must be a string", code="invalid_holder")
        holder[k] = text(v, f"holder.{k}", required=k in ("name", "name_kana", "kana", "representative"))
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
    decision = app.quote(
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
    calendar = app.scheme(scheme).calendar

    year = scheme_year(calendar, decision.term.start)
    attempts = 0

    def command() -> UUID:
        # The member's register and the year's number series are saved with the policy in one
        # atomic save: a racing application of the same member, or another policy taking the
        # same number, makes this save stale and the command re-runs against the winner.
        # The first attempt reads nothing: it takes a member's first application for granted
        # (a new register, a new policy id) and the series as this process last saved it. If
        # the member has a register, the policy exists, or the series moved on, the primary
        # keys refuse the save (nothing recorded) and the re-run reads and checks everything.
        nonlocal attempts
        attempts += 1
        optimistic = attempts == 1
        if optimistic:
            register = MemberRegister.open(scheme, member_number)
        else:
            stored = get_or_none(app, MemberRegister, MemberRegister.id_for(scheme, member_number))
            register = stored if stored is not None else MemberRegister.open(scheme, member_number)
            if any(e["policy_id"] == policy_id for e in register.policies) or exists(app, policy_id):
                if app.recorded_by_request(policy_id):
                    return policy_id  # a retry: the first attempt of this request applied
                raise Conflict(
                    f"member {member_number} already applied to {scheme} for cover from "
                    f"{decision.term.start.isoformat()}",
                    code="already_applied",
                    policy_id=str(policy_id),
                )
            check_no_overlap(
                [app._get(Policy, e["policy_id"]) for e in register.policies],
                member_number=member_number,
                start=decision.term.start,
                end=decision.term.end,
            )
        series = take_series(app, scheme, POLICY_NUMBERS, year, fresh=not optimistic)
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
            number=series.issue(policy_id),
        )
        register.enter(policy_id, decision.term.start)
        # The member's data key too is taken for new on the first attempt: made here and stored
        # by the save's own transaction (one commit per apply); a member who has a key already
        # makes that save fail like the register would, and the re-run reads the key.
        with app.keys_in_save() if optimistic else contextlib.nullcontext():
            app._save(policy, register, series, actor=actor, command="apply")
        keep_series(app, series)
        return policy_id

    app._retrying(command)
    log.info("policy applied", extra={"policy_id": str(policy_id), "scheme": scheme, "plan": plan})
    return policy_id


def activate(
    app: PolicyAdministration, policy_id: UUID, period_number: int, *, actor: Actor | None = None
) -> bool:
    return change_one(
        app, Policy, policy_id, lambda p: p.activate(period_number), actor=actor, command="activate"
    )


def lapse_with_claims(
    app: PolicyAdministration, policy: Policy, period_number: int, reason: str
) -> list[Claim]:
    """Lapse and deny the open claims of that period and of every later one: cover ends from
    the start of the unpaid period."""
    if not policy.lapse(period_number, reason):
        return []
    denied = []
    for period in policy.periods_without_cover_from(period_number):
        for claim_hex in period.claims:
            claim = app._get(Claim, UUID(claim_hex))
            if claim.status in (CLOSED, DENIED):
                continue
            if claim.deny("policy_not_in_force", f"policy lapsed for non-payment of period {period_number}"):
                denied.append(claim)
    return denied


def lapse(
    app: PolicyAdministration,
    policy_id: UUID,
    period_number: int,
    *,
    reason: str = "non_payment",
    actor: Actor | None = None,
) -> bool:
    def command() -> bool:
        policy = app._get(Policy, policy_id)
        if policy.lapsed_at is not None:
            return False
        claims = lapse_with_claims(app, policy, period_number, reason)
        app._save(policy, *claims, actor=actor, command="lapse")
        return True

    return app._retrying(command)


def renew_decided(app: PolicyAdministration, policy: Policy, into_period: int) -> bool:
    """Record the renewal into ``into_period`` on ``policy`` (not saved); False if already renewed."""
    if not policy.check_renewable(into_period):
        return False
    decision = decide_renewal(
        app.scheme_of(policy),
        number=into_period,
        previous_end=policy.current_period.end,
        industry=policy.industry,
        annual_sales=policy.annual_sales,
        plan=policy.plan,
        liability_limit=policy.liability_limit,
        network_rider=policy.network_rider,
        participants=app.participants(policy.scheme),
        is_holiday=app.is_holiday,
    )
    policy.renew(decision.facts())
    return True


def renew(
    app: PolicyAdministration, policy_id: UUID, into_period: int, *, actor: Actor | None = None
) -> bool:
    """Re-rate with the tariff in force at the anniversary and the latest declared sales."""

    return change_one(
        app, Policy, policy_id, lambda p: renew_decided(app, p, into_period), actor=actor, command="renew"
    )


def expire(
    app: PolicyAdministration, policy_id: UUID, period_number: int, *, actor: Actor | None = None
) -> bool:
    return change_one(
        app, Policy, policy_id, lambda p: p.expire(period_number), actor=actor, command="expire"
    )


def issue_renewal_notice(
    app: PolicyAdministration,
    policy_id: UUID,
    period_number: int,
    *,
    issued_on: date,
    actor: Actor | None = None,
) -> bool:
    return change_one(
        app,
        Policy,
        policy_id,
        lambda p: p.issue_renewal_notice(period_number, issued_on),
        actor=actor,
        command="issue_renewal_notice",
    )


def give_non_renewal_notice(
    app: PolicyAdministration, policy_id: UUID, *, received_on: date, actor: Actor | None = None
) -> bool:
    check_business_date(require_date(received_on, "received_on"), "received_on", now=app.clock())

    return change_one(
        app,
        Policy,
        policy_id,
        lambda p: p.give_non_renewal_notice(received_on),
        actor=actor,
        command="give_non_renewal_notice",
    )


def cancel(
    app: PolicyAdministration,
    policy_id: UUID,
    *,
    effective_date: date,
    reason: str,
    void: bool = False,
    actor: Actor | None = None,
) -> None:
    """Cancellation takes effect at 16:00 Asia/Tokyo on ``effective_date``; ``void`` cancels
    from inception (only a first period with no claim recorded)."""
    check_business_date(require_date(effective_date, "effective_date"), "effective_date", now=app.clock())
    reason = text(reason, "reason")

    def command() -> None:
        if app.recorded_by_request(policy_id):
            return  # a retry: the first attempt recorded the cancellation
        policy = app._get(Policy, policy_id)
        paid = {
            hex_id: app._get(Claim, UUID(hex_id)).discovered_at
            for hex_id, sections in policy.current_period.claim_paid.items()
            if sum(sections.values()) > 0
        }
        policy.cancel(
            boundary(effective_date, app.scheme_of(policy).calendar),
            reason,
            void=void,
            paid_claims_discovered=paid,
        )
        app._save(policy, actor=actor, command="cancel")

    app._retrying(command)


def declare_sales(
    app: PolicyAdministration,
    policy_id: UUID,
    *,
    annual_sales: int,
    declared_on: date,
    actor: Actor | None = None,
) -> None:
    check_business_date(require_date(declared_on, "declared_on"), "declared_on", now=app.clock())

    def command() -> None:
        if app.recorded_by_request(policy_id):
            return  # a retry: the first attempt recorded the declaration
        policy = app._get(Policy, policy_id)
        policy.declare_sales(annual_sales, declared_on)
        app._save(policy, actor=actor, command="declare_sales")

    app._retrying(command)
