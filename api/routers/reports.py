from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request

from policy_core.audit.asof import collections_as_of, portfolio_as_of
from policy_core.bounds import check_moment
from policy_core.errors import InvalidInput, NotFound
from policy_core.scheme import get_scheme
from policy_core.usecases.common import aware

from ..deps import Lister, Operator, RuntimeDep
from ..presenters import tokyo
from ..responses import ClaimList, Collections, PolicyList, Portfolio, RunDueOut, typed
from ..schemas import AsOf, Day, FilterText, RunDueRequest, SchemeFilter, SchemeQuery
from ..tabular import answer

router = APIRouter()

Status = Literal["applied", "active", "lapsed", "cancelled", "expired"]
ClaimStatus = Literal["reported", "assessed", "paid", "denied", "closed"]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
ShortText = FilterText


#: read-model column -> API field: one name per idea (``id`` for the row's own id, ``period``
#: for a period number), whatever the table calls it.
_RENAMES = {"period_number": "period", "current_period": "period"}


def _rows(rows: list[dict[str, Any]], own_id: str | None = None) -> list[dict[str, Any]]:
    """Read-model rows as the API shows them: renamed fields, UUIDs as text, Tokyo offsets."""
    out = []
    for r in rows:
        row: dict[str, Any] = {}
        if own_id is not None:
            row["id"] = r[own_id]
        for k, v in r.items():
            if k != own_id:
                row[_RENAMES.get(k, k)] = v
        out.append(tokyo(row))
    return out


@router.get("/policies", tags=["policies"], **typed(PolicyList, csv=True))
def list_policies(
    request: Request,
    rt: RuntimeDep,
    key: Lister,
    scheme: ShortText = None,
    status: Status | None = None,
    plan: ShortText = None,
    industry: ShortText = None,
    member_number: ShortText = None,
    number: ShortText = None,
    holder_name: ShortText = None,
    in_arrears: bool | None = None,
    next_debit_on_or_before: Day | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Policies from the policies read model (``position``: the log position it stands at), filtered
    and paged. The holder's name only for the operator and auditor roles. CSV on ``Accept:
    text/csv``."""
    filters = {
        "scheme": scheme,
        "status": status,
        "plan": plan,
        "industry": industry,
        "member_number": member_number,
        "number": number,
        "in_arrears": in_arrears,
        "next_debit_on_or_before": next_debit_on_or_before,
    }
    if key.role != "dashboard":
        filters["holder_name"] = holder_name  # the dashboard sees no names
    # The dashboard role never receives personal fields: its rows carry no holder name at all.
    items = _rows(
        rt.read_models.list_policies(
            filters, limit=limit, offset=offset, reveal_personal=key.role in ("operator", "auditor")
        ),
        own_id="policy_id",
    )
    body = {
        "items": items,
        "total": rt.read_models.count_policies(filters),
        "limit": limit,
        "offset": offset,
        "position": rt.read_models.position("policies"),
    }
    return answer(request, body, items, filename="policies")


@router.get("/claims", tags=["claims"], **typed(ClaimList, csv=True))
def list_claims(
    request: Request,
    rt: RuntimeDep,
    key: Lister,
    policy_id: UUID | None = None,
    status: ClaimStatus | None = None,
    number: ShortText = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Claims from the claims read model, filtered and paged; amounts in yen. CSV on ``Accept:
    text/csv``."""
    items = _rows(
        rt.read_models.list_claims(
            policy_id=policy_id, status=status, number=number, limit=limit, offset=offset
        ),
        own_id="claim_id",
    )
    body = {"items": items, "limit": limit, "offset": offset, "position": rt.read_models.position("claims")}
    return answer(request, body, items, filename="claims")


def _moment(rt: Any, as_of: datetime) -> datetime:
    return check_moment(aware(as_of, "as_of"), "as_of", now=rt.clock.now())


@router.get("/reports/portfolio", tags=["reports"], **typed(Portfolio, csv=True))
def portfolio(
    request: Request,
    rt: RuntimeDep,
    key: Lister,
    scheme: SchemeQuery,
    year: Annotated[int, Query(ge=2000, le=2200)],
    as_of: AsOf = None,
) -> dict[str, Any]:
    """The scheme year's totals; with ``as_of``, as the system knew them then (replayed from the
    log up to that recorded moment). ``position`` is the log position the answer stands at."""
    get_scheme(scheme)
    if as_of is None:
        report = rt.read_models.portfolio(scheme, year)
    else:
        report = portfolio_as_of(rt, scheme, year, _moment(rt, as_of))
    if report is None:
        raise NotFound(f"no portfolio for {scheme} scheme year {year}", code="portfolio_not_found")
    body = _rows([report])[0]
    return answer(request, body, [body], filename=f"portfolio-{scheme}-{year}")


@router.get("/reports/collections", tags=["reports"], **typed(Collections, csv=True))
def collections(
    request: Request, rt: RuntimeDep, key: Lister, scheme: SchemeFilter = None, as_of: AsOf = None
) -> dict[str, Any]:
    """Arrears and lapses; with ``as_of``, as they stood at that recorded moment. As CSV: one row
    per arrears or lapse entry, ``list`` naming which."""
    if scheme is not None:
        get_scheme(scheme)
    if as_of is None:
        body = {
            "arrears": rt.read_models.arrears(scheme=scheme),
            "lapses": rt.read_models.lapses(scheme=scheme),
            "position": rt.read_models.position("collections"),
        }
    else:
        body = collections_as_of(rt, scheme, _moment(rt, as_of))
    body["arrears"], body["lapses"] = _rows(body["arrears"]), _rows(body["lapses"])
    rows = [{"list": name, **r} for name in ("arrears", "lapses") for r in body[name]]
    return answer(request, body, rows, filename="collections")


@router.post("/operations/run-due", tags=["operations"], **typed(RunDueOut))
def run_due(body: RunDueRequest, rt: RuntimeDep, key: Operator) -> dict[str, Any]:
    """Run every job due up to ``as_of`` (not in the future): activations, direct debits (Zengin
    result codes), lapses, renewals, expiries, erasures. Single-flight across the API, the CLI and
    the scheduler: a second caller waits (bounded), then 409 ``run_in_progress`` with ``Retry-
    After``."""
    if body.as_of > rt.clock.now():
        raise InvalidInput(f"as_of {body.as_of.isoformat()} is in the future", code="as_of_in_future")
    # single-flight: a run going on elsewhere is waited for (bounded), then 409 run_in_progress
    return rt.jobs.run_due(body.as_of, wait=rt.settings.run_due_wait_seconds).to_dict()
