"""Every endpoint over HTTP on real PostgreSQL: contract fields, error paths, roles, as-of."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest

from tests.e2e.conftest import auth
from tests.e2e.test_api_core import APPLICATION

OP, AU, DA = auth("operator"), auth("auditor"), auth("dashboard")


def apply(client, **overrides):
    r = client.post("/api/v1/policies", headers=OP, json=dict(APPLICATION, **overrides))
    assert r.status_code == 201, r.text
    return r.json()


def run_due(client, as_of):
    r = client.post("/api/v1/operations/run-due", headers=OP, json={"as_of": as_of})
    assert r.status_code == 200, r.text
    return r.json()


def test_seed_worked_example_end_to_end_with_run_due_and_report(client, settle):
    """Apply, run-due (cover starts, premium debited), report, assess, pay: the seed 003 example."""
    policy = apply(client)
    pid = policy["id"]
    assert policy["coverage_start"] == "2026-03-25T16:00:00+09:00"
    assert policy["debit_date"] == "2026-04-27"  # 25 Apr 2026 is a Saturday
    did = run_due(client, "2026-05-01T12:00:00+09:00")
    assert did["activated"] == 1 and did["debited"] == 1
    state = client.get(f"/api/v1/policies/{pid}", headers=AU).json()
    assert state["status"] == "active"
    assert state["current_period"]["number"] == 1 and state["current_period"]["collected"] == 100_000
    r = client.post(
        "/api/v1/claims",
        headers=OP,
        json={
            "policy_id": pid,
            "occurred_at": "2026-06-01T10:00:00+09:00",
            "discovered_at": "2026-06-03T10:00:00+09:00",
            "cause": "insider",
            "records_affected": 3000,
            "description": "an employee sold the customer list",
        },
    )
    assert r.status_code == 201 and r.json()["status"] == "reported"
    cid = r.json()["id"]
    items = [
        {"category": "damages", "risk": "basic", "amount": 37_000_000},
        {"category": "defence_costs", "risk": "basic", "amount": 2_000_000},
        {"category": "condolence", "risk": "basic", "amount": 1_000_000, "recipients": 2000},
        {"category": "advertising", "risk": "basic", "amount": 5_000_000},
    ]
    assert client.post(f"/api/v1/claims/{cid}/losses", headers=OP, json={"items": items}).status_code == 200
    r = client.post(f"/api/v1/claims/{cid}/payments", headers=OP)
    assert r.status_code == 201, r.text
    payment = r.json()["payment"]
    assert payment["total"] == 43_900_000
    eb = payment["sections"]["expense_basic"]
    assert (eb["eligible"], eb["deductible"], eb["paid"], eb["limited_by"]) == (
        6_000_000,
        100_000,
        5_000_000,
        "per_accident_limit",
    )
    assert payment["sections"]["liability_basic"]["paid"] == 38_900_000
    settle()
    limits = client.get(f"/api/v1/policies/{pid}/limits", headers=OP).json()
    assert limits["period"] == 1 and limits["source"] == "read_model"
    assert limits["sections"]["expense_basic"] == {"limit": 5_000_000, "paid": 5_000_000, "remaining": 0}
    report = client.get("/api/v1/reports/portfolio?scheme=chuokai&year=2026", headers=DA)
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["paid_total"] == 43_900_000 and body["collected_premium"] == 100_000
    assert sum(c["paid_total"] for c in body["coinsurers"]) == 43_900_000
    # an interim payment with nothing new is a conflict
    r = client.post(f"/api/v1/claims/{cid}/payments", headers=OP)
    assert r.status_code == 409 and r.json()["type"].endswith(":nothing_payable")


def test_lists_filter_and_paginate(client, settle):
    for i in range(3):
        apply(client, member_number=f"L-{i}", industry="retail" if i < 2 else "clinic")
    settle()
    r = client.get("/api/v1/policies?industry=retail&limit=1", headers=DA)
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 2 and len(body["items"]) == 1
    assert "holder_name" not in body["items"][0]  # the dashboard sees no names
    r = client.get("/api/v1/policies?status=applied&scheme=chuokai", headers=OP)
    assert r.json()["total"] == 3 and r.json()["items"][0]["holder_name"]
    assert client.get("/api/v1/policies?limit=0", headers=OP).status_code == 422
    assert client.get("/api/v1/policies?status=bogus", headers=OP).status_code == 422
    assert client.get("/api/v1/claims", headers=DA).json()["items"] == []


def test_as_of_reads_show_what_the_system_knew_then(client):
    pid = apply(client)["id"]
    before = datetime.now().astimezone()
    time.sleep(0.01)
    r = client.post(f"/api/v1/policies/{pid}/non-renewal", headers=OP, json={"received_on": "2026-06-01"})
    assert r.status_code == 200 and r.json()["non_renewal_notice_on"] == "2026-06-01"
    then = client.get(f"/api/v1/policies/{pid}", headers=AU, params={"as_of": before.isoformat()}).json()
    assert then["non_renewal_notice_on"] is None
    early = (before - timedelta(days=1)).isoformat()
    assert client.get(f"/api/v1/policies/{pid}", headers=AU, params={"as_of": early}).status_code == 404
    naive = client.get(f"/api/v1/policies/{pid}", headers=AU, params={"as_of": "2026-01-01T00:00:00"})
    assert naive.status_code == 422
    events = client.get(f"/api/v1/policies/{pid}/events", headers=AU).json()["items"]
    assert [e["type"] for e in events] == ["Applied", "NonRenewalNoticeGiven"]
    assert [e["version"] for e in events] == [1, 2]
    # recorded in UTC, shown at the API's one offset, Tokyo's (README: offsets in answers)
    assert datetime.fromisoformat(events[0]["recorded_at"]).utcoffset() == timedelta(hours=9)


def test_cancellation(client):
    pid = apply(client)["id"]
    r = client.post(
        f"/api/v1/policies/{pid}/cancellation",
        headers=OP,
        json={"effective_date": "2026-07-01", "reason": "closed the business"},
    )
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    again = client.post(
        f"/api/v1/policies/{pid}/cancellation",
        headers=OP,
        json={"effective_date": "2026-07-01", "reason": "closed the business"},
    )
    assert again.status_code == 409 and again.json()["type"].endswith(":already_cancelled")


def test_claim_outside_cover_is_recorded_and_denied_at_once(client):
    pid = apply(client)["id"]
    r = client.post(
        "/api/v1/claims",
        headers=OP,
        json={
            "policy_id": pid,
            "occurred_at": "2025-01-01T10:00:00+09:00",
            "discovered_at": "2025-01-02T10:00:00+09:00",
            "cause": "theft",
            "records_affected": 5,
            "description": "before cover",
        },
    )
    assert r.status_code == 201
    assert r.json()["status"] == "denied" and r.json()["denial_reason"] == "discovered_outside_cover"
    r = client.post(
        "/api/v1/claims",
        headers=OP,
        json={
            "policy_id": pid,
            "occurred_at": "2026-05-01T10:00:00+09:00",
            "discovered_at": "2026-05-02T10:00:00+09:00",
            "cause": "website",
            "records_affected": 5,
            "description": "web form leak",
        },
    )
    assert r.json()["denial_reason"] == "network_cause_without_rider"
    cid = r.json()["id"]
    got = client.get(f"/api/v1/claims/{cid}", headers=AU).json()
    assert got["status"] == "denied"
    ev = client.get(f"/api/v1/claims/{cid}/events", headers=AU).json()["items"]
    assert [e["type"] for e in ev] == ["IncidentReported", "ClaimDenied"]


def test_error_paths(client):
    pid = apply(client)["id"]
    unknown = "00000000-0000-0000-0000-000000000000"
    assert client.get(f"/api/v1/policies/{unknown}", headers=AU).status_code == 404
    assert client.get(f"/api/v1/claims/{unknown}", headers=AU).status_code == 404
    assert client.get("/api/v1/policies/not-a-uuid", headers=AU).status_code == 422
    r = client.post(
        "/api/v1/claims",
        headers=OP,
        json={
            "policy_id": unknown,
            "occurred_at": "2026-05-01T10:00:00+09:00",
            "discovered_at": "2026-05-02T10:00:00+09:00",
            "cause": "theft",
            "records_affected": 1,
        },
    )
    assert r.status_code == 404
    r = client.post(
        "/api/v1/claims",
        headers=OP,
        json={
            "policy_id": pid,
            "occurred_at": "2026-05-01T10:00:00",
            "discovered_at": "2026-05-02T10:00:00+09:00",
            "cause": "theft",
            "records_affected": 1,
        },
    )
    assert r.status_code == 422  # naive time
    r = client.post(
        "/api/v1/quotes",
        headers=OP,
        json={
            "scheme": "jcci",
            "industry": "retail",
            "annual_sales": -5,
            "plan": "A",
            "application_date": "2026-05-01",
        },
    )
    assert r.status_code == 422
    r = client.post(
        "/api/v1/quotes",
        headers=OP,
        json={
            "scheme": "jcci",
            "industry": "retail",
            "annual_sales": 5_000_000,
            "plan": "E",
            "liability_limit": 300_000_000,
            "application_date": "2026-05-01",
        },
    )
    assert r.status_code == 422 and r.json()["type"].endswith(":invalid_liability_limit")
    r = client.post("/api/v1/operations/run-due", headers=OP, json={"as_of": "2099-01-01T00:00:00+09:00"})
    assert r.status_code == 422 and r.json()["type"].endswith(":as_of_in_future")
    assert client.get("/api/v1/reports/portfolio?scheme=jcci&year=2026", headers=DA).status_code == 404
    assert client.get("/api/v1/reports/portfolio?scheme=nope&year=2026", headers=DA).status_code == 422


ENDPOINTS = [
    ("GET", "/api/v1/schemes", None),
    (
        "POST",
        "/api/v1/quotes",
        {
            "scheme": "jcci",
            "industry": "retail",
            "annual_sales": 20_000_000,
            "plan": "A",
            "application_date": "2026-05-01",
        },
    ),
    ("GET", "/api/v1/policies", None),
    ("GET", "/api/v1/policies/{pid}", None),
    ("GET", "/api/v1/policies/{pid}/events", None),
    ("GET", "/api/v1/policies/{pid}/limits", None),
    ("GET", "/api/v1/claims", None),
    ("GET", "/api/v1/reports/portfolio?scheme=chuokai&year=2026", None),
    ("POST", "/api/v1/operations/run-due", {"as_of": "2026-01-01T00:00:00+09:00"}),
    ("POST", "/api/v1/policies/{pid}/non-renewal", {}),
]
ALLOWED = {
    "operator": {e[1] for e in ENDPOINTS},
    "auditor": {
        "/api/v1/schemes",
        "/api/v1/policies",
        "/api/v1/policies/{pid}",
        "/api/v1/policies/{pid}/events",
        "/api/v1/policies/{pid}/limits",
        "/api/v1/claims",
        "/api/v1/reports/portfolio?scheme=chuokai&year=2026",
    },
    "dashboard": {
        "/api/v1/schemes",
        "/api/v1/policies",
        "/api/v1/claims",
        "/api/v1/reports/portfolio?scheme=chuokai&year=2026",
    },
}


@pytest.mark.parametrize("role", ["operator", "auditor", "dashboard", None])
def test_auth_matrix(client, settle, role):
    pid = apply(client)["id"]
    run_due(client, "2026-05-01T12:00:00+09:00")
    settle()
    for method, path, body in ENDPOINTS:
        url = path.format(pid=pid)
        headers = auth(role) if role else {}
        r = client.request(method, url, headers=headers, json=body)
        if role is None:
            assert r.status_code == 401, (url, r.status_code)
        elif path in ALLOWED[role]:
            assert r.status_code in (200, 201), (role, url, r.status_code, r.text)
        else:
            assert r.status_code == 403, (role, url, r.status_code)


def test_health_and_readiness(client, settle):
    assert client.get("/api/v1/healthz").json() == {"status": "ok"}
    settle()
    r = client.get("/api/v1/readyz")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["database"] == "ok"
    assert set(body["projections"]) == {
        "limits",
        "policies",
        "claims",
        "collections",
        "portfolio",
        "erasures",
    }
    assert all(v["events_behind"] == 0 for v in body["projections"].values())
