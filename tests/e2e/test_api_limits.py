"""GET /policies/{id}/limits: the read model's pre-rendered answer against the replay of the events."""

from __future__ import annotations

from uuid import UUID

from tests.e2e.conftest import auth
from tests.e2e.test_api_endpoints import apply, run_due

#: the limits answer's members, in order (the view's document, the as-of replay and the fallback alike)
LIMITS_KEYS = [
    "policy_id",
    "number",
    "period",
    "start",
    "end",
    "sections",
    "claims",
    "claim_numbers",
    "source",
    "position",
]

OP, AU, DA = auth("operator"), auth("auditor"), auth("dashboard")
LOSSES = [
    {"category": "damages", "risk": "basic", "amount": 37_000_000},
    {"category": "advertising", "risk": "basic", "amount": 5_000_000},
]


def report_and_pay(client, pid: str, when: str) -> str:
    r = client.post(
        "/api/v1/claims",
        headers=OP,
        json={
            "policy_id": pid,
            "occurred_at": when,
            "discovered_at": when,
            "cause": "insider",
            "records_affected": 3000,
            "description": "an employee sold the customer list",
        },
    )
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    assert client.post(f"/api/v1/claims/{cid}/losses", headers=OP, json={"items": LOSSES}).status_code == 200
    assert client.post(f"/api/v1/claims/{cid}/payments", headers=OP).status_code == 201
    return cid


def test_the_read_model_answer_is_the_replayed_answer(client, settle, runtime):
    pid = apply(client)["id"]
    run_due(client, "2026-05-01T12:00:00+09:00")
    paid = report_and_pay(client, pid, "2026-06-01T10:00:00+09:00")
    when = "2026-07-01T10:00:00+09:00"
    r = client.post(
        "/api/v1/claims",
        headers=OP,
        json={  # registered on the period, nothing paid yet
            "policy_id": pid,
            "occurred_at": when,
            "discovered_at": when,
            "cause": "theft",
            "records_affected": 10,
            "description": "a laptop was stolen",
        },
    )
    unpaid = r.json()["id"]
    settle()

    r = client.get(f"/api/v1/policies/{pid}/limits", headers=AU)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert int(r.headers["content-length"]) == len(r.content)
    body = r.json()
    assert list(body) == LIMITS_KEYS
    assert body["source"] == "read_model" and body["position"] > 0
    assert client.get(f"/api/v1/policies/{pid}/limits?period=1", headers=AU).json() == body

    replayed = client.get(
        f"/api/v1/policies/{pid}/limits", params={"as_of": "2027-01-01T00:00:00+09:00"}, headers=AU
    ).json()
    # As of now, the replay is the current answer in exactly its shape (dashed claim ids, every
    # claim listed), stamped with the log position.
    assert replayed["source"] == "events" and replayed["position"] == body["position"]
    assert list(replayed) == list(body)
    assert {k: v for k, v in replayed.items() if k != "source"} == {
        k: v for k, v in body.items() if k != "source"
    }
    assert body["start"].endswith("+09:00")
    assert body["sections"]["liability_basic"] == {
        "limit": 50_000_000,
        "paid": 36_900_000,
        "remaining": 13_100_000,
    }
    # the read model lists every claim registered on the period; the replay those paid
    assert set(body["claims"]) == {paid, unpaid}
    assert body["claims"][paid]["expense_basic"] == {
        "accident_limit": 5_000_000,
        "paid": 4_410_000,
        "remaining": 590_000,
    }
    assert body["claims"][unpaid]["liability_basic"] == {
        "accident_limit": 50_000_000,
        "paid": 0,
        "remaining": 50_000_000,
    }
    # As of the moment before the payment was recorded: the claim listed, nothing used yet.
    assessed = [e for e in runtime.app.history(UUID(paid)) if type(e).__name__ != "ClaimPaid"][-1]
    before = client.get(
        f"/api/v1/policies/{pid}/limits", params={"as_of": assessed.timestamp.isoformat()}, headers=AU
    ).json()
    assert list(before) == list(body) and set(before["claims"]) == {paid}
    assert before["sections"]["liability_basic"] == {"limit": 50_000_000, "paid": 0, "remaining": 50_000_000}
    assert before["claims"][paid]["expense_basic"]["paid"] == 0
    assert before["position"] < body["position"]


def test_limits_auth_fallbacks_and_openapi(client, settle):
    pid = apply(client)["id"]
    # not projected yet: the replay answers
    r = client.get(f"/api/v1/policies/{pid}/limits", headers=OP)
    assert r.status_code == 200 and r.json()["source"] == "events"
    settle()
    assert client.get(f"/api/v1/policies/{pid}/limits", headers=OP).json()["source"] == "read_model"
    assert client.get(f"/api/v1/policies/{pid}/limits").status_code == 401
    assert client.get(f"/api/v1/policies/{pid}/limits", headers=DA).status_code == 403
    # no such period: the replay says so
    r = client.get(f"/api/v1/policies/{pid}/limits?period=2", headers=OP)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    r = client.get("/api/v1/policies/00000000-0000-0000-0000-000000000000/limits", headers=OP)
    assert r.status_code == 404

    spec = client.get("/openapi.json").json()
    op = spec["paths"]["/api/v1/policies/{policy_id}/limits"]["get"]
    schema = op["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/PolicyLimits"}
    props = spec["components"]["schemas"]["PolicyLimits"]["properties"]
    assert set(props) == set(LIMITS_KEYS)
    assert op["security"] == [{"HTTPBearer": []}]


def test_limits_are_replayed_while_the_view_is_not_built_at_this_version(client, settle, database):
    """An upgrade: until the runner has rebuilt the limits view, its documents table is missing."""
    pid = apply(client)["id"]
    settle()
    with database.connect() as conn:
        conn.execute(f'DROP TABLE "{database.schema}".rm_limits_docs')
        conn.commit()
    r = client.get(f"/api/v1/policies/{pid}/limits", headers=OP)
    assert r.status_code == 200 and r.json()["source"] == "events"
