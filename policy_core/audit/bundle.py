"""Offline proof: a signed checkpoint bundle, and checking a database against it.

``policy-admin audit export`` seals up to the head, signs a checkpoint there and writes it
as a bundle (the signed statement — position, number of links, head, time, key fingerprint —
and its signature). ``audit verify --bundle FILE --public-key FILE`` checks any database (a
restored backup included) against it trusting nothing stored in that database: the chain is
recomputed from the events alone and must reach the bundle's head at the bundle's position,
and the bundle's signature must check with the public key the auditor kept.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .chain import GENESIS, event_bytes, link_from_digest, row_digest
from .keys import check_signature, fingerprint
from .verify import FETCH, Difference, Rewrites, Verification, events_stream, read_snapshot, verify_chain

BUNDLE_FORMAT = "policy-admin-audit-bundle/1"


def make_bundle(checkpoint: dict[str, Any], statement: bytes) -> dict[str, Any]:
    stmt = json.loads(statement)
    return {
        "format": BUNDLE_FORMAT,
        "position": stmt["position"],
        "links": stmt["links"],
        "head": stmt["head"],
        "signed_at": stmt["signed_at"],
        "public_key_fingerprint": stmt["key"],
        "statement": statement.decode(),
        "signature": checkpoint["signature"],
    }


def verify_bundle(
    dsn: str,
    schema: str,
    events_table: str,
    *,
    bundle: dict[str, Any],
    public_key: Ed25519PublicKey,
    mapper: Any,
    fetch: int = FETCH,
) -> Verification:
    res = Verification(ok=True)
    if bundle.get("format") != BUNDLE_FORMAT:
        res.ok = False
        res.difference = Difference(0, "bundle_invalid", f"not a {BUNDLE_FORMAT} bundle")
        return res
    statement = str(bundle["statement"]).encode()
    stmt = json.loads(statement)
    position, links, head_hex = int(stmt["position"]), int(stmt["links"]), stmt["head"]
    if stmt.get("key") != fingerprint(public_key):
        res.ok = False
        res.difference = Difference(position, "unknown_key", "the bundle was not signed by the key given")
        return res
    if not check_signature(public_key, base64.b64decode(bundle["signature"]), statement):
        res.ok = False
        res.difference = Difference(position, "signature_invalid", "the bundle's signature does not check")
        return res
    head, count, last = GENESIS, 0, 0
    with read_snapshot(dsn) as conn, conn.transaction():
        # Signed migrations check with the auditor's key: the only thing taken from the database
        # besides the events, and only as the digest a row had before an authorised rewrite.
        rewrites = Rewrites(conn, schema, public_key, fetch)
        res.migrations = rewrites.report
        for nid, oid, version, topic, state in events_stream(conn, schema, events_table, fetch):
            if nid > position:
                res.unsealed += 1
                continue
            digest = row_digest(event_bytes(nid, oid, version, topic, bytes(state)))
            sealed = rewrites.sealed_digest(nid, digest)
            if sealed is not None:
                digest, res.rewritten = sealed, res.rewritten + 1
            head = link_from_digest(head, digest)
            count, last = count + 1, nid
    res.events_checked = res.links = count
    res.sealed_up_to = min(last, position)
    if count == links and head.hex() == head_hex and last == position:
        res.checkpoints_checked = 1
        res.latest_checkpoint = {"statement": stmt, "signature": bundle["signature"]}
        return res
    res.ok = False
    if last < position and count <= links:
        detail = f"the log ends at position {last}; the bundle was signed at position {position}"
        res.difference = Difference(position, "deleted", detail, after=last)
    else:
        detail = f"the history up to position {position} is not the one the bundle signed"
        res.difference = Difference(position, "changed", detail, after=0)
    # Where exactly: the database's own seal, when it has one, can locate it (a hint only: this
    # check does not trust it).
    try:
        located = verify_chain(dsn, schema, events_table, mapper=mapper, public_key=public_key, fetch=fetch)
    except Exception:  # noqa: BLE001 - no seal tables in that database: no hint
        located = None
    if located is not None and located.difference is not None:
        d = located.difference
        hint = f"; the database's own seal (not trusted here) first differs at {d.position}: {d.kind}"
        res.difference.detail += hint
        res.difference.originator_id, res.difference.originator_version = (
            d.originator_id,
            d.originator_version,
        )
        res.difference.position = min(position, d.position)
        res.difference.kind = d.kind if d.kind != "rewritten" else res.difference.kind
    return res
