"""``policy-admin personal-data migrate``: seal the plain personal fields of a store written before
per-subject encryption. The one place where stored rows are rewritten, and it is recorded.

* Events in notification order (so a policy's ``Applied`` names its subject before its claims
  need it), then snapshots; batches of ``batch_size`` rows, each batch committed with the
  run's progress: a stopped run resumes where it stopped, a finished store is left unchanged
  (rows already sealed are skipped: idempotent).
* Only the personal fields change: each row's state is decoded (cipher, compressor,
  transcoder), its plain ``holder``/``bank_account``/``description`` sealed, and re-encoded;
  no upcaster runs, nothing else in the row changes.
* Every rewritten row is recorded in ``pii_migrated_rows`` with the SHA-256 of its old and new
  stored state and the run (``pii_migrations``): the hash-chain verification (issue 13) tells
  this authorised rewrite from tampering by it.
* Stored idempotency responses still in plain text are sealed.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from eventsourcing.domain import Aggregate, event
from psycopg import sql

from ..database import Database
from .crypto import PERSONAL_FIELDS, is_envelope
from .mapper import PersonalDataMapper, is_erased_marker

log = logging.getLogger("policy_core.personal_data.migrate")

RUNS = "pii_migrations"
ROWS = "pii_migrated_rows"

DDL = (
    f"""CREATE TABLE IF NOT EXISTS {RUNS} (
        run_id uuid PRIMARY KEY,
        started_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz,
        last_notification_id bigint NOT NULL DEFAULT 0,
        events_rewritten integer NOT NULL DEFAULT 0,
        snapshots_rewritten integer NOT NULL DEFAULT 0,
        idempotency_sealed integer NOT NULL DEFAULT 0)""",
    f"""CREATE TABLE IF NOT EXISTS {ROWS} (
        table_name text NOT NULL,
        originator_id uuid NOT NULL,
        originator_version integer NOT NULL,
        notification_id bigint,
        old_row_digest text,
        old_state_sha256 text NOT NULL,
        new_state_sha256 text NOT NULL,
        run_id uuid NOT NULL,
        migrated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (table_name, originator_id, originator_version))""",
)


def ensure_tables(db: Database) -> None:
    with db.connect() as conn:
        for stmt in DDL:
            conn.execute(stmt)
        conn.commit()


def _needs_sealing(data: Any) -> bool:
    if not isinstance(data, dict):
        return False
    for f in PERSONAL_FIELDS:
        v = data.get(f)
        if v is not None and not is_envelope(v) and not is_erased_marker(v):
            return True
    nested = data.get("state")
    return isinstance(nested, dict) and "topic" in data and _needs_sealing(nested)


class _Codec:
    """The mapper's byte layers without its event classes: state bytes <-> the stored dict."""

    def __init__(self, mapper: PersonalDataMapper) -> None:
        self.m = mapper

    def decode(self, state: bytes) -> Any:
        if self.m.cipher:
            state = self.m.cipher.decrypt(state)
        if self.m.compressor:
            state = self.m.compressor.decompress(state)
        return self.m.transcoder.decode(state)

    def encode(self, data: Any) -> bytes:
        out = self.m.transcoder.encode(data)
        if self.m.compressor:
            out = self.m.compressor.compress(out)
        if self.m.cipher:
            out = self.m.cipher.encrypt(out)
        return out


def _seal(mapper: PersonalDataMapper, originator_id: Any, data: dict[str, Any]) -> dict[str, Any]:
    if "topic" in data and isinstance(data.get("state"), dict) and not (set(PERSONAL_FIELDS) & data.keys()):
        return dict(data, state=mapper.seal_state(originator_id, data["state"]))  # a snapshot
    return mapper.seal_state(originator_id, data)


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def migrate(
    app: Any, db: Database, *, batch_size: int = 500, progress: Callable[[int], None] | None = None
) -> dict[str, Any]:
    """Run (or resume) the migration; returns the run's counts."""
    ensure_tables(db)
    mapper: PersonalDataMapper = app.mapper
    codec = _Codec(mapper)
    recorder = app.recorder
    schema = recorder.datastore.schema or "public"
    events = sql.Identifier(schema, recorder.events_table_name)
    snapshots = (
        sql.Identifier(schema, app.snapshots.recorder.events_table_name)
        if app.snapshots is not None
        else None
    )
    with db.connect() as conn:
        row = conn.execute(
            f"SELECT run_id, last_notification_id FROM {RUNS} WHERE finished_at IS NULL "
            "ORDER BY started_at DESC LIMIT 1"
        ).fetchone()
        if row is None:
            run_id, after = uuid4(), 0
            conn.execute(f"INSERT INTO {RUNS} (run_id) VALUES (%s)", [run_id])
        else:
            run_id, after = row
        conn.commit()
        counts = {"events_rewritten": 0, "snapshots_rewritten": 0, "idempotency_sealed": 0}
        while True:
            rows = conn.execute(
                sql.SQL(
                    "SELECT notification_id, originator_id, originator_version, topic, state FROM {} "
                    "WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
                ).format(events),
                [after, batch_size],
            ).fetchall()
            if not rows:
                break
            n = 0
            for nid, oid, version, topic, state in rows:
                n += _rewrite(
                    conn, codec, mapper, events, "events", oid, version, nid, bytes(state), run_id, topic
                )
            after = rows[-1][0]
            counts["events_rewritten"] += n
            conn.execute(
                f"UPDATE {RUNS} SET last_notification_id=%s, events_rewritten=events_rewritten+%s "
                "WHERE run_id=%s",
                [after, n, run_id],
            )
            conn.commit()  # the batch and the progress together: a stop resumes after this batch
            if progress:
                progress(len(rows))
        if snapshots is not None:
            rows = conn.execute(
                sql.SQL("SELECT originator_id, originator_version, state FROM {}").format(snapshots)
            ).fetchall()
            n = 0
            for oid, version, state in rows:
                n += _rewrite(
                    conn, codec, mapper, snapshots, "snapshots", oid, version, None, bytes(state), run_id
                )
            counts["snapshots_rewritten"] = n
            conn.execute(
                f"UPDATE {RUNS} SET snapshots_rewritten=snapshots_rewritten+%s WHERE run_id=%s", [n, run_id]
            )
            conn.commit()
        counts["idempotency_sealed"] = _seal_idempotency(conn, app)
        digest, rows_total = rows_digest(conn, run_id)
        if rows_total:
            # The run's record in the log itself: chained and signed by the audit sealer after it,
            # so a row record added later (to pass off tampering as migration) does not match it.
            record = StoreMigrated.record(run_id, rows_total, digest)
            app.save(record)
        conn.execute(
            f"UPDATE {RUNS} SET finished_at=now(), idempotency_sealed=%s WHERE run_id=%s",
            [counts["idempotency_sealed"], run_id],
        )
        conn.commit()
    log.info("personal data migrated", extra={"run_id": str(run_id), **counts})
    return {"run_id": str(run_id), **counts}


def _rewrite(
    conn: Any,
    codec: _Codec,
    mapper: PersonalDataMapper,
    table: sql.Composable,
    table_name: str,
    oid: Any,
    version: int,
    nid: int | None,
    state: bytes,
    run_id: Any,
    topic: str | None = None,
) -> int:
    data = codec.decode(state)
    if not _needs_sealing(data):
        return 0
    new_state = codec.encode(_seal(mapper, oid, data))
    conn.execute(
        sql.SQL("UPDATE {} SET state=%s WHERE originator_id=%s AND originator_version=%s").format(table),
        [new_state, oid, version],
    )
    old_row = None
    if nid is not None and topic is not None:
        from ..audit.chain import event_bytes, row_digest

        old_row = row_digest(event_bytes(nid, oid, version, topic, state)).hex()
    conn.execute(
        f"INSERT INTO {ROWS} (table_name, originator_id, originator_version, notification_id, "
        "old_row_digest, "
        "old_state_sha256, new_state_sha256, run_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT DO NOTHING",
        [table_name, oid, version, nid, old_row, _sha(state), _sha(new_state), run_id],
    )
    return 1


def rows_digest(conn: Any, run_id: Any) -> tuple[str, int]:
    """SHA-256 over the run's event-row records in a canonical order (what ``StoreMigrated`` holds)."""
    rows = conn.execute(
        f"SELECT originator_id, originator_version, old_row_digest, new_state_sha256 FROM {ROWS} "
        "WHERE run_id = %s AND table_name = 'events' ORDER BY originator_id, originator_version",
        [run_id],
    ).fetchall()
    h = hashlib.sha256()
    for oid, version, old, new in rows:
        h.update(f"{oid}|{version}|{old}|{new}\n".encode())
    return h.hexdigest(), len(rows)


class StoreMigrated(Aggregate):
    """A personal-data migration run, as a fact in the log (no personal data: counts and a digest)."""

    TOPIC = "policy_admin:PersonalDataMigration"

    class Created(Aggregate.Created):
        TOPIC = "policy_admin:PersonalDataMigration.Recorded"
        run_id: UUID
        rows: int
        rows_digest: str

    @event(Created)
    def __init__(self, id: UUID, run_id: UUID, rows: int, rows_digest: str) -> None:  # noqa: A002
        self.run_id = run_id
        self.rows = rows
        self.rows_digest = rows_digest

    @classmethod
    def record(cls, run_id: UUID, rows: int, digest: str) -> StoreMigrated:
        return cls(
            id=uuid5(NAMESPACE_URL, f"policy_admin:personal-data-migration:{run_id}"),
            run_id=run_id,
            rows=rows,
            rows_digest=digest,
        )


def authorised_rewrites(conn: Any, schema: str, events_table: str, decode: Callable[[bytes], Any]) -> dict:
    """``{(originator_id, version): (old row digest, new state sha256)}`` for the rewritten event
    rows of every migration run whose ``StoreMigrated`` event in the log matches its row records.

    For the audit verification: a row that differs from what was sealed, is recorded here with
    the sealed row digest and whose current state hashes to the recorded new one, was rewritten
    by an authorised migration, not tampered with."""
    if not conn.execute("SELECT to_regclass(%s)", [f'"{schema}".{ROWS}']).fetchone()[0]:
        return {}
    out: dict[tuple[str, int], tuple[str, str]] = {}
    events = sql.Identifier(schema, events_table)
    recorded = conn.execute(
        sql.SQL("SELECT state FROM {} WHERE topic = %s").format(events), [StoreMigrated.Created.TOPIC]
    ).fetchall()
    for (state,) in recorded:
        data = decode(bytes(state))
        run_id = data["run_id"]
        rows = conn.execute(
            sql.SQL(
                "SELECT originator_id, originator_version, old_row_digest, new_state_sha256 FROM {} "
                "WHERE run_id = %s AND table_name = 'events' ORDER BY originator_id, originator_version"
            ).format(sql.Identifier(schema, ROWS)),
            [run_id],
        ).fetchall()
        h = hashlib.sha256()
        for oid, version, old, new in rows:
            h.update(f"{oid}|{version}|{old}|{new}\n".encode())
        if h.hexdigest() != data["rows_digest"] or len(rows) != data["rows"]:
            continue  # the row records were altered after the run: authorise none of them
        for oid, version, old, new in rows:
            out[(str(oid), version)] = (old, new)
    return out


def _seal_idempotency(conn: Any, app: Any) -> int:
    from psycopg.types.json import Jsonb

    from .crypto import seal_response

    table = "api_idempotency"
    if not conn.execute("SELECT to_regclass(%s)", [table]).fetchone()[0]:
        return 0
    rows = conn.execute(
        f"SELECT scope, key, response FROM {table} WHERE response IS NOT NULL AND NOT (response ? 'sealed')"
    ).fetchall()
    for scope, key, response in rows:
        sealed = seal_response(app.vault, json.dumps(response).encode())
        conn.execute(f"UPDATE {table} SET response=%s WHERE scope=%s AND key=%s", [Jsonb(sealed), scope, key])
    conn.commit()
    return len(rows)
