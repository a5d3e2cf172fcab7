"""The audit endpoints: verification for auditors and operators, checkpoints, the sealer in /readyz."""

from __future__ import annotations

from tests.e2e.conftest import auth
from tests.e2e.test_api_core import APPLICATION


def test_verification_answers_ok_then_the_first_difference(client, runtime):
    pid = client.post("/api/v1/policies", headers=auth("operator"), json=APPLICATION).json()["id"]
    sealed = runtime.audit.catch_up()
    assert sealed >= 1
    for role in ("auditor", "operator"):
        r = client.get("/api/v1/audit/verification", headers=auth(role))
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "ok" and r.json()["events_checked"] == sealed
    assert client.get("/api/v1/audit/verification", headers=auth("dashboard")).status_code == 403
    with runtime.database.connect() as conn:
        conn.execute(
            "UPDATE policy_admin_events SET state = convert_to(replace(convert_from(state, 'UTF8'),"
            ' \'"command":"apply"\', \'"command":"endorse"\'), \'UTF8\') WHERE originator_id = %s',
            [pid],
        )
        conn.commit()
    body = client.get("/api/v1/audit/verification", headers=auth("auditor")).json()
    assert body["status"] == "failed"
    assert body["difference"]["kind"] == "metadata_changed"
    assert body["difference"]["originator_id"] == pid


def test_checkpoints_on_demand_and_the_sealer_lag_in_readyz(client, runtime):
    client.post("/api/v1/policies", headers=auth("operator"), json=APPLICATION)
    with runtime.database.connect() as conn:
        events = conn.execute("SELECT count(*) FROM policy_admin_events").fetchone()[0]
    ready = client.get("/api/v1/readyz").json()
    assert ready["audit"]["events_behind"] == events >= 1 and ready["audit"]["position"] == 0
    assert client.post("/api/v1/audit/checkpoints", headers=auth("auditor")).status_code == 403
    r = client.post("/api/v1/audit/checkpoints", headers=auth("operator"))
    assert r.status_code == 201, r.text
    statement = r.json()["statement"]
    assert statement["links"] == events and statement["key"].startswith("ed25519:")
    listed = client.get("/api/v1/audit/checkpoints", headers=auth("auditor")).json()
    assert listed["items"][0]["statement"] == statement
    assert listed["public_key_fingerprint"] == statement["key"]
    assert client.get("/api/v1/readyz").json()["audit"]["events_behind"] == 0
