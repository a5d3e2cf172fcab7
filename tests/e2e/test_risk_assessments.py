"""The free risk diagnosis over HTTP on real PostgreSQL: questionnaire, assess, read, list with
the change since the last assessment, every error (nothing recorded), the PDF and HTML report."""

from __future__ import annotations

from uuid import UUID

from policy_core.risk.questionnaire import all_questionnaires
from tests.e2e.conftest import auth
from tests.pdfcheck import assert_renders_without_missing_glyphs, pdf_text

OP, AU, DA = auth("operator"), auth("auditor"), auth("dashboard")
Q = all_questionnaires()[-1]
BUSINESS = {"industry": "retail", "employees": 12, "records_held": 3000}


def answers(choice="a", **overrides):
    out = {q.id: choice for q in Q.questions}
    out.update({k.replace("_", "-"): v for k, v in overrides.items()})
    return out


def assess(client, member="M-100", scheme="jcci", choice="a", body_extra=None, **overrides):
    body = {"scheme": scheme, "member_number": member, "business": BUSINESS}
    body["answers"] = answers(choice, **overrides)
    body.update(body_extra or {})
    r = client.post("/api/v1/risk-assessments", headers=OP, json=body)
    assert r.status_code == 201, r.text
    return r.json()


def events_recorded(runtime) -> int:
    return runtime.app.recorder.max_notification_id() or 0


def test_questionnaire_is_served_with_every_area_question_and_band(client):
    r = client.get("/api/v1/risk-assessments/questionnaire", headers=DA)
    assert r.status_code == 200
    body = r.json()
    assert body["version"] == Q.version
    assert len(body["areas"]) == 10 and sum(len(a["questions"]) for a in body["areas"]) == len(Q.questions)
    assert [g["grade"] for g in body["grades"]] == ["A", "B", "C", "D", "E"]
    assert body["areas"][6]["questions"][0]["choices"][0]["score"] == 4
    assert client.get("/api/v1/risk-assessments/questionnaire").status_code == 401


def test_assess_read_and_reassess_with_the_change(client, runtime):
    first = assess(client, choice="c", body_extra={"assessed_on": "2029-12-20"})
    assert first["number"] == 1 and first["report_number"] == "RA-JCCI-000001"
    assert first["questionnaire_version"] == Q.version
    assert first["overall"]["grade"] == "E" and first["overall"]["score"] == 0
    assert first["overall"]["summary"] == Q.grades[-1].summary
    assert [a["key"] for a in first["areas"]] == [a.key for a in Q.areas]
    area = first["areas"][0]
    assert area["title"] == "基本方針・規程" and area["grade"] == "E" and len(area["advice"]) == 3
    assert first["assessed_on"] == "2029-12-20"
    got = client.get(f"/api/v1/risk-assessments/{first['id']}", headers=AU).json()
    assert got == first
    assess(client, member="M-200", choice="b")
    second = assess(client, choice="a", out_1="b")
    assert second["number"] == 3 and second["overall"]["grade"] == "A"
    r = client.get("/api/v1/risk-assessments", headers=AU, params={"member_number": "M-100"})
    items = r.json()["items"]
    assert r.json()["total"] == 2 and [i["number"] for i in items] == [3, 1]
    change = items[0]["change"]
    assert change["previous_number"] == 1 and change["grade_from"] == "E" and change["grade_to"] == "A"
    assert change["overall"] == second["overall"]["score"] and change["areas"]["outsourcing"] == 83
    assert items[1]["change"] is None
    assert client.get("/api/v1/risk-assessments", headers=AU).json()["total"] == 3
    assert (
        client.get("/api/v1/risk-assessments", headers=AU, params={"scheme": "chuokai"}).json()["total"] == 0
    )
    # as of before the first assessment was recorded: nothing was known
    early = "2000-01-01T00:00:00+09:00"
    assert client.get("/api/v1/risk-assessments", headers=AU, params={"as_of": early}).json()["total"] == 0
    r = client.get(f"/api/v1/risk-assessments/{first['id']}", headers=AU, params={"as_of": early})
    assert r.status_code == 404
    # moments are shown at the Tokyo offset, as everywhere; an implausible as-of is refused (422)
    assert first["recorded_at"].endswith("+09:00")
    for url in ("/api/v1/risk-assessments", f"/api/v1/risk-assessments/{first['id']}"):
        r = client.get(url, headers=AU, params={"as_of": "0001-01-01T00:00:00+14:00"})
        assert r.status_code == 422, (url, r.text)
    events = runtime.app.history(UUID(first["id"]))
    assert [type(e).__name__ for e in events] == ["Assessed"]
    assert events[0].result["overall"] == first["overall"] | events[0].result["overall"]
    assert events[0].questionnaire_version == Q.version and events[0].answers == answers("c")


BAD_INPUT = [
    ({"answers": {k: v for k, v in answers().items() if k != "gov-2"}}, "invalid_answers", "gov-2"),
    ({"answers": {**answers(), "xyz-1": "a"}}, "invalid_answers", "xyz-1"),
    ({"answers": {**answers(), "net-4": "z"}}, "invalid_answers", "net-4"),
    ({"answers": {**answers(), "net-4": ["a"]}}, "invalid_answers", "net-4"),
    ({"scheme": "nope"}, "unknown_scheme", "nope"),
    ({"business": {**BUSINESS, "industry": "piracy"}}, "unknown_industry", "piracy"),
    ({"business": {**BUSINESS, "employees": -1}}, "validation_error", "employees"),
    ({"business": {**BUSINESS, "records_held": "3000"}}, "validation_error", "records_held"),
    ({"member_number": "   "}, "validation_error", "member_number"),
    ({"assessed_on": "2030-02-01"}, "date_out_of_range", "assessed_on"),
    ({"extra": 1}, "validation_error", "extra"),
]


def test_bad_input_is_422_naming_it_and_records_nothing(client, runtime):
    assess(client, member="M-0")  # the register exists: a refused request must not touch it either
    before = events_recorded(runtime)
    for change, code, named in BAD_INPUT:
        body = {"scheme": "jcci", "member_number": "M-1", "business": BUSINESS, "answers": answers()}
        body.update(change)
        r = client.post("/api/v1/risk-assessments", headers=OP, json=body)
        assert r.status_code == 422, (change, r.text)
        assert r.json()["type"].endswith(":" + code), r.text
        assert named in r.text
        assert events_recorded(runtime) == before
    assert client.get("/api/v1/risk-assessments", headers=AU).json()["total"] == 1


def test_missing_unknown_and_bad_choices_are_all_listed_at_once(client):
    bad = {k: v for k, v in answers().items() if k not in ("gov-1", "req-3")}
    bad.update({"zzz": "a", "acc-1": "q"})
    r = client.post(
        "/api/v1/risk-assessments",
        headers=OP,
        json={"scheme": "jcci", "member_number": "M-1", "business": BUSINESS, "answers": bad},
    )
    p = r.json()
    assert r.status_code == 422
    assert p["missing_questions"] == ["gov-1", "req-3"]
    assert p["unknown_questions"] == ["zzz"] and p["unknown_choices"] == {"acc-1": "q"}


def test_roles_and_unknown_ids(client):
    body = {"scheme": "jcci", "member_number": "M-1", "business": BUSINESS, "answers": answers()}
    assert client.post("/api/v1/risk-assessments", headers=DA, json=body).status_code == 403
    assert client.post("/api/v1/risk-assessments", headers=AU, json=body).status_code == 403
    missing = "00000000-0000-0000-0000-000000000000"
    for path in ("", "/report.pdf", "/report.html"):
        r = client.get(f"/api/v1/risk-assessments/{missing}{path}", headers=AU)
        assert r.status_code == 404 and r.json()["type"].endswith(":riskassessment_not_found")
    assert client.get("/api/v1/risk-assessments/not-a-uuid", headers=AU).status_code == 422
    assert client.get("/api/v1/risk-assessments", headers=DA).status_code == 403


def test_the_report_pdf_and_html_read_as_a_consultants_document(client):
    # five members of the scheme assessed: the report compares with the scheme average
    for i, choice in enumerate("abcba"):
        last = assess(client, member=f"M-{i}", scheme="chuokai", choice=choice)
    r = client.get(f"/api/v1/risk-assessments/{last['id']}/report.pdf", headers=AU)
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    data = r.content
    text = pdf_text(data)
    for needle in (
        "個人情報管理リスク評価報告書",
        "会員番号 M-4",
        "RA-CHUOKAI-000005",
        "中央会 個人情報漏えい賠償責任保険",
    ):
        assert needle in text
    assert "総合評価" in text and last["overall"]["grade"] in text and last["overall"]["label"] in text
    for area in Q.areas:
        assert area.title in text.replace("\n", "")
    assert "制度平均" in text and "会員5社の平均" in text
    assert "全国中小企業団体中央会 総務部" in text and "03-3523-4906" in text
    assert "個人情報保護委員会" in text  # 3,000 records held: the reporting duty is pointed out
    assert "要強化" in text or "対策済み" in text
    assert assert_renders_without_missing_glyphs(data) >= 2
    # re-issued later: the same file
    again = client.get(f"/api/v1/risk-assessments/{last['id']}/report.pdf", headers=AU).content
    assert again == data
    html = client.get(f"/api/v1/risk-assessments/{last['id']}/report.html", headers=AU)
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    for area in Q.areas:
        assert area.title in html.text
    assert "制度平均" in html.text and "RA-CHUOKAI-000005" in html.text and "report.pdf" in html.text


def test_fewer_than_five_members_no_average(client):
    a = assess(client, scheme="chuokai", choice="b")
    html = client.get(f"/api/v1/risk-assessments/{a['id']}/report.html", headers=AU).text
    assert "5社以上になると表示" in html and "制度平均" not in html
