"""Documents from recorded facts: the certificate of cover (加入者証) and the payment advice
(保険金支払通知).

Each builds a plain context from the aggregates' recorded events only (never a tariff, a
rule or the clock of the day), so a document re-issued later for the same period or payment
has the same content, down to its issue date: the certificate is dated by the recorded time of
the last event that changed what it prints, the advice by the payment's event. The holder's
name is read through the application's reads like every other read.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ..aggregates.claim import Claim
from ..aggregates.policy import Policy
from ..errors import NotFound
from ..scheme import load_scheme
from .common import aware, fold

if TYPE_CHECKING:
    from ..application import PolicyAdministration


def policy_reference(policy: Any) -> str:
    """The policy number where the policy has one, else its id (histories from before numbers)."""
    return getattr(policy, "number", None) or str(policy.id)


def _certificate_facts(policy: Policy, number: int) -> dict[str, Any]:
    p = policy.periods[number - 1]
    return {
        "policy_id": str(policy.id),
        "reference": policy_reference(policy),
        "scheme": policy.scheme,
        "member_number": policy.member_number,
        "holder": dict(policy.holder),
        "industry": policy.industry,
        "plan": policy.plan,
        "period": p.number,
        "enrollment": p.enrollment,
        "start": p.start,
        "end": p.end,
        "months": p.months,
        "limits": dict(p.limits),
        "deductible": p.deductible,
        "coinsurance_percent": p.expense_basic_coinsurance_percent,
        "condolence_cap": p.condolence_cap_per_person,
        "network_rider": p.network_rider,
        "annual_premium": p.annual_premium,
        "premium": p.premium,
        "debit_date": p.debit_date,
        "tariff_version": p.tariff_version,
        "annual_sales": p.basis.get("annual_sales") if isinstance(p.basis, dict) else None,
        "coinsurers": [dict(c) for c in p.coinsurers],
        "lapsed_at": p.lapsed_at,
        "cancelled_at": policy.cancelled_at if policy.cancelled_at and policy.cancelled_at < p.end else None,
    }


def certificate_of_cover(
    app: PolicyAdministration,
    policy_id: UUID,
    *,
    period: int | None = None,
    as_of: datetime | None = None,
) -> dict[str, Any]:
    """What the certificate for one period prints, and when that was last changed.

    ``period`` defaults to the period in force at ``as_of`` (or now), else the latest one."""
    if as_of is not None:
        as_of = aware(as_of, "as_of")
    policy = app.get_policy(policy_id, as_of=as_of)
    if period is None:
        current = policy.period_at(as_of or app.clock())
        number = current.number if current is not None else policy.current_period.number
    else:
        number = policy.period(period).number
    events = [e for e in app.history(policy_id, cls=Policy) if as_of is None or e.timestamp <= as_of]
    state: Any = None
    facts: dict[str, Any] | None = None
    issued_at = events[0].timestamp
    for e in events:
        state = e.mutate(state)
        if len(state.periods) < number:
            continue
        now = _certificate_facts(state, number)
        if now != facts:
            facts, issued_at = now, e.timestamp
    assert facts is not None
    scheme = load_scheme(policy.scheme)
    names = {c.key: c.name for c in scheme.coinsurers}
    facts["coinsurers"] = [
        {"name": names.get(c["key"], c["key"]), "share_bp": c["share_bp"]} for c in facts["coinsurers"]
    ]
    return {"facts": facts, "issued_at": issued_at, "scheme": scheme}


def _recorded_state(app: PolicyAdministration, cls: type, aggregate_id: UUID, moment: datetime) -> Any:
    """An aggregate as recorded up to a recorded moment of its own history (no input bounds:
    the moment is one of the store's timestamps)."""
    return fold(None, [e for e in app.history(aggregate_id, cls=cls) if e.timestamp <= moment])


def payment_advice(app: PolicyAdministration, claim_id: UUID, payment_number: int) -> dict[str, Any]:
    """The recorded settlement of one payment on a claim, with the claim and policy as they were
    recorded when it was paid."""
    claim = app.get_claim(claim_id)
    if (
        isinstance(payment_number, bool)
        or not isinstance(payment_number, int)
        or not 1 <= payment_number <= len(claim.payments)
    ):
        raise NotFound(
            f"claim {claim_id} has no payment {payment_number!r} ({len(claim.payments)} recorded)",
            code="payment_not_found",
        )
    paid_event = next(
        e
        for e in app.history(claim_id, cls=Claim)
        if isinstance(e, Claim.ClaimPaid) and e.payment_number == payment_number
    )
    paid_at = paid_event.timestamp
    claim_then = _recorded_state(app, Claim, claim_id, paid_at)
    policy = _recorded_state(app, Policy, claim.policy_id, paid_at)
    payment = claim_then.payments[payment_number - 1]
    period = policy.period(paid_event.period_number)
    return {
        "claim": claim_then,
        "claim_reference": getattr(claim_then, "number", None) or str(claim_id),
        "policy": policy,
        "policy_reference": policy_reference(policy),
        "period": period,
        "payment_number": payment_number,
        "settlement": payment["settlement"],
        "total": payment["total"],
        "previously_paid": sum(p["total"] for p in claim_then.payments[: payment_number - 1]),
        "paid_at": paid_at,
        "scheme": load_scheme(policy.scheme),
    }
