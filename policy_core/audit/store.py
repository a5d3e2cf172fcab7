"""The audit tables, declared here and created by ``policy-admin db init`` / ``serve`` start-up.

``audit_chain``        one row per sealed event: its position (notification id), the link and
                       the digests verification uses to say how a row differs
``audit_sealer``       the sealer's position and chain head (one row), moved in the same
                       transaction as the links it adds
``audit_checkpoints``  signed statements of (position, head, time)
``audit_closings``     signed period closings (a scheme year's totals at a chain position)
``audit_migrations``   signed records of authorised rewrites of stored rows, whose entries
                       (old and new row digests) are in ``audit_migration_rows``
"""

from __future__ import annotations

from typing import Any

from psycopg import sql

from .chain import GENESIS

TABLES = (
    "audit_chain",
    "audit_sealer",
    "audit_checkpoints",
    "audit_closings",
    "audit_migrations",
    "audit_migration_rows",
)


def q(schema: str, table: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))


def ddl(schema: str) -> list[sql.Composed]:
    return [
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} ("
            " notification_id bigint PRIMARY KEY,"
            " seq bigint NOT NULL UNIQUE,"
            " originator_id text NOT NULL,"
            " originator_version bigint NOT NULL,"
            " row_digest bytea NOT NULL,"
            " metadata_digest bytea,"
            " body_digest bytea,"
            " link bytea NOT NULL)"
        ).format(q(schema, "audit_chain")),
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} ("
            " id smallint PRIMARY KEY CHECK (id = 1),"
            " notification_id bigint NOT NULL,"
            " seq bigint NOT NULL,"
            " head bytea NOT NULL,"
            " checkpoint_seq bigint NOT NULL DEFAULT 0,"
            " checkpoint_at timestamptz,"
            " updated_at timestamptz NOT NULL DEFAULT now())"
        ).format(q(schema, "audit_sealer")),
        sql.SQL(
            "INSERT INTO {} (id, notification_id, seq, head) VALUES (1, 0, 0, {}) ON CONFLICT DO NOTHING"
        ).format(q(schema, "audit_sealer"), sql.Literal(GENESIS)),
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} ("
            " id bigserial PRIMARY KEY,"
            " notification_id bigint NOT NULL,"
            " seq bigint NOT NULL,"
            " head bytea NOT NULL,"
            " signed_at timestamptz NOT NULL,"
            " reason text NOT NULL,"
            " key_fingerprint text NOT NULL,"
            " statement bytea NOT NULL,"
            " signature bytea NOT NULL)"
        ).format(q(schema, "audit_checkpoints")),
        sql.SQL("CREATE INDEX IF NOT EXISTS audit_checkpoints_position ON {} (notification_id, id)").format(
            q(schema, "audit_checkpoints")
        ),
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} ("
            " id bigserial PRIMARY KEY,"
            " scheme text NOT NULL,"
            " year integer NOT NULL,"
            " notification_id bigint NOT NULL,"
            " seq bigint NOT NULL,"
            " head bytea NOT NULL,"
            " closed_at timestamptz NOT NULL,"
            " actor jsonb NOT NULL,"
            " key_fingerprint text NOT NULL,"
            " statement bytea NOT NULL,"
            " signature bytea NOT NULL)"
        ).format(q(schema, "audit_closings")),
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} ("
            " id bigserial PRIMARY KEY,"
            " name text NOT NULL,"
            " recorded_at timestamptz NOT NULL,"
            " key_fingerprint text NOT NULL,"
            " statement bytea NOT NULL,"
            " signature bytea NOT NULL)"
        ).format(q(schema, "audit_migrations")),
    ]


def ensure_tables(conn: Any, schema: str) -> None:
    """Idempotent; ``conn`` in autocommit or inside the caller's transaction."""
    with conn.cursor() as cur:
        for stmt in ddl(schema):
            cur.execute(stmt)
        from .migration import ensure_tables as migration_tables

        migration_tables(cur, schema)
