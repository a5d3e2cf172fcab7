from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Request, Response

from policy_core.aggregates.claim import Claim

from ..deps import AppDep, Operator, Reader
from ..presenters import claim_view, event_view, payment_view, tokyo
from ..responses import (
    ClaimOut,
    EventList,
    PaidClaim,
    PaymentList,
    PaymentOut,
    ReversedClaim,
    SettlementPreview,
    typed,
)
from ..schemas import (
    AsOf,
    ClaimClosure,
    ClaimDenial,
    ClaimReport,
    Correction,
    LossAssessment,
    LossCorrection,
    ReserveRequest,
)
from ..tabular import answer

router = APIRouter(tags=["claims"])
PaymentNumber = Annotated[
    int, Path(ge=1, le=100_000, description="the payment's number on the claim, from 1")
]


def claim_location(claim_id: UUID, *rest: object) -> str:
    return "/".join(["/api/v1/claims", str(claim_id), *(str(r) for r in rest)])


@router.post("/claims", status_code=201, **typed(ClaimOut, 201))
def report_claim(body: ClaimReport, app: AppDep, key: Operator, response: Response) -> dict[str, Any]:
    """Report an incident (事故報告) on a policy: recorded even when outside cover (then denied with the
    reason). 201 with ``Location``."""
    cid = app.report_incident(**body.model_dump(), record_if_outside_cover=True, actor=key.actor())
    response.headers["Location"] = claim_location(cid)
    return claim_view(app.get_claim(cid))


@router.get("/claims/{claim_id}", **typed(ClaimOut))
def get_claim(claim_id: UUID, app: AppDep, key: Reader, as_of: AsOf = None) -> dict[str, Any]:
    """The claim as recorded (``as_of``: as the system knew it then): losses, paid, reserve,
    incurred and recoveries per section (yen), payments."""
    return claim_view(app.get_claim(claim_id, as_of=as_of))


@router.get("/claims/{claim_id}/events", **typed(EventList))
def claim_events(claim_id: UUID, app: AppDep, key: Reader, as_of: AsOf = None) -> dict[str, Any]:
    """Every recorded event of the claim, oldest first, with actor metadata; ``as_of``: those the
    system had recorded at that moment."""
    return {"items": [event_view(e) for e in app.history(claim_id, cls=Claim, as_of=as_of)]}


@router.post("/claims/{claim_id}/losses", **typed(ClaimOut))
def assess_losses(claim_id: UUID, body: LossAssessment, app: AppDep, key: Operator) -> dict[str, Any]:
    """Add assessed loss items (yen; condolence with the number of recipients)."""
    app.assess_losses(claim_id, [i.model_dump() for i in body.items], actor=key.actor())
    return claim_view(app.get_claim(claim_id))


def _paid_at(app: Any, claim_id: UUID, as_of: Any = None) -> dict[int, Any]:
    return {
        e.payment_number: e.timestamp
        for e in app.history(claim_id, cls=Claim, as_of=as_of)
        if isinstance(e, Claim.ClaimPaid)
    }


@router.post("/claims/{claim_id}/payments", status_code=201, **typed(PaidClaim, 201))
def pay_claim(claim_id: UUID, app: AppDep, key: Operator, response: Response) -> dict[str, Any]:
    """Pay what newly became payable, decided section by section (condolence cap, deductible,
    coinsurance, per-accident and period limits) and recorded with the explanation; 201 with
    ``Location`` of the payment. 409 when the premium is not collected or nothing is payable."""
    payment = app.pay_claim(claim_id, actor=key.actor())
    number = payment["payment_number"]
    response.headers["Location"] = claim_location(claim_id, "payments", number)
    claim = app.get_claim(claim_id)
    return {
        "payment": payment_view(claim, claim.payment(number), _paid_at(app, claim_id).get(number)),
        "claim": claim_view(claim),
    }


@router.get("/claims/{claim_id}/payments", **typed(PaymentList, csv=True))
def list_payments(
    claim_id: UUID, app: AppDep, key: Reader, request: Request, as_of: AsOf = None
) -> dict[str, Any]:
    """Every recorded payment of the claim, oldest first, each with its settlement as decided;
    ``as_of``: the payments the system had recorded at that moment."""
    claim = app.get_claim(claim_id, as_of=as_of)
    paid_at = _paid_at(app, claim_id, as_of)
    items = [payment_view(claim, p, paid_at.get(p["payment_number"])) for p in claim.payments]
    return answer(request, {"items": items}, items, filename=f"payments-{claim_id}")


@router.get("/claims/{claim_id}/payments/{number}", **typed(PaymentOut))
def get_payment(
    claim_id: UUID, number: PaymentNumber, app: AppDep, key: Reader, as_of: AsOf = None
) -> dict[str, Any]:
    """One recorded payment: the settlement decided then, section by section, with the recorded
    explanation of each step (gross loss, cap, deductible, coinsurance, limits); ``as_of``: as the
    system had recorded it at that moment (404 before it was paid)."""
    claim = app.get_claim(claim_id, as_of=as_of)
    return payment_view(claim, claim.payment(number), _paid_at(app, claim_id, as_of).get(number))


@router.get("/claims/{claim_id}/settlement-preview", **typed(SettlementPreview))
def settlement_preview(claim_id: UUID, app: AppDep, key: Reader, as_of: AsOf = None) -> dict[str, Any]:
    """What ``POST /claims/{id}/payments`` would pay now, section by section, decided exactly as a
    payment would be; records nothing. ``as_of``: what a payment would have paid on what the
    system had recorded at that moment (the claim and its policy as they stood then)."""
    return tokyo(app.settlement_preview(claim_id, as_of=as_of))


@router.post("/claims/{claim_id}/denial", **typed(ClaimOut))
def deny_claim(claim_id: UUID, body: ClaimDenial, app: AppDep, key: Operator) -> dict[str, Any]:
    """Deny the claim with a reason from the closed set and a message to the member."""
    app.deny_claim(claim_id, reason=body.reason, message=body.message, actor=key.actor())
    return claim_view(app.get_claim(claim_id))


@router.post("/claims/{claim_id}/closure", **typed(ClaimOut))
def close_claim(claim_id: UUID, body: ClaimClosure, app: AppDep, key: Operator) -> dict[str, Any]:
    """Close the claim (its reserve is released)."""
    app.close_claim(claim_id, reason=body.reason, actor=key.actor())
    return claim_view(app.get_claim(claim_id))


# ---------------------------------------------------------------- reserves and corrections (issue 11)
@router.post("/claims/{claim_id}/reserve", **typed(ClaimOut))
def set_reserve(claim_id: UUID, body: ReserveRequest, app: AppDep, key: Operator) -> dict[str, Any]:
    """Set the case reserve (支払備金) of the named sections; a repeat of the same reserve records nothing."""
    sections = {str(section): amount for section, amount in body.sections.items()}
    app.set_reserve(claim_id, sections=sections, reason=body.reason, actor=key.actor())
    return claim_view(app.get_claim(claim_id))


@router.post("/claims/{claim_id}/payments/{number}/reversal", status_code=201, **typed(ReversedClaim, 201))
def reverse_payment(
    claim_id: UUID, number: PaymentNumber, body: Correction, app: AppDep, key: Operator, response: Response
) -> dict[str, Any]:
    """Reverse one payment in full (the claim's and the period's paid limits are restored); 201 with
    ``Location`` of the reversed payment."""
    payment = app.reverse_payment(claim_id, number, reason=body.reason, actor=key.actor())
    response.headers["Location"] = claim_location(claim_id, "payments", number)
    return {
        "reversal": {"payment": number, "total": payment["total"], "reason": body.reason},
        "claim": claim_view(app.get_claim(claim_id)),
    }


@router.post("/claims/{claim_id}/losses/{item}/correction", **typed(ClaimOut))
def correct_loss(
    claim_id: UUID,
    item: Annotated[int, Path(ge=1, le=100_000)],
    body: LossCorrection,
    app: AppDep,
    key: Operator,
) -> dict[str, Any]:
    """Correct a loss item's amount (yen) or recipients; a payment already made on it leaves a
    recovery due."""
    app.correct_loss(
        claim_id, item, amount=body.amount, recipients=body.recipients, reason=body.reason, actor=key.actor()
    )
    return claim_view(app.get_claim(claim_id))


@router.post("/claims/{claim_id}/losses/{item}/withdrawal", **typed(ClaimOut))
def withdraw_loss(
    claim_id: UUID, item: Annotated[int, Path(ge=1, le=100_000)], body: Correction, app: AppDep, key: Operator
) -> dict[str, Any]:
    """Withdraw a loss item; a payment already made on it leaves a recovery due."""
    app.withdraw_loss(claim_id, item, reason=body.reason, actor=key.actor())
    return claim_view(app.get_claim(claim_id))


@router.post("/claims/{claim_id}/reopening", **typed(ClaimOut))
def reopen_claim(claim_id: UUID, body: Correction, app: AppDep, key: Operator) -> dict[str, Any]:
    """Reopen a closed or denied claim."""
    app.reopen_claim(claim_id, reason=body.reason, actor=key.actor())
    return claim_view(app.get_claim(claim_id))
