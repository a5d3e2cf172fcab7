"""Tamper evidence for auditors: verification of the hash chain, signed checkpoints, closings."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import Field

from policy_core.audit.cli import verification
from policy_core.scheme import get_scheme

from ..auth import ApiKey
from ..deps import Operator, Reader, RuntimeDep, require
from ..presenters import event_view
from ..responses import Checkpoint, CheckpointList, Closing, ClosingList, Dossier, VerificationOut, typed
from ..schemas import FilterText, SchemeKey, Strict

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("/verification", **typed(VerificationOut))
def verify(rt: RuntimeDep, key: Reader) -> dict[str, Any]:
    """Recompute the chain from the stored events and check every signed checkpoint: ``ok``, or the
    first position where the history differs from what was sealed and how."""
    return verification(rt).to_dict()


@router.post("/checkpoints", status_code=201, **typed(Checkpoint, 201))
def checkpoint(rt: RuntimeDep, key: Operator) -> dict[str, Any]:
    """Seal up to the head and sign a checkpoint there now."""
    return rt.audit.checkpoint("on_demand")


@router.get("/checkpoints", **typed(CheckpointList))
def checkpoints(
    rt: RuntimeDep, key: Reader, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> dict[str, Any]:
    """The latest signed checkpoints, newest first."""
    return {"items": rt.audit.checkpoints(limit=limit), "public_key_fingerprint": rt.audit.signer.fingerprint}


class ClosingRequest(Strict):
    scheme: SchemeKey
    year: Annotated[int, Field(ge=2000, le=2200)]


@router.post("/closings", status_code=201, **typed(Closing, 201))
def close_period(body: ClosingRequest, rt: RuntimeDep, key: Operator) -> dict[str, Any]:
    """Seal the log, compute the scheme year's totals per co-insurer from it at that position and
    record them as a signed statement."""
    from policy_core.audit.closings import close_period as close

    get_scheme(body.scheme)
    return close(rt, body.scheme, body.year, actor=key.actor().as_metadata())


@router.get("/closings", **typed(ClosingList))
def closings(
    rt: RuntimeDep,
    key: Reader,
    scheme: FilterText = None,
    year: Annotated[int | None, Query(ge=2000, le=2200)] = None,
) -> dict[str, Any]:
    """Every recorded closing, oldest first (``GET /audit/verification`` says whether each is intact)."""
    from policy_core.audit.closings import list_closings

    return {"items": list_closings(rt, scheme=scheme, year=year)}


dossier_router = APIRouter(tags=["audit"])
DOSSIER = typed(Dossier)
DOSSIER["responses"][200]["content"] = {
    "application/x-ndjson": {
        "schema": {
            "type": "string",
            "description": "format=jsonl: one JSON item per line (header, events, "
            "payments, chain, checkpoint, seal)",
        }
    }
}
Auditor = Annotated[ApiKey, Depends(require("auditor"))]


@dossier_router.get("/policies/{policy_id}/dossier", **DOSSIER)
def dossier(policy_id: UUID, rt: RuntimeDep, key: Auditor, format: Literal["json", "jsonl"] = "json") -> Any:
    """Every event of the policy and its claims with actor and command, each payment's explanation,
    the chain links, the latest signed checkpoint covering them, and a signed seal: verifiable
    offline with the public key (``policy_core.audit.dossier.verify_dossier``). ``format=jsonl``
    streams one item per line."""
    from policy_core.audit.dossier import as_document, as_jsonl, build_dossier

    items = build_dossier(rt, policy_id, event_view)
    if format == "jsonl":
        return StreamingResponse(as_jsonl(items), media_type="application/x-ndjson")
    return as_document(items)
