"""The members' free risk diagnosis (無料リスク診断): questionnaire, assessments, reports."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from policy_core.aggregates.risk_assessment import RiskAssessment
from policy_core.documents.assessment_report import (
    render_assessment_html,
    render_assessment_pdf,
    report_context,
    report_number,
)
from policy_core.scheme import load_scheme
from policy_core.usecases.risk_assessments import MAX_ANSWERS, MAX_EMPLOYEES, MAX_RECORDS

from ..deps import AppDep, Lister, Operator, Reader
from ..presenters import tokyo
from ..responses import PDF_SCHEMA, Questionnaire, typed
from ..schemas import (
    AsOf,
    Day,
    FilterText,
    IndustryKey,
    Integral,
    MemberNumber,
    SchemeFilter,
    SchemeKey,
    Strict,
)

router = APIRouter(tags=["risk assessments"])

AnswerKey = Annotated[str, Field(max_length=100)]


class BusinessIn(Strict):
    industry: IndustryKey
    employees: Annotated[int, Field(strict=True, ge=0, le=MAX_EMPLOYEES), Integral]
    records_held: Annotated[int, Field(strict=True, ge=0, le=MAX_RECORDS), Integral]


class RiskAssessmentRequest(Strict):
    scheme: SchemeKey
    member_number: MemberNumber
    business: BusinessIn
    answers: Annotated[
        dict[AnswerKey, Any],
        Field(max_length=MAX_ANSWERS, description="question id -> choice id, every question answered"),
    ]
    assessed_on: Day | None = Field(
        default=None, description="the date the member filled in the checklist (default: today, Tokyo)"
    )


class OverallOut(BaseModel):
    score: int = Field(description="the overall score, points of 100")
    grade: str
    label: str
    summary: str


class AreaOut(BaseModel):
    key: str
    title: str
    title_en: str
    score: int = Field(description="the area's score, points of 100")
    grade: str
    label: str
    findings: list[str]
    advice: list[str]


class CauseOut(BaseModel):
    key: str
    title: str
    score: int = Field(description="protection against the cause, points of 100")
    protected: bool


class RiskAssessmentOut(BaseModel):
    id: UUID
    number: int = Field(description="the assessment's number in the scheme (a sequence number, from 1)")
    report_number: str
    scheme: str
    member_number: str
    assessed_on: Any
    recorded_at: datetime
    questionnaire_version: str
    business: dict[str, Any]
    answers: dict[str, str]
    overall: OverallOut
    areas: list[AreaOut]
    causes: list[CauseOut]
    links: dict[str, str]


class ChangeOut(BaseModel):
    previous_number: int = Field(description="the previous assessment (a sequence number, from 1)")
    overall: int = Field(description="change of the overall score, points")
    grade_from: str
    grade_to: str
    areas: dict[str, int] = Field(description="area key -> change of its score, points")


class RiskAssessmentItem(BaseModel):
    id: UUID
    number: int = Field(description="the assessment's number in the scheme (a sequence number, from 1)")
    report_number: str
    scheme: str
    member_number: str
    assessed_on: Any
    overall_score: int = Field(description="the overall score, points of 100")
    grade: str
    areas: dict[str, int] = Field(description="area key -> its score, points of 100")
    change: ChangeOut | None = Field(description="since the member's previous assessment in the scheme")


class RiskAssessmentList(BaseModel):
    items: list[RiskAssessmentItem]
    total: int = Field(description="assessments that match (a count)")


def assessment_view(a: RiskAssessment, recorded_at: datetime) -> dict[str, Any]:
    base = f"/api/v1/risk-assessments/{a.id}"
    return {
        "id": a.id,
        "number": a.number,
        "report_number": report_number(a.scheme, a.number),
        "scheme": a.scheme,
        "member_number": a.member_number,
        "assessed_on": a.assessed_on,
        "recorded_at": tokyo(recorded_at),
        "questionnaire_version": a.questionnaire_version,
        "business": a.business,
        "answers": a.answers,
        "overall": a.result["overall"],
        "areas": a.result["areas"],
        "causes": a.result["causes"],
        "links": {"self": base, "report_pdf": f"{base}/report.pdf", "report_html": f"{base}/report.html"},
    }


def _recorded_at(a: RiskAssessment) -> datetime:
    return a.created_on  # the Assessed event's recorded time (its only event)


@router.get("/risk-assessments/questionnaire", **typed(Questionnaire))
def get_questionnaire(app: AppDep, key: Lister) -> dict[str, Any]:
    """The checklist in force today (Asia/Tokyo), with every question, choice and score."""
    return app.risk_questionnaire().model_dump(mode="json")


@router.post("/risk-assessments", status_code=201, response_model=RiskAssessmentOut)
def assess(body: RiskAssessmentRequest, app: AppDep, key: Operator) -> dict[str, Any]:
    """Record a free risk diagnosis (無料リスク診断) from the member's answers: scores per area and cause,
    grade and advice. 201."""
    aid = app.assess_risk(
        scheme=body.scheme,
        member_number=body.member_number,
        business=body.business.model_dump(),
        answers=body.answers,
        assessed_on=body.assessed_on,
        actor=key.actor(),
    )
    a = app.get_risk_assessment(aid)
    return assessment_view(a, _recorded_at(a))


@router.get("/risk-assessments", response_model=RiskAssessmentList)
def list_assessments(
    app: AppDep,
    key: Reader,
    member_number: FilterText = None,
    scheme: SchemeFilter = None,
    as_of: AsOf = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> dict[str, Any]:
    """Recorded risk assessments, filtered by member and scheme, paged."""
    items = app.list_risk_assessments(member_number=member_number, scheme=scheme, as_of=as_of)
    page = items[offset : offset + limit]
    return {
        "items": [
            tokyo({**i, "id": i["assessment_id"], "report_number": report_number(i["scheme"], i["number"])})
            for i in page
        ],
        "total": len(items),
    }


@router.get("/risk-assessments/{assessment_id}", response_model=RiskAssessmentOut)
def get_assessment(assessment_id: UUID, app: AppDep, key: Reader, as_of: AsOf = None) -> dict[str, Any]:
    """One recorded risk assessment (``as_of``: as the system knew it then)."""
    a = app.get_risk_assessment(assessment_id, as_of=as_of)
    return assessment_view(a, _recorded_at(a))


def _context(app: Any, assessment_id: UUID) -> dict[str, Any]:
    a = app.get_risk_assessment(assessment_id)
    return report_context(
        a, scheme=load_scheme(a.scheme), average=app.scheme_risk_average(a), recorded_at=_recorded_at(a)
    )


@router.get(
    "/risk-assessments/{assessment_id}/report.pdf",
    response_class=Response,
    responses={
        200: {
            "content": {"application/pdf": {"schema": PDF_SCHEMA}},
            "description": "the A4 report (Japanese)",
        }
    },
)
def report_pdf(assessment_id: UUID, app: AppDep, key: Reader) -> Response:
    """The assessment report as an A4 PDF (Japanese)."""
    ctx = _context(app, assessment_id)
    return Response(
        content=render_assessment_pdf(ctx),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{ctx["number"]}.pdf"'},
    )


@router.get("/risk-assessments/{assessment_id}/report.html", response_class=HTMLResponse)
def report_html(assessment_id: UUID, app: AppDep, key: Reader) -> HTMLResponse:
    """The assessment report as an HTML page (Japanese)."""
    ctx = _context(app, assessment_id)
    return HTMLResponse(
        render_assessment_html(ctx, pdf_href=f"/api/v1/risk-assessments/{assessment_id}/report.pdf")
    )
