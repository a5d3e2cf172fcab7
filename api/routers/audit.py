"""Tamper evidence for auditors: verification of the hash chain, signed checkpoints, closings."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import Field

from policy_core.audit.cli import verification
from policy_core.scheme import get_scheme

from ..deps import Operator, Reader, RuntimeDep
from ..schemas import Strict

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("/verification")
def verify(rt: RuntimeDep, key: Reader) -> dict[str, Any]:
    """Recompute the chain from the stored events and check every signed checkpoint: ``ok``, or the
    first position where the history differs from what was sealed and how."""
    return verification(rt).to_dict()


@router.post("/checkpoints", status_code=201)
def checkpoint(rt: RuntimeDep, key: Operator) -> dict[str, Any]:
    """Seal up to the head and sign a checkpoint there now."""
    return rt.audit.checkpoint("on_demand")


@router.get("/checkpoints")
def checkpoints(
    rt: RuntimeDep, key: Reader, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> dict[str, Any]:
    """The latest signed checkpoints, newest first."""
    return {"items": rt.audit.checkpoints(limit=limit), "public_key_fingerprint": rt.audit.signer.fingerprint}


class ClosingRequest(Strict):
    scheme: Annotated[str, Field(min_length=1, max_length=50)]
    year: Annotated[int, Field(ge=2000, le=2200)]


@router.post("/closings", status_code=201)
def close_period(body: ClosingRequest, rt: RuntimeDep, key: Operator) -> dict[str, Any]:
    """Seal the log, compute the scheme year's totals per co-insurer from it at that position and
    record them as a signed statement."""
    from policy_core.audit.closings import close_period as close

    get_scheme(body.scheme)
    return close(rt, body.scheme, body.year, actor=key.actor().as_metadata())


@router.get("/closings")
def closings(
    rt: RuntimeDep,
    key: Reader,
    scheme: Annotated[str | None, Query(max_length=50)] = None,
    year: Annotated[int | None, Query(ge=2000, le=2200)] = None,
) -> dict[str, Any]:
    """Every recorded closing, oldest first (``GET /audit/verification`` says whether each is intact)."""
    from policy_core.audit.closings import list_closings

    return {"items": list_closings(rt, scheme=scheme, year=year)}
