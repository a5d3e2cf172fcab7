"""GET /policies/{id}/dossier: one signed document per policy, verifiable offline with the public key."""

from __future__ import annotations

import base64
import copy
import json

from policy_core.audit import Signer, load_public_key
from policy_core.audit.chain import event_bytes, link_from_digest, row_digest
from policy_core.audit.dossier import verify_chain_proof, verify_dossier
from tests.e2e.conftest import auth
from tests.integration.test_audit_chain import _claim, _policy

AU = auth("auditor")


def _body(doc):
    return [doc["header"], *doc["events"], *doc["payments"], *doc["chain"], doc["checkpoint"]]


def test_the_dossier_holds_every_event_payment_and_link_and_verifies_offline(client, runtime, tmp_path):
    app = runtime.app
    pid = _policy(app, "M-1")
    cid = _claim(app, pid)
    app.pay_claim(cid)
    _policy(app, "M-2")  # another policy's events stay out
    assert client.get(f"/api/v1/policies/{pid}/dossier", headers=auth("operator")).status_code == 403
    r = client.get(f"/api/v1/policies/{pid}/dossier", headers=AU)
    assert r.status_code == 200, r.text
    doc = r.json()
    with runtime.database.connect() as conn:
        expected = [
            row[0]
            for row in conn.execute(
                "SELECT notification_id FROM policy_admin_events WHERE originator_id = ANY(%s)"
                " ORDER BY notification_id",
                [[pid, cid]],
            )
        ]
        links = dict(conn.execute("SELECT notification_id, encode(link, 'hex') FROM audit_chain").fetchall())
    assert [e["position"] for e in doc["events"]] == expected
    assert {e["aggregate"] for e in doc["events"]} == {"policy", "claim"}
    assert all(e["link"] == links[e["position"]] for e in doc["events"])
    assert doc["events"][0]["actor"] == {"role": "system", "key_id": "system"}
    assert doc["events"][0]["command"] == "apply"
    assert "1234567" not in r.text  # the bank account number is masked
    (payment,) = doc["payments"]
    assert payment["claim_id"] == str(cid) and payment["total"] == 1_900_000
    assert payment["explanation"]  # the settlement's steps as recorded
    assert doc["checkpoint"]["statement"]["position"] >= expected[-1]
    assert doc["seal"]["chain_verified"] is True

    # Offline: the auditor's copy of the public key and the document, nothing else.
    (tmp_path / "auditor.pem").write_text(runtime.audit.signer.public_pem())
    public = load_public_key((tmp_path / "auditor.pem").read_bytes())
    assert verify_dossier(json.loads(r.text), public) == (True, "ok")
    forged = copy.deepcopy(doc)
    forged["payments"][0]["total"] = 19_000_000
    assert verify_dossier(forged, public) == (False, "the dossier's items are not the ones sealed")
    dropped = copy.deepcopy(doc)
    dropped["events"].pop(1)
    assert verify_dossier(dropped, public)[0] is False
    other = Signer(data_dir=tmp_path / "other").public_key
    assert verify_dossier(doc, other)[0] is False

    # The chain proof on its own (no seal): the stored rows, their links and the other events'
    # digests reach the head the checkpoint signed; personal fields in the rows are ciphertext.
    _policy(app, "M-3")  # more events after the policy's: the proof spans them
    doc = client.get(f"/api/v1/policies/{pid}/dossier", headers=AU).json()
    assert verify_dossier(doc, public) == (True, "ok")
    assert verify_chain_proof(_body(doc), public) == (True, "ok")
    assert doc["chain"] and all(len(base64.b64decode(c["digests"])) % 32 == 0 for c in doc["chain"])
    rows = [base64.b64decode(e["stored"]["state"]) for e in doc["events"]]
    assert not any(b"Yamada" in r or b"1234567" in r or b"customer list" in r for r in rows)
    assert any(b"__pii__" in r for r in rows)  # the envelopes, as stored
    with runtime.database.connect() as conn:
        stored = conn.execute(
            "SELECT state FROM policy_admin_events WHERE notification_id = %s", [expected[0]]
        ).fetchone()[0]
    assert rows[0] == bytes(stored)  # byte for byte

    # A tampered row: its digest no longer matches; recomputed digest and link: the chain no
    # longer reaches the signed head; a digest left out of a segment: neither
    forged = copy.deepcopy(doc)
    e = forged["events"][-1]
    e["stored"]["state"] = base64.b64encode(rows[-1] + b" ").decode()
    assert verify_chain_proof(_body(forged), public) == (
        False,
        f"event at position {e['position']}: its stored row does not hash to its digest",
    )
    digest = row_digest(
        event_bytes(e["position"], e["originator_id"], e["version"], e["stored"]["topic"],
                    base64.b64decode(e["stored"]["state"]))
    )  # fmt: skip
    e["row_sha256"] = digest.hex()
    e["link"] = link_from_digest(bytes.fromhex(e["previous_link"]), digest).hex()
    ok, why = verify_chain_proof(_body(forged), public)
    assert not ok and "does not reach the head the checkpoint signed" in why
    assert verify_dossier(forged, public) == (False, "the dossier's items are not the ones sealed")
    short = copy.deepcopy(doc)
    short["chain"][-1]["digests"] = base64.b64encode(
        base64.b64decode(short["chain"][-1]["digests"])[32:]
    ).decode()
    assert verify_chain_proof(_body(short), public)[0] is False

    lines = client.get(f"/api/v1/policies/{pid}/dossier", headers=AU, params={"format": "jsonl"})
    assert lines.headers["content-type"].startswith("application/x-ndjson")
    rows = [json.loads(line) for line in lines.text.splitlines()]
    assert [row["type"] for row in rows][0] == "header" and rows[-1]["type"] == "seal"
    assert [row["position"] for row in rows if row["type"] == "event"] == expected
    assert verify_dossier(lines.text.splitlines(), public) == (True, "ok")


def test_a_dossier_over_a_forged_log_is_not_sealed(client, runtime):
    pid = _policy(runtime.app, "M-1")
    runtime.audit.catch_up()
    with runtime.database.connect() as conn:
        conn.execute(
            "UPDATE policy_admin_events SET state = convert_to(replace(convert_from(state, 'UTF8'),"
            " '\"premium\":40000', '\"premium\":1'), 'UTF8')"
            " WHERE originator_id = %s AND originator_version = 1",
            [pid],
        )
        conn.commit()
    doc = client.get(f"/api/v1/policies/{pid}/dossier", headers=AU).json()
    assert doc["seal"]["chain_verified"] is False and "signature" not in doc["seal"]
    assert doc["seal"]["difference"]["kind"] == "changed"
    public = load_public_key(runtime.audit.signer.public_pem())
    assert verify_dossier(doc, public) == (False, "the chain did not verify when the dossier was made")
    assert (
        client.get("/api/v1/policies/00000000-0000-0000-0000-000000000000/dossier", headers=AU).status_code
        == 404
    )
