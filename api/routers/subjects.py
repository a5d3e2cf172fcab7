"""Data subjects: erasure of a member's personal data (docs/personal-data.md)."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from policy_core.errors import NotFound
from policy_core.scheme import get_scheme

from ..deps import AppDep, Operator, Reader
from ..schemas import PathText, SchemePath

router = APIRouter(tags=["subjects"])

Scheme = SchemePath
Member = PathText


class ErasureRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500, description="why (a reference; never a name)")
    requested_on: date = Field(description="the day the member asked")


class ErasureStatus(BaseModel):
    status: str = Field(description="erased, already_erased, or (GET) pending")
    scheme: str
    member_number: str
    reason: str | None = None
    requested_on: date | None = None
    lawful_from: date | None = None
    blocked_by: str | None = None
    erased_at: str | None = None


@router.post(
    "/subjects/{scheme}/{member_number}/erasure",
    response_model=ErasureStatus,
    responses={404: {"description": "unknown member"}, 409: {"description": "not lawful yet: pending"}},
)
def request_erasure(
    scheme: Scheme, member_number: Member, body: ErasureRequest, app: AppDep, key: Operator
) -> dict[str, Any]:
    """Erase now if lawful; 409 with ``lawful_from`` (recorded as pending, carried out by
    ``run-due`` from that date) if not; 200 with ``already_erased`` the second time."""
    get_scheme(scheme)
    out = app.request_erasure(
        scheme=scheme,
        member_number=member_number,
        reason=body.reason,
        requested_on=body.requested_on,
        actor=key.actor(),
    )
    return out


@router.get("/subjects/{scheme}/{member_number}/erasure", response_model=ErasureStatus)
def erasure_status(scheme: Scheme, member_number: Member, app: AppDep, key: Reader) -> dict[str, Any]:
    """The erasure request of a member: erased, or pending with the date it becomes lawful."""
    get_scheme(scheme)
    found = app.subject_status(scheme, member_number)
    if found is None:
        raise NotFound(f"no erasure request for member {member_number} in {scheme}", code="erasure_not_found")
    return found
