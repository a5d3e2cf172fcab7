"""The sealer: follows the event log in notification order and extends the hash chain.

Exactly once and resumable: each batch locks the one ``audit_sealer`` row (FOR UPDATE), reads
the events after its position, appends their links and moves the position in ONE transaction;
a crash anywhere before the commit leaves the chain and the position as they were, and the next
batch (in this process or another) starts from there: no gap, no duplicate (the chain's primary
key on the notification id would refuse one anyway).

Never blocking writers: it only reads the events table (a plain SELECT takes ACCESS SHARE,
which the recorder's EXCLUSIVE write lock does not wait for) and writes its own tables.

Notification-id gaps: the recorder takes an EXCLUSIVE lock on the events table before it draws
ids and holds it to the commit, so a committed row can never appear behind rows already visible;
the gaps that do occur are ids drawn by a write that rolled back (a lost optimistic-concurrency
race). A writer that bypassed that lock could still be filling a gap, so the sealer does not
seal across a gap while any other session holds a write lock on the events table: it seals up
to the gap and looks again at the next wake-up; with no writer holding the table, a gap can only
be a rolled-back id (it re-reads the range once to be sure) and is sealed across.

Checkpoints: every ``every_events`` links or ``every_minutes`` (whichever first, at the end of
a batch that added links) and on demand, the sealer signs (position, number of links, head,
time) with the Ed25519 key (see keys.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import tuple_row

from ..database import Database
from ..ddl import table_provider
from ..follower import LogFollower
from .chain import ContentDigests, canonical, event_bytes, next_link, row_digest
from .keys import Signer
from .store import TABLES, ensure_tables, q

log = logging.getLogger("policy_core.audit")

EXACT_UP_TO = 100_000
CHECKPOINT_KIND = "policy-admin/checkpoint"
WRITE_LOCKS = ("RowExclusiveLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock")


def checkpoint_statement(
    *, position: int, links: int, head: bytes, signed_at: datetime, fingerprint: str
) -> bytes:
    return canonical(
        {
            "kind": CHECKPOINT_KIND,
            "version": 1,
            "position": position,
            "links": links,
            "head": head.hex(),
            "signed_at": signed_at.astimezone(UTC).isoformat(),
            "key": fingerprint,
        }
    )


@dataclass
class SealerState:
    notification_id: int
    seq: int
    head: bytes
    checkpoint_seq: int
    checkpoint_at: datetime | None


class Sealer(LogFollower):
    thread_name = "audit-sealer"
    failure_message = "audit sealer failed; restarting from its position"
    logger = log

    def __init__(
        self,
        database: Database,
        source: Any,  # an EventSource or the application
        *,
        signer: Signer,
        every_events: int = 10_000,
        every_minutes: float = 60.0,
        batch_size: int = 2000,
        poll_interval: float = 1.0,
        backoff: tuple[float, float] = (0.5, 30.0),
        fault: Callable[[str, int], None] | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        from ..projections.runner import as_source

        self.database = database
        self.source = as_source(source)
        self.schema = self.source.schema
        self.events = q(self.schema, self.source.events_table)
        self.signer = signer
        self.every_events = every_events
        self.every_minutes = every_minutes
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self._init_follower(backoff)
        self.fault = fault  # tests: called with (stage, links so far) inside the batch transaction
        self.now = now or (lambda: datetime.now(UTC))
        self.digests = ContentDigests(self.source.mapper)

    # ------------------------------------------------------------------ tables
    def prepare(self, conn: psycopg.Connection[Any]) -> None:
        ensure_tables(conn, self.schema)

    def _connect(self, **kwargs: Any) -> psycopg.Connection[Any]:
        return psycopg.connect(self.database.dsn, **kwargs)

    # ------------------------------------------------------------------ one batch
    def _state(self, cur: psycopg.Cursor[Any]) -> SealerState:
        cur.execute(
            sql.SQL(
                "SELECT notification_id, seq, head, checkpoint_seq, checkpoint_at FROM {}"
                " WHERE id = 1 FOR UPDATE"
            ).format(q(self.schema, "audit_sealer"))
        )
        row = cur.fetchone()
        if row is None:
            raise RuntimeError("audit_sealer has no row: run `policy-admin db init`")
        return SealerState(row[0], row[1], bytes(row[2]), row[3], row[4])

    def _read(self, cur: psycopg.Cursor[Any], after: int, limit: int, stop: int | None = None) -> list[Any]:
        bound = sql.SQL(" AND notification_id <= %s") if stop is not None else sql.SQL("")
        cur.execute(
            sql.SQL(
                "SELECT notification_id, originator_id, originator_version, topic, state FROM {}"
                " WHERE notification_id > %s{} ORDER BY notification_id LIMIT %s"
            ).format(self.events, bound),
            [after, stop, limit] if stop is not None else [after, limit],
        )
        return cur.fetchall()

    def _writers(self, cur: psycopg.Cursor[Any]) -> int:
        cur.execute(
            "SELECT count(*) FROM pg_locks WHERE relation = %s::regclass AND pid <> pg_backend_pid()"
            " AND granted AND mode = ANY(%s)",
            [f'"{self.schema}"."{self.source.events_table}"', list(WRITE_LOCKS)],
        )
        return int(cur.fetchone()[0])  # type: ignore[index]

    @staticmethod
    def _first_gap(after: int, rows: list[Any]) -> int | None:
        expected = after + 1
        for i, row in enumerate(rows):
            if row[0] != expected:
                return i
            expected = row[0] + 1
        return None

    def _without_open_gaps(self, cur: psycopg.Cursor[Any], after: int, rows: list[Any]) -> list[Any]:
        gap = self._first_gap(after, rows)
        if gap is None:
            return rows
        if self._writers(cur):
            return rows[:gap]  # a writer may still be filling the gap: seal up to it
        # Nobody can be filling it: re-read the range once (a write that committed between the
        # first read and the lock check shows up now); what is still missing rolled back.
        return self._read(cur, after, len(rows) + 1_000_000, stop=rows[-1][0])

    def seal_batch(self, conn: psycopg.Connection[Any], limit: int | None = None) -> int:
        """Seal up to ``limit`` events after the position in one transaction. Returns links added."""
        limit = limit or self.batch_size
        with conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
            st = self._state(cur)
            rows = self._without_open_gaps(
                cur, st.notification_id, self._read(cur, st.notification_id, limit)
            )
            if not rows:
                return 0
            head, seq = st.head, st.seq
            links = []
            for nid, oid, version, topic, state in rows:
                state = bytes(state)
                data = event_bytes(nid, oid, version, topic, state)
                head = next_link(head, data)
                seq += 1
                md, body = self.digests(topic, state)
                links.append((nid, seq, str(oid), version, row_digest(data), md, body, head))
            with cur.copy(
                sql.SQL(
                    "COPY {} (notification_id, seq, originator_id, originator_version, row_digest,"
                    " metadata_digest, body_digest, link) FROM STDIN"
                ).format(q(self.schema, "audit_chain"))
            ) as copy:
                for i, link in enumerate(links):
                    copy.write_row(link)
                    if self.fault is not None and i == len(links) // 2:
                        self.fault("links", i + 1)
            if self.fault is not None:
                self.fault("position", len(links))
            last = rows[-1][0]
            cur.execute(
                sql.SQL(
                    "UPDATE {} SET notification_id = %s, seq = %s, head = %s, updated_at = now() WHERE id = 1"
                ).format(q(self.schema, "audit_sealer")),
                [last, seq, head],
            )
            if self._checkpoint_due(st, seq):
                self._sign(cur, last, seq, head, "interval")
            return len(links)

    def _checkpoint_due(self, st: SealerState, seq: int) -> bool:
        if seq - st.checkpoint_seq >= self.every_events:
            return True
        if st.checkpoint_at is None:
            return True  # the first links ever sealed are signed at once
        return self.now() - st.checkpoint_at >= timedelta(minutes=self.every_minutes)

    def _sign(self, cur: psycopg.Cursor[Any], nid: int, seq: int, head: bytes, reason: str) -> dict[str, Any]:
        at = self.now()
        fp = self.signer.fingerprint
        statement = checkpoint_statement(position=nid, links=seq, head=head, signed_at=at, fingerprint=fp)
        signature = self.signer.sign(statement)
        cur.execute(
            sql.SQL(
                "INSERT INTO {} (notification_id, seq, head, signed_at, reason, key_fingerprint,"
                " statement, signature)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id"
            ).format(q(self.schema, "audit_checkpoints")),
            [nid, seq, head, at, reason, fp, statement, signature],
        )
        cid = cur.fetchone()[0]  # type: ignore[index]
        cur.execute(
            sql.SQL("UPDATE {} SET checkpoint_seq = %s, checkpoint_at = %s WHERE id = 1").format(
                q(self.schema, "audit_sealer")
            ),
            [seq, at],
        )
        log.info("signed an audit checkpoint", extra={"position": nid, "links": seq, "reason": reason})
        return checkpoint_dict(cid, statement, signature, reason)

    # ------------------------------------------------------------------ catch-up and on demand
    def catch_up(self, conn: psycopg.Connection[Any] | None = None) -> int:
        """Seal everything committed up to now. Returns links added."""
        if conn is None:
            with self._connect(autocommit=True) as own:
                return self.catch_up(own)
        total = 0
        while True:
            n = self.seal_batch(conn)
            total += n
            if n < self.batch_size:
                return total

    def checkpoint(self, reason: str = "on_demand") -> dict[str, Any]:
        """Seal up to the head, then sign a checkpoint there (also when nothing is new)."""
        with self._connect(autocommit=True) as conn:
            self.catch_up(conn)
            with conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
                st = self._state(cur)
                return self._sign(cur, st.notification_id, st.seq, st.head, reason)

    def lag(self, conn: psycopg.Connection[Any]) -> dict[str, Any]:
        """Position, head and events not yet sealed (``conn`` in autocommit)."""
        with conn.cursor(row_factory=tuple_row) as cur:
            try:
                cur.execute(
                    sql.SQL(
                        "SELECT notification_id, seq, checkpoint_seq, checkpoint_at FROM {} WHERE id = 1"
                    ).format(q(self.schema, "audit_sealer"))
                )
                row = cur.fetchone()
                cur.execute(sql.SQL("SELECT max(notification_id) FROM {}").format(self.events))
                head = (cur.fetchone() or (None,))[0] or 0
            except psycopg.errors.UndefinedTable:
                return {"position": 0, "head": 0, "events_behind": None, "built": False}
            position = row[0] if row else 0
            distance = max(0, head - position)
            if 0 < distance <= EXACT_UP_TO:
                cur.execute(
                    sql.SQL("SELECT count(*) FROM {} WHERE notification_id > %s").format(self.events),
                    [position],
                )
                distance = cur.fetchone()[0]  # type: ignore[index]
            return {
                "built": row is not None,
                "position": position,
                "head": head,
                "events_behind": distance,
                "links": row[1] if row else 0,
                "last_checkpoint_at": row[3].isoformat() if row and row[3] else None,
                "running": self.running,
                "last_error": self.last_error,
            }

    def checkpoints(self, limit: int = 50) -> list[dict[str, Any]]:
        with self._connect(autocommit=True) as conn:
            rows = conn.execute(
                sql.SQL("SELECT id, statement, signature, reason FROM {} ORDER BY id DESC LIMIT %s").format(
                    q(self.schema, "audit_checkpoints")
                ),
                [limit],
            ).fetchall()
        return [checkpoint_dict(cid, bytes(st), bytes(sig), reason) for cid, st, sig, reason in rows]

    def latest_checkpoint_covering(
        self, conn: psycopg.Connection[Any], position: int
    ) -> dict[str, Any] | None:
        """The latest signed checkpoint at or beyond ``position``."""
        row = conn.execute(
            sql.SQL(
                "SELECT id, statement, signature, reason FROM {} WHERE notification_id >= %s"
                " ORDER BY id DESC LIMIT 1"
            ).format(q(self.schema, "audit_checkpoints")),
            [position],
        ).fetchone()
        return checkpoint_dict(row[0], bytes(row[1]), bytes(row[2]), row[3]) if row else None

    # ------------------------------------------------------------------ live (LogFollower)
    def _session(self) -> None:
        with self._connect(autocommit=True) as conn, self._connect(autocommit=True) as listen:
            listen.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.source.channel)))
            self.prepare(conn)
            log.info("sealing the event log", extra={"schema": self.schema})
            while not self._stop.is_set():
                if self.seal_batch(conn) >= self.batch_size:
                    continue
                self._wait(listen, self.poll_interval)


def checkpoint_dict(cid: int, statement: bytes, signature: bytes, reason: str) -> dict[str, Any]:
    import base64
    import json

    return {
        "id": cid,
        "reason": reason,
        "statement": json.loads(statement),
        "signature": base64.b64encode(signature).decode(),
    }


@table_provider("audit chain", tables=TABLES)
def create_tables(runtime: Any) -> None:
    """The hash chain's tables (``audit_*``), made by the runtime's sealer."""
    if runtime.audit is None:
        return
    with psycopg.connect(runtime.database.dsn, autocommit=True) as conn:
        runtime.audit.prepare(conn)
