"""The risk-diagnosis questionnaire, its scoring and grading (pure), and the assessment use cases
on the in-memory store."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from policy_core.aggregates.risk_assessment import AssessmentRegister, RiskAssessment
from policy_core.application import PolicyAdministration
from policy_core.errors import InvalidInput
from policy_core.risk.questionnaire import (
    all_questionnaires,
    parse_questionnaire,
    questionnaire_in_force,
)
from policy_core.risk.scoring import (
    change_since,
    check_answers,
    grade_for,
    ratio_score,
    scheme_average,
    score_answers,
    weighted_score,
)
from policy_core.usecases import risk_assessments as ra

Q = questionnaire_in_force(date(2027, 1, 1))
ISSUE_AREAS = (
    "governance",
    "organisation",
    "staff",
    "physical",
    "access",
    "network",
    "outsourcing",
    "disposal",
    "incident",
    "requests",
)


def answers(choice: str = "a", **overrides: str) -> dict[str, str]:
    out = {q.id: choice for q in Q.questions}
    out.update({k.replace("_", "-"): v for k, v in overrides.items()})
    return out


def test_the_shipped_questionnaire_covers_the_issue_areas_in_japanese_and_english():
    assert [a.key for a in Q.areas] == list(ISSUE_AREAS)
    assert all(len(a.questions) >= 3 for a in Q.areas)
    for q in Q.questions:
        assert any("\u3040" <= ch <= "\u30ff" or "\u4e00" <= ch <= "\u9fff" for ch in q.text)
        assert q.text_en.isascii()
        assert len(q.choices) >= 3
    # the reporting duty to the Commission and the outsourcee supervision are asked about
    texts = " ".join(q.text for q in Q.questions)
    assert "個人情報保護委員会" in texts and "委託" in texts
    # every leak cause of the seeds is named by at least one question
    assert {c.key for c in Q.causes} == {
        "lost_media",
        "theft",
        "insider",
        "outsourcee",
        "misdelivery",
        "improper_disposal",
        "unauthorized_access",
        "malware",
        "website_email",
    }
    assert [(g.grade, g.min_score) for g in Q.grades] == [
        ("A", 85),
        ("B", 70),
        ("C", 50),
        ("D", 30),
        ("E", 0),
    ]
    assert all_questionnaires()[-1].version == Q.version == "2026-12"


def test_rounding_is_half_up_on_integers():
    assert ratio_score(0, 12) == 0 and ratio_score(12, 12) == 100
    assert ratio_score(1, 8) == 13  # 12.5 -> 13
    assert ratio_score(2, 3) == 67 and ratio_score(1, 3) == 33
    assert weighted_score([(50, 1), (51, 1)]) == 51  # 50.5 -> 51
    assert weighted_score([(100, 8), (0, 92)]) == 8


@pytest.mark.parametrize(
    "score,grade",
    [
        (100, "A"),
        (85, "A"),
        (84, "B"),
        (70, "B"),
        (69, "C"),
        (50, "C"),
        (49, "D"),
        (30, "D"),
        (29, "E"),
        (0, "E"),
    ],
)
def test_grade_bands_from_the_file(score, grade):
    assert grade_for(Q, score).grade == grade


def test_grade_rejects_scores_outside_0_to_100():
    for bad in (-1, 101, 50.5, True):
        with pytest.raises(ValueError):
            grade_for(Q, bad)


def test_all_best_answers_score_100_A_with_no_advice():
    r = score_answers(Q, answers("a"))
    assert r["overall"]["score"] == 100 and r["overall"]["grade"] == "A"
    assert all(a["score"] == 100 and a["grade"] == "A" and a["advice"] == [] for a in r["areas"])
    assert all(c["protected"] for c in r["causes"])
    assert r["overall"]["summary"] == Q.grades[0].summary


def test_worst_answers_score_0_E_with_advice_for_every_question():
    r = score_answers(Q, answers("c"))
    assert r["overall"] == {**r["overall"], "score": 0, "grade": "E"}
    for area, spec in zip(r["areas"], Q.areas, strict=True):
        assert len(area["advice"]) == len(spec.questions) == len(area["findings"])
        assert area["title"] == spec.title
    assert not any(c["protected"] for c in r["causes"])


def test_one_area_weakened_moves_that_area_and_the_weighted_overall():
    # outsourcing (weight 12): its three questions at the middle choice -> 50 (C)
    r = score_answers(Q, answers("a", out_1="b", out_2="b", out_3="b"))
    areas = {a["key"]: a for a in r["areas"]}
    assert areas["outsourcing"]["score"] == 50 and areas["outsourcing"]["grade"] == "C"
    assert areas["outsourcing"]["points"] == 6 and areas["outsourcing"]["max_points"] == 12
    assert r["overall"]["score"] == weighted_score([(50, 12), (100, 88)]) == 94
    assert areas["outsourcing"]["findings"][0].startswith("委託先の選定：")
    assert len(areas["outsourcing"]["advice"]) == 3
    causes = {c["key"]: c for c in r["causes"]}
    assert causes["outsourcee"]["protected"] is False and causes["theft"]["protected"] is True


def test_missing_unknown_questions_and_unknown_choices_are_all_named():
    bad = answers("a")
    del bad["gov-1"], bad["acc-2"]
    bad["zzz-9"] = "a"
    bad["net-1"] = "x"
    bad["net-2"] = 3
    with pytest.raises(InvalidInput) as e:
        check_answers(Q, bad)
    d = e.value.details
    assert e.value.code == "invalid_answers"
    assert d["missing_questions"] == ["gov-1", "acc-2"]
    assert d["unknown_questions"] == ["zzz-9"]
    assert d["unknown_choices"] == {"net-1": "x", "net-2": "3"}
    assert "gov-1" in e.value.message and "zzz-9" in e.value.message and "net-1" in e.value.message
    with pytest.raises(InvalidInput):
        check_answers(Q, ["gov-1"])


def test_scheme_average_needs_five_members_and_takes_each_members_latest():
    entries = [
        {"number": n, "member_number": m, "areas": {"staff": s}}
        for n, m, s in [
            (1, "M1", 10),
            (2, "M2", 20),
            (3, "M3", 30),
            (4, "M4", 40),
            (5, "M1", 50),
            (6, "M5", 61),
        ]
    ]
    assert scheme_average(entries, up_to_number=5) is None  # four members so far
    avg = scheme_average(entries, up_to_number=6)
    assert avg == {"members": 5, "areas": {"staff": (50 + 20 + 30 + 40 + 61 + 2) // 5}}  # 40.2 -> 40


def test_change_since_previous_entry():
    prev = {"number": 1, "overall_score": 60, "grade": "C", "areas": {"staff": 50, "access": 70}}
    cur = {"number": 7, "overall_score": 75, "grade": "B", "areas": {"staff": 75, "access": 70}}
    assert change_since(None, cur) is None
    assert change_since(prev, cur) == {
        "previous_number": 1,
        "overall": 15,
        "grade_from": "C",
        "grade_to": "B",
        "areas": {"staff": 25, "access": 0},
    }


def _text_of_shipped() -> str:
    from importlib import resources

    return resources.files("policy_core.risk.questionnaires").joinpath("2026-12.toml").read_text("utf-8")


@pytest.mark.parametrize(
    "old,new,message",
    [
        ('grade = "B"', 'grade = "X"', "grades must be exactly"),
        ("\nmin_score = 70", "\nmin_score = 90", "strictly falling"),
        ('id = "gov-2"', 'id = "gov-1"', "question ids must be unique"),
        ('\ncauses = ["outsourcee"]', '\ncauses = ["nobody"]', "unknown causes"),
        ('claim_causes = ["theft"]', 'claim_causes = ["meteor"]', "unknown claim causes"),
        ("weight = 8", "weight = 0", "greater than 0"),
    ],
)
def test_a_broken_questionnaire_file_is_refused_at_load(old, new, message):
    text = _text_of_shipped()
    assert old in text
    with pytest.raises(ValueError, match=message):
        parse_questionnaire(text.replace(old, new, 1))


def test_a_choice_below_the_best_needs_advice():
    text = _text_of_shipped().replace(
        'advice = "法改正（令和4年施行の改正法など）', 'advice = ""\nadvice_unused = "', 1
    )
    with pytest.raises(ValueError):
        parse_questionnaire(text)


# ---------------------------------------------------------------------------------- use cases
NOW = datetime(2027, 1, 15, 3, 0, tzinfo=UTC)
BUSINESS = {"industry": "retail", "employees": 12, "records_held": 3000}


@pytest.fixture
def app():
    return PolicyAdministration(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=lambda: NOW)


def test_assess_records_the_version_answers_and_result_with_a_number_per_scheme(app):
    a1 = app.assess_risk(scheme="jcci", member_number="M-1", business=BUSINESS, answers=answers("b"))
    a2 = app.assess_risk(scheme="jcci", member_number="M-2", business=BUSINESS, answers=answers("a"))
    c1 = app.assess_risk(scheme="chuokai", member_number="M-1", business=BUSINESS, answers=answers("c"))
    got = ra.get_risk_assessment(app, a1)
    assert isinstance(got, RiskAssessment)
    assert (got.number, got.scheme, got.questionnaire_version) == (1, "jcci", "2026-12")
    assert got.assessed_on == date(2027, 1, 15) and got.answers == answers("b")
    assert got.result == score_answers(Q, answers("b"))
    assert ra.get_risk_assessment(app, a2).number == 2
    assert ra.get_risk_assessment(app, c1).number == 1
    assert a1 == RiskAssessment.id_for("jcci", 1)
    events = app.history(a1)
    assert [type(e).__name__ for e in events] == ["Assessed"]
    assert events[0].metadata["command"] == "assess_risk"


def test_reassessment_lists_newest_first_with_the_change(app):
    app.assess_risk(scheme="jcci", member_number="M-1", business=BUSINESS, answers=answers("c"))
    app.assess_risk(scheme="jcci", member_number="M-2", business=BUSINESS, answers=answers("b"))
    app.assess_risk(scheme="jcci", member_number="M-1", business=BUSINESS, answers=answers("b"))
    items = ra.list_risk_assessments(app, member_number="M-1")
    assert [i["number"] for i in items] == [3, 1]
    assert items[0]["change"]["overall"] == 50 and items[0]["change"]["grade_from"] == "E"
    assert items[1]["change"] is None
    assert ra.list_risk_assessments(app, member_number="nobody") == []


def test_bad_input_records_nothing(app):
    bad = answers("a")
    del bad["gov-1"]
    for kwargs in (
        {"answers": bad},
        {"business": {**BUSINESS, "industry": "piracy"}},
        {"business": {**BUSINESS, "employees": -1}},
        {"business": {**BUSINESS, "records_held": True}},
        {"business": {**BUSINESS, "extra": 1}},
        {"member_number": " "},
        {"assessed_on": date(2027, 2, 1)},
    ):
        args = {"scheme": "jcci", "member_number": "M-1", "business": BUSINESS, "answers": answers("a")}
        args.update(kwargs)
        with pytest.raises(InvalidInput):
            app.assess_risk(**args)
    assert ra.assessment_register(app, "jcci") is None
    assert app.recorder.max_notification_id() in (None, 0)
    assert isinstance(AssessmentRegister.id_for("jcci"), type(RiskAssessment.id_for("jcci", 1)))
