"""Racing assessments in one scheme on real PostgreSQL: every one gets its own number."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from policy_core.aggregates.risk_assessment import AssessmentRegister
from policy_core.risk.questionnaire import all_questionnaires

Q = all_questionnaires()[-1]
BUSINESS = {"industry": "retail", "employees": 3, "records_held": 100}


def test_racing_assessments_take_distinct_numbers(runtime):
    app = runtime.app
    answers = {q.id: "b" for q in Q.questions}

    def assess(i: int):
        return app.assess_risk(scheme="jcci", member_number=f"R-{i}", business=BUSINESS, answers=answers)

    with ThreadPoolExecutor(max_workers=4) as pool:
        ids = list(pool.map(assess, range(8)))
    numbers = sorted(app.get_risk_assessment(i).number for i in ids)
    assert numbers == list(range(1, 9))
    register = app._get(AssessmentRegister, AssessmentRegister.id_for("jcci"))
    assert [e["number"] for e in register.entries] == list(range(1, 9))
    assert {e["assessment_id"] for e in register.entries} == set(ids)
