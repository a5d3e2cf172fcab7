"""Claims: report an incident, assess losses, pay what became payable, deny, close.

Cover is decided when the incident is reported (period of discovery, causes, exclusions); a
payment is settled by the pure rules and guarded by the policy (collected premium, caps)
before the claim and the period's usage are saved in one atomic save.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from .. import requests
from ..aggregates.claim import Claim
from ..aggregates.policy import Policy
from ..aggregates.register import CLAIM_NUMBERS
from ..bounds import MAX_LOSS_ITEMS_PER_REQUEST, MAX_PEOPLE, check_int, check_moment
from ..calendar import scheme_year
from ..errors import Conflict, InvalidInput, NotFound
from ..settlement import (
    CAUSES,
    DENIAL_REASONS,
    Settlement,
    SettlementTerms,
    coverage_denial,
    settle,
    validate_loss_item,
)
from .common import Actor, aware, change_one, text
from .registers import number_series

if TYPE_CHECKING:
    from ..application import PolicyAdministration


def report_incident(
    app: PolicyAdministration,
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
    occurred_at = check_moment(aware(occurred_at, "occurred_at"), "occurred_at", now=app.clock())
    discovered_at = check_moment(aware(discovered_at, "discovered_at"), "discovered_at", now=app.clock())
    if occurred_at > discovered_at:
        raise InvalidInput("occurred_at is after discovered_at", code="invalid_incident_dates")
    if discovered_at > app.clock():
        raise InvalidInput("discovered_at is in the future", code="invalid_incident_dates")
    if cause not in CAUSES:
        raise InvalidInput(
            f"unknown cause {cause!r}: expected one of {', '.join(CAUSES)}", code="unknown_cause"
        )
    check_int(records_affected, "records_affected", high=MAX_PEOPLE, code="invalid_records_affected")
    description = text(description, "description", max_len=5000, required=False)
    for flag, name in (
        (own_staff_information, "own_staff_information"),
        (outside_japan, "outside_japan"),
    ):
        if not isinstance(flag, bool):
            raise InvalidInput(f"{name} must be true or false", code="invalid_flag")

    requested_id = requests.derived_id("claim")  # a keyed request: the same claim on every retry

    def command() -> UUID:
        if requested_id is not None and _exists(app, requested_id):
            return requested_id  # an earlier attempt of this request recorded it
        policy = app._get(Policy, policy_id)
        period = policy.period_at(discovered_at)
        if period is None and not record_if_outside_cover:
            raise InvalidInput(
                f"incident discovered at {discovered_at.isoformat()} is outside every period "
                f"of cover of policy {policy_id}",
                code="discovered_outside_cover",
            )
        denial = coverage_denial(
            cause=cause,
            network_rider=period.terms_at(discovered_at)["network_rider"] if period else policy.network_rider,
            discovered_in_cover=period is not None,
            policy_in_force=policy.in_force_at(discovered_at) if period else True,
            own_staff_information=own_staff_information,
            outside_japan=outside_japan,
        )
        new_id = requested_id or uuid4()
        year = scheme_year(app.scheme_of(policy).calendar, period.start if period else discovered_at)
        series = number_series(app, policy.scheme, CLAIM_NUMBERS, year)
        claim = Claim(
            id=new_id,
            number=series.issue(new_id),
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
            policy.register_claim(claim.id, period.number, discovered_at)
            app._save(claim, policy, series, actor=actor, command="report_incident")
        else:
            app._save(claim, series, actor=actor, command="report_incident")
        return claim.id

    return app._retrying(command)


def _exists(app: PolicyAdministration, claim_id: UUID) -> bool:
    try:
        app._get(Claim, claim_id)
    except NotFound:
        return False
    return True


def _bad_item() -> Any:
    raise InvalidInput("each loss item must be an object", code="invalid_loss_item")


def assess_losses(
    app: PolicyAdministration,
    claim_id: UUID,
    items: Iterable[dict[str, Any]],
    *,
    actor: Actor | None = None,
) -> None:
    if isinstance(items, (str, bytes, dict)) or not isinstance(items, Iterable):
        raise InvalidInput("items must be a list of loss items", code="no_loss_items")
    items = list(items)
    if len(items) > MAX_LOSS_ITEMS_PER_REQUEST:
        raise InvalidInput(
            f"at most {MAX_LOSS_ITEMS_PER_REQUEST:,} loss items per assessment", code="too_many_loss_items"
        )
    losses = [
        validate_loss_item(i.get("category"), i.get("risk"), i.get("amount"), i.get("recipients"))
        if isinstance(i, dict)
        else _bad_item()
        for i in items
    ]

    def command() -> None:
        if any(isinstance(e, Claim.LossesAssessed) for e in app.recorded_by_request(claim_id)):
            return  # a retry: the first attempt recorded these items
        claim = app._get(Claim, claim_id)
        claim.assess(losses)
        app._save(claim, actor=actor, command="assess_losses")

    app._retrying(command)


def terms_of(period: Any, discovered_at: Any = None) -> SettlementTerms:
    """The settlement terms a period recorded (limits, deductible, coinsurance, cap, rider), as in
    force for an incident discovered at ``discovered_at`` (a cover endorsement applies from its
    effective time; None: the terms after every endorsement)."""
    terms = period.terms_at(discovered_at)
    return SettlementTerms(
        limits=dict(terms["limits"]),
        deductible=period.deductible,
        expense_basic_coinsurance_percent=period.expense_basic_coinsurance_percent,
        condolence_cap_per_person=period.condolence_cap_per_person,
        network_rider=terms["network_rider"],
    )


def settlement_preview(
    app: PolicyAdministration, claim_id: UUID, as_of: datetime | None = None
) -> dict[str, Any]:
    """What a payment now would pay, section by section, as ``pay_claim`` would decide it, without
    recording anything (no event, no period usage). ``payable`` is False when nothing is newly
    payable or the claim is denied or closed (``reason`` says why). ``as_of`` (recorded time):
    decided on the claim and its policy as the system had recorded them at that moment."""
    claim = app.get_claim(claim_id, as_of=as_of)
    policy = app.get_policy(claim.policy_id, as_of=as_of)
    if claim.period_number is None:
        raise Conflict("claim has no period of cover", code="policy_not_in_force")
    period = policy.period(claim.period_number)
    settlement: Settlement = settle(
        terms_of(period), claim.loss_items(), paid_on_claim=claim.paid, period_paid=period.paid
    )
    reason = None
    if claim.status in ("denied", "closed"):
        reason = f"claim is {claim.status}"
    elif settlement.total <= 0:
        reason = "nothing newly payable on this claim"
    return {
        "claim_id": claim_id,
        "period": period.number,
        "payment_number": len(claim.payments) + 1,
        "payable": reason is None,
        "reason": reason,
        "settlement": settlement.to_dict(),
        "total": settlement.total,
    }


def pay_claim(app: PolicyAdministration, claim_id: UUID, *, actor: Actor | None = None) -> dict[str, Any]:
    """Pay what newly became payable; the claim and the period usage are saved atomically."""

    def command() -> dict[str, Any]:
        claim = app._get(Claim, claim_id)
        for e in app.recorded_by_request(claim_id):
            if isinstance(e, Claim.ClaimPaid):  # a retry: answer with the payment recorded then
                return claim.payments[e.payment_number - 1]
        claim._check_open()
        policy = app._get(Policy, claim.policy_id)
        if claim.period_number is None:
            raise Conflict("claim has no period of cover", code="policy_not_in_force")
        period = policy.period(claim.period_number)
        settlement: Settlement = settle(
            terms_of(period, claim.discovered_at),
            claim.loss_items(),
            paid_on_claim=claim.paid,
            period_paid=period.paid,
        )
        # The policy guards the invariant (collected premium, caps) before anything is recorded.
        payment_number = len(claim.payments) + 1
        policy.record_claim_payment(
            period.number,
            claim.id,
            payment_number,
            {s: r.paid for s, r in settlement.sections.items()},
            claim.discovered_at,
        )
        payment = claim.pay(settlement, period.number)
        claim.draw_down_reserve({s: r.paid for s, r in settlement.sections.items()})
        app._save(claim, policy, actor=actor, command="pay_claim")
        return payment

    return app._retrying(command)


def deny_claim(
    app: PolicyAdministration,
    claim_id: UUID,
    *,
    reason: str,
    message: str,
    actor: Actor | None = None,
) -> bool:
    if reason not in DENIAL_REASONS:
        raise InvalidInput(
            f"unknown denial reason {reason!r}: expected one of {', '.join(DENIAL_REASONS)}",
            code="unknown_denial_reason",
        )
    message = text(message, "message", max_len=2000)

    return change_one(
        app, Claim, claim_id, lambda c: c.deny(reason, message), actor=actor, command="deny_claim"
    )


def close_claim(
    app: PolicyAdministration, claim_id: UUID, *, reason: str, actor: Actor | None = None
) -> bool:
    reason = text(reason, "reason")

    return change_one(app, Claim, claim_id, lambda c: c.close(reason), actor=actor, command="close_claim")
