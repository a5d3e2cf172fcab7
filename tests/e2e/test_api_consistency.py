"""One name per idea, one offset convention, Location on 201, payments readable, a settlement
preview that records nothing, CSV on ``Accept: text/csv``, no NUL reaching the database."""

from __future__ import annotations

import csv
import io
import re
from typing import Any
from urllib.parse import quote

import pytest

from tests.e2e.conftest import auth
from tests.e2e.test_api_core import APPLICATION

OP, AU = auth("operator"), auth("auditor")
MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:\d{2}|Z)$")
ITEMS = [
    {"category": "damages", "risk": "basic", "amount": 37_000_000},
    {"category": "defence_costs", "risk": "basic", "amount": 2_000_000},
    {"category": "condolence", "risk": "basic", "amount": 1_000_000, "recipients": 2000},
    {"category": "advertising", "risk": "basic", "amount": 5_000_000},
]


def paid_claim(client: Any, settle: Any) -> tuple[str, str, Any]:
    """The seed 003 example: apply, run-due (debited), report, assess. Returns (policy, claim, report)."""
    r = client.post("/api/v1/policies", headers=OP, json=APPLICATION)
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    assert r.headers["location"] == f"/api/v1/policies/{pid}"
    r = client.post("/api/v1/operations/run-due", headers=OP, json={"as_of": "2026-05-01T12:00:00+09:00"})
    assert r.status_code == 200 and r.json()["debited"] == 1, r.text
    report = {
        "policy_id": pid,
        "occurred_at": "2026-06-01T10:00:00+09:00",
        "discovered_at": "2026-06-03T10:00:00+09:00",
        "cause": "insider",
        "records_affected": 3000,
        "description": "an employee sold the customer list",
    }
    r = client.post("/api/v1/claims", headers=OP, json=report)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    assert r.headers["location"] == f"/api/v1/claims/{cid}"
    assert client.post(f"/api/v1/claims/{cid}/losses", headers=OP, json={"items": ITEMS}).status_code == 200
    settle()
    return pid, cid, report


def moments(value: Any, path: str = "") -> list[tuple[str, str]]:
    """Every ISO date-time string inside an answer, with where it is."""
    if isinstance(value, dict):
        return [m for k, v in value.items() for m in moments(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [m for i, v in enumerate(value) for m in moments(v, f"{path}[{i}]")]
    return [(path, value)] if isinstance(value, str) and MOMENT.match(value) else []


def test_location_payments_preview_and_one_offset_everywhere(client, settle, runtime):
    pid, cid, _ = paid_claim(client, settle)
    store = runtime.app
    before = len(list(store.history(__import__("uuid").UUID(cid))))
    preview = client.get(f"/api/v1/claims/{cid}/settlement-preview", headers=AU)
    assert preview.status_code == 200, preview.text
    p = preview.json()
    assert p["payable"] is True and p["total"] == 43_900_000 and p["payment_number"] == 1
    assert p["settlement"]["sections"]["expense_basic"]["limited_by"] == "per_accident_limit"
    # the preview records nothing: no event on the claim, no payment, limits untouched
    assert len(list(store.history(__import__("uuid").UUID(cid)))) == before
    assert client.get(f"/api/v1/claims/{cid}/payments", headers=AU).json() == {"items": []}
    assert (
        client.get(f"/api/v1/policies/{pid}/limits", headers=AU).json()["sections"]["liability_basic"]["paid"]
        == 0
    )
    r = client.post(f"/api/v1/claims/{cid}/payments", headers=OP)
    assert r.status_code == 201, r.text
    assert r.headers["location"] == f"/api/v1/claims/{cid}/payments/1"
    paid = r.json()["payment"]
    # what the preview said is what the payment paid, section by section
    assert paid["total"] == p["total"]
    assert paid["sections"] == p["settlement"]["sections"]
    one = client.get(r.headers["location"], headers=AU)
    assert one.status_code == 200 and one.json() == paid
    assert one.json()["sections"]["liability_basic"]["steps"], "the recorded explanation"
    assert client.get(f"/api/v1/claims/{cid}/payments", headers=AU).json()["items"] == [paid]
    missing = client.get(f"/api/v1/claims/{cid}/payments/2", headers=AU)
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    after = client.get(f"/api/v1/claims/{cid}/settlement-preview", headers=AU).json()
    assert after["payable"] is False and after["total"] == 0 and after["payment_number"] == 2
    settle()
    # `paid`, never `used`; the own id is `id`; the period number is `period`
    limits = client.get(f"/api/v1/policies/{pid}/limits", headers=AU).json()
    assert limits["claims"][cid]["liability_basic"]["paid"] == 38_900_000
    assert "used" not in str(limits)
    events_limits = client.get(
        f"/api/v1/policies/{pid}/limits", headers=AU, params={"as_of": "2029-12-31T00:00:00+09:00"}
    ).json()
    assert events_limits["claims"][cid]["liability_basic"]["paid"] == 38_900_000
    policies = client.get("/api/v1/policies", headers=AU).json()["items"]
    claims = client.get("/api/v1/claims", headers=AU).json()["items"]
    assert [i["id"] for i in policies] == [pid] and "policy_id" not in policies[0]
    assert (
        [i["id"] for i in claims] == [cid] and claims[0]["policy_id"] == pid and "claim_id" not in claims[0]
    )
    assert claims[0]["period"] == 1 and "period_number" not in claims[0]
    assert policies[0]["period"] == 1 and "current_period" not in policies[0]
    answers = {
        "policy": client.get(f"/api/v1/policies/{pid}", headers=AU).json(),
        "policy events": client.get(f"/api/v1/policies/{pid}/events", headers=AU).json(),
        "claim": client.get(f"/api/v1/claims/{cid}", headers=AU).json(),
        "claim events": client.get(f"/api/v1/claims/{cid}/events", headers=AU).json(),
        "policies": policies,
        "claims": claims,
        "limits": limits,
        "events limits": events_limits,
        "payment": paid,
        "collections": client.get("/api/v1/reports/collections", headers=AU).json(),
    }
    found = [(name, where, v) for name, body in answers.items() for where, v in moments(body)]
    assert len(found) > 20
    assert [f for f in found if not f[2].endswith("+09:00")] == []


def test_csv_answers_have_a_bom_and_the_json_columns(client, settle):
    pid, cid, _ = paid_claim(client, settle)
    client.post(f"/api/v1/claims/{cid}/payments", headers=OP)
    settle()
    for path, params, key in (
        ("/api/v1/policies", {}, "items"),
        ("/api/v1/claims", {}, "items"),
        (f"/api/v1/claims/{cid}/payments", {}, "items"),
        ("/api/v1/reports/portfolio", {"scheme": "chuokai", "year": 2026}, None),
    ):
        as_json = client.get(path, headers=AU, params=params).json()
        r = client.get(path, headers={**AU, "Accept": "text/csv"}, params=params)
        assert r.status_code == 200, (path, r.text)
        assert r.headers["content-type"].startswith("text/csv")
        assert r.content.startswith(b"\xef\xbb\xbf"), path
        rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
        expected = as_json[key] if key else [as_json]
        assert len(rows) == len(expected), path
        assert list(rows[0]) == list(expected[0]), path
        for got, want in zip(rows, expected, strict=True):
            for k, v in want.items():
                if isinstance(v, (str, int)) and not isinstance(v, bool):
                    assert got[k] == str(v), (path, k)
    rows = list(
        csv.DictReader(
            io.StringIO(
                client.get("/api/v1/policies", headers={**AU, "Accept": "text/csv"}).content.decode(
                    "utf-8-sig"
                )
            )
        )
    )
    assert rows[0]["holder_name"] == "山田印刷株式会社"  # Japanese text survives, UTF-8
    # JSON stays the default: no Accept, */*, or JSON preferred
    for accept in (None, "*/*", "application/json, text/csv;q=0.5"):
        headers = dict(AU, **({"Accept": accept} if accept else {}))
        assert client.get("/api/v1/claims", headers=headers).headers["content-type"] == "application/json"


@pytest.mark.parametrize("bad", ["\x00", "a\x00b", "\u202e", "\x85"])
def test_no_text_query_or_path_parameter_lets_a_control_character_through(client, bad):
    """Every string query and path parameter of every operation refuses NUL and Cc/Cf (once a NUL
    in a query gave 500 from PostgreSQL): walked from the spec, so a new parameter is covered."""
    spec = client.get("/openapi.json").json()
    tried = 0
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            params = [p for p in op.get("parameters", []) if p["in"] in ("query", "path")]
            for p in params:
                schema = p.get("schema", {})
                types = {s.get("type") for s in schema.get("anyOf", [schema])}
                if "string" not in types or schema.get("format") or "enum" in schema or p["name"] == "format":
                    continue
                url = path
                query = {}
                for other in params:
                    if other["in"] == "path":
                        value = quote(bad, safe="") if other is p else "00000000-0000-0000-0000-000000000001"
                        url = url.replace("{" + other["name"] + "}", value)
                if p["in"] == "query":
                    query[p["name"]] = bad
                    for other in params:
                        if other["in"] == "query" and other.get("required") and other is not p:
                            query[other["name"]] = "2026" if other["name"] == "year" else "chuokai"
                r = client.request(method.upper(), url, params=query, headers=OP, json={})
                tried += 1
                assert r.status_code in (404, 422), (method, path, p["name"], r.status_code, r.text)
                assert r.status_code < 500
    assert tried >= 8
