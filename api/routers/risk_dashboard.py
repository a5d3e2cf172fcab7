"""The operator's risk-diagnosis page: /dashboard/risk-assessments.

A page of its own (the dashboard's app had not landed when it was made): the form to enter a
member's paper checklist, the list of assessments with the change since the last one, and the
report view. The page holds no data: it calls the API with the operator's key, which the
operator enters and the browser keeps for the tab only (sessionStorage), so it needs no session
of its own and shows nothing without a key.
"""

from __future__ import annotations

from functools import cache

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from policy_core.calendar import TOKYO
from policy_core.documents.labels import INDUSTRIES
from policy_core.scheme import all_schemes

from ..deps import AppDep

router = APIRouter(tags=["dashboard"], include_in_schema=False)


@cache
def _environment() -> Environment:
    return Environment(loader=PackageLoader("api", "templates"), autoescape=select_autoescape(["html"]))


@router.get("/dashboard/risk-assessments", response_class=HTMLResponse)
def risk_assessments_page(app: AppDep) -> HTMLResponse:
    schemes = [
        {"key": s.key, "name": s.contact.scheme_name if s.contact else s.name, "industries": s.industries}
        for s in all_schemes()
    ]
    html = (
        _environment()
        .get_template("risk_assessments.html")
        .render(
            schemes=schemes, industries=INDUSTRIES, today=app.clock().astimezone(TOKYO).date().isoformat()
        )
    )
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})
