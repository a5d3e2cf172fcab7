"""A policy's dossier: everything an auditor needs about one policy in one signed document.

Items, in this order (the JSON form groups them, ``?format=jsonl`` streams one per line):

``header``      the policy, when the dossier was made, the key fingerprint
``event``       every event of the policy and of its claims in log order, with actor and command
                (metadata), its chain link, the previous link and the SHA-256 of its stored row
``payment``     each payment with its explanation (the settlement's steps, section by section)
``checkpoint``  the latest signed checkpoint covering those events
``seal``        SHA-256 over the items above and an Ed25519 signature of it, made only after the
                whole chain verified up to that checkpoint (``chain_verified``)

``verify_dossier(doc, public_key)`` checks a dossier offline with nothing but the public key:
the seal's signature over the items as received, the checkpoint's signature, and that the
checkpoint covers every event. Bank account numbers appear masked, as in every response.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from psycopg import sql

from .chain import canonical, event_bytes, row_digest
from .keys import check_signature, fingerprint
from .store import q

SEAL_KIND = "policy-admin/dossier"


def _normal(item: dict[str, Any]) -> dict[str, Any]:
    """The item as JSON will carry it (str keys, ISO times): what is hashed is what is sent."""
    return json.loads(canonical(item))


def _seal_message(digest: str, fp: str) -> bytes:
    return canonical({"kind": SEAL_KIND, "items_sha256": digest, "key": fp})


def build_dossier(rt: Any, policy_id: UUID, present: Callable[[Any], dict[str, Any]]) -> list[dict[str, Any]]:
    """The dossier's items, the seal last. ``present`` renders an event (masking what responses mask)."""
    from .cli import verification

    policy = rt.app.get_policy(policy_id)  # NotFound for an unknown id
    claims = {UUID(hex=c) for p in policy.periods for c in (*p.claims, *p.claim_paid)}
    sealer = rt.audit
    sealer.catch_up()
    source = sealer.source
    events_table = q(sealer.schema, source.events_table)
    with sealer._connect(autocommit=True) as conn:
        rows = conn.execute(
            sql.SQL(
                "SELECT e.notification_id, e.originator_id, e.originator_version, e.topic, e.state,"
                " c.link, p.link FROM {} e LEFT JOIN {} c ON c.notification_id = e.notification_id"
                " LEFT JOIN {} p ON p.seq = c.seq - 1 WHERE e.originator_id = ANY(%s)"
                " ORDER BY e.notification_id"
            ).format(events_table, q(sealer.schema, "audit_chain"), q(sealer.schema, "audit_chain")),
            [[policy_id, *claims]],
        ).fetchall()
        last = max((r[0] for r in rows), default=0)
        checkpoint = sealer.latest_checkpoint_covering(conn, last)
    if checkpoint is None:
        checkpoint = sealer.checkpoint("dossier")
    fp = sealer.signer.fingerprint
    items: list[dict[str, Any]] = [
        {
            "type": "header",
            "policy_id": str(policy_id),
            "claims": sorted(str(c) for c in claims),
            "generated_at": datetime.now(UTC).isoformat(),
            "public_key_fingerprint": fp,
        }
    ]
    payments = []
    for nid, oid, version, topic, state, link, previous in rows:
        state = bytes(state)
        event = source.mapper.to_domain_event(StoredEvent(oid, version, topic, state))
        shown = present(event)
        items.append(
            {
                "type": "event",
                "position": nid,
                "aggregate": "policy" if oid == policy_id else "claim",
                "originator_id": str(oid),
                "version": version,
                "actor": (shown.get("metadata") or {}).get("actor"),
                "command": (shown.get("metadata") or {}).get("command"),
                "event": shown,
                "link": bytes(link).hex() if link is not None else None,
                "previous_link": (bytes(previous).hex() if previous is not None else bytes(32).hex())
                if link is not None
                else None,
                "row_sha256": row_digest(event_bytes(nid, oid, version, topic, state)).hex(),
            }
        )
        if type(event).__name__ == "ClaimPaid":
            payments.append(
                {
                    "type": "payment",
                    "claim_id": str(oid),
                    "position": nid,
                    "payment_number": event.payment_number,
                    "period_number": event.period_number,
                    "total": event.total,
                    "explanation": event.settlement,
                }
            )
    items.extend(payments)
    items.append({"type": "checkpoint", **checkpoint})
    items = [_normal(i) for i in items]
    result = verification(rt)
    digest = items_digest(items)
    seal: dict[str, Any] = {"type": "seal", "items_sha256": digest, "key": fp, "chain_verified": result.ok}
    if result.ok:
        seal["signature"] = base64.b64encode(sealer.signer.sign(_seal_message(digest, fp))).decode()
    else:
        seal["difference"] = vars(result.difference)
    items.append(_normal(seal))
    return items


def items_digest(items: Iterable[dict[str, Any]]) -> str:
    h = hashlib.sha256()
    for item in items:
        h.update(canonical(item) + b"\n")
    return h.hexdigest()


def as_document(items: list[dict[str, Any]]) -> dict[str, Any]:
    by = {
        t: [i for i in items if i["type"] == t] for t in ("header", "event", "payment", "checkpoint", "seal")
    }
    return {
        "header": by["header"][0],
        "events": by["event"],
        "payments": by["payment"],
        "checkpoint": by["checkpoint"][0],
        "seal": by["seal"][0],
    }


def as_jsonl(items: list[dict[str, Any]]) -> Iterator[bytes]:
    for item in items:
        yield canonical(item) + b"\n"


def verify_dossier(doc: dict[str, Any] | Iterable[str | bytes], public_key: Any) -> tuple[bool, str]:
    """Offline: (ok, why). ``doc`` is the JSON dossier, or the lines of the JSONL one."""
    if isinstance(doc, dict):
        items = [doc["header"], *doc["events"], *doc["payments"], doc["checkpoint"], doc["seal"]]
    else:
        items = [json.loads(line) for line in doc if line.strip()]
    if not items or items[-1].get("type") != "seal":
        return False, "no seal"
    *body, seal = items
    fp = fingerprint(public_key)
    if seal.get("key") != fp:
        return False, f"sealed by {seal.get('key')}, not by {fp}"
    if not seal.get("chain_verified") or "signature" not in seal:
        return False, "the chain did not verify when the dossier was made"
    digest = items_digest(body)
    if digest != seal["items_sha256"]:
        return False, "the dossier's items are not the ones sealed"
    if not check_signature(public_key, base64.b64decode(seal["signature"]), _seal_message(digest, fp)):
        return False, "the seal's signature does not check"
    checkpoints = [i for i in body if i.get("type") == "checkpoint"]
    if len(checkpoints) != 1:
        return False, "no checkpoint"
    cp = checkpoints[0]
    statement = canonical(cp["statement"])
    if not check_signature(public_key, base64.b64decode(cp["signature"]), statement):
        return False, "the checkpoint's signature does not check"
    events = [i for i in body if i.get("type") == "event"]
    if any(e["link"] is None or e["position"] > cp["statement"]["position"] for e in events):
        return False, "the checkpoint does not cover every event"
    return True, "ok"
