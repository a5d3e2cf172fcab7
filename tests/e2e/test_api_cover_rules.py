"""Issue 11 over HTTP on both schemes: the cover rules found wrong (section 4) and the policy and
claim numbers (section 5)."""

from __future__ import annotations

from tests.e2e.conftest import auth
from tests.e2e.test_api_core import APPLICATION

OP, AU, DA = auth("operator"), auth("auditor"), auth("dashboard")

JCCI = dict(APPLICATION, scheme="jcci", application_date="2026-01-10")  # cover from 1 Apr 2026


def apply(client, **overrides):
    r = client.post("/api/v1/policies", headers=OP, json=dict(APPLICATION, **overrides))
    assert r.status_code == 201, r.text
    return r.json()


def run_due(client, as_of):
    r = client.post("/api/v1/operations/run-due", headers=OP, json={"as_of": as_of})
    assert r.status_code == 200, r.text
    return r.json()


def claim(client, pid, discovered):
    r = client.post(
        "/api/v1/claims",
        headers=OP,
        json={
            "policy_id": pid,
            "occurred_at": discovered,
            "discovered_at": discovered,
            "cause": "theft",
            "records_affected": 10,
        },
    )
    assert r.status_code == 201, r.text
    return r.json()


def paid_claim(client, pid, discovered):
    c = claim(client, pid, discovered)
    items = [{"category": "damages", "risk": "basic", "amount": 1_000_000}]
    assert (
        client.post(f"/api/v1/claims/{c['id']}/losses", headers=OP, json={"items": items}).status_code == 200
    )
    r = client.post(f"/api/v1/claims/{c['id']}/payments", headers=OP)
    assert r.status_code == 201 and r.json()["payment"]["total"] == 900_000, r.text
    return c


def events(client, pid):
    return client.get(f"/api/v1/policies/{pid}/events", headers=AU).json()["items"]


def cancel(client, pid, **body):
    return client.post(f"/api/v1/policies/{pid}/cancellation", headers=OP, json=body)


def test_numbers_in_responses_views_and_search(client, settle):
    a = apply(client)
    b = apply(client, member_number="M-101")
    j = client.post("/api/v1/policies", headers=OP, json=JCCI).json()
    assert a["number"] == "CHUOKAI-2026-000001" and b["number"] == "CHUOKAI-2026-000002"
    assert j["number"] == "JCCI-2026-000001"
    assert client.get(f"/api/v1/policies/{a['id']}", headers=AU).json()["number"] == a["number"]
    run_due(client, "2026-05-01T12:00:00+09:00")
    c = claim(client, a["id"], "2026-06-03T10:00:00+09:00")
    assert c["number"] == "CHUOKAI-2026-C000001"
    settle()
    found = client.get("/api/v1/policies", headers=DA, params={"number": b["number"]}).json()
    assert [i["id"] for i in found["items"]] == [b["id"]]
    assert found["items"][0]["number"] == b["number"]
    claims = client.get("/api/v1/claims", headers=DA, params={"number": c["number"]}).json()["items"]
    assert [i["id"] for i in claims] == [c["id"]] and claims[0]["number"] == c["number"]
    assert client.get("/api/v1/claims", headers=DA, params={"number": "NOPE-1"}).json()["items"] == []


def test_overlapping_application_of_one_member_is_refused(client):
    first = apply(client)  # cover from 25 Mar 2026
    before = events(client, first["id"])
    r = client.post("/api/v1/policies", headers=OP, json=dict(APPLICATION, application_date="2026-05-10"))
    assert r.status_code == 409 and r.json()["type"].endswith(":member_already_insured"), r.text
    assert r.json()["policy_ids"] == [first["id"]]
    assert events(client, first["id"]) == before
    # the same member in the other scheme is another insured
    assert (
        client.post("/api/v1/policies", headers=OP, json=dict(JCCI, member_number="M-100")).status_code == 201
    )


def test_cancellation_behind_a_paid_claim_and_before_cover_start(client):
    pid = apply(client)["id"]
    run_due(client, "2026-05-01T12:00:00+09:00")
    paid = paid_claim(client, pid, "2026-10-01T10:00:00+09:00")
    before = events(client, pid)
    r = cancel(client, pid, effective_date="2026-09-10", reason="holder asked")
    assert r.status_code == 409 and r.json()["type"].endswith(":paid_claims_after_effective_date"), r.text
    assert r.json()["claims"] == [paid["id"].replace("-", "")]
    r = cancel(client, pid, effective_date="2026-03-01", reason="wrong policy")
    assert r.status_code == 422 and r.json()["type"].endswith(":effective_before_cover_start")
    r = cancel(client, pid, effective_date="2026-03-01", reason="wrong policy", void=True)
    assert r.status_code == 409 and r.json()["type"].endswith(":void_not_allowed")
    assert events(client, pid) == before
    r = cancel(client, pid, effective_date="2026-10-02", reason="holder asked")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"


def test_void_from_inception_on_jcci(client):
    p = client.post("/api/v1/policies", headers=OP, json=JCCI).json()
    r = cancel(client, p["id"], effective_date="2026-02-01", reason="applied by mistake", void=True)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled" and r.json()["cancelled_at"] == p["coverage_start"]
    last = events(client, p["id"])[-1]
    assert last["type"] == "Cancelled" and last["data"]["void"] is True
    assert last["metadata"]["actor"]["role"] == "operator"
    bad = cancel(client, p["id"], effective_date="2026-02-01", reason="x", void="yes")
    assert bad.status_code == 422


def test_lapse_across_the_anniversary_over_the_api(client, settle):
    # Chuo-kai mid-term joiner, failing account (ends in 1: insufficient funds).
    body = dict(APPLICATION, application_date="2025-12-15", enrollment="mid_term")
    body["bank_account"] = dict(APPLICATION["bank_account"], account_number="9000001")
    pid = apply(client, **{k: v for k, v in body.items() if k != "scheme"})["id"]
    run_due(client, "2026-04-10T12:00:00+09:00")  # cover starts, first debit fails, renewed on 25 Mar
    state = client.get(f"/api/v1/policies/{pid}", headers=AU).json()
    assert len(state["periods"]) == 2
    c = claim(client, pid, "2026-04-05T10:00:00+09:00")
    run_due(client, "2026-06-30T12:00:00+09:00")  # the second and third failures: lapse
    state = client.get(f"/api/v1/policies/{pid}", headers=AU).json()
    assert state["status"] == "lapsed" and state["lapsed_at"] == "2026-02-25T16:00:00+09:00"
    assert all(p["next_debit_date"] is None for p in state["periods"])
    denied = client.get(f"/api/v1/claims/{c['id']}", headers=AU).json()
    assert (denied["status"], denied["denial_reason"]) == ("denied", "policy_not_in_force")
    late = claim(client, pid, "2026-06-01T10:00:00+09:00")
    assert (late["status"], late["denial_reason"]) == ("denied", "policy_not_in_force")
    settle()
    arrears = client.get("/api/v1/reports/collections", headers=DA).json()["arrears"]
    assert [a for a in arrears if a["policy_id"] == pid] == []
