"""Risk diagnosis: assess a member's checklist, read an assessment, list a member's assessments.

The checklist is scored by the pure rules (``policy_core.risk.scoring``) against the
questionnaire in force; the assessment and its scheme register entry (the scheme's next
number) are saved in one atomic save, so two assessments racing in one scheme never share a
number (the loser re-runs). Bad input is refused before anything is recorded.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from .. import bounds
from ..aggregates.risk_assessment import AssessmentRegister, RiskAssessment
from ..calendar import TOKYO
from ..errors import InvalidInput, NotFound
from ..risk.questionnaire import Questionnaire, questionnaire_in_force
from ..risk.scoring import change_since, check_answers, scheme_average, score_answers
from ..scheme import SCHEME_KEYS, get_scheme

if TYPE_CHECKING:
    from ..application import PolicyAdministration
    from .common import Actor

MAX_EMPLOYEES = 10_000_000
MAX_RECORDS = bounds.MAX_PEOPLE
MAX_ANSWERS = 1_000


def current_questionnaire(app: PolicyAdministration) -> Questionnaire:
    return questionnaire_in_force(app.clock().astimezone(TOKYO).date())


def _count(value: Any, name: str, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise InvalidInput(
            f"{name} must be an integer from 0 to {maximum:,}", code="invalid_business", field=name
        )
    return value


def _member_number(value: Any) -> str:
    return bounds.clean_text(value, "member_number", max_len=bounds.MAX_MEMBER_NUMBER, required=True)


def check_business(scheme: str, business: Any) -> dict[str, Any]:
    if not isinstance(business, dict):
        raise InvalidInput(
            "business must be an object {industry, employees, records_held}", code="invalid_business"
        )
    unknown = sorted(set(business) - {"industry", "employees", "records_held"})
    if unknown:
        raise InvalidInput(f"unknown business fields: {', '.join(unknown)}", code="invalid_business")
    industries = get_scheme(scheme).industries
    industry = business.get("industry")
    if industry not in industries:
        raise InvalidInput(
            f"unknown industry {industry!r}: expected one of {', '.join(industries)}", code="unknown_industry"
        )
    return {
        "industry": industry,
        "employees": _count(business.get("employees"), "business.employees", MAX_EMPLOYEES),
        "records_held": _count(business.get("records_held"), "business.records_held", MAX_RECORDS),
    }


def assess_risk(
    app: PolicyAdministration,
    *,
    scheme: str,
    member_number: str,
    business: dict[str, Any],
    answers: dict[str, str],
    assessed_on: date | None = None,
    actor: Actor | None = None,
) -> UUID:
    """Score a member's checklist and record it with the scheme's next assessment number."""
    get_scheme(scheme)
    member_number = _member_number(member_number)
    business = check_business(scheme, business)
    today = app.clock().astimezone(TOKYO).date()
    if assessed_on is None:
        assessed_on = today
    elif not isinstance(assessed_on, date) or isinstance(assessed_on, datetime):
        raise InvalidInput("assessed_on must be a date", code="invalid_date")
    elif assessed_on > today:
        raise InvalidInput("assessed_on is in the future", code="date_out_of_range", field="assessed_on")
    else:
        bounds.check_business_date(assessed_on, "assessed_on", now=app.clock())
    questionnaire = questionnaire_in_force(assessed_on)
    answers = check_answers(questionnaire, answers)
    result = score_answers(questionnaire, answers)

    def command() -> UUID:
        try:
            register = app._get(AssessmentRegister, AssessmentRegister.id_for(scheme))
        except NotFound:
            register = AssessmentRegister(id=AssessmentRegister.id_for(scheme), scheme=scheme)
        number = register.next_number
        assessment = RiskAssessment(
            id=RiskAssessment.id_for(scheme, number),
            scheme=scheme,
            member_number=member_number,
            number=number,
            assessed_on=assessed_on,
            business=business,
            questionnaire_version=questionnaire.version,
            answers=answers,
            result=result,
        )
        register.enter(assessment)
        app._save(assessment, register, actor=actor, command="assess_risk")
        return assessment.id

    return app._retrying(command)


def get_risk_assessment(
    app: PolicyAdministration, assessment_id: UUID, *, as_of: datetime | None = None
) -> RiskAssessment:
    return app._read(RiskAssessment, assessment_id, as_of)


def assessment_register(
    app: PolicyAdministration, scheme: str, *, as_of: datetime | None = None
) -> AssessmentRegister | None:
    try:
        return app._read(AssessmentRegister, AssessmentRegister.id_for(scheme), as_of)
    except NotFound:
        return None


def list_risk_assessments(
    app: PolicyAdministration,
    *,
    member_number: str | None = None,
    scheme: str | None = None,
    as_of: datetime | None = None,
) -> list[dict[str, Any]]:
    """Assessments (newest first), each with the change since the member's previous one."""
    if scheme is not None:
        get_scheme(scheme)
    out: list[dict[str, Any]] = []
    for key in [scheme] if scheme else list(SCHEME_KEYS):
        register = assessment_register(app, key, as_of=as_of)
        if register is None:
            continue
        previous: dict[str, dict[str, Any]] = {}
        for entry in register.entries:
            prev = previous.get(entry["member_number"])
            previous[entry["member_number"]] = entry
            if member_number is not None and entry["member_number"] != member_number:
                continue
            out.append({"scheme": key, **entry, "change": change_since(prev, entry)})
    out.sort(key=lambda e: (e["assessed_on"], e["number"]), reverse=True)
    return out


def scheme_average_for(app: PolicyAdministration, assessment: RiskAssessment) -> dict[str, Any] | None:
    """The scheme's average by area over the members assessed up to this assessment (its number):
    recorded facts only, so a report printed again later shows the same comparison."""
    register = assessment_register(app, assessment.scheme)
    if register is None:  # pragma: no cover - an assessment is always entered in its register
        return None
    return scheme_average(register.entries, up_to_number=assessment.number)
