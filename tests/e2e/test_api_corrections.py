"""Issue 11 over HTTP on real PostgreSQL: reserves, payment reversal, loss corrections and
withdrawals with the recovery due, reopening, reinstatement; every path and its errors, each
correction idempotent under Idempotency-Key, and the portfolio following."""

from __future__ import annotations

from tests.e2e.conftest import auth
from tests.e2e.test_api_cover_rules import JCCI, apply, claim, events, run_due

OP, AU, DA = auth("operator"), auth("auditor"), auth("dashboard")


def post(client, path, body=None, key=None):
    headers = dict(OP, **({"Idempotency-Key": key} if key else {}))
    return client.post(f"/api/v1{path}", headers=headers, json=body)


def claim_events(client, cid):
    return client.get(f"/api/v1/claims/{cid}/events", headers=AU).json()["items"]


def assessed(client, pid):
    c = claim(client, pid, "2026-06-03T10:00:00+09:00")
    items = [
        {"category": "damages", "risk": "basic", "amount": 1_000_000},
        {"category": "advertising", "risk": "basic", "amount": 600_000},
    ]
    assert post(client, f"/claims/{c['id']}/losses", {"items": items}).status_code == 200
    return c["id"]


def test_reserve_payment_reversal_and_portfolio(client, settle):
    pid = apply(client)["id"]
    run_due(client, "2026-05-01T12:00:00+09:00")
    cid = assessed(client, pid)
    r = post(
        client, f"/claims/{cid}/reserve", {"sections": {"liability_basic": 2_000_000}, "reason": "estimate"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["reserve"]["liability_basic"] == 2_000_000 and body["incurred_total"] == 2_000_000
    bad = post(client, f"/claims/{cid}/reserve", {"sections": {"bogus": 1}, "reason": "x"})
    assert bad.status_code == 422
    assert post(client, f"/claims/{cid}/reserve", {"sections": {}, "reason": "x"}).status_code == 422

    paid = post(client, f"/claims/{cid}/payments").json()
    assert paid["payment"]["total"] == 900_000 + 450_000
    claim_now = paid["claim"]
    assert claim_now["reserve"]["liability_basic"] == 1_100_000
    assert claim_now["incurred"]["liability_basic"] == 2_000_000
    settle()
    report = client.get("/api/v1/reports/portfolio?scheme=chuokai&year=2026", headers=DA).json()
    assert report["paid_yen"] == 1_350_000 and report["outstanding_reserve_yen"] == 1_100_000
    assert report["incurred_yen"] == 2_450_000
    assert report["incurred_loss_ratio_percent"] == round(2_450_000 * 100 / 100_000, 2)

    r = post(
        client, f"/claims/{cid}/payments/1/reversal", {"reason": "paid to the wrong account"}, key="rev-1"
    )
    assert r.status_code == 201, r.text
    assert r.json()["claim"]["paid_total"] == 0 and r.json()["claim"]["payments"][0]["reversed"] is True
    # The same request again (a retry) answers the same and records nothing.
    before = claim_events(client, cid)
    again = post(
        client, f"/claims/{cid}/payments/1/reversal", {"reason": "paid to the wrong account"}, key="rev-1"
    )
    assert again.status_code == 201 and again.json() == r.json()
    assert claim_events(client, cid) == before
    # Without the key, a second reversal is a conflict.
    twice = post(client, f"/claims/{cid}/payments/1/reversal", {"reason": "again"})
    assert twice.status_code == 409 and twice.json()["type"].endswith(":payment_already_reversed")
    missing = post(client, f"/claims/{cid}/payments/7/reversal", {"reason": "none"})
    assert missing.status_code == 404 and missing.json()["type"].endswith(":payment_not_found")
    assert post(client, f"/claims/{cid}/payments/1/reversal", {}).status_code == 422
    types = [e["type"] for e in claim_events(client, cid)]
    assert types.count("ClaimPaid") == 1 and types.count("PaymentReversed") == 1
    reversal = [e for e in claim_events(client, cid) if e["type"] == "PaymentReversed"][0]
    assert reversal["metadata"]["actor"]["role"] == "operator"
    assert reversal["data"]["reason"] == "paid to the wrong account"
    policy_types = [e["type"] for e in events(client, pid)]
    assert "ClaimPaymentReversed" in policy_types
    settle()
    limits = client.get(f"/api/v1/policies/{pid}/limits", headers=OP).json()
    assert limits["sections"]["liability_basic"]["paid"] == 0
    # Paying again pays what is then payable.
    assert post(client, f"/claims/{cid}/payments").json()["payment"]["total"] == 1_350_000


def test_loss_corrections_recovery_due_and_reopening(client, settle):
    pid = apply(client)["id"]
    run_due(client, "2026-05-01T12:00:00+09:00")
    cid = assessed(client, pid)
    assert post(client, f"/claims/{cid}/payments").status_code == 201
    view = client.get(f"/api/v1/claims/{cid}", headers=AU).json()
    assert [i["number"] for i in view["losses"]] == [1, 2]
    r = post(
        client, f"/claims/{cid}/losses/1/correction", {"amount": 500_000, "reason": "court reduced"}, key="c1"
    )
    assert r.status_code == 200, r.text
    assert r.json()["losses"][0]["amount"] == 500_000
    assert r.json()["recoveries_due"]["liability_basic"] == 500_000 and r.json()["paid_total"] == 1_350_000
    r = post(client, f"/claims/{cid}/losses/2/withdrawal", {"reason": "another incident"})
    assert r.status_code == 200 and r.json()["losses"][1]["withdrawn"] is True
    assert r.json()["recoveries_due_total"] == 500_000 + 450_000
    gone = post(client, f"/claims/{cid}/losses/2/withdrawal", {"reason": "again"})
    assert gone.status_code == 409 and gone.json()["type"].endswith(":loss_item_withdrawn")
    assert post(client, f"/claims/{cid}/losses/9/correction", {"amount": 1, "reason": "x"}).status_code == 404
    empty = post(client, f"/claims/{cid}/losses/1/correction", {"reason": "nothing given"})
    assert empty.status_code == 422 and empty.json()["type"].endswith(":nothing_to_correct")
    settle()
    report = client.get("/api/v1/reports/portfolio?scheme=chuokai&year=2026", headers=DA).json()
    assert report["recoveries_due_yen"] == 950_000
    assert post(client, f"/claims/{cid}/closure", {"reason": "settled"}).json()["status"] == "closed"
    open_ = post(client, f"/claims/{cid}/reopening", {"reason": "further invoice"})
    assert open_.status_code == 200 and open_.json()["status"] == "paid"
    not_closed = post(client, f"/claims/{cid}/reopening", {"reason": "again"})
    assert not_closed.status_code == 409 and not_closed.json()["type"].endswith(":claim_open")


def test_reinstatement_on_jcci(client, settle):
    r = client.post("/api/v1/policies", headers=OP, json=JCCI)
    pid = r.json()["id"]
    run_due(client, "2026-04-30T12:00:00+09:00")
    assert client.get(f"/api/v1/policies/{pid}", headers=AU).json()["status"] == "active"
    not_cancelled = post(client, f"/policies/{pid}/reinstatement", {"reason": "nothing to undo"})
    assert not_cancelled.status_code == 409 and not_cancelled.json()["type"].endswith(":not_cancelled")
    assert (
        post(
            client, f"/policies/{pid}/cancellation", {"effective_date": "2026-08-01", "reason": "x"}
        ).status_code
        == 200
    )
    r = post(client, f"/policies/{pid}/reinstatement", {"reason": "cancelled the wrong policy"}, key="re-1")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "active" and r.json()["cancelled_at"] is None
    again = post(
        client, f"/policies/{pid}/reinstatement", {"reason": "cancelled the wrong policy"}, key="re-1"
    )
    assert again.status_code == 200 and again.json() == r.json()
    types = [e["type"] for e in events(client, pid)]
    assert types.count("Cancelled") == 1 and types.count("Reinstated") == 1
    settle()
    report = client.get("/api/v1/reports/portfolio?scheme=jcci&year=2026", headers=DA).json()
    assert report["return_premium"] == 0 and report["participants"] == 1
