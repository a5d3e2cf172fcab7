"""Verification: recompute the chain from the stored events and compare it with what was sealed.

One read-only REPEATABLE READ transaction (one snapshot), three server-side cursors read in
notification order and merged — the events, the sealed links, the signed checkpoints — so
memory stays flat however long the log is. The first position where the history differs from
what was sealed is reported with how it differs:

``changed``           the event at that position is not the one sealed (its body changed)
``metadata_changed``  same body, different metadata (actor, command)
``deleted``           a sealed event is missing (in the middle, or the tail was truncated)
``inserted``          an event sits where none was sealed
``seal_changed``      the event is as sealed but its stored link was altered
``rewritten``         events and links agree but not with a signed checkpoint: both were rewritten
                      between the previous good checkpoint (``after``) and this one
``signature_invalid`` a checkpoint's signature does not check with the public key
``unknown_key``       a checkpoint was signed by a key other than the one given

Events after the sealer's position are not yet sealed: counted, not judged.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from psycopg import sql

from .chain import GENESIS, ContentDigests, event_bytes, link_from_digest, next_link, row_digest
from .keys import check_signature, fingerprint
from .store import q

FETCH = 5000


@dataclass
class Difference:
    position: int
    kind: str
    detail: str
    originator_id: str | None = None
    originator_version: int | None = None
    after: int | None = None  # "rewritten": the difference lies after this position


@dataclass
class Verification:
    ok: bool
    events_checked: int = 0
    sealed_up_to: int = 0
    links: int = 0
    unsealed: int = 0
    checkpoints_checked: int = 0
    latest_checkpoint: dict[str, Any] | None = None
    difference: Difference | None = None
    closings: list[dict[str, Any]] = field(default_factory=list)
    migrations: list[dict[str, Any]] = field(default_factory=list)
    rewritten: int = 0  # rows an authorised, signed migration rewrote since they were sealed

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["status"] = "ok" if self.ok else "failed"
        return d

    def intact_at(self, position: int) -> bool:
        """Whether everything sealed up to ``position`` is as sealed."""
        if self.difference is None:
            return True
        d = self.difference
        first = d.after + 1 if d.after is not None else d.position
        return position < first


class _Stream:
    def __init__(self, rows: Iterator[Any]) -> None:
        self._rows = rows
        self._next: Any = None
        self._done = False
        self._advance()

    def _advance(self) -> None:
        try:
            self._next = next(self._rows)
        except StopIteration:
            self._next, self._done = None, True

    def peek(self) -> Any:
        return self._next

    def pop(self) -> Any:
        row = self._next
        self._advance()
        return row


class Rewrites:
    """Authorised rewrites (signed migrations, see migration.py) by position, streamed in
    notification order: ``sealed_digest(nid, present)`` is the digest the row had when it was
    sealed, if signed rewrites lead from it to the present one (calls in increasing ``nid``).
    Entries of a migration whose statement is missing, forged or does not match its entries
    authorise nothing; ``unsigned_at(nid)`` names such migrations for the report."""

    def __init__(
        self, conn: psycopg.Connection[Any], schema: str, public_key: Any, fetch: int = FETCH
    ) -> None:
        from .migration import signed_migrations

        self.report: list[dict[str, Any]] = []
        self._stream: _Stream | None = None
        self._valid: set[str] = set()
        self._unsigned: dict[int, list[str]] = {}
        try:
            with conn.transaction():  # a savepoint: a store from before these tables has none
                self._valid, self.report = signed_migrations(conn, schema, public_key)
                conn.execute(sql.SQL("SELECT 1 FROM {} LIMIT 0").format(q(schema, "audit_migration_rows")))
        except psycopg.errors.UndefinedTable:
            return
        self._stream = _Stream(
            _cursor(
                conn,
                "audit_rewrites",
                sql.SQL(
                    "SELECT notification_id, old_row_digest, new_row_digest, migration FROM {}"
                    " ORDER BY notification_id"
                ).format(q(schema, "audit_migration_rows")),
                fetch,
            )
        )

    def sealed_digest(self, nid: int, present: bytes) -> bytes | None:
        s = self._stream
        if s is None:
            return None
        while s.peek() is not None and s.peek()[0] < nid:
            s.pop()
        steps: dict[bytes, bytes] = {}
        unsigned: list[str] = []
        while s.peek() is not None and s.peek()[0] == nid:
            _, old, new, name = s.pop()
            if name in self._valid:
                steps[bytes(old)] = bytes(new)
            else:
                unsigned.append(name)
        if unsigned:
            self._unsigned = {nid: unsigned}
        for start in set(steps) - set(steps.values()):
            at, hops = start, 0
            while at in steps and hops <= len(steps):
                at, hops = steps[at], hops + 1
            if at == present:
                return start
        return None

    def unsigned_at(self, nid: int) -> list[str]:
        """Migrations without a valid signed statement whose entries name position ``nid``
        (after ``sealed_digest(nid, ...)``)."""
        return self._unsigned.get(nid, [])


def _cursor(
    conn: psycopg.Connection[Any], name: str, statement: sql.Composed | sql.SQL, fetch: int
) -> Iterator[Any]:
    cur = conn.cursor(name=name)
    cur.itersize = fetch
    cur.execute(statement)
    return iter(cur)


def read_snapshot(dsn: str) -> psycopg.Connection[Any]:
    conn = psycopg.connect(dsn)
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    return conn


def events_stream(
    conn: psycopg.Connection[Any], schema: str, table: str, fetch: int = FETCH
) -> Iterator[Any]:
    return _cursor(
        conn,
        "audit_events",
        sql.SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {}"
            " ORDER BY notification_id"
        ).format(q(schema, table)),
        fetch,
    )


class _Checker:
    def __init__(self, public_key: Ed25519PublicKey, mapper: Any) -> None:
        self.public_key = public_key
        self.fingerprint = fingerprint(public_key)
        self.digests = ContentDigests(mapper)
        self.result = Verification(ok=True)
        self.last_good_checkpoint = 0

    def fail(self, position: int, kind: str, detail: str, **extra: Any) -> None:
        self.result.ok = False
        self.result.difference = Difference(position=position, kind=kind, detail=detail, **extra)

    def checkpoint(self, row: Any, nid: int | None, head: bytes, links: int) -> None:
        """Check one checkpoint row against the recomputed chain at ``nid`` (None: not in the log)."""
        cid, statement, signature, reason = row[0], bytes(row[5]), bytes(row[6]), row[7]
        try:
            stmt = json.loads(statement)
            position = int(stmt["position"])
        except Exception:  # noqa: BLE001
            self.fail(int(row[1]), "signature_invalid", f"checkpoint {cid} holds no readable statement")
            return
        if stmt.get("key") != self.fingerprint:
            self.fail(
                position,
                "unknown_key",
                f"checkpoint {cid} was signed by {stmt.get('key')}, not {self.fingerprint}",
            )
            return
        if not check_signature(self.public_key, signature, statement):
            self.fail(position, "signature_invalid", f"checkpoint {cid}'s signature does not check")
            return
        if nid is None or position != nid:
            self.fail(
                position,
                "deleted",
                f"checkpoint {cid} signed position {position}, which the log and its seal no longer hold",
                after=self.last_good_checkpoint,
            )
            return
        if stmt.get("head") != head.hex() or stmt.get("links") != links:
            self.fail(
                position,
                "rewritten",
                f"the history up to position {position} is not the one checkpoint {cid} signed: events and "
                f"seal were rewritten together after position {self.last_good_checkpoint}",
                after=self.last_good_checkpoint,
            )
            return
        self.last_good_checkpoint = position
        self.result.checkpoints_checked += 1
        self.result.latest_checkpoint = {
            "id": cid,
            "reason": reason,
            "statement": stmt,
            "signature": base64.b64encode(signature).decode(),
        }

    def classify(self, e: Any, link_row: Any, data: bytes) -> None:
        nid, oid, version = e[0], str(e[1]), e[2]
        at = {"originator_id": oid, "originator_version": version}
        if row_digest(data) == bytes(link_row[4]):
            self.fail(nid, "seal_changed", "the event is as sealed but its stored link was altered", **at)
            return
        md, body = self.digests(e[3], bytes(e[4]))
        sealed_md = bytes(link_row[5]) if link_row[5] is not None else None
        sealed_body = bytes(link_row[6]) if link_row[6] is not None else None
        if md is None:
            self.fail(nid, "changed", "the stored state was changed (it no longer decodes)", **at)
        elif body != sealed_body and md != sealed_md:
            self.fail(nid, "changed", "the event's state and its metadata were changed", **at)
        elif body != sealed_body:
            self.fail(nid, "changed", "the event's state was changed", **at)
        elif md != sealed_md:
            self.fail(nid, "metadata_changed", "the event's metadata (actor, command) was changed", **at)
        else:
            self.fail(
                nid, "changed", "the stored bytes were changed (the same content, encoded differently)", **at
            )


def verify_chain(
    dsn: str,
    schema: str,
    events_table: str,
    *,
    mapper: Any,
    public_key: Ed25519PublicKey,
    fetch: int = FETCH,
    on_progress: Callable[[int], None] | None = None,
) -> Verification:
    chk = _Checker(public_key, mapper)
    res = chk.result
    with read_snapshot(dsn) as conn, conn.transaction():
        events = _Stream(events_stream(conn, schema, events_table, fetch))
        links = _Stream(
            _cursor(
                conn,
                "audit_links",
                sql.SQL(
                    "SELECT notification_id, seq, originator_id, originator_version, row_digest,"
                    " metadata_digest, body_digest, link FROM {} ORDER BY notification_id"
                ).format(q(schema, "audit_chain")),
                fetch,
            )
        )
        checkpoints = _Stream(
            _cursor(
                conn,
                "audit_checkpoints",
                sql.SQL(
                    "SELECT id, notification_id, seq, head, key_fingerprint, statement, signature, reason"
                    " FROM {} ORDER BY notification_id, id"
                ).format(q(schema, "audit_checkpoints")),
                fetch,
            )
        )
        rewrites = Rewrites(conn, schema, public_key, fetch)
        res.migrations = rewrites.report
        head, count, last_nid = GENESIS, 0, 0
        while checkpoints.peek() is not None and checkpoints.peek()[1] <= 0 and res.ok:
            chk.checkpoint(checkpoints.pop(), 0, head, 0)
        while res.ok:
            link_row, e = links.peek(), events.peek()
            if link_row is None:
                break
            lnid = link_row[0]
            if e is None:
                chk.fail(
                    lnid,
                    "deleted",
                    f"the log ends at position {last_nid} but was sealed up to a later position",
                    originator_id=link_row[2],
                    originator_version=link_row[3],
                )
                break
            nid = e[0]
            if nid < lnid:
                chk.fail(
                    nid,
                    "inserted",
                    "an event sits where none was sealed",
                    originator_id=str(e[1]),
                    originator_version=e[2],
                )
                break
            if nid > lnid:
                chk.fail(
                    lnid,
                    "deleted",
                    "the sealed event at this position is missing",
                    originator_id=link_row[2],
                    originator_version=link_row[3],
                )
                break
            if (str(e[1]), e[2]) != (link_row[2], link_row[3]):
                events.pop()
                links.pop()
                e2, l2 = events.peek(), links.peek()
                if e2 is not None and (str(e2[1]), e2[2]) == (link_row[2], link_row[3]):
                    chk.fail(
                        nid,
                        "inserted",
                        "an event was inserted here (the sealed one follows it)",
                        originator_id=str(e[1]),
                        originator_version=e[2],
                    )
                elif l2 is not None and (str(e[1]), e[2]) == (l2[2], l2[3]):
                    chk.fail(
                        nid,
                        "deleted",
                        "the sealed event at this position is missing (later ones moved up)",
                        originator_id=link_row[2],
                        originator_version=link_row[3],
                    )
                else:
                    chk.fail(
                        nid,
                        "changed",
                        "a different event sits at this position",
                        originator_id=link_row[2],
                        originator_version=link_row[3],
                    )
                break
            state = bytes(e[4])
            data = event_bytes(nid, e[1], e[2], e[3], state)
            link = next_link(head, data)
            if link != bytes(link_row[7]):
                sealed = rewrites.sealed_digest(nid, row_digest(data))
                if sealed is not None and link_from_digest(head, sealed) == bytes(link_row[7]):
                    # Rewritten under a signed migration (migration.py): the chain goes on from
                    # the sealed link, recomputed from the digest the row had when sealed.
                    link, res.rewritten = bytes(link_row[7]), res.rewritten + 1
                else:
                    chk.classify(e, link_row, data)
                    unsigned = rewrites.unsigned_at(nid)
                    if unsigned and chk.result.difference is not None:
                        chk.result.difference.detail += (
                            f"; a migration record ({', '.join(sorted(set(unsigned)))}) names this row"
                            " but no valid signed statement covers it: it authorises nothing"
                        )
                    break
            head, count, last_nid = link, count + 1, nid
            events.pop()
            links.pop()
            while res.ok and checkpoints.peek() is not None and checkpoints.peek()[1] <= nid:
                cp = checkpoints.pop()
                chk.checkpoint(cp, nid if cp[1] == nid else None, head, count)
            if on_progress is not None and count % fetch == 0:
                on_progress(fetch)
        res.events_checked, res.links, res.sealed_up_to = count, count, last_nid
        if res.ok and checkpoints.peek() is not None:
            chk.checkpoint(checkpoints.pop(), None, head, count)
        if res.ok:
            while events.pop() is not None:
                res.unsealed += 1
        _closings(conn, schema, chk)
    return res


def _closings(conn: psycopg.Connection[Any], schema: str, chk: _Checker) -> None:
    """Each signed closing: whether its signature checks and whether what it covered is intact."""
    try:
        with conn.cursor() as cur:
            cur.execute("SAVEPOINT closings")
            cur.execute(
                sql.SQL(
                    "SELECT id, scheme, year, notification_id, statement, signature FROM {} ORDER BY id"
                ).format(q(schema, "audit_closings"))
            )
            rows = cur.fetchall()
    except psycopg.errors.UndefinedTable:
        conn.execute("ROLLBACK TO SAVEPOINT closings")
        return
    for cid, scheme, year, nid, statement, signature in rows:
        signed = check_signature(chk.public_key, bytes(signature), bytes(statement))
        try:
            position = int(json.loads(bytes(statement))["position"])
        except Exception:  # noqa: BLE001
            position, signed = nid, False
        chk.result.closings.append(
            {
                "id": cid,
                "scheme": scheme,
                "year": year,
                "position": position,
                "signature_ok": signed,
                "intact": signed and chk.result.intact_at(position),
            }
        )
