"""As-of on the reads other issues added (issue 13, "add as-of to every new read"): the claim's
reserves, incurred, payments and recoveries due, the policy's reinstatement state and its
endorsements, the policy's and the claim's events, each as the system had recorded them at an
earlier moment (figures computed by hand), and each equal to the current answer when ``as_of``
is now."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from tests.conftest import FIXED_NOW
from tests.e2e.conftest import auth
from tests.e2e.test_api_corrections import assessed, post
from tests.e2e.test_api_cover_rules import JCCI, apply, run_due

AU = auth("auditor")
NOW = FIXED_NOW.isoformat()  # the runtime's clock: after every recorded event


def _get(client, path, as_of=None):
    r = client.get(f"/api/v1{path}", headers=AU, params={"as_of": as_of} if as_of else None)
    assert r.status_code == 200, r.text
    return r.json()


def _last_recorded(runtime, aggregate_id):
    return runtime.app.history(UUID(aggregate_id))[-1].timestamp.isoformat()


def test_claim_reserves_incurred_payments_and_recoveries_as_of(client, runtime):
    pid = apply(client)["id"]
    run_due(client, "2026-05-01T12:00:00+09:00")
    cid = assessed(client, pid)  # damages 1,000,000 and advertising 600,000 on basic liability
    r = post(client, f"/claims/{cid}/reserve", {"sections": {"liability_basic": 2_000_000}, "reason": "est"})
    assert r.status_code == 200, r.text
    reserved_at = _last_recorded(runtime, cid)
    assert post(client, f"/claims/{cid}/payments").status_code == 201
    paid_at = _last_recorded(runtime, cid)
    r = post(client, f"/claims/{cid}/losses/1/correction", {"amount": 500_000, "reason": "court reduced"})
    assert r.status_code == 200, r.text
    current = _get(client, f"/claims/{cid}")

    # By hand, when reserved: 2,000,000 reserved, nothing paid, incurred = paid + reserve.
    then = _get(client, f"/claims/{cid}", reserved_at)
    assert then["reserve"]["liability_basic"] == 2_000_000 and then["reserve_total"] == 2_000_000
    assert (then["paid_total"], then["incurred_total"], then["payments"]) == (0, 2_000_000, [])
    assert then["recoveries_due_total"] == 0
    # When paid: 900,000 on the damages (1,000,000 less the 100,000 deductible) from basic
    # liability and 450,000 on the advertising (its own section): the basic reserve taken down by
    # what was paid from it to 1,100,000; incurred = paid + reserve = 1,350,000 + 1,100,000.
    paid = _get(client, f"/claims/{cid}", paid_at)
    assert paid["paid_total"] == 1_350_000 and [p["total"] for p in paid["payments"]] == [1_350_000]
    assert paid["reserve"]["liability_basic"] == 1_100_000
    assert paid["incurred"]["liability_basic"] == 900_000 + 1_100_000
    assert paid["incurred_total"] == 2_450_000
    assert paid["recoveries_due_total"] == 0
    # Now: the damages corrected to 500,000, payable 400,000 after the deductible, 900,000 paid
    # on them: 500,000 to recover on basic liability.
    assert current["recoveries_due"]["liability_basic"] == current["recoveries_due_total"] == 500_000
    assert _get(client, f"/claims/{cid}", NOW) == current
    # the claim's events as recorded then: up to the payment, not the correction
    events = _get(client, f"/claims/{cid}/events")["items"]
    then_events = _get(client, f"/claims/{cid}/events", paid_at)["items"]
    assert 0 < len(then_events) < len(events) and then_events == events[: len(then_events)]
    assert "ClaimPaid" in [e["type"] for e in then_events]
    recorded = [datetime.fromisoformat(e["recorded_at"].replace("Z", "+00:00")) for e in events]
    paid_moment = datetime.fromisoformat(paid_at)
    assert all((t <= paid_moment) == (i < len(then_events)) for i, t in enumerate(recorded))
    assert _get(client, f"/claims/{cid}/events", NOW)["items"] == events


def test_reinstatement_state_and_endorsements_as_of(client, runtime):
    r = client.post("/api/v1/policies", headers=auth("operator"), json=JCCI)
    pid = r.json()["id"]
    run_due(client, "2026-04-30T12:00:00+09:00")
    active_at = _last_recorded(runtime, pid)
    r = post(client, f"/policies/{pid}/cancellation", {"effective_date": "2026-08-01", "reason": "asked"})
    assert r.status_code == 200, r.text
    cancelled_at = _last_recorded(runtime, pid)
    r = post(client, f"/policies/{pid}/reinstatement", {"reason": "cancelled the wrong policy"})
    assert r.status_code == 200, r.text
    r = post(
        client,
        f"/policies/{pid}/endorsements",
        {
            "effective_date": "2026-09-01",
            "changes": {"holder": {"address": "大阪市北区1-1"}},
            "reason": "moved",
        },
    )
    assert r.status_code == 201, r.text
    reinstated = _get(client, f"/policies/{pid}")

    assert _get(client, f"/policies/{pid}", active_at)["status"] == "active"
    cancelled = _get(client, f"/policies/{pid}", cancelled_at)
    assert cancelled["status"] == "cancelled" and cancelled["cancelled_at"] is not None
    assert reinstated["status"] == "active" and reinstated["cancelled_at"] is None
    assert _get(client, f"/policies/{pid}", NOW) == reinstated

    events = _get(client, f"/policies/{pid}/events")["items"]
    then_events = [e["type"] for e in _get(client, f"/policies/{pid}/events", cancelled_at)["items"]]
    assert then_events[-1] == "Cancelled" and "Reinstated" not in then_events
    assert "Reinstated" in [e["type"] for e in events]
    assert _get(client, f"/policies/{pid}/events", NOW)["items"] == events

    endorsements = f"/policies/{pid}/endorsements"
    assert _get(client, endorsements, cancelled_at)["items"] == []
    now = _get(client, endorsements)
    assert [e["number"] for e in now["items"]] == [1]
    assert _get(client, endorsements, NOW) == now
    # one endorsement by number: unknown before it was recorded, as listed now at now
    r = client.get(f"/api/v1{endorsements}/1", headers=AU, params={"as_of": cancelled_at})
    assert r.status_code == 404 and r.json()["type"].endswith("endorsement_not_found")
    assert _get(client, f"{endorsements}/1", NOW) == _get(client, f"{endorsements}/1") == now["items"][0]
    before = client.get(
        f"/api/v1{endorsements}", headers=AU, params={"as_of": "2026-01-01T00:00:00+09:00"}
    )  # before the policy existed: as the policy read answers
    assert before.status_code == 404
    assert client.get(f"/api/v1{endorsements}", headers=AU, params={"as_of": "2026-01-01"}).status_code == 422
    early = {"as_of": "2026-01-01T00:00:00+09:00"}
    assert client.get(f"/api/v1/policies/{pid}/events", headers=AU, params=early).status_code == 404


def test_payments_reads_as_of(client, runtime):
    pid = apply(client)["id"]
    run_due(client, "2026-05-01T12:00:00+09:00")
    cid = assessed(client, pid)
    before_paid = _last_recorded(runtime, cid)
    assert post(client, f"/claims/{cid}/payments").status_code == 201
    paid_at = _last_recorded(runtime, cid)
    r = post(client, f"/claims/{cid}/payments/1/reversal", {"reason": "paid to the wrong claim"})
    assert r.status_code == 201, r.text
    current_list = _get(client, f"/claims/{cid}/payments")
    current_one = _get(client, f"/claims/{cid}/payments/1")
    assert current_one["reversed"] is True and current_list["items"] == [current_one]

    # Before the payment was recorded: no payments, and payment 1 is unknown.
    assert _get(client, f"/claims/{cid}/payments", before_paid)["items"] == []
    r = client.get(f"/api/v1/claims/{cid}/payments/1", headers=AU, params={"as_of": before_paid})
    assert r.status_code == 404 and r.json()["type"].endswith("payment_not_found")
    # When paid: 1,350,000 (900,000 on the damages after the deductible, 450,000 on the advertising),
    # not yet reversed; the same settlement as recorded, paid at the same moment.
    then = _get(client, f"/claims/{cid}/payments/1", paid_at)
    assert (then["total"], then["reversed"]) == (1_350_000, False)
    assert then["sections"] == current_one["sections"] and then["paid_at"] == current_one["paid_at"]
    assert _get(client, f"/claims/{cid}/payments", paid_at)["items"] == [then]
    # Now: equal to the answer without as_of.
    assert _get(client, f"/claims/{cid}/payments", NOW) == current_list
    # The settlement preview as of a recorded moment: before the payment it would have paid the
    # 1,350,000 that was then paid; right after it, nothing more; now, after the reversal, the
    # same 1,350,000 again; and it records nothing.
    preview = f"/claims/{cid}/settlement-preview"
    recorded = len(runtime.app.history(UUID(cid)))
    before = _get(client, preview, before_paid)
    assert (before["payable"], before["total"], before["payment_number"]) == (True, 1_350_000, 1)
    assert before["settlement"]["sections"] == then["sections"]
    right_after = _get(client, preview, paid_at)
    assert (right_after["payable"], right_after["total"], right_after["payment_number"]) == (False, 0, 2)
    now_preview = _get(client, preview)
    assert (now_preview["payable"], now_preview["total"]) == (True, 1_350_000)
    assert _get(client, preview, NOW) == now_preview
    assert len(runtime.app.history(UUID(cid))) == recorded
    assert _get(client, f"/claims/{cid}/payments/1", NOW) == current_one
