"""Where each view is in the event log: ``rm_tracking``, one row per view.

The row is updated in the same transaction as the view's tables, so a view's
rows always reflect exactly the events up to its position: a crash loses the
whole batch or nothing. Every writer of a view first locks its tracking row
(``FOR UPDATE``) and checks that the position is the one it expects; two runners
on one view therefore never apply an event twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

TRACKING = "rm_tracking"


@dataclass(frozen=True)
class TrackingRow:
    view: str
    position: int
    schema_version: str
    events_applied: int
    updated_at: datetime | None
    rebuilt_at: datetime | None
    last_error: str | None
    failed_at: datetime | None


_COLUMNS = (
    "view_name",
    "position",
    "schema_version",
    "events_applied",
    "updated_at",
    "rebuilt_at",
    "last_error",
    "failed_at",
)


def qualified(schema: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(TRACKING))


def ensure(cur: psycopg.Cursor[Any], schema: str) -> None:
    cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema])
    if cur.fetchone() is None:  # IF NOT EXISTS alone would still need CREATE on the database
        cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    cur.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} ("
            " view_name text PRIMARY KEY,"
            " position bigint NOT NULL DEFAULT 0,"
            " schema_version text NOT NULL,"
            " events_applied bigint NOT NULL DEFAULT 0,"
            " updated_at timestamptz NOT NULL DEFAULT now(),"
            " rebuilt_at timestamptz,"
            " last_error text,"
            " failed_at timestamptz)"
        ).format(qualified(schema))
    )


def read_all(cur: psycopg.Cursor[Any], schema: str) -> dict[str, TrackingRow]:
    cur.execute(
        sql.SQL("SELECT {} FROM {}").format(
            sql.SQL(", ").join(map(sql.Identifier, _COLUMNS)), qualified(schema)
        )
    )
    return {r[0]: TrackingRow(*r) for r in cur.fetchall()}


def lock(cur: psycopg.Cursor[Any], schema: str, view: str, *, share: bool = False) -> TrackingRow | None:
    cur.execute(
        sql.SQL("SELECT {} FROM {} WHERE view_name = %s FOR {}").format(
            sql.SQL(", ").join(map(sql.Identifier, _COLUMNS)),
            qualified(schema),
            sql.SQL("SHARE" if share else "UPDATE"),
        ),
        [view],
    )
    row = cur.fetchone()
    return TrackingRow(*row) if row else None


def reset(cur: psycopg.Cursor[Any], schema: str, view: str, schema_version: str) -> None:
    cur.execute(
        sql.SQL(
            "INSERT INTO {} (view_name, position, schema_version, events_applied, updated_at, rebuilt_at)"
            " VALUES (%s, 0, %s, 0, now(), now())"
            " ON CONFLICT (view_name) DO UPDATE SET position = 0, schema_version = EXCLUDED.schema_version,"
            " events_applied = 0, updated_at = now(), rebuilt_at = now(), last_error = NULL, failed_at = NULL"
        ).format(qualified(schema)),
        [view, schema_version],
    )


def advance(cur: psycopg.Cursor[Any], schema: str, view: str, position: int, applied: int) -> None:
    cur.execute(
        sql.SQL(
            "UPDATE {} SET position = %s, events_applied = events_applied + %s, updated_at = now(),"
            " last_error = NULL, failed_at = NULL WHERE view_name = %s"
        ).format(qualified(schema)),
        [position, applied, view],
    )


def install(cur: psycopg.Cursor[Any], schema: str, row: TrackingRow) -> None:
    """Record a view moved in from a rebuild: its position, version and count."""
    cur.execute(
        sql.SQL(
            "INSERT INTO {} (view_name, position, schema_version, events_applied, updated_at, rebuilt_at)"
            " VALUES (%s, %s, %s, %s, now(), now())"
            " ON CONFLICT (view_name) DO UPDATE SET position = EXCLUDED.position,"
            " schema_version = EXCLUDED.schema_version, events_applied = EXCLUDED.events_applied,"
            " updated_at = now(), rebuilt_at = now(), last_error = NULL, failed_at = NULL"
        ).format(qualified(schema)),
        [row.view, row.position, row.schema_version, row.events_applied],
    )


def record_error(conn: psycopg.Connection[Any], schema: str, view: str, error: str) -> None:
    """Outside the failed transaction: the error's type only (a message may carry personal data)."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            sql.SQL("UPDATE {} SET last_error = %s, failed_at = now() WHERE view_name = %s").format(
                qualified(schema)
            ),
            [error[:200], view],
        )
