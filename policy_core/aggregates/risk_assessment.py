"""Risk diagnosis (無料リスク診断): one member's assessed checklist, and each scheme's register.

``RiskAssessment.Assessed`` records the questionnaire version, the answers and the whole
computed result (scores, grades, findings and advice texts) as facts: the report of an old
assessment reproduces exactly after the questionnaire file changes, and replay never scores
again.

``AssessmentRegister`` is one per scheme: it hands out the scheme's assessment numbers (1, 2,
…) under optimistic concurrency, saved atomically with the assessment it numbers, and keeps
each assessment's scores by area, which the member list (change since the last assessment) and
the report's scheme average read.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

RISK_NAMESPACE = uuid5(NAMESPACE_URL, "urn:policy-admin:risk-assessment")


class RiskAssessment(Aggregate):
    TOPIC = "policy_admin:RiskAssessment"

    class Created(Aggregate.Created):
        TOPIC = "policy_admin:RiskAssessment.Created"  # not triggered; the library declares it

    class Assessed(Created):
        TOPIC = "policy_admin:RiskAssessment.Assessed"
        scheme: str
        member_number: str
        number: int
        assessed_on: date
        business: dict[str, Any]
        questionnaire_version: str
        answers: dict[str, str]
        result: dict[str, Any]

    @staticmethod
    def id_for(scheme: str, number: int) -> UUID:
        """The scheme's assessment number is the business key."""
        return uuid5(RISK_NAMESPACE, f"assessment/{scheme}/{number}")

    @event(Assessed)
    def __init__(
        self,
        id: UUID,  # noqa: A002 - the business-key id from id_for(), taken by the library
        scheme: str,
        member_number: str,
        number: int,
        assessed_on: date,
        business: dict[str, Any],
        questionnaire_version: str,
        answers: dict[str, str],
        result: dict[str, Any],
    ) -> None:
        self.scheme = scheme
        self.member_number = member_number
        self.number = number
        self.assessed_on = assessed_on
        self.business = dict(business)
        self.questionnaire_version = questionnaire_version
        self.answers = dict(answers)
        self.result = result


class AssessmentRegister(Aggregate):
    TOPIC = "policy_admin:AssessmentRegister"

    class Created(Aggregate.Created):
        TOPIC = "policy_admin:AssessmentRegister.Created"  # not triggered

    class Opened(Created):
        TOPIC = "policy_admin:AssessmentRegister.Opened"
        scheme: str

    class AssessmentEntered(Aggregate.Event):
        TOPIC = "policy_admin:AssessmentRegister.AssessmentEntered"
        number: int
        assessment_id: UUID
        member_number: str
        assessed_on: date
        overall_score: int
        grade: str
        areas: dict[str, int]

    @staticmethod
    def id_for(scheme: str) -> UUID:
        return uuid5(RISK_NAMESPACE, f"register/{scheme}")

    @event(Opened)
    def __init__(self, id: UUID, scheme: str) -> None:  # noqa: A002
        self.scheme = scheme
        self.entries: list[dict[str, Any]] = []

    @property
    def next_number(self) -> int:
        return len(self.entries) + 1

    def enter(self, assessment: RiskAssessment) -> None:
        if assessment.number != self.next_number:
            raise ValueError(f"assessment number {assessment.number} is not the next ({self.next_number})")
        result = assessment.result
        self._entered(
            number=assessment.number,
            assessment_id=assessment.id,
            member_number=assessment.member_number,
            assessed_on=assessment.assessed_on,
            overall_score=result["overall"]["score"],
            grade=result["overall"]["grade"],
            areas={a["key"]: a["score"] for a in result["areas"]},
        )

    @event(AssessmentEntered)
    def _entered(
        self,
        number: int,
        assessment_id: UUID,
        member_number: str,
        assessed_on: date,
        overall_score: int,
        grade: str,
        areas: dict[str, int],
    ) -> None:
        self.entries.append(
            {
                "number": number,
                "assessment_id": assessment_id,
                "member_number": member_number,
                "assessed_on": assessed_on,
                "overall_score": overall_score,
                "grade": grade,
                "areas": dict(areas),
            }
        )

    def of_member(self, member_number: str) -> list[dict[str, Any]]:
        return [e for e in self.entries if e["member_number"] == member_number]
