from __future__ import annotations

import copy
from datetime import date

from api.schemas import SEED_APPLICATION
from tests.e2e.conftest import auth

#: the document's example application (seed 003), a copy the tests may change
APPLICATION = copy.deepcopy(SEED_APPLICATION)


def test_healthz_needs_no_key(client):
    r = client.get("/api/v1/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_quote_reproduces_a_seed_example(client):
    r = client.post(
        "/api/v1/quotes",
        headers=auth("operator"),
        json={
            "scheme": "chuokai",
            "industry": "clinic",
            "annual_sales": 300_000_000,
            "plan": "B",
            "network_rider": False,
            "application_date": "2026-01-10",
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["annual_premium"] == 150_000 and body["premium"] == 150_000
    assert body["coverage_start"] == "2026-03-25T16:00:00+09:00"
    assert body["tariff_version"] == "chuokai-2024-04"


def test_apply_then_read_masks_the_account(client, runtime):
    r = client.post("/api/v1/policies", headers=auth("operator"), json=APPLICATION)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "applied" and body["premium"] == 100_000
    assert "1234567" not in r.text
    assert body["bank_account"]["account_number_masked"].endswith("567")
    r2 = client.get(f"/api/v1/policies/{body['id']}", headers=auth("auditor"))
    assert r2.status_code == 200 and "1234567" not in r2.text
    ev = client.get(f"/api/v1/policies/{body['id']}/events", headers=auth("auditor"))
    assert ev.status_code == 200 and "1234567" not in ev.text
    assert ev.json()["items"][0]["metadata"]["actor"]["role"] == "operator"


def test_bad_input_is_422_problem_and_records_nothing(client, runtime):
    bad = dict(APPLICATION, annual_sales=1.5)
    r = client.post("/api/v1/policies", headers=auth("operator"), json=bad)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    bad = dict(APPLICATION, plan="Z")
    r = client.post("/api/v1/policies", headers=auth("operator"), json=bad)
    assert r.status_code == 422 and r.json()["type"].endswith(":unknown_plan")
    assert (runtime.app.recorder.max_notification_id() or 0) == 0


def test_auth_matrix_basics(client):
    assert client.get("/api/v1/schemes").status_code == 401
    assert (
        client.get("/api/v1/schemes", headers={"Authorization": "Bearer nope-nope-nope"}).status_code == 401
    )
    assert client.get("/api/v1/schemes", headers=auth("dashboard")).status_code == 200
    assert client.post("/api/v1/policies", headers=auth("auditor"), json=APPLICATION).status_code == 403


def test_idempotency_key_replays_and_conflicts(client, runtime):
    h = dict(auth("operator"), **{"Idempotency-Key": "abc-1"})
    r1 = client.post("/api/v1/policies", headers=h, json=APPLICATION)
    n = runtime.app.recorder.max_notification_id()
    r2 = client.post("/api/v1/policies", headers=h, json=APPLICATION)
    assert r1.status_code == r2.status_code == 201 and r1.json() == r2.json()
    assert runtime.app.recorder.max_notification_id() == n
    r3 = client.post("/api/v1/policies", headers=h, json=dict(APPLICATION, member_number="M-101"))
    assert r3.status_code == 409


def test_seed_worked_example_over_http(client, runtime):
    pid = client.post("/api/v1/policies", headers=auth("operator"), json=APPLICATION).json()["id"]
    app = runtime.app
    from uuid import UUID

    p = app.get_policy(UUID(pid))
    app.activate(p.id, 1)
    r = client.post(
        "/api/v1/claims",
        headers=auth("operator"),
        json={
            "policy_id": pid,
            "occurred_at": "2026-05-01T10:00:00+09:00",
            "discovered_at": "2026-05-02T10:00:00+09:00",
            "cause": "insider",
            "records_affected": 3000,
            "description": "customer list sold",
        },
    )
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    r = client.post(
        f"/api/v1/claims/{cid}/losses",
        headers=auth("operator"),
        json={
            "items": [
                {"category": "damages", "risk": "basic", "amount": 37_000_000},
                {"category": "defence_costs", "risk": "basic", "amount": 2_000_000},
                {"category": "condolence", "risk": "basic", "amount": 1_000_000, "recipients": 2000},
                {"category": "advertising", "risk": "basic", "amount": 5_000_000},
            ]
        },
    )
    assert r.status_code == 200, r.text
    r = client.post(f"/api/v1/claims/{cid}/payments", headers=auth("operator"))
    assert r.status_code == 409 and r.json()["type"].endswith(":premium_not_collected")
    app.record_debit_success(
        p.id, 1, attempt=1, amount=p.current_period.premium, debit_date=date(2026, 4, 27)
    )
    r = client.post(f"/api/v1/claims/{cid}/payments", headers=auth("operator"))
    assert r.status_code == 201, r.text
    pay = r.json()["payment"]
    assert pay["total"] == 43_900_000
    assert pay["sections"]["expense_basic"]["limited_by"] == "per_accident_limit"
    assert pay["sections"]["liability_basic"]["limited_by"] is None
    lim = client.get(f"/api/v1/policies/{pid}/limits", headers=auth("operator")).json()
    assert lim["sections"]["liability_basic"] == {
        "limit": 50_000_000,
        "paid": 38_900_000,
        "remaining": 11_100_000,
    }
