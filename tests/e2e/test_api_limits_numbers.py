"""GET /policies/{id}/limits on both schemes: the policy and claim numbers in every answer (the
view's, the as-of replay, the fallback from the events), and the fallback answer equal to the
view's when a cover endorsement raised the limit after a claim's discovery (each claim keeps the
limits in force at its discovery)."""

from __future__ import annotations

import io
from csv import DictReader
from datetime import datetime
from uuid import UUID

import pytest

from tests.e2e.conftest import auth
from tests.e2e.test_api_core import APPLICATION
from tests.e2e.test_api_cover_endorsements import endorse, in_force
from tests.e2e.test_api_cover_rules import JCCI, claim, paid_claim, run_due
from tests.e2e.test_api_limits import LIMITS_KEYS

OP, AU, DA = auth("operator"), auth("auditor"), auth("dashboard")
KEYS = LIMITS_KEYS


def limits(client, pid, **params):
    r = client.get(f"/api/v1/policies/{pid}/limits", headers=AU, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def strip(answer):
    return {k: v for k, v in answer.items() if k not in ("source", "position")}


@pytest.mark.parametrize(("body", "scheme"), [(APPLICATION, "chuokai"), (JCCI, "jcci")])
def test_fallback_equals_the_view_after_a_limit_raised_after_a_discovery(
    client, settle, runtime, database, body, scheme
):
    policy = in_force(client, body, f"N-{scheme}")
    pid = policy["id"]
    before = paid_claim(client, pid, "2026-06-03T10:00:00+09:00")  # 50,000,000 plan B limit
    r = endorse(client, pid, "2026-07-01", plan="C")  # raised to 100,000,000 from 1 Jul 16:00
    assert r.status_code == 201, r.text
    after = claim(client, pid, "2026-07-10T10:00:00+09:00")
    unpaid_before = claim(client, pid, "2026-06-20T10:00:00+09:00")  # reported later, discovered before

    settle()
    view = limits(client, pid)
    assert view["source"] == "read_model" and list(view) == KEYS

    assert view["number"] == policy["number"] and view["number"].startswith(scheme.upper() + "-2026-")
    assert view["sections"]["liability_basic"] == {
        "limit": 100_000_000,
        "paid": 900_000,
        "remaining": 99_100_000,
    }
    claims = view["claims"]
    assert list(claims) == [before["id"], after["id"], unpaid_before["id"]]  # registration order
    assert claims[before["id"]]["liability_basic"] == {
        "accident_limit": 50_000_000,
        "paid": 900_000,
        "remaining": 49_100_000,
    }
    assert claims[unpaid_before["id"]]["liability_basic"]["accident_limit"] == 50_000_000
    assert claims[after["id"]]["liability_basic"] == {
        "accident_limit": 100_000_000,
        "paid": 0,
        "remaining": 100_000_000,
    }
    assert view["claim_numbers"] == {c["id"]: c["number"] for c in (before, after, unpaid_before)}
    assert all(n.startswith(scheme.upper() + "-2026-C") for n in view["claim_numbers"].values())

    # as of before the later claims: the replay has the same shape, the numbers of what existed then
    then = limits(client, pid, as_of=r.json()["recorded_at"])
    assert list(then) == KEYS and then["number"] == policy["number"]
    assert then["claim_numbers"] == {before["id"]: before["number"]}
    assert then["sections"]["liability_basic"]["limit"] == 100_000_000
    # and the fallback as of the same moment (what the replay would say with no view) agrees
    replay = runtime.app.limits_from_events(UUID(pid), as_of=datetime.fromisoformat(r.json()["recorded_at"]))
    assert replay["claim_numbers"] == then["claim_numbers"]
    assert replay["claims"] == then["claims"]

    # The view not there (behind, or not built at this version yet): the answer from the events
    # is the view's answer.
    with database.connect() as conn:
        conn.execute(f'DROP TABLE "{database.schema}".rm_limits_docs')
        conn.commit()
    fallback = limits(client, pid)
    assert fallback["source"] == "events" and fallback["position"] is None and list(fallback) == KEYS
    assert strip(fallback) == strip(view)
    assert strip(limits(client, pid, period=1)) == strip(view)


@pytest.mark.parametrize(("body", "scheme"), [(APPLICATION, "chuokai"), (JCCI, "jcci")])
def test_collections_rows_show_the_policy_number(client, settle, body, scheme):
    failing = dict(body, member_number=f"F-{scheme}")
    failing["bank_account"] = dict(body["bank_account"], account_number="9000001")  # insufficient funds
    r = client.post("/api/v1/policies", headers=OP, json=failing)
    assert r.status_code == 201, r.text
    pid, number = r.json()["id"], r.json()["number"]
    assert number.startswith(scheme.upper() + "-2026-")
    run_due(client, "2026-05-01T12:00:00+09:00")  # cover started, the first debit failed
    settle()
    first = client.get("/api/v1/reports/collections", headers=DA, params={"scheme": scheme}).json()
    assert [(a["policy_id"], a["policy_number"]) for a in first["arrears"]] == [(pid, number)]
    run_due(client, "2026-08-31T12:00:00+09:00")  # the second and third failures: lapsed
    settle()
    now = client.get("/api/v1/reports/collections", headers=DA, params={"scheme": scheme}).json()
    assert now["arrears"] == []
    assert [(x["policy_id"], x["policy_number"]) for x in now["lapses"]] == [(pid, number)]
    # as of the first failure: the replay's rows carry the number too
    then = client.get(
        "/api/v1/reports/collections",
        headers=DA,
        params={"scheme": scheme, "as_of": first_failure_moment(client, pid)},
    ).json()
    assert [(a["policy_id"], a["policy_number"]) for a in then["arrears"]] == [(pid, number)]
    assert then["lapses"] == []
    csv = client.get(
        "/api/v1/reports/collections", headers={**DA, "Accept": "text/csv"}, params={"scheme": scheme}
    )
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    rows = list(DictReader(io.StringIO(csv.text.lstrip("\ufeff"))))
    assert [(x["list"], x["policy_id"], x["policy_number"]) for x in rows] == [("lapses", pid, number)]


def first_failure_moment(client, pid):
    items = client.get(f"/api/v1/policies/{pid}/events", headers=AU).json()["items"]
    return next(x["recorded_at"] for x in items if x["type"] == "PremiumDebitFailed")
