from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request, Response

from policy_core.aggregates.policy import Policy
from policy_core.calendar import TOKYO
from policy_core.errors import NotFound

from ..deps import AppDep, Operator, Reader, RuntimeDep
from ..presenters import event_view, masked_account, policy_view, tokyo
from ..responses import EndorsementList, EndorsementOut, EventList, PolicyLimits, PolicyOut, QuoteOut, typed
from ..schemas import (
    AsOf,
    CancellationRequest,
    Correction,
    EndorsementRequest,
    NonRenewalRequest,
    PolicyApplication,
    QuoteRequest,
    SalesDeclaration,
)
from ..tabular import answer

router = APIRouter(tags=["policies"])


def quote_view(decision: Any) -> dict[str, Any]:
    return tokyo(
        {
            "annual_premium": decision.annual_premium,
            "premium": decision.premium,
            "months": decision.term.months,
            "enrollment": decision.term.enrollment,
            "coverage_start": decision.term.start,
            "coverage_end": decision.term.end,
            "debit_date": decision.term.debit_date,
            "tariff_version": decision.rating.tariff_version,
            "limits": dict(decision.terms.limits),
            "deductible": decision.terms.deductible,
            "breakdown": decision.rating.to_dict(),
        }
    )


@router.post("/quotes", status_code=200, **typed(QuoteOut))
def create_quote(body: QuoteRequest, app: AppDep, key: Operator) -> dict[str, Any]:
    """The premium (yen) and the terms a policy would get: cover dates (Asia/Tokyo), months, debit
    date, limits and deductible (yen), the rating breakdown and tariff version. Records nothing."""
    return quote_view(app.quote(**body.model_dump()))


@router.post("/policies", status_code=201, **typed(PolicyOut, 201))
def apply_for_policy(
    body: PolicyApplication, app: AppDep, key: Operator, response: Response
) -> dict[str, Any]:
    """Record an application (加入申込): the period is decided and recorded (tariff, limits, debit
    date). 201 with ``Location``. The bank account number is masked in every answer."""
    data = body.model_dump()
    data["holder"] = {k: v for k, v in data["holder"].items() if v is not None}
    pid = app.apply(**data, actor=key.actor())
    response.headers["Location"] = f"/api/v1/policies/{pid}"
    return policy_view(app.get_policy(pid))


@router.get("/policies/{policy_id}", **typed(PolicyOut))
def get_policy(policy_id: UUID, app: AppDep, key: Reader, as_of: AsOf = None) -> dict[str, Any]:
    """The policy as recorded (``as_of``: as the system knew it then), every period with its limits,
    paid and remaining per section (yen)."""
    return policy_view(app.get_policy(policy_id, as_of=as_of))


@router.get("/policies/{policy_id}/events", **typed(EventList))
def policy_events(policy_id: UUID, app: AppDep, key: Reader, as_of: AsOf = None) -> dict[str, Any]:
    """Every recorded event of the policy, oldest first, with actor metadata; bank account numbers
    masked; ``as_of``: those the system had recorded at that moment."""
    return {"items": [event_view(e) for e in app.history(policy_id, cls=Policy, as_of=as_of)]}


@router.get(
    "/policies/{policy_id}/limits",
    **typed(PolicyLimits, description="Limits, paid and remaining per section"),
)
def policy_limits(
    policy_id: UUID,
    rt: RuntimeDep,
    key: Reader,
    period: int | None = Query(default=None, ge=1, le=10_000),
    as_of: AsOf = None,
) -> Response | dict[str, Any]:
    """From the limits read model; ``as_of`` replays the view over the policy's events up to then."""
    if as_of is None:
        # The view keeps this answer as JSON: sent as it is, no encoding per request.
        body = rt.read_models.limits_json(policy_id, period)
        if body is not None:
            return Response(content=body, media_type="application/json")
    if as_of is not None:
        from policy_core.audit.asof import limits_as_of

        answer = limits_as_of(rt.database, rt.app, policy_id, period, as_of)  # validates as_of
        if answer is not None:
            return answer
    answer = rt.app.limits_from_events(policy_id, period, as_of=as_of)
    return tokyo({**answer, "source": "events", "position": None})


@router.post("/policies/{policy_id}/cancellation", **typed(PolicyOut))
def cancel_policy(policy_id: UUID, body: CancellationRequest, app: AppDep, key: Operator) -> dict[str, Any]:
    """Cancel from an effective date (return premium per the scheme's short-rate rules), or void
    from inception (``void``: a first period with no claim)."""
    app.cancel(
        policy_id, effective_date=body.effective_date, reason=body.reason, void=body.void, actor=key.actor()
    )
    return policy_view(app.get_policy(policy_id))


def endorsement_view(e: Any, later: list[Any] | None = None) -> dict[str, Any]:
    """One endorsement as recorded, with what out-of-sequence re-applications changed since
    (``later``: the policy's endorsement events after it)."""
    changes: dict[str, Any] = {}
    if e.holder is not None:
        changes["holder"] = e.holder
    if e.bank_account is not None:
        changes["bank_account"] = masked_account(e.bank_account)
    changes.update(e.cover)
    terms, delta, months = e.terms, e.premium_delta, e.months_left
    refund, charge = e.refund, e.charge
    history: list[dict[str, Any]] = []
    for x in later or []:
        if isinstance(x, Policy.Endorsed) or x.number != e.number:
            continue
        kind = "reversed" if isinstance(x, Policy.EndorsementReversed) else "reapplied"
        history.append(
            {
                "action": kind,
                "by_endorsement": x.by_number,
                "premium_delta": x.premium_delta,
                "recorded_at": x.timestamp,
            }
        )
        if kind == "reapplied":
            terms, delta = x.terms, x.premium_delta
            refund, charge = refund + x.refund, x.charge or charge
    return tokyo(
        {
            "number": e.number,
            "effective_at": e.effective_at,
            "period": e.period_number,
            "changes": changes,
            "changed": list(e.changed),
            "premium_delta": delta,
            "months_left": months,
            "annual_premium": terms["annual_premium"] if terms else None,
            "limits": dict(terms["limits"]) if terms else None,
            "tariff_version": terms.get("tariff_version") if terms else None,
            "refund": refund,
            "extra_premium_debit_date": charge["debit_date"] if charge else None,
            "out_of_sequence": history,
            "reason": e.reason,
            "recorded_at": e.timestamp,
            "actor": (getattr(e, "metadata", None) or {}).get("actor"),
        }
    )


def endorsement_views(events: list[Any]) -> list[dict[str, Any]]:
    return [
        endorsement_view(e, events[i + 1 :]) for i, e in enumerate(events) if isinstance(e, Policy.Endorsed)
    ]


@router.post("/policies/{policy_id}/endorsements", status_code=201, **typed(EndorsementOut, 201))
def endorse_policy(
    policy_id: UUID, body: EndorsementRequest, app: AppDep, key: Operator, response: Response
) -> dict[str, Any]:
    """A mid-term change (異動): holder details, a new direct-debit account, and/or cover terms
    (plan, liability_limit of plan E, network_rider, annual_sales) re-rated with a pro rata
    premium delta."""
    changes = body.changes.model_dump(exclude_none=True)
    done = app.endorse(
        policy_id, effective_date=body.effective_date, changes=changes, reason=body.reason, actor=key.actor()
    )
    response.headers["Location"] = f"/api/v1/policies/{policy_id}/endorsements/{done['number']}"
    views = endorsement_views(app.endorsement_history(policy_id))
    return next(v for v in views if v["number"] == done["number"])


@router.get("/policies/{policy_id}/endorsements", **typed(EndorsementList, csv=True))
def list_endorsements(
    policy_id: UUID, app: AppDep, key: Reader, request: Request, as_of: AsOf = None
) -> dict[str, Any]:
    """The endorsements in order, each with its out-of-sequence history; ``as_of``: those the
    system had recorded at that moment, as it knew them then. CSV on ``Accept: text/csv``."""
    items = endorsement_views(app.endorsement_history(policy_id, as_of))
    return answer(request, {"items": items}, items, filename=f"endorsements-{policy_id}")


@router.get("/policies/{policy_id}/endorsements/{number}", **typed(EndorsementOut))
def get_endorsement(
    policy_id: UUID,
    number: Annotated[int, Path(ge=1, le=100_000)],
    app: AppDep,
    key: Reader,
    as_of: AsOf = None,
) -> dict[str, Any]:
    """One recorded endorsement (異動) of the policy, by its number; ``as_of``: as the system had
    recorded it at that moment (404 before it was recorded)."""
    views = endorsement_views(app.endorsement_history(policy_id, as_of))
    if not 1 <= number <= len(views):
        raise NotFound(
            f"policy {policy_id} has no endorsement {number} ({len(views)} recorded)",
            code="endorsement_not_found",
        )
    return views[number - 1]


@router.post("/policies/{policy_id}/reinstatement", **typed(PolicyOut))
def reinstate_policy(policy_id: UUID, body: Correction, app: AppDep, key: Operator) -> dict[str, Any]:
    """Undo a cancellation within the reinstatement window (POLICY_REINSTATEMENT_WINDOW_DAYS)."""
    app.reinstate(policy_id, reason=body.reason, actor=key.actor())
    return policy_view(app.get_policy(policy_id))


@router.post("/policies/{policy_id}/non-renewal", **typed(PolicyOut))
def non_renewal(
    policy_id: UUID, app: AppDep, key: Operator, body: NonRenewalRequest | None = None
) -> dict[str, Any]:
    """Record the member's notice not to renew (default: received today, Asia/Tokyo); the policy
    expires at the end of the period."""
    received_on = (body.received_on if body else None) or app.clock().astimezone(TOKYO).date()
    app.give_non_renewal_notice(policy_id, received_on=received_on, actor=key.actor())
    return policy_view(app.get_policy(policy_id))


@router.post("/policies/{policy_id}/sales-declarations", **typed(PolicyOut))
def declare_sales(policy_id: UUID, body: SalesDeclaration, app: AppDep, key: Operator) -> dict[str, Any]:
    """Record a new declaration of annual sales (yen) for the next renewal's rating."""
    app.declare_sales(
        policy_id, annual_sales=body.annual_sales, declared_on=body.declared_on, actor=key.actor()
    )
    return policy_view(app.get_policy(policy_id))
