"""Issue 12's done-when: distinctive personal values through the API, then no table and no log
holds them; erasure (refusals, scheduled execution, figures unchanged, rebuild after it)."""

from __future__ import annotations

import logging
import tempfile
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.auth import parse_keys
from api.main import create_app
from policy_core.bootstrap import bootstrap
from policy_core.calendar import TOKYO
from policy_core.logs import JsonFormatter
from policy_core.projections import rebuild, verify
from policy_core.projections.engine import EventSource
from policy_core.projections.maintenance import live_schema
from policy_core.projections.views import all_views
from policy_core.settings import Settings
from scheduler.clock import SettableClock
from tests.e2e.conftest import KEYS, auth

NAME = "ZQXJ電子工業株式会社"
KANA = "ｽﾞｷｭｴｯｸｽ ﾃﾞﾝｼ"
REPRESENTATIVE = "代表者QJWZ"
ADDRESS = "東京都千代田区QQWZ町9-9"
PHONE = "03-5551-9876"
EMAIL = "qjwz.privacy@example.jp"
ACCOUNT = "7351246"
DESCRIPTION = "顧客ZZKVQ太郎の名簿を紛失"
VALUES = (NAME, KANA, REPRESENTATIVE, ADDRESS, PHONE, EMAIL, ACCOUNT, "ZZKVQ")

APPLICATION = {
    "scheme": "chuokai",
    "member_number": "PD-001",
    "holder": {
        "name": NAME,
        "name_kana": "ｾﾞｯﾄｷｭｰｴｯｸｽｼﾞｪｲ",
        "representative": REPRESENTATIVE,
        "address": ADDRESS,
        "phone": PHONE,
        "email": EMAIL,
    },
    "industry": "printing",
    "annual_sales": 200_000_000,
    "plan": "B",
    "network_rider": False,
    "bank_account": {
        "bank_code": "0001",
        "branch_code": "001",
        "account_type": "ordinary",
        "account_number": ACCOUNT,
        "holder_kana": KANA,
    },
    "application_date": "2026-01-10",
}


@pytest.fixture
def world(database):
    clock = SettableClock(datetime(2026, 1, 10, 10, tzinfo=TOKYO))
    rt = bootstrap(Settings(POLICY_DATA_DIR=tempfile.mkdtemp()), database=database, clock=clock)
    spec = ",".join(f"{r}:{k}" for r, k in KEYS.items())
    app = create_app(rt.settings, runtime=rt, api_keys=parse_keys(spec))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield rt, clock, client
    rt.close()


def _scan(database, values: tuple[str, ...] = VALUES) -> dict[str, list[str]]:
    """Every table of the deployment's schemas, every column cast to text: where each value occurs."""
    found: dict[str, list[str]] = {}
    with psycopg.connect(database.dsn) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema LIKE %s AND table_type = 'BASE TABLE'",
            [database.schema + "%"],
        ).fetchall()
        assert len(tables) > 10
        for schema, table in tables:
            rows = conn.execute(f'SELECT t::text FROM "{schema}"."{table}" t').fetchall()
            text = "\n".join(r[0] for r in rows)
            # state columns are bytea: their text form is hex, so look for the values' bytes too
            for v in values:
                if v in text or v.encode().hex() in text or v.encode("unicode_escape").hex() in text:
                    found.setdefault(v, []).append(f"{schema}.{table}")
    return found


def _business(client, pid: str, cid: str) -> dict[str, Any]:
    policy = client.get(f"/api/v1/policies/{pid}", headers=auth("auditor")).json()
    claim = client.get(f"/api/v1/claims/{cid}", headers=auth("auditor")).json()
    for k in ("holder", "bank_account"):
        policy.pop(k)
    claim.pop("description")

    def figures(body: Any) -> Any:  # the views' positions move with every event: not a figure
        if isinstance(body, dict):
            return {k: figures(v) for k, v in body.items() if k != "position"}
        return [figures(v) for v in body] if isinstance(body, list) else body

    return figures(
        {
            "policy": policy,
            "claim": claim,
            "limits": client.get(f"/api/v1/policies/{pid}/limits", headers=auth("auditor")).json(),
            "portfolio": client.get(
                "/api/v1/reports/portfolio?scheme=chuokai&year=2026", headers=auth("dashboard")
            ).json(),
            "collections": client.get("/api/v1/reports/collections", headers=auth("auditor")).json(),
        }
    )


def _verify(rt) -> bool:
    source = EventSource.from_app(rt.app)
    return verify(rt.database.dsn, source, live_schema(rt.database.schema), all_views()).ok


def test_no_table_and_no_log_holds_a_personal_value_and_erasure_is_provable(world, database, caplog):
    rt, clock, client = world
    caplog.set_level(logging.DEBUG)
    op = auth("operator")

    r = client.post("/api/v1/policies", headers=op | {"Idempotency-Key": "pd-apply-1"}, json=APPLICATION)
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    assert r.json()["holder"]["email"] == EMAIL  # the operator sees it
    replay = client.post("/api/v1/policies", headers=op | {"Idempotency-Key": "pd-apply-1"}, json=APPLICATION)
    assert (
        replay.status_code == 201 and replay.json()["holder"]["name"] == NAME
    )  # replayed from the sealed row

    debit_on = datetime.fromisoformat(r.json()["debit_date"])
    run_at = datetime(debit_on.year, debit_on.month, debit_on.day, 10, tzinfo=TOKYO)
    clock.set(run_at)
    due = client.post("/api/v1/operations/run-due", headers=op, json={"as_of": run_at.isoformat()})
    assert due.status_code == 200 and due.json()["debited"] == 1, due.text

    found_at = run_at + timedelta(days=3)
    clock.set(found_at + timedelta(days=1))
    r = client.post(
        "/api/v1/claims",
        headers=op,
        json={
            "policy_id": pid,
            "occurred_at": found_at.isoformat(),
            "discovered_at": found_at.isoformat(),
            "cause": "lost_media",
            "records_affected": 40,
            "description": DESCRIPTION,
        },
    )
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    items = [{"category": "defence_costs", "risk": "basic", "amount": 900_000}]
    assert client.post(f"/api/v1/claims/{cid}/losses", headers=op, json={"items": items}).status_code == 200
    paid = client.post(f"/api/v1/claims/{cid}/payments", headers=op)
    assert paid.status_code in (200, 201), paid.text[:300]
    rt.projections.catch_up()

    # the name search goes through the blind index; operators see the name, the dashboard never
    hits = client.get("/api/v1/policies", params={"holder_name": "zqxj電子工業株式会社"}, headers=op).json()
    assert [i["id"] for i in hits["items"]] == [pid]
    assert hits["items"][0]["holder_name"] == NAME
    dash = client.get("/api/v1/policies", params={"holder_name": NAME}, headers=auth("dashboard"))
    assert NAME not in dash.text and all("holder_name" not in i for i in dash.json()["items"])
    assert client.get(f"/api/v1/claims/{cid}", headers=auth("auditor")).json()["description"] == DESCRIPTION
    assert client.get("/api/v1/reports/portfolio?scheme=chuokai&year=2026", headers=op).status_code == 200

    # --- no table holds any of the values; nor do the logs (the scan does find business facts)
    assert "policy_admin_events" in str(_scan(database, ("PD-001", "lost_media"))["lost_media"])
    assert _scan(database) == {}
    formatter = JsonFormatter()
    logs = "\n".join(formatter.format(rec) for rec in caplog.records) + caplog.text
    assert [v for v in VALUES if v in logs] == []

    # --- erasure: unknown member 404; policy in force 409 with the lawful date, recorded pending
    body = {"reason": "member request ref E-2026-001", "requested_on": "2026-06-01"}
    unknown = client.post("/api/v1/subjects/chuokai/NOPE-1/erasure", headers=op, json=body)
    assert unknown.status_code == 404, unknown.text
    assert (
        client.post("/api/v1/subjects/chuokai/PD-001/erasure", headers=auth("auditor"), json=body).status_code
        == 403
    )
    refused = client.post("/api/v1/subjects/chuokai/PD-001/erasure", headers=op, json=body)
    assert refused.status_code == 409, refused.text
    assert refused.json()["blocked_by"] == "policy_in_force" and refused.json()["lawful_from"] == "2037-03-25"
    status = client.get("/api/v1/subjects/chuokai/PD-001/erasure", headers=auth("auditor")).json()
    assert status["status"] == "pending" and status["lawful_from"] == "2037-03-25"

    # the policy ends (cancelled), the claim closes: lawful only once the retention period passed
    cancel_on = (found_at + timedelta(days=30)).date()
    c = client.post(
        f"/api/v1/policies/{pid}/cancellation",
        headers=op,
        json={"effective_date": cancel_on.isoformat(), "reason": "member closed the business"},
    )
    assert c.status_code == 200, c.text
    assert (
        client.post(f"/api/v1/claims/{cid}/closure", headers=op, json={"reason": "settled"}).status_code
        == 200
    )
    again = client.post("/api/v1/subjects/chuokai/PD-001/erasure", headers=op, json=body)
    assert again.status_code == 409 and again.json()["blocked_by"] == "retention_period"
    lawful_from = again.json()["lawful_from"]
    assert lawful_from.startswith("2036-")
    rt.projections.catch_up()
    before = _business(client, pid, cid)
    assert _verify(rt)

    # --- the scheduler carries it out on the lawful date
    moment = datetime.fromisoformat(lawful_from).replace(hour=10, tzinfo=TOKYO)
    clock.set(moment)
    early = client.post(
        "/api/v1/operations/run-due", headers=op, json={"as_of": (moment - timedelta(days=1)).isoformat()}
    )
    assert early.status_code == 200 and early.json()["erased"] == 0
    done = client.post("/api/v1/operations/run-due", headers=op, json={"as_of": moment.isoformat()})
    assert done.status_code == 200 and done.json()["erased"] == 1, done.text
    rt.projections.catch_up()

    status = client.get("/api/v1/subjects/chuokai/PD-001/erasure", headers=auth("auditor")).json()
    assert status["status"] == "erased" and status["erased_at"]
    second = client.post("/api/v1/subjects/chuokai/PD-001/erasure", headers=op, json=body)
    assert second.status_code == 200 and second.json()["status"] == "already_erased"

    # every read shows erased; every business fact and figure is unchanged
    got = client.get(f"/api/v1/policies/{pid}", headers=op)
    assert got.status_code == 200, got.text
    policy = got.json()
    assert policy["bank_account"] == {"erased": True}
    assert policy["holder"]["name"] == "[erased]" and policy["holder"].get("erased") is True
    assert client.get(f"/api/v1/claims/{cid}", headers=op).json()["description"] == "[erased]"
    events = client.get(f"/api/v1/policies/{pid}/events", headers=op)
    assert events.status_code == 200 and NAME not in events.text
    listed = client.get("/api/v1/policies", params={"member_number": "PD-001"}, headers=op).json()
    assert listed["items"][0]["holder_name"] == "[erased]"
    assert client.get("/api/v1/policies", params={"holder_name": NAME}, headers=op).json()["items"] == []
    assert _business(client, pid, cid) == before
    assert _verify(rt)

    # a rebuild from event zero succeeds and gives the same figures
    source = EventSource.from_app(rt.app)
    rebuild(rt.database.dsn, source, live_schema(rt.database.schema), all_views())
    assert _business(client, pid, cid) == before
    assert _verify(rt)
    assert _scan(database) == {}
