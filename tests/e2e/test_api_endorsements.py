"""Endorsements over HTTP: holder and bank-account changes on both schemes, the list, masking,
errors (nothing recorded), Idempotency-Key."""

from __future__ import annotations

from tests.e2e.conftest import auth
from tests.e2e.test_api_core import APPLICATION
from tests.e2e.test_api_cover_rules import JCCI, events

OP, AU = auth("operator"), auth("auditor")
NEW_BANK = dict(APPLICATION["bank_account"], account_number="7654321")


def test_endorsements_on_both_schemes(client):
    for body in (APPLICATION, JCCI):
        p = client.post("/api/v1/policies", headers=OP, json=dict(body, member_number="E-1")).json()
        pid, start = p["id"], p["coverage_start"][:10]
        day = start[:8] + "28"  # a day inside the first period
        r = client.post(
            f"/api/v1/policies/{pid}/endorsements",
            headers=dict(OP, **{"Idempotency-Key": f"end-{pid}"}),
            json={
                "effective_date": day,
                "changes": {"holder": {"address": "大阪市北区1-1"}, "bank_account": NEW_BANK},
                "reason": "moved",
            },
        )
        assert r.status_code == 201, r.text
        e = r.json()
        assert e["number"] == 1 and e["premium_delta"] == 0 and e["effective_at"].endswith("16:00:00+09:00")
        assert "7654321" not in r.text and e["changes"]["bank_account"]["account_number_masked"].endswith(
            "321"
        )
        assert e["actor"]["role"] == "operator"
        listed = client.get(f"/api/v1/policies/{pid}/endorsements", headers=AU).json()["items"]
        assert [x["number"] for x in listed] == [1]
        now = client.get(f"/api/v1/policies/{pid}", headers=AU).json()
        assert now["holder"]["address"] == "大阪市北区1-1"
        assert [x["number"] for x in now["endorsements"]] == [1]
        then = client.get(f"/api/v1/policies/{pid}", headers=AU, params={"as_of": p["modified_on"]}).json()
        assert then["endorsements"] == [] and "address" not in then["holder"]
        before = events(client, pid)
        for bad in (
            {"effective_date": day, "changes": {"plan": "Z"}, "reason": "no such plan"},
            {"effective_date": "2020-01-01", "changes": {"holder": {"phone": "1"}}, "reason": "x"},
            {"effective_date": day, "changes": {"holder": {"address": "大阪市北区1-1"}}, "reason": "same"},
            {"effective_date": day, "changes": {"colour": "red"}, "reason": "x"},
        ):
            resp = client.post(f"/api/v1/policies/{pid}/endorsements", headers=OP, json=bad)
            assert resp.status_code == 422, resp.text
        assert events(client, pid) == before
