"""The PostgreSQL key store: ``pii_master``, ``pii_data_keys``, ``pii_subjects``.

Created by ``policy-admin db init`` (and ``serve``) with the other tables. One connection per
process (re-opened after a fork), used under a lock: key look-ups are rare (cached) and tiny.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from ..database import Database
from ..ddl import EVENT_STORE, table_provider
from .keys import StoredKey

MASTER = "pii_master"
KEYS = "pii_data_keys"
SUBJECTS = "pii_subjects"

DDL = (
    """CREATE TABLE IF NOT EXISTS {master} (
        id integer PRIMARY KEY CHECK (id = 1),
        master_key_id text NOT NULL,
        canary bytea NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        rotated_at timestamptz)""",
    """CREATE TABLE IF NOT EXISTS {keys} (
        key_id uuid PRIMARY KEY,
        subject_id uuid NOT NULL UNIQUE,
        wrapped bytea NOT NULL,
        master_key_id text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now())""",
    """CREATE TABLE IF NOT EXISTS {subjects} (
        aggregate_id uuid PRIMARY KEY,
        subject_id uuid NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS pii_subjects_subject ON {subjects} (subject_id)",
)


def ensure_tables(db: Database) -> None:
    with db.connect() as conn:
        for stmt in DDL:
            conn.execute(
                sql.SQL(stmt).format(
                    master=sql.Identifier(MASTER),
                    keys=sql.Identifier(KEYS),
                    subjects=sql.Identifier(SUBJECTS),
                )
            )
        conn.commit()


@table_provider(
    "personal data keys",
    tables=(MASTER, KEYS, SUBJECTS, "pii_migrations"),
    order=EVENT_STORE,
)
def create_key_store(runtime: Any) -> None:
    """The key store and the migration records (the vault also makes the key store before the
    application exists: it needs its keys to build the mapper)."""
    from .migrate import ensure_tables as ensure_migration_tables

    ensure_tables(runtime.database)
    ensure_migration_tables(runtime.database)


def tables_exist(db: Database) -> bool:
    with db.connect() as conn:
        row = conn.execute("SELECT to_regclass(%s)", [_qualified(db, MASTER)]).fetchone()
    return bool(row and row[0])


def _qualified(db: Database, name: str) -> str:
    return f'"{db.schema}".{name}' if db.schema else name


class PostgresKeyStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._conn: psycopg.Connection[Any] | None = None
        self._pid = 0
        self._lock = threading.Lock()
        self._new_keys_statements: dict[tuple[int, int], sql.Composed] = {}

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._pid != os.getpid():
            self._conn = self.db.connect(autocommit=True)
            self._pid = os.getpid()
        return self._conn

    def _run(self, query: str, params: list[Any] | tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            for attempt in (1, 2):
                conn = self._connection()
                try:
                    cur = conn.execute(query, params)
                    return cur.fetchall() if cur.description else []
                except psycopg.OperationalError:
                    self._conn = None
                    if attempt == 2:
                        raise
            raise AssertionError("unreachable")

    def ensure_tables(self) -> None:
        ensure_tables(self.db)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    # ------------------------------------------------------------------ canary
    def canary(self) -> tuple[str, bytes] | None:
        rows = self._run(f"SELECT master_key_id, canary FROM {MASTER} WHERE id = 1")
        return (rows[0][0], bytes(rows[0][1])) if rows else None

    def set_canary(self, master_key_id: str, wrapped: bytes, *, replace: bool = False) -> bool:
        if replace:
            rows = self._run(
                f"UPDATE {MASTER} SET master_key_id=%s, canary=%s, rotated_at=now() WHERE id=1 RETURNING id",
                [master_key_id, wrapped],
            )
        else:
            rows = self._run(
                f"INSERT INTO {MASTER} (id, master_key_id, canary) VALUES (1, %s, %s) "
                "ON CONFLICT DO NOTHING RETURNING id",
                [master_key_id, wrapped],
            )
        return bool(rows)

    # ------------------------------------------------------------------ keys
    @staticmethod
    def _key(row: tuple[Any, ...]) -> StoredKey:
        return StoredKey(row[0], row[1], bytes(row[2]), row[3])

    def get(self, key_id: UUID) -> StoredKey | None:
        rows = self._run(
            f"SELECT key_id, subject_id, wrapped, master_key_id FROM {KEYS} WHERE key_id = %s", [key_id]
        )
        return self._key(rows[0]) if rows else None

    def get_many(self, key_ids: list[UUID]) -> dict[UUID, StoredKey]:
        """Many keys in one round trip (a bulk read's whole chunk of data subjects)."""
        rows = self._run(
            f"SELECT key_id, subject_id, wrapped, master_key_id FROM {KEYS} WHERE key_id = ANY(%s)",
            [list(key_ids)],
        )
        return {r[0]: self._key(r) for r in rows}

    def for_subject(self, subject: UUID) -> StoredKey | None:
        rows = self._run(
            f"SELECT key_id, subject_id, wrapped, master_key_id FROM {KEYS} WHERE subject_id = %s", [subject]
        )
        return self._key(rows[0]) if rows else None

    def for_subjects(self, subjects: list[UUID]) -> dict[UUID, StoredKey]:
        """The keys of many subjects in one round trip (a projection batch's new members)."""
        rows = self._run(
            f"SELECT key_id, subject_id, wrapped, master_key_id FROM {KEYS} WHERE subject_id = ANY(%s)",
            [list(subjects)],
        )
        return {r[1]: self._key(r) for r in rows}

    def create(self, key: StoredKey, aggregate_id: UUID | None) -> StoredKey:
        """Insert the key unless the subject has one (then that one wins), and the aggregate's
        subject, in one round trip."""
        rows = self._run(
            f"""WITH k AS (
                    INSERT INTO {KEYS} (key_id, subject_id, wrapped, master_key_id) VALUES (%s, %s, %s, %s)
                    ON CONFLICT (subject_id) DO NOTHING RETURNING key_id),
                 s AS (
                    INSERT INTO {SUBJECTS} (aggregate_id, subject_id)
                    SELECT %s::uuid, %s::uuid WHERE %s::uuid IS NOT NULL
                    ON CONFLICT DO NOTHING RETURNING aggregate_id)
               SELECT (SELECT count(*) FROM k), (SELECT count(*) FROM s)""",
            [
                key.key_id,
                key.subject_id,
                key.wrapped,
                key.master_key_id,
                aggregate_id,
                key.subject_id,
                aggregate_id,
            ],
        )
        if rows and rows[0][0]:
            return key
        existing = self.for_subject(key.subject_id)
        if existing is None:  # erased between the two statements: try again
            return self.create(key, aggregate_id)
        return existing

    def record_new_keys(self, cursor: Any, keys: list[StoredKey], subjects: list[tuple[UUID, UUID]]) -> None:
        """New subjects' keys and aggregates' subjects inserted on another connection's
        ``cursor``, in its transaction (an event save's: ``Vault.keys_in_save``), as one statement
        of plain values (an apply's one key and one aggregate: no arrays to build).
        A subject that has a key already is a unique violation: the transaction fails (unlike
        :meth:`create`, nothing is read back: the events of that save were sealed under the
        key it brought, which must not be stored without it)."""
        if not keys and not subjects:
            return
        params: list[Any] = []
        for k in keys:
            params += [k.key_id, k.subject_id, k.wrapped, k.master_key_id]
        for aggregate, subject in subjects:
            params += [aggregate, subject]
        cursor.execute(self._new_keys_statement(len(keys), len(subjects)), params)

    def _new_keys_statement(self, keys: int, subjects: int) -> sql.Composed:
        found = self._new_keys_statements.get((keys, subjects))
        if found is not None:
            return found

        def table(name: str) -> sql.Identifier:
            return sql.Identifier(self.db.schema, name) if self.db.schema else sql.Identifier(name)

        insert_keys = sql.SQL(
            "INSERT INTO {keys} (key_id, subject_id, wrapped, master_key_id) VALUES {rows}"
        ).format(keys=table(KEYS), rows=sql.SQL(", ").join([sql.SQL("(%s, %s, %b, %s)")] * keys))
        insert_subjects = sql.SQL(
            "INSERT INTO {subjects} (aggregate_id, subject_id) VALUES {rows} ON CONFLICT DO NOTHING"
        ).format(subjects=table(SUBJECTS), rows=sql.SQL(", ").join([sql.SQL("(%s, %s)")] * subjects))
        if keys and subjects:
            statement = sql.SQL("WITH k AS ({}) {}").format(insert_keys, insert_subjects)
        else:
            statement = insert_keys if keys else insert_subjects
        if len(self._new_keys_statements) < 64:
            self._new_keys_statements[(keys, subjects)] = statement
        return statement

    def remember(self, aggregate_id: UUID, subject: UUID) -> None:
        self._run(
            f"INSERT INTO {SUBJECTS} (aggregate_id, subject_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            [aggregate_id, subject],
        )

    def subject_of(self, aggregate_id: UUID) -> UUID | None:
        rows = self._run(f"SELECT subject_id FROM {SUBJECTS} WHERE aggregate_id = %s", [aggregate_id])
        return rows[0][0] if rows else None

    def delete_subject(self, subject: UUID) -> list[UUID]:
        rows = self._run(f"DELETE FROM {KEYS} WHERE subject_id = %s RETURNING key_id", [subject])
        # Reclaim the deleted rows' space now: the wrapped key's bytes do not wait for autovacuum.
        self._run(f"VACUUM FULL {KEYS}")
        return [r[0] for r in rows]

    def all_keys(self) -> list[StoredKey]:
        return [
            self._key(r)
            for r in self._run(
                f"SELECT key_id, subject_id, wrapped, master_key_id FROM {KEYS} ORDER BY key_id"
            )
        ]

    def rewrap(self, transform: Callable[[StoredKey], StoredKey], master_key_id: str, canary: bytes) -> int:
        """Every key and the canary in one transaction, the key table locked against new keys
        meanwhile: all under the new master, or none."""
        with self._lock:
            conn = self._connection()
            with conn.transaction(), conn.cursor() as cur:
                cur.execute(f"LOCK TABLE {KEYS} IN EXCLUSIVE MODE")
                cur.execute(f"SELECT key_id, subject_id, wrapped, master_key_id FROM {KEYS} ORDER BY key_id")
                keys = [transform(self._key(r)) for r in cur.fetchall()]
                cur.executemany(
                    f"UPDATE {KEYS} SET wrapped=%s, master_key_id=%s WHERE key_id=%s",
                    [(k.wrapped, k.master_key_id, k.key_id) for k in keys],
                )
                cur.execute(
                    f"UPDATE {MASTER} SET master_key_id=%s, canary=%s, rotated_at=now() WHERE id=1",
                    [master_key_id, canary],
                )
        return len(keys)
