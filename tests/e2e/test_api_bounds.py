"""Issue 10, defects 1, 2 and 7: no value the API accepts can jam a read model; dates and text
are bounded; a view that cannot apply an event is loud (503, not ready, verify fails)."""

from __future__ import annotations

from datetime import date

import pytest

from policy_core import bounds
from policy_core.projections.engine import EventSource
from policy_core.projections.maintenance import live_schema, verify
from policy_core.projections.views import all_views
from tests.e2e.conftest import auth
from tests.e2e.test_api_core import APPLICATION

OP, AU, DA = auth("operator"), auth("auditor"), auth("dashboard")
APPLICATION_DATE = date(2026, 1, 10)
BIG = dict(
    APPLICATION,
    member_number="M-MAX",
    annual_sales=bounds.MAX_ANNUAL_SALES,
    plan="E",
    liability_limit=bounds.MAX_LIABILITY_LIMIT,
    network_rider=True,
)


def _events(client, kind: str, aid: str) -> int:
    return len(client.get(f"/api/v1/{kind}/{aid}/events", headers=AU).json()["items"])


def _active_policy(client, body: dict) -> str:
    r = client.post("/api/v1/policies", headers=OP, json=body)
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    r = client.post("/api/v1/operations/run-due", headers=OP, json={"as_of": "2026-05-01T12:00:00+09:00"})
    assert r.status_code == 200, r.text
    assert client.get(f"/api/v1/policies/{pid}", headers=AU).json()["status"] == "active"
    return pid


def test_the_apis_maxima_reach_every_view(client, runtime, settle):
    """Every bound at its maximum, through the API, into every view; then views verify at the head."""
    pid = _active_policy(client, BIG)
    r = client.post(
        "/api/v1/claims",
        headers=OP,
        json={
            "policy_id": pid,
            "occurred_at": bounds.EARLIEST.isoformat(),  # the earliest moment accepted
            "discovered_at": "2026-06-03T10:00:00+09:00",
            "cause": "website",
            "records_affected": bounds.MAX_PEOPLE,  # defect 1 used 2,147,483,648
            "description": "x" * bounds.MAX_LONG_TEXT,
        },
    )
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    per_request = bounds.MAX_CLAIM_LOSS_YEN // bounds.MAX_LOSS_ITEM_YEN
    items = [{"category": "damages", "risk": "basic", "amount": bounds.MAX_LOSS_ITEM_YEN}] * (per_request - 1)
    items.append(
        {
            "category": "condolence",
            "risk": "basic",
            "amount": bounds.MAX_LOSS_ITEM_YEN,
            "recipients": bounds.MAX_PEOPLE,
        }
    )
    r = client.post(f"/api/v1/claims/{cid}/losses", headers=OP, json={"items": items})
    assert r.status_code == 200, r.text
    # One yen more on this claim is refused and records nothing (defect 1's second route).
    before = _events(client, "claims", cid)
    one_more = {"items": [{"category": "damages", "risk": "basic", "amount": 1}]}
    r = client.post(f"/api/v1/claims/{cid}/losses", headers=OP, json=one_more)
    assert r.status_code == 422 and r.json()["type"].endswith(":claim_loss_out_of_range")
    assert _events(client, "claims", cid) == before
    r = client.post(f"/api/v1/claims/{cid}/payments", headers=OP)
    assert r.status_code == 201, r.text
    assert r.json()["payment"]["total"] > 0
    r = client.post(
        f"/api/v1/policies/{pid}/sales-declarations",
        headers=OP,
        json={"annual_sales": bounds.MAX_ANNUAL_SALES, "declared_on": "2026-07-01"},
    )
    assert r.status_code == 200, r.text
    r = client.post("/api/v1/operations/run-due", headers=OP, json={"as_of": "2027-05-01T12:00:00+09:00"})
    assert r.status_code == 200, r.text  # the renewal re-rates at the maximum sales
    settle()
    ready = client.get("/api/v1/readyz")
    assert ready.status_code == 200, ready.text
    listed = client.get(f"/api/v1/claims?policy_id={pid}", headers=DA).json()["items"]
    assert [c["records_affected"] for c in listed] == [bounds.MAX_PEOPLE]
    assert listed[0]["assessed_loss"] == bounds.MAX_CLAIM_LOSS_YEN
    assert client.get("/api/v1/reports/portfolio?scheme=chuokai&year=2026", headers=DA).status_code == 200
    assert client.get(f"/api/v1/policies/{pid}/limits", headers=AU).json()["source"] == "read_model"
    source = EventSource.from_app(runtime.app)
    report = verify(runtime.database.dsn, source, live_schema(runtime.database.schema), all_views())
    assert report.ok, report.to_dict()


def test_amounts_above_the_bounds_are_refused(client):
    for body, code in (
        (dict(APPLICATION, member_number="M-1", annual_sales=bounds.MAX_ANNUAL_SALES + 1), None),
        (dict(BIG, member_number="M-2", liability_limit=bounds.MAX_LIABILITY_LIMIT + 1), None),
        (dict(BIG, member_number="M-3", industry="information_services"), "premium_out_of_range"),
    ):
        r = client.post("/api/v1/policies", headers=OP, json=body)
        assert r.status_code == 422, r.text
        if code:
            assert r.json()["type"].endswith(code)
    assert client.get("/api/v1/policies", headers=OP).json()["total"] == 0


def test_a_thousand_items_at_the_old_maximum_are_refused(client):
    pid = _active_policy(client, APPLICATION)
    claim = {
        "policy_id": pid,
        "occurred_at": "2026-06-01T10:00:00+09:00",
        "discovered_at": "2026-06-03T10:00:00+09:00",
        "cause": "insider",
        "records_affected": 10,
    }
    cid = client.post("/api/v1/claims", headers=OP, json=claim).json()["id"]
    items = [{"category": "damages", "risk": "basic", "amount": 10**15}] * 1000
    r = client.post(f"/api/v1/claims/{cid}/losses", headers=OP, json={"items": items})
    assert r.status_code == 422
    items = [{"category": "damages", "risk": "basic", "amount": bounds.MAX_LOSS_ITEM_YEN}] * 1000
    r = client.post(f"/api/v1/claims/{cid}/losses", headers=OP, json={"items": items})
    assert r.status_code == 422 and r.json()["type"].endswith(":claim_loss_out_of_range")
    r = client.post("/api/v1/claims", headers=OP, json=dict(claim, records_affected=bounds.MAX_PEOPLE + 1))
    assert r.status_code == 422
    assert _events(client, "claims", cid) == 1


def test_a_view_that_cannot_apply_an_event_is_loud(client, runtime, settle):
    """A read model stuck at an event: run-due answers 503 naming it, /readyz is not ready,
    and verify fails with the reason (it used to compare at the stuck position and pass)."""
    pid = _active_policy(client, APPLICATION)
    settle()
    with runtime.database.connect() as conn:  # what a too-narrow column did: the database refuses the row
        conn.execute("ALTER TABLE rm_claims ADD CONSTRAINT few CHECK (records_affected < 5)")
        conn.commit()
    claim = {
        "policy_id": pid,
        "occurred_at": "2026-06-01T10:00:00+09:00",
        "discovered_at": "2026-06-03T10:00:00+09:00",
        "cause": "insider",
        "records_affected": 10,
    }
    assert client.post("/api/v1/claims", headers=OP, json=claim).status_code == 201
    r = client.post("/api/v1/operations/run-due", headers=OP, json={"as_of": "2026-06-04T12:00:00+09:00"})
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["retry-after"]
    body = r.json()
    assert body["type"].endswith(":view_failed")
    assert (
        body["view"] == "claims" and body["error"] == "CheckViolation" and isinstance(body["position"], int)
    )
    ready = client.get("/api/v1/readyz")
    assert (
        ready.status_code == 503 and ready.json()["projections"]["claims"]["last_error"] == "CheckViolation"
    )
    # every 503 is a problem (as the document says), naming the view, with a Retry-After
    assert ready.headers["content-type"].startswith("application/problem+json")
    assert ready.json()["type"].endswith(":not_ready") and "claims" in ready.json()["detail"]
    assert ready.json()["status"] == 503 and ready.headers["retry-after"]
    source = EventSource.from_app(runtime.app)
    report = verify(
        runtime.database.dsn, source, live_schema(runtime.database.schema), all_views(), wait_for_head=0
    )
    claims = next(v for v in report.views if v.view == "claims")
    assert not report.ok and claims.status == "behind" and "CheckViolation" in claims.detail


@pytest.mark.parametrize(
    "path, body",
    [
        ("/api/v1/quotes", {"application_date": "9999-12-31"}),
        ("/api/v1/quotes", {"application_date": "2019-12-31"}),  # more than ten years before 2030-01-01
        ("/api/v1/quotes", {"application_date": "2032-01-02"}),  # more than two years ahead
        ("/api/v1/quotes", {"application_date": 0}),
        ("/api/v1/operations/run-due", {"as_of": "0001-01-01T00:00:00+09:00"}),
        ("/api/v1/operations/run-due", {"as_of": 0}),
        ("/api/v1/operations/run-due", {"as_of": "1999-12-31T23:59:59+09:00"}),
    ],
)
def test_dates_outside_the_documented_range_are_422(client, path, body):
    quote = {k: v for k, v in APPLICATION.items() if k not in ("member_number", "holder", "bank_account")}
    payload = dict(quote, **body) if path.endswith("quotes") else body
    r = client.post(path, headers=OP, json=payload)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


def test_incident_dates_and_as_of_reads_are_bounded(client, settle):
    pid = _active_policy(client, APPLICATION)
    claim = {
        "policy_id": pid,
        "occurred_at": "0001-01-01T00:00:00+14:00",
        "discovered_at": "2026-06-03T10:00:00+09:00",
        "cause": "insider",
        "records_affected": 10,
    }
    r = client.post("/api/v1/claims", headers=OP, json=claim)
    assert r.status_code == 422 and r.json()["type"].endswith(":date_out_of_range"), r.text
    r = client.post("/api/v1/claims", headers=OP, json=dict(claim, occurred_at=1_700_000_000))
    assert r.status_code == 422
    settle()
    for role in ("operator", "auditor", "dashboard"):
        r = client.get("/api/v1/claims", headers=auth(role))
        assert r.status_code == 200 and r.json()["items"] == []
    for as_of in ("0", "0001-01-01T00:00:00+14:00", "1999-01-01T00:00:00Z"):
        r = client.get(f"/api/v1/policies/{pid}", params={"as_of": as_of}, headers=AU)
        assert r.status_code == 422, (as_of, r.text)
    assert (
        client.get(
            f"/api/v1/policies/{pid}", params={"as_of": "2030-01-01T00:00:00Z"}, headers=AU
        ).status_code
        == 200
    )


@pytest.mark.parametrize(
    "holder, field",
    [
        ({"name": "\u200b\u3000"}, "name"),  # a zero-width space and an ideographic space
        ({"name": "   "}, "name"),
        ({"name": "\u202e山田印刷"}, "name"),  # a bidi override
        ({"name": "山田\u200d印刷"}, "name"),  # zero-width joiner
        ({"name": "山田印刷", "address": "東京都\x85千代田区"}, "address"),  # a C1 control
        ({"name": "山田印刷", "representative": "\u3000"}, "representative"),
    ],
)
def test_names_and_text_refuse_control_and_format_characters(client, holder, field):
    r = client.post("/api/v1/policies", headers=OP, json=dict(APPLICATION, holder=holder))
    assert r.status_code == 422, r.text
    assert field in str(r.json())
    assert client.get("/api/v1/policies", headers=OP).json()["total"] == 0


def test_free_text_keeps_line_breaks_but_refuses_format_characters(client):
    pid = _active_policy(client, APPLICATION)
    claim = {
        "policy_id": pid,
        "occurred_at": "2026-06-01T10:00:00+09:00",
        "discovered_at": "2026-06-03T10:00:00+09:00",
        "cause": "insider",
        "records_affected": 10,
        "description": "line one\nline two",
    }
    assert client.post("/api/v1/claims", headers=OP, json=claim).status_code == 201
    r = client.post("/api/v1/claims", headers=OP, json=dict(claim, description="hidden\u2066text"))
    assert r.status_code == 422


def test_the_domain_uses_the_same_text_check(runtime):
    from policy_core.errors import InvalidInput
    from tests.conftest import BANK

    with pytest.raises(InvalidInput, match="format character"):
        runtime.app.apply(
            scheme="chuokai",
            member_number="M-9",
            holder={"name": "山田\u200b"},
            industry="printing",
            annual_sales=1,
            plan="A",
            bank_account=BANK,
            application_date=APPLICATION_DATE,
        )
    with pytest.raises(InvalidInput, match="empty"):
        bounds.clean_text("\u3000 ", "holder.name")
    assert bounds.sql_int(bounds.MAX_PEOPLE) == "bigint" and bounds.sql_int(bounds.INT32_MAX) == "integer"
