"""Corrections as compensating events: payment reversal, loss corrections and withdrawals (with
the recovery due when the claim now owes less than was paid), reopening, reinstatement.

Every correction names what it corrects, records the reason and the actor (event metadata), and
leaves the original event untouched. Reversal and reinstatement save the claim and the policy
together so the period's usage and the claim's stay equal.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ..aggregates.claim import Claim
from ..aggregates.policy import Policy
from ..errors import Conflict, InvalidInput
from ..settlement import SECTIONS, settle, validate_loss_item
from .claims import terms_of
from .common import Actor, text

if TYPE_CHECKING:
    from ..application import PolicyAdministration

DEFAULT_REINSTATEMENT_WINDOW_DAYS = 30


def overpaid(claim: Claim, policy: Policy) -> dict[str, int]:
    """Per section, how much more the claim has been paid than it now owes (0 when it owes more).

    What it owes is the settlement of its current (live) losses with nothing paid yet, capped by
    the per-accident limit: the period aggregate can only lower a payment, never make it owed back.
    """
    if claim.period_number is None:
        return dict.fromkeys(SECTIONS, 0)
    period = policy.period(claim.period_number)
    owed = settle(terms_of(period, claim.discovered_at), claim.loss_items(), paid_on_claim={}, period_paid={})
    return {
        s: max(0, claim.paid.get(s, 0) - min(r.payable_for_accident, r.accident_limit))
        for s, r in owed.sections.items()
    }


def reverse_payment(
    app: PolicyAdministration, claim_id: UUID, payment_number: int, *, reason: str, actor: Actor | None = None
) -> dict[str, Any]:
    """Reverse a payment in full: the period's and the claim's used limits are restored."""
    reason = text(reason, "reason")

    def command() -> dict[str, Any]:
        claim = app._get(Claim, claim_id)
        if claim.period_number is None:
            raise Conflict("claim has no period of cover", code="policy_not_in_force")
        policy = app._get(Policy, claim.policy_id)
        payment = claim.reverse_payment(payment_number, reason)
        sections = {s: r["paid"] for s, r in payment["settlement"]["sections"].items() if r["paid"]}
        policy.record_claim_payment_reversal(claim.period_number, claim.id, payment_number, sections, reason)
        app._save(claim, policy, actor=actor, command="reverse_payment")
        return payment

    return app._retrying(command)


def _after_loss_change(app: PolicyAdministration, claim: Claim, reason: str) -> None:
    policy = app._get(Policy, claim.policy_id)
    claim.record_recovery_due(overpaid(claim, policy), f"loss correction: {reason}")


def correct_loss(
    app: PolicyAdministration,
    claim_id: UUID,
    item: int,
    *,
    amount: int | None = None,
    recipients: int | None = None,
    reason: str,
    actor: Actor | None = None,
) -> None:
    reason = text(reason, "reason")
    if amount is None and recipients is None:
        raise InvalidInput("give the corrected amount or recipients", code="nothing_to_correct")

    def command() -> None:
        claim = app._get(Claim, claim_id)
        before = claim.loss_item(item)
        corrected = validate_loss_item(
            before["category"],
            before["risk"],
            before["amount"] if amount is None else amount,
            before.get("recipients") if recipients is None else recipients,
        )
        claim.correct_loss(item, corrected, reason)
        _after_loss_change(app, claim, reason)
        app._save(claim, actor=actor, command="correct_loss")

    app._retrying(command)


def withdraw_loss(
    app: PolicyAdministration, claim_id: UUID, item: int, *, reason: str, actor: Actor | None = None
) -> None:
    reason = text(reason, "reason")

    def command() -> None:
        claim = app._get(Claim, claim_id)
        claim.withdraw_loss(item, reason)
        _after_loss_change(app, claim, reason)
        app._save(claim, actor=actor, command="withdraw_loss")

    app._retrying(command)


def reopen_claim(
    app: PolicyAdministration, claim_id: UUID, *, reason: str, actor: Actor | None = None
) -> None:
    reason = text(reason, "reason")

    def command() -> None:
        claim = app._get(Claim, claim_id)
        claim.reopen(reason)
        app._save(claim, actor=actor, command="reopen_claim")

    app._retrying(command)


def reinstate(app: PolicyAdministration, policy_id: UUID, *, reason: str, actor: Actor | None = None) -> None:
    """Undo a cancellation within the window (``app.reinstatement_window_days`` after it was recorded)."""
    reason = text(reason, "reason")

    def command() -> None:
        policy = app._get(Policy, policy_id)
        recorded: datetime | None = None
        for e in app._history(policy_id, cls=Policy):
            if isinstance(e, Policy.Cancelled):
                recorded = e.timestamp
        if recorded is None:
            raise Conflict(f"policy is {policy.status}, not cancelled", code="not_cancelled")
        policy.reinstate(
            reason,
            cancellation_recorded_at=recorded,
            # Recorded time against recorded time: the window runs from when the cancellation was
            # stored (its event timestamp) to now as the event store stamps it (UTC wall clock).
            now=datetime.now(UTC),
            window_days=getattr(app, "reinstatement_window_days", DEFAULT_REINSTATEMENT_WINDOW_DAYS),
        )
        app._save(policy, actor=actor, command="reinstate")

    app._retrying(command)
