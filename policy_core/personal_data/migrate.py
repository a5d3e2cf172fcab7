"""``policy-admin personal-data migrate``: seal the plain personal fields of a store written before
per-subject encryption. The one place where stored rows are rewritten, and it is recorded.

* Events in notification order (so a policy's ``Applied`` names its subject before its claims
  need it), then snapshots; batches of ``batch_size`` rows, each batch committed with the
  run's progress: a stopped run resumes where it stopped, a finished store is left unchanged
  (rows already sealed are skipped: idempotent).
* Only the personal fields change: each row's state is decoded (cipher, compressor,
  transcoder), its plain ``holder``/``bank_account``/``description`` sealed, and re-encoded;
  no upcaster runs, nothing else in the row changes.
* Every rewritten event row goes through the audit's ONE mechanism for authorised rewrites
  (``policy_core.audit.migration``): ``record_rewrite`` in the batch's transaction (the row's
  digest before and after, under the run's migration name ``personal-data/<run id>``), and at
  the end of the run ``sign_migration`` signs a statement over those entries with the sealer's
  Ed25519 key. Verification accepts a rewritten row only through such a signed statement; a
  record nobody signed (written with SQL access to cover a forgery) is tampering. A run stopped
  before it signed resumes under the same name and signs at its end (until then its rewritten
  rows read as changed: honest, and put right by finishing the run). Snapshots are not chained
  (they are a cache of the events) and are rewritten without a record.
* ``pii_migrations`` holds each run's progress (no authority: verification never reads it). The
  unsigned row table of earlier builds (``pii_migrated_rows``) is no longer written nor read.
* Stored idempotency responses still in plain text are sealed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError
from psycopg import sql

from ..database import Database
from .crypto import PERSONAL_FIELDS, is_envelope
from .mapper import PersonalDataMapper, is_erased_marker

log = logging.getLogger("policy_core.personal_data.migrate")

RUNS = "pii_migrations"
LEGACY_ROWS = "pii_migrated_rows"  # earlier builds' unsigned records: inert

DDL = (
    f"""CREATE TABLE IF NOT EXISTS {RUNS} (
        run_id uuid PRIMARY KEY,
        started_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz,
        last_notification_id bigint NOT NULL DEFAULT 0,
        events_rewritten integer NOT NULL DEFAULT 0,
        snapshots_rewritten integer NOT NULL DEFAULT 0,
        idempotency_sealed integer NOT NULL DEFAULT 0)""",
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


def migration_name(run_id: Any) -> str:
    return f"personal-data/{run_id}"


def migrate(
    app: Any,
    db: Database,
    *,
    sealer: Any,
    batch_size: int = 500,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Run (or resume) the migration; returns the run's counts. ``sealer`` (the runtime's
    ``audit``) signs the run's rewrites."""
    from ..audit.migration import entries, sign_migration

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
        name = migration_name(run_id)
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
                    conn, codec, mapper, events, oid, version, bytes(state), (sealer.schema, name, nid, topic)
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
                n += _rewrite(conn, codec, mapper, snapshots, oid, version, bytes(state), None)
            counts["snapshots_rewritten"] = n
            conn.execute(
                f"UPDATE {RUNS} SET snapshots_rewritten=snapshots_rewritten+%s WHERE run_id=%s", [n, run_id]
            )
            conn.commit()
        counts["idempotency_sealed"] = _seal_idempotency(conn, app)
        with conn.cursor() as cur:
            rows_total, digest = entries(cur, sealer.schema, name)
        signed_as = None
        if rows_total:
            # The authority: a statement over the run's entries signed with the sealer's key.
            signed_as = sign_migration(conn, sealer, name)["statement"]["name"]
            conn.commit()
            # And the run as a fact in the log (counts and the entries' digest, no personal data).
            try:
                app.save(StoreMigrated.record(run_id, rows_total, digest))
            except IntegrityError:
                pass  # a resumed run whose record was saved before it stopped
        conn.execute(
            f"UPDATE {RUNS} SET finished_at=now(), idempotency_sealed=%s WHERE run_id=%s",
            [counts["idempotency_sealed"], run_id],
        )
        conn.commit()
    log.info("personal data migrated", extra={"run_id": str(run_id), **counts})
    return {"run_id": str(run_id), "migration": signed_as, "rows_signed": rows_total, **counts}


def _rewrite(
    conn: Any,
    codec: _Codec,
    mapper: PersonalDataMapper,
    table: sql.Composable,
    oid: Any,
    version: int,
    state: bytes,
    audit: tuple[str, str, int, str] | None,
) -> int:
    """Seal one row's personal fields; an event row (``audit``: schema, migration, position,
    topic) is recorded as an authorised rewrite in the same transaction."""
    from ..audit.migration import record_rewrite

    data = codec.decode(state)
    if not _needs_sealing(data):
        return 0
    new_state = codec.encode(_seal(mapper, oid, data))
    conn.execute(
        sql.SQL("UPDATE {} SET state=%s WHERE originator_id=%s AND originator_version=%s").format(table),
        [new_state, oid, version],
    )
    if audit is not None:
        schema, name, nid, topic = audit
        with conn.cursor() as cur:
            record_rewrite(
                cur,
                schema,
                name,
                notification_id=nid,
                originator_id=oid,
                originator_version=version,
                topic=topic,
                old_state=state,
                new_state=new_state,
            )
    return 1


class StoreMigrated(Aggregate):
    """A personal-data migration run, as a fact in the log (no personal data: the number of event
    rows it rewrote and the SHA-256 over their entries, the ``rows_sha256`` its signed statement
    holds). A fact, not an authority: verification trusts only the signed statement."""

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
