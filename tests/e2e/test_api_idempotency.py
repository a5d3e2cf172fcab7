"""Issue 10, defect 3: a retry with the same Idempotency-Key after a failure or a crash returns
the first attempt's outcome when it was recorded and executes it exactly once when it was not;
the key's scope is the caller; a replay keeps its Content-Type; stored responses expire."""

from __future__ import annotations

from uuid import UUID

import pytest

from api.idempotency import TABLE, purge_expired
from api.routers import claims as claims_router
from policy_core.requests import request_context
from tests.e2e.conftest import KEYS, auth
from tests.e2e.test_api_core import APPLICATION

OP, AU = auth("operator"), auth("auditor")


def keyed(key: str, headers: dict[str, str] = OP) -> dict[str, str]:
    return dict(headers, **{"Idempotency-Key": key})


@pytest.fixture
def active_policy(client, settle):
    pid = client.post("/api/v1/policies", headers=OP, json=APPLICATION).json()["id"]
    r = client.post("/api/v1/operations/run-due", headers=OP, json={"as_of": "2026-05-01T12:00:00+09:00"})
    assert r.status_code == 200 and r.json()["debited"] == 1
    return pid


def claim_body(pid: str) -> dict:
    return {
        "policy_id": pid,
        "occurred_at": "2026-06-01T10:00:00+09:00",
        "discovered_at": "2026-06-03T10:00:00+09:00",
        "cause": "insider",
        "records_affected": 10,
    }


def claims_of(runtime, pid: str) -> list:
    policy = runtime.app.get_policy(UUID(pid))
    return [c for p in policy.periods for c in p.claims]


def fail_once(monkeypatch, module, name):
    """The command is recorded, then the response fails (a 500 after the save)."""
    real = getattr(module, name)
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("connection reset while answering")
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, flaky)


def test_a_retry_after_a_500_returns_what_the_first_attempt_recorded(
    client, runtime, active_policy, monkeypatch
):
    fail_once(monkeypatch, claims_router, "claim_view")
    r1 = client.post("/api/v1/claims", headers=keyed("claim-1"), json=claim_body(active_policy))
    assert r1.status_code == 500
    assert len(claims_of(runtime, active_policy)) == 1  # it was recorded
    r2 = client.post("/api/v1/claims", headers=keyed("claim-1"), json=claim_body(active_policy))
    assert r2.status_code == 201, r2.text
    assert len(claims_of(runtime, active_policy)) == 1  # not a second claim
    assert UUID(r2.json()["id"]).hex == claims_of(runtime, active_policy)[0]
    r3 = client.post("/api/v1/claims", headers=keyed("claim-1"), json=claim_body(active_policy))
    assert r3.json() == r2.json() and r3.headers["idempotent-replayed"] == "true"


def test_a_payment_retried_after_a_500_pays_once(client, runtime, active_policy, monkeypatch):
    cid = client.post("/api/v1/claims", headers=OP, json=claim_body(active_policy)).json()["id"]
    items = {"items": [{"category": "damages", "risk": "basic", "amount": 1_000_000}]}
    fail_once(monkeypatch, claims_router, "claim_view")
    r = client.post(f"/api/v1/claims/{cid}/losses", headers=keyed("loss-1"), json=items)
    assert r.status_code == 500
    assert client.post(f"/api/v1/claims/{cid}/losses", headers=keyed("loss-1"), json=items).status_code == 200
    assert len(runtime.app.get_claim(UUID(cid)).losses) == 1  # assessed once
    fail_once(monkeypatch, claims_router, "claim_view")
    assert client.post(f"/api/v1/claims/{cid}/payments", headers=keyed("pay-1")).status_code == 500
    r = client.post(f"/api/v1/claims/{cid}/payments", headers=keyed("pay-1"))
    assert r.status_code == 201, r.text
    assert r.json()["payment"]["number"] == 1 and r.json()["payment"]["total"] == 900_000
    assert len(runtime.app.get_claim(UUID(cid)).payments) == 1


def _abandoned(runtime, key: str, request_id: str, path: str, body: bytes) -> None:
    """What a first attempt killed with -9 leaves: its row in progress, the lease run out."""
    import hashlib

    from api.auth import parse_keys

    scope = next(
        k for k in parse_keys(",".join(f"{r}:{v}" for r, v in KEYS.items())).values() if k.role == "operator"
    )
    digest = hashlib.sha256(path.encode() + b"\n" + body).hexdigest()
    with runtime.database.connect() as conn:
        conn.execute(
            f"INSERT INTO {TABLE} (scope, key, method, path, body_sha256, request_id, lease_until) "
            "VALUES (%s, %s, 'POST', %s, %s, %s, now() - interval '1 second')",
            (scope.key_id, key, path, digest, request_id),
        )
        conn.commit()


def test_a_retry_after_a_crash_executes_once_or_returns_what_was_recorded(client, runtime, active_policy):
    import json

    body = claim_body(active_policy)
    raw = json.dumps(body).encode()
    # Crashed before recording anything: the retry executes it.
    _abandoned(runtime, "crash-a", "a" * 32, "/api/v1/claims", raw)
    r = client.post(
        "/api/v1/claims", headers=dict(keyed("crash-a"), **{"Content-Type": "application/json"}), content=raw
    )
    assert r.status_code == 201, r.text
    assert len(claims_of(runtime, active_policy)) == 1
    # Crashed after recording (the command ran in the request's context): the retry finds it.
    from datetime import datetime

    with request_context("b" * 32):
        first = runtime.app.report_incident(
            policy_id=UUID(active_policy),
            occurred_at=datetime.fromisoformat(body["occurred_at"]),
            discovered_at=datetime.fromisoformat(body["discovered_at"]),
            cause="insider",
            records_affected=10,
            description="",
            record_if_outside_cover=True,
        )
    _abandoned(runtime, "crash-b", "b" * 32, "/api/v1/claims", raw)
    r = client.post(
        "/api/v1/claims", headers=dict(keyed("crash-b"), **{"Content-Type": "application/json"}), content=raw
    )
    assert r.status_code == 201, r.text
    assert r.json()["id"] == str(first)
    assert len(claims_of(runtime, active_policy)) == 2


def test_a_request_still_running_answers_409_with_retry_after(client, runtime, active_policy):
    import hashlib

    from api.auth import parse_keys

    scope = next(
        k for k in parse_keys(",".join(f"{r}:{v}" for r, v in KEYS.items())).values() if k.role == "operator"
    )
    with runtime.database.connect() as conn:
        conn.execute(
            f"INSERT INTO {TABLE} (scope, key, method, path, body_sha256, request_id, lease_until) "
            "VALUES (%s, 'busy', 'POST', '/api/v1/claims/x/payments', %s, 'c', "
            "now() + interval '30 seconds')",
            (scope.key_id, hashlib.sha256(b"/api/v1/claims/x/payments\n").hexdigest()),
        )
        conn.commit()
    r = client.post("/api/v1/claims/x/payments", headers=keyed("busy"))
    assert r.status_code == 409 and r.json()["type"].endswith(":request_in_progress")
    assert 1 <= int(r.headers["retry-after"]) <= 30


def test_the_scope_is_the_caller_not_the_header_spelling(client, runtime, active_policy):
    ids = set()
    for scheme in ("Bearer", "bearer", "BEARER"):
        headers = {"Authorization": f"{scheme} {KEYS['operator']}", "Idempotency-Key": "same"}
        r = client.post("/api/v1/claims", headers=headers, json=claim_body(active_policy))
        assert r.status_code == 201, r.text
        ids.add(r.json()["id"])
    assert len(ids) == 1 and len(claims_of(runtime, active_policy)) == 1


def test_a_replay_keeps_the_content_type(client):
    bad = dict(APPLICATION, annual_sales=-1)
    r1 = client.post("/api/v1/policies", headers=keyed("bad-1"), json=bad)
    r2 = client.post("/api/v1/policies", headers=keyed("bad-1"), json=bad)
    assert r1.status_code == r2.status_code == 422
    assert r1.headers["content-type"] == r2.headers["content-type"] == "application/problem+json"
    assert r2.headers["idempotent-replayed"] == "true" and r1.json() == r2.json()
    ok1 = client.post("/api/v1/policies", headers=keyed("ok-1"), json=APPLICATION)
    ok2 = client.post("/api/v1/policies", headers=keyed("ok-1"), json=APPLICATION)
    assert ok1.headers["content-type"] == ok2.headers["content-type"] == "application/json"


def test_stored_responses_expire(client, runtime):
    r = client.post("/api/v1/policies", headers=keyed("old"), json=APPLICATION)
    assert r.status_code == 201
    assert runtime.settings.idempotency_ttl_hours == 24
    with runtime.database.connect() as conn:
        conn.execute(f"UPDATE {TABLE} SET created_at = now() - interval '25 hours' WHERE key = 'old'")
        conn.commit()
    other = dict(APPLICATION, member_number="M-200")
    r = client.post("/api/v1/policies", headers=keyed("old"), json=other)  # an expired key is a new request
    assert r.status_code == 201 and r.json()["member_number"] == "M-200"
    with runtime.database.connect() as conn:
        conn.execute(f"UPDATE {TABLE} SET created_at = now() - interval '25 hours'")
        conn.commit()
    assert purge_expired(runtime.database, 24) >= 1
    with runtime.database.connect() as conn:
        assert conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0] == 0


def test_the_stored_response_is_sealed_and_its_replay_keeps_location(client, runtime):
    """#12 and #10 together: the body kept for a replay is sealed (it quotes the holder's name),
    and the replay still answers the first status, body, Content-Type and Location."""
    r1 = client.post("/api/v1/policies", headers=keyed("sealed-1"), json=APPLICATION)
    assert r1.status_code == 201, r1.text
    with runtime.database.connect() as conn:
        response, body, raw = conn.execute(
            f"SELECT response, body, (response::text || coalesce(headers::text, '')) FROM {TABLE} "
            "WHERE key = 'sealed-1'"
        ).fetchone()
    assert set(response) == {"sealed"} and body is None
    assert APPLICATION["holder"]["name"] not in raw
    r2 = client.post("/api/v1/policies", headers=keyed("sealed-1"), json=APPLICATION)
    assert r2.status_code == 201 and r2.headers["idempotent-replayed"] == "true"
    assert r2.json() == r1.json() and r2.json()["holder"]["name"] == APPLICATION["holder"]["name"]
    assert r2.headers["content-type"] == r1.headers["content-type"]
    assert r2.headers.get("location") == r1.headers.get("location")
