"""The risk-diagnosis questionnaire as versioned data.

Each version is a TOML file in ``policy_core/risk/questionnaires/`` (TOML, like the scheme
presets, so that the file can state its choices in comments), validated by pydantic at load.
The scoring rules read only these models (``scoring.py``); an assessment records the version
it was scored with and the texts it produced, so an old report never depends on this file.
"""

from __future__ import annotations

import tomllib
from datetime import date
from functools import cache
from importlib import resources
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..errors import NotFound
from ..settlement import CAUSES as CLAIM_CAUSES

GRADES = ("A", "B", "C", "D", "E")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GradeBand(_Frozen):
    grade: str
    min_score: int = Field(ge=0, le=100)
    label: str = Field(min_length=1)
    label_en: str = Field(min_length=1)
    summary: str = Field(min_length=1)
    summary_en: str = Field(min_length=1)


class Cause(_Frozen):
    """A leak cause from the seeds, tied to the claim intake categories."""

    key: str
    claim_causes: list[str] = Field(min_length=1)
    title: str = Field(min_length=1)
    title_en: str = Field(min_length=1)


class Choice(_Frozen):
    id: str = Field(min_length=1, max_length=20)
    label: str = Field(min_length=1)
    label_en: str = Field(min_length=1)
    score: int = Field(ge=0, le=100)
    advice: str = ""  # empty for a choice that needs no advice (the best practice)
    advice_en: str = ""


class Question(_Frozen):
    id: str = Field(min_length=1, max_length=40)
    topic: str = Field(min_length=1)
    topic_en: str = Field(min_length=1)
    text: str = Field(min_length=1)
    text_en: str = Field(min_length=1)
    causes: list[str] = []
    choices: list[Choice] = Field(min_length=2)

    @property
    def max_score(self) -> int:
        return max(c.score for c in self.choices)

    def choice(self, choice_id: str) -> Choice | None:
        for c in self.choices:
            if c.id == choice_id:
                return c
        return None

    @model_validator(mode="after")
    def _check(self) -> Self:
        ids = [c.id for c in self.choices]
        if len(set(ids)) != len(ids):
            raise ValueError(f"question {self.id}: choice ids must be unique, got {ids}")
        if self.max_score <= 0:
            raise ValueError(f"question {self.id}: the best choice must score above 0")
        for c in self.choices:
            if c.score < self.max_score and not c.advice.strip():
                raise ValueError(f"question {self.id} choice {c.id}: a choice below the best needs advice")
            if bool(c.advice.strip()) != bool(c.advice_en.strip()):
                raise ValueError(f"question {self.id} choice {c.id}: advice needs both Japanese and English")
        return self


class Area(_Frozen):
    key: str = Field(min_length=1, max_length=40)
    title: str = Field(min_length=1)
    title_en: str = Field(min_length=1)
    short_title: str = ""  # for the report's chart; the title when empty
    weight: int = Field(gt=0)
    questions: list[Question] = Field(min_length=1)


class Questionnaire(_Frozen):
    version: str = Field(min_length=1, max_length=40)
    effective_from: date
    title: str
    title_en: str
    cause_protected_min_score: int = Field(ge=0, le=100)
    grades: list[GradeBand]
    causes: list[Cause]
    areas: list[Area] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if tuple(g.grade for g in self.grades) != GRADES:
            raise ValueError(f"grades must be exactly {GRADES} in that order")
        mins = [g.min_score for g in self.grades]
        if any(a <= b for a, b in zip(mins, mins[1:], strict=False)):
            raise ValueError(f"grade bands must have strictly falling min_score, got {mins}")
        if mins[-1] != 0:
            raise ValueError("the lowest grade band must start at 0")
        cause_keys = [c.key for c in self.causes]
        if len(set(cause_keys)) != len(cause_keys):
            raise ValueError("cause keys must be unique")
        for c in self.causes:
            unknown = set(c.claim_causes) - set(CLAIM_CAUSES)
            if unknown:
                raise ValueError(f"cause {c.key}: unknown claim causes {sorted(unknown)}")
        keys = [a.key for a in self.areas]
        if len(set(keys)) != len(keys):
            raise ValueError(f"area keys must be unique, got {keys}")
        qids = [q.id for a in self.areas for q in a.questions]
        if len(set(qids)) != len(qids):
            raise ValueError("question ids must be unique across the questionnaire")
        for a in self.areas:
            for q in a.questions:
                unknown = set(q.causes) - set(cause_keys)
                if unknown:
                    raise ValueError(f"question {q.id}: unknown causes {sorted(unknown)}")
        for c in self.causes:
            if not any(c.key in q.causes for q in self.questions):
                raise ValueError(f"cause {c.key} is named by no question")
        return self

    @property
    def questions(self) -> list[Question]:
        return [q for a in self.areas for q in a.questions]

    def question(self, question_id: str) -> Question | None:
        for q in self.questions:
            if q.id == question_id:
                return q
        return None


QUESTIONNAIRE_PACKAGE = "policy_core.risk.questionnaires"


def parse_questionnaire(text: str) -> Questionnaire:
    return Questionnaire.model_validate(tomllib.loads(text))


@cache
def all_questionnaires() -> tuple[Questionnaire, ...]:
    """Every version shipped in the package, oldest first."""
    found = []
    for entry in resources.files(QUESTIONNAIRE_PACKAGE).iterdir():
        if entry.name.endswith(".toml"):
            q = parse_questionnaire(entry.read_text(encoding="utf-8"))
            if entry.name != f"{q.version}.toml":
                raise ValueError(f"questionnaire file {entry.name} declares version {q.version!r}")
            found.append(q)
    if not found:
        raise RuntimeError("no questionnaire shipped in the package")
    found.sort(key=lambda q: (q.effective_from, q.version))
    return tuple(found)


def questionnaire_in_force(on: date) -> Questionnaire:
    """The version in force on a Tokyo date (the latest whose effective_from is not after it);
    before the first version's date, the first version."""
    versions = all_questionnaires()
    current = versions[0]
    for q in versions:
        if q.effective_from <= on:
            current = q
    return current


def questionnaire_version(version: str) -> Questionnaire:
    for q in all_questionnaires():
        if q.version == version:
            return q
    raise NotFound(f"unknown questionnaire version {version!r}", code="unknown_questionnaire_version")
