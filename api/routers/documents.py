"""Documents a scheme office sends, as PDF: the certificate of cover and the payment advice.

Both come from recorded events only (see ``policy_core/usecases/documents.py``): asked for
again later, the same period or payment gives the same file."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query, Response

from policy_core.documents.certificate import render_certificate_pdf, render_payment_advice_pdf

from ..deps import AppDep, Reader
from ..responses import PDF_SCHEMA
from ..schemas import AsOf

router = APIRouter(tags=["documents"])

PDF: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/pdf": {"schema": PDF_SCHEMA}}, "description": "an A4 PDF in Japanese"}
}


def _pdf(data: bytes, filename: str) -> Response:
    return Response(
        content=data,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )


@router.get("/policies/{policy_id}/certificate.pdf", response_class=Response, responses=PDF)
def certificate(
    policy_id: UUID,
    app: AppDep,
    key: Reader,
    period: Annotated[int | None, Query(ge=1, le=10_000)] = None,
    as_of: AsOf = None,
) -> Response:
    """加入者証 for a period (default: the period in force now, else the latest), as recorded
    (``as_of``: as the system knew it then). A later endorsement issues a new certificate."""
    doc = app.certificate_of_cover(policy_id, period=period, as_of=as_of)
    return _pdf(render_certificate_pdf(doc), f"certificate-{policy_id}-{doc['facts']['period']}.pdf")


@router.get("/claims/{claim_id}/payments/{number}/advice.pdf", response_class=Response, responses=PDF)
def payment_advice(
    claim_id: UUID, number: Annotated[int, Path(ge=1, le=10_000)], app: AppDep, key: Reader
) -> Response:
    """保険金支払通知 for one recorded payment of a claim."""
    doc = app.payment_advice(claim_id, number)
    return _pdf(render_payment_advice_pdf(doc), f"payment-advice-{claim_id}-{number}.pdf")
