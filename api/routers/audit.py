"""Tamper evidence for auditors: verification of the hash chain, signed checkpoints, closings."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from policy_core.audit.cli import verification

from ..deps import Operator, Reader, RuntimeDep

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
