"""Period closings: a signed statement of the scheme year's totals per co-insurer at a chain
position, checked against figures computed by hand; verification says whether it still holds."""

from __future__ import annotations

import base64
import json

from policy_core.audit import load_public_key
from policy_core.audit.chain import canonical
from tests.e2e.conftest import auth
from tests.integration.test_audit_chain import _claim, _policy

OP, AU = auth("operator"), auth("auditor")


def _forge(runtime, nid):
    with runtime.database.connect() as conn:
        conn.execute(
            "UPDATE policy_admin_events SET state = convert_to(replace(convert_from(state, 'UTF8'),"
            ' \'"role":"system"\', \'"role":"auditor"\'), \'UTF8\') WHERE notification_id = %s',
            [nid],
        )
        conn.commit()


def test_a_closing_signs_the_hand_computed_totals_and_verification_tracks_it(client, runtime):
    app = runtime.app
    first, _second = _policy(app, "M-1"), _policy(app, "M-2")  # 40,000 yen each, both debited
    cid = _claim(app, first)  # 2,000,000 of damages (liability, basic)
    app.pay_claim(cid)

    assert (
        client.post(
            "/api/v1/audit/closings", headers=AU, json={"scheme": "chuokai", "year": 2026}
        ).status_code
        == 403
    )
    r = client.post("/api/v1/audit/closings", headers=OP, json={"scheme": "chuokai", "year": 2026})
    assert r.status_code == 201, r.text
    closing = r.json()
    st = closing["statement"]
    with runtime.database.connect() as conn:
        head = conn.execute("SELECT max(notification_id) FROM policy_admin_events").fetchone()[0]
    assert (st["scheme"], st["year"], st["position"]) == ("chuokai", 2026, head)
    assert st["closed_by"]["role"] == "operator"
    # By hand: 2 x 40,000 written and collected; 2,000,000 - 100,000 deductible = 1,900,000 paid;
    # co-insurers 40/30/20/10.
    totals = st["totals"]
    assert (totals["written_premium"], totals["collected_premium"]) == (80_000, 80_000)
    assert (totals["return_premium"], totals["claims_paid"]) == (0, 1_900_000)
    assert {c["coinsurer"]: (c["written_premium"], c["paid_total"]) for c in totals["coinsurers"]} == {
        "leader": (32_000, 760_000),
        "insurer_b": (24_000, 570_000),
        "insurer_c": (16_000, 380_000),
        "insurer_d": (8_000, 190_000),
    }
    public = load_public_key(runtime.audit.signer.public_pem())
    public.verify(base64.b64decode(closing["signature"]), canonical(st))  # raises if it does not check

    listed = client.get("/api/v1/audit/closings", headers=AU, params={"scheme": "chuokai"}).json()["items"]
    assert listed == [closing]
    body = client.get("/api/v1/audit/verification", headers=AU).json()
    assert body["status"] == "ok"
    assert body["closings"] == [
        {
            "id": closing["id"],
            "scheme": "chuokai",
            "year": 2026,
            "position": head,
            "signature_ok": True,
            "intact": True,
        }
    ]

    _policy(app, "M-3")  # later business, sealed, then forged: the closing still holds
    runtime.audit.catch_up()
    _forge(runtime, head + 1)
    body = client.get("/api/v1/audit/verification", headers=AU).json()
    assert body["status"] == "failed" and body["difference"]["position"] == head + 1
    assert body["closings"][0]["intact"] is True

    _forge(runtime, head - 1)  # something the closing covered: it no longer holds
    body = client.get("/api/v1/audit/verification", headers=AU).json()
    assert body["difference"]["position"] == head - 1
    assert body["closings"][0]["intact"] is False


def test_a_closing_refuses_bad_input_and_records_nothing(client, runtime):
    _policy(runtime.app, "M-1")
    for payload, status in (
        ({"scheme": "nope", "year": 2026}, 422),
        ({"scheme": "chuokai", "year": 1999}, 422),
        ({"scheme": "chuokai", "year": 2026, "extra": 1}, 422),
        ({"scheme": "chuokai", "year": 2031}, 404),  # no business that year
    ):
        r = client.post("/api/v1/audit/closings", headers=OP, json=payload)
        assert r.status_code == status, (payload, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    assert client.get("/api/v1/audit/closings", headers=AU).json()["items"] == []
    assert json.dumps(client.get("/api/v1/audit/verification", headers=AU).json()["closings"]) == "[]"
