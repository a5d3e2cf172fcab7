"""Scoring and grading of a risk-diagnosis checklist: pure functions over the questionnaire.

All arithmetic is on integers (scores out of 100, rounded half up) so that a result can be
recomputed to the same figure anywhere. The result is a plain dict that the assessment event
records whole, texts included: a report printed years later reads the recorded result, never
the questionnaire file of the day.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import InvalidInput
from .questionnaire import GradeBand, Questionnaire

SCHEME_AVERAGE_MIN_MEMBERS = 5
"""The report compares with the scheme's average only when at least this many members were assessed."""


def ratio_score(points: int, best: int) -> int:
    """``100 * points / best`` rounded half up, as an integer from 0 to 100."""
    if best <= 0:
        raise ValueError("best must be positive")
    return (200 * points + best) // (2 * best)


def weighted_score(scores: Iterable[tuple[int, int]]) -> int:
    """Weighted average of (score, weight) pairs, rounded half up."""
    pairs = list(scores)
    total_weight = sum(w for _, w in pairs)
    if total_weight <= 0:
        raise ValueError("weights must sum to more than 0")
    num = sum(s * w for s, w in pairs)
    return (2 * num + total_weight) // (2 * total_weight)


def grade_for(questionnaire: Questionnaire, score: int) -> GradeBand:
    """The first band (A first) whose ``min_score`` the score reaches."""
    if isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= 100:
        raise ValueError(f"a score is an integer from 0 to 100, got {score!r}")
    for band in questionnaire.grades:
        if score >= band.min_score:
            return band
    raise AssertionError("the lowest band starts at 0")  # guaranteed by the questionnaire validator


def check_answers(questionnaire: Questionnaire, answers: Any) -> dict[str, str]:
    """Every question answered with one of its choices; otherwise InvalidInput naming each problem."""
    if not isinstance(answers, Mapping):
        raise InvalidInput("answers must be an object of question id to choice id", code="invalid_answers")
    known = {q.id: q for q in questionnaire.questions}
    unknown_questions = sorted(str(k) for k in answers if k not in known)
    missing = [qid for qid in known if qid not in answers]
    unknown_choices = {
        qid: answers[qid]
        for qid in known
        if qid in answers and not (isinstance(answers[qid], str) and known[qid].choice(answers[qid]))
    }
    if missing or unknown_questions or unknown_choices:
        parts = []
        if missing:
            parts.append(f"unanswered questions: {', '.join(missing)}")
        if unknown_questions:
            parts.append(f"unknown questions: {', '.join(unknown_questions)}")
        if unknown_choices:
            parts.append(
                "unknown choices: "
                + ", ".join(f"{qid}={str(v)[:40]!r}" for qid, v in unknown_choices.items())
            )
        raise InvalidInput(
            f"questionnaire {questionnaire.version}: " + "; ".join(parts),
            code="invalid_answers",
            questionnaire_version=questionnaire.version,
            missing_questions=missing,
            unknown_questions=unknown_questions,
            unknown_choices={k: str(v)[:40] for k, v in unknown_choices.items()},
        )
    return {qid: answers[qid] for qid in known}


def score_answers(questionnaire: Questionnaire, answers: Mapping[str, str]) -> dict[str, Any]:
    """The whole result of one checklist, as recorded by the assessment event."""
    answers = check_answers(questionnaire, answers)
    areas: list[dict[str, Any]] = []
    cause_points: dict[str, list[int]] = {c.key: [0, 0] for c in questionnaire.causes}
    for area in questionnaire.areas:
        points = best = 0
        findings, findings_en, advice, advice_en, items = [], [], [], [], []
        for q in area.questions:
            choice = q.choice(answers[q.id])
            assert choice is not None  # checked above
            points += choice.score
            best += q.max_score
            for cause in q.causes:
                cause_points[cause][0] += choice.score
                cause_points[cause][1] += q.max_score
            findings.append(f"{q.topic}：{choice.label}")
            findings_en.append(f"{q.topic_en}: {choice.label_en}")
            if choice.advice.strip():
                advice.append(choice.advice)
                advice_en.append(choice.advice_en)
            items.append(
                {
                    "question_id": q.id,
                    "topic": q.topic,
                    "choice_id": choice.id,
                    "label": choice.label,
                    "score": choice.score,
                    "max_score": q.max_score,
                }
            )
        area_score = ratio_score(points, best)
        band = grade_for(questionnaire, area_score)
        areas.append(
            {
                "key": area.key,
                "title": area.title,
                "title_en": area.title_en,
                "short_title": area.short_title or area.title,
                "weight": area.weight,
                "points": points,
                "max_points": best,
                "score": area_score,
                "grade": band.grade,
                "label": band.label,
                "findings": findings,
                "findings_en": findings_en,
                "advice": advice,
                "advice_en": advice_en,
                "answers": items,
            }
        )
    overall = weighted_score((a["score"], a["weight"]) for a in areas)
    band = grade_for(questionnaire, overall)
    causes = []
    for c in questionnaire.causes:
        got, best = cause_points[c.key]
        s = ratio_score(got, best)
        causes.append(
            {
                "key": c.key,
                "title": c.title,
                "title_en": c.title_en,
                "score": s,
                "protected": s >= questionnaire.cause_protected_min_score,
            }
        )
    return {
        "overall": {
            "score": overall,
            "grade": band.grade,
            "label": band.label,
            "label_en": band.label_en,
            "summary": band.summary,
            "summary_en": band.summary_en,
        },
        "areas": areas,
        "causes": causes,
    }


def scheme_average(
    entries: Iterable[Mapping[str, Any]], *, up_to_number: int, min_members: int = SCHEME_AVERAGE_MIN_MEMBERS
) -> dict[str, Any] | None:
    """The scheme's average score per area over its members' latest assessments numbered
    ``up_to_number`` or lower (what was known when that assessment was made), or None with
    fewer than ``min_members`` members. Entries: {number, member_number, areas: {key: score}}."""
    latest: dict[str, Mapping[str, Any]] = {}
    for e in entries:
        if e["number"] <= up_to_number:
            prev = latest.get(e["member_number"])
            if prev is None or e["number"] > prev["number"]:
                latest[e["member_number"]] = e
    if len(latest) < min_members:
        return None
    keys: dict[str, list[int]] = {}
    for e in latest.values():
        for key, s in e["areas"].items():
            keys.setdefault(key, []).append(s)
    return {
        "members": len(latest),
        "areas": {k: (2 * sum(v) + len(v)) // (2 * len(v)) for k, v in keys.items()},
    }


def change_since(previous: Mapping[str, Any] | None, current: Mapping[str, Any]) -> dict[str, Any] | None:
    """Score change from one assessment to the member's next one (overall and per area).

    Both are register entries: {overall_score, grade, areas: {key: score}}."""
    if previous is None:
        return None
    return {
        "previous_number": previous["number"],
        "overall": current["overall_score"] - previous["overall_score"],
        "grade_from": previous["grade"],
        "grade_to": current["grade"],
        "areas": {k: s - previous["areas"][k] for k, s in current["areas"].items() if k in previous["areas"]},
    }
