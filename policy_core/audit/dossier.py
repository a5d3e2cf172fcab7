"""A policy's dossier: everything an auditor needs about one policy in one signed document.

Items, in this order (the JSON form groups them, ``?format=jsonl`` streams one per line):

``header``      the policy, when the dossier was made, the key fingerprint
``event``       every event of the policy and of its claims in log order, with actor and command
                (metadata), and its proof: the stored row as stored (``stored``: topic and the
                state's bytes in base64 — personal fields in them are AES-GCM ciphertext, never
                plain), the SHA-256 of the row, its chain link and the previous link
``payment``     each payment with its explanation (the settlement's steps, section by section)
``chain``       the row digests of the log's other events between the dossier's events and up to
                the checkpoint (``after``: the dossier event they follow; ``digests``: base64 of
                the 32-byte digests concatenated, in log order)
``checkpoint``  the latest signed checkpoint covering those events
``seal``        SHA-256 over the items above and an Ed25519 signature of it, made only after the
                whole chain verified up to that checkpoint (``chain_verified``)

``verify_dossier(doc, public_key)`` checks a dossier offline with nothing but the public key, in
two independent ways. The chain proof: each event's stored row hashes to its digest, its link is
SHA-256(previous link || digest), and walking the links from the first event through the
events and the ``chain`` digests reaches exactly the head the checkpoint signed (its signature
checked): every event shown is in the sealed log, byte for byte, at its position. The seal: its
signature over the items as received (what the events look like as presented, masked as every
response masks, and the payments' explanations). Bank account numbers appear masked in the
presentation; the stored rows carry personal fields only as ciphertext (an event still holding a
plain personal field — a store not yet migrated — is given without its row, and the dossier
does not verify until ``personal-data migrate`` ran).
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

from .chain import ContentDigests, canonical, event_bytes, link_from_digest, row_digest
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
        chain = _chain_items(conn, sealer.schema, [r[0] for r in rows], checkpoint["statement"]["position"])
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
    digests = ContentDigests(source.mapper)
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
                "stored": _stored(digests, topic, state),
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
    items.extend(chain)
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


def _stored(digests: ContentDigests, topic: str, state: bytes) -> dict[str, Any] | None:
    """The stored row's topic and state, or None while it holds a plain personal field."""
    from ..personal_data.migrate import _needs_sealing

    try:
        plain = _needs_sealing(digests.decode(state))
    except Exception:  # noqa: BLE001 - a state that does not decode (whole-state cipher): ciphertext
        plain = False
    if plain:
        return None
    return {"topic": topic, "state": base64.b64encode(state).decode()}


def _chain_items(conn: Any, schema: str, positions: list[int], up_to: int) -> list[dict[str, Any]]:
    """The digests of the sealed rows after the dossier's first event up to ``up_to`` that are not
    the dossier's, grouped by the dossier event they follow (one read, in log order)."""
    if not positions:
        return []
    mine = set(positions)
    out: list[dict[str, Any]] = []
    after, run = positions[0], bytearray()
    cur = conn.cursor(name="dossier_chain")
    cur.itersize = 5000
    with conn.transaction():
        cur.execute(
            sql.SQL(
                "SELECT notification_id, row_digest FROM {} WHERE notification_id > %s"
                " AND notification_id <= %s ORDER BY notification_id"
            ).format(q(schema, "audit_chain")),
            [positions[0], up_to],
        )
        for nid, digest in cur:
            if nid in mine:
                if run:
                    out.append({"type": "chain", "after": after, "digests": base64.b64encode(run).decode()})
                after, run = nid, bytearray()
            else:
                run += bytes(digest)
        cur.close()
    if run:
        out.append({"type": "chain", "after": after, "digests": base64.b64encode(run).decode()})
    return out


def items_digest(items: Iterable[dict[str, Any]]) -> str:
    h = hashlib.sha256()
    for item in items:
        h.update(canonical(item) + b"\n")
    return h.hexdigest()


def as_document(items: list[dict[str, Any]]) -> dict[str, Any]:
    by = {
        t: [i for i in items if i["type"] == t]
        for t in ("header", "event", "payment", "chain", "checkpoint", "seal")
    }
    return {
        "header": by["header"][0],
        "events": by["event"],
        "payments": by["payment"],
        "chain": by["chain"],
        "checkpoint": by["checkpoint"][0],
        "seal": by["seal"][0],
    }


def as_jsonl(items: list[dict[str, Any]]) -> Iterator[bytes]:
    for item in items:
        yield canonical(item) + b"\n"


def verify_chain_proof(body: list[dict[str, Any]], public_key: Any) -> tuple[bool, str]:
    """The dossier's events are in the sealed log, byte for byte: (ok, why). Uses nothing but
    the items and the public key (the checkpoint's signature); independent of the seal."""
    checkpoints = [i for i in body if i.get("type") == "checkpoint"]
    if len(checkpoints) != 1:
        return False, "no checkpoint"
    cp = checkpoints[0]
    statement = canonical(cp["statement"])
    if cp["statement"].get("key") != fingerprint(public_key):
        return False, "the checkpoint was not signed by this key"
    if not check_signature(public_key, base64.b64decode(cp["signature"]), statement):
        return False, "the checkpoint's signature does not check"
    events = [i for i in body if i.get("type") == "event"]
    if not events:
        return False, "no events"
    if any(e["link"] is None or e["position"] > cp["statement"]["position"] for e in events):
        return False, "the checkpoint does not cover every event"
    gaps: dict[int, bytes] = {}
    for c in body:
        if c.get("type") == "chain":
            if c["after"] in gaps:
                return False, f"two chain segments after position {c['after']}"
            gaps[c["after"]] = base64.b64decode(c["digests"])
    head = bytes.fromhex(events[0]["previous_link"])
    last = -1
    for e in events:
        pos = e["position"]
        if pos <= last:
            return False, f"event at position {pos} is out of log order"
        stored = e.get("stored")
        if not stored:
            return False, f"event at position {pos} comes without its stored row (plain personal data)"
        row = event_bytes(
            pos, e["originator_id"], e["version"], stored["topic"], base64.b64decode(stored["state"])
        )
        digest = row_digest(row)
        if digest.hex() != e["row_sha256"]:
            return False, f"event at position {pos}: its stored row does not hash to its digest"
        if head.hex() != e["previous_link"]:
            return False, f"event at position {pos}: the chain does not lead to its previous link"
        head = link_from_digest(head, digest)
        if head.hex() != e["link"]:
            return False, f"event at position {pos}: its link is not SHA-256(previous link || digest)"
        gap = gaps.pop(pos, b"")
        if len(gap) % 32:
            return False, f"the chain segment after position {pos} is not whole digests"
        for k in range(0, len(gap), 32):
            head = link_from_digest(head, gap[k : k + 32])
        last = pos
    if gaps:
        return False, "a chain segment follows no event of the dossier"
    if head.hex() != cp["statement"]["head"]:
        return False, "the chain from the events does not reach the head the checkpoint signed"
    return True, "ok"


def verify_dossier(doc: dict[str, Any] | Iterable[str | bytes], public_key: Any) -> tuple[bool, str]:
    """Offline: (ok, why). ``doc`` is the JSON dossier, or the lines of the JSONL one."""
    if isinstance(doc, dict):
        items = [
            doc["header"],
            *doc["events"],
            *doc["payments"],
            *doc.get("chain", []),
            doc["checkpoint"],
            doc["seal"],
        ]
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
    return verify_chain_proof(body, public_key)
