"""Authorised rewrites of stored rows (``personal-data migrate``), told apart from tampering.

A rewrite goes through ``record_rewrite`` inside the rewriting transaction: it stores, per row,
the digest of the stored row before and after (``audit_migration_rows``). ``sign_migration``
then signs a statement naming the migration, how many rows it rewrote and a SHA-256 over those
entries in notification order (``audit_migrations``). Verification accepts a row whose bytes
differ from what was sealed only when a signed migration whose statement checks says the sealed
row digest became exactly the row's present digest; the chain then goes on from the sealed
link. An entry without a valid signed statement (written by anyone with SQL access) is not
accepted: the row stays ``changed``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from psycopg import sql

from .chain import canonical, event_bytes, row_digest
from .keys import check_signature
from .store import q

MIGRATION_KIND = "policy-admin/migration"


def ensure_tables(cur: Any, schema: str) -> None:
    cur.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} ("
            " migration text NOT NULL,"
            " notification_id bigint NOT NULL,"
            " old_row_digest bytea NOT NULL,"
            " new_row_digest bytea NOT NULL,"
            " PRIMARY KEY (migration, notification_id))"
        ).format(q(schema, "audit_migration_rows"))
    )


def record_rewrite(
    cur: Any,
    schema: str,
    migration: str,
    *,
    notification_id: int,
    originator_id: Any,
    originator_version: int,
    topic: str,
    old_state: bytes,
    new_state: bytes,
) -> None:
    """Record one rewritten event row (call it in the transaction that rewrites the row)."""
    old = row_digest(event_bytes(notification_id, originator_id, originator_version, topic, old_state))
    new = row_digest(event_bytes(notification_id, originator_id, originator_version, topic, new_state))
    cur.execute(
        sql.SQL(
            "INSERT INTO {} (migration, notification_id, old_row_digest, new_row_digest)"
            " VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (migration, notification_id) DO UPDATE SET new_row_digest = EXCLUDED.new_row_digest"
        ).format(q(schema, "audit_migration_rows")),
        [migration, notification_id, old, new],
    )


def entries(cur: Any, schema: str, migration: str) -> tuple[int, str]:
    h, n = hashlib.sha256(), 0
    cur.execute(
        sql.SQL(
            "SELECT notification_id, old_row_digest, new_row_digest FROM {} WHERE migration = %s"
            " ORDER BY notification_id"
        ).format(q(schema, "audit_migration_rows")),
        [migration],
    )
    for nid, old, new in cur:
        h.update(canonical([nid, bytes(old).hex(), bytes(new).hex()]) + b"\n")
        n += 1
    return n, h.hexdigest()


def sign_migration(conn: Any, sealer: Any, migration: str) -> dict[str, Any]:
    """Sign the migration's entries (after its last rewrite committed)."""
    with conn.cursor() as cur:
        rows, digest = entries(cur, sealer.schema, migration)
    at = datetime.now(UTC)
    fp = sealer.signer.fingerprint
    statement = canonical(
        {
            "kind": MIGRATION_KIND,
            "name": migration,
            "rows": rows,
            "rows_sha256": digest,
            "recorded_at": at.isoformat(),
            "key": fp,
        }
    )
    signature = sealer.signer.sign(statement)
    conn.execute(
        sql.SQL(
            "INSERT INTO {} (name, recorded_at, key_fingerprint, statement, signature)"
            " VALUES (%s, %s, %s, %s, %s)"
        ).format(q(sealer.schema, "audit_migrations")),
        [migration, at, fp, statement, signature],
    )
    return {"statement": json.loads(statement), "signature": base64.b64encode(signature).decode()}


def signed_migrations(conn: Any, schema: str, public_key: Any) -> tuple[set[str], list[dict[str, Any]]]:
    """The migrations whose latest statement checks with the key and matches their entries."""
    valid: set[str] = set()
    report = []
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL("SELECT id, name, statement, signature FROM {} ORDER BY id").format(
                q(schema, "audit_migrations")
            )
        )
        rows = cur.fetchall()
    latest = {name: (mid, bytes(st), bytes(sig)) for mid, name, st, sig in rows}
    for name, (mid, statement, signature) in latest.items():
        ok = check_signature(public_key, signature, statement)
        if ok:
            stmt = json.loads(statement)
            with conn.cursor() as cur:
                n, digest = entries(cur, schema, name)
            ok = stmt.get("name") == name and stmt.get("rows") == n and stmt.get("rows_sha256") == digest
        if ok:
            valid.add(name)
        report.append({"id": mid, "name": name, "valid": ok})
    return valid, report
