"""How far behind the event log each view is: for the readiness check and operators.

``events_behind`` counts the notifications after the view's position (exact up to
``EXACT_UP_TO``, beyond that the id distance, which ignores the rare gaps left by
rolled-back writes). ``seconds_behind`` is the age of the oldest event the view
has not applied yet (0 when caught up): the time recorded in that event.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from . import tracking

EXACT_UP_TO = 100_000
EVENTS_TABLE = "policy_admin_events"


def _default_transcoder() -> Any:
    from ..codec import make_transcoder

    return make_transcoder()


_TRANSCODER: Any = None


def _timestamp(topic: str, state: bytes, mapper: Any | None) -> datetime | None:
    global _TRANSCODER
    try:
        if mapper is not None:
            if mapper.cipher:
                state = mapper.cipher.decrypt(state)
            if mapper.compressor:
                state = mapper.compressor.decompress(state)
            data = mapper.transcoder.decode(state)
        else:
            if _TRANSCODER is None:
                _TRANSCODER = _default_transcoder()
            data = _TRANSCODER.decode(state)
        ts = data.get("timestamp")
        return ts if isinstance(ts, datetime) else None
    except Exception:  # noqa: BLE001 - an undecodable state must not break a health check
        return None


def view_lag(
    conn: psycopg.Connection[Any],
    schema: str,
    *,
    views: dict[str, str] | None = None,
    events_schema: str | None = None,
    events_table: str = EVENTS_TABLE,
    mapper: Any | None = None,
    now: datetime | None = None,
) -> dict[str, dict[str, Any]]:
    """Per view: position, head, events_behind, seconds_behind, schema versions, last error.

    ``conn`` must be in autocommit mode (a missing table is then just "nothing yet").

    ``views`` maps view names to the schema version the running code builds; a view
    missing from the tracking table is reported at position 0 with ``built: False``.
    """
    now = now or datetime.now(UTC)
    events = sql.SQL("{}.{}").format(sql.Identifier(events_schema or schema), sql.Identifier(events_table))
    out: dict[str, dict[str, Any]] = {}
    with conn.cursor() as cur:
        try:
            cur.execute(sql.SQL("SELECT max(notification_id) FROM {}").format(events))
            head = (cur.fetchone() or (None,))[0] or 0
        except psycopg.errors.UndefinedTable:
            head = 0
        try:
            rows = tracking.read_all(cur, schema)
        except psycopg.errors.UndefinedTable:
            rows = {}
        names = list(views) if views is not None else sorted(rows)
        oldest_cache: dict[int, datetime | None] = {}
        count_cache: dict[int, int] = {}
        for name in names:
            row = rows.get(name)
            position = row.position if row else 0
            distance = max(0, head - position)
            if distance == 0:
                behind = 0
            elif distance <= EXACT_UP_TO:
                if position not in count_cache:
                    cur.execute(
                        sql.SQL("SELECT count(*) FROM {} WHERE notification_id > %s").format(events),
                        [position],
                    )
                    count_cache[position] = cur.fetchone()[0]  # type: ignore[index]
                behind = count_cache[position]
            else:
                behind = distance
            seconds: float | None = 0.0
            if behind:
                if position not in oldest_cache:
                    cur.execute(
                        sql.SQL(
                            "SELECT topic, state FROM {} WHERE notification_id > %s "
                            "ORDER BY notification_id LIMIT 1"
                        ).format(events),
                        [position],
                    )
                    first = cur.fetchone()
                    oldest_cache[position] = _timestamp(first[0], bytes(first[1]), mapper) if first else None
                ts = oldest_cache[position]
                seconds = max(0.0, (now - ts).total_seconds()) if ts is not None else None
            out[name] = {
                "built": row is not None,
                "position": position,
                "head": head,
                "events_behind": behind,
                "seconds_behind": round(seconds, 3) if seconds is not None else None,
                "schema_version": row.schema_version if row else None,
                "expected_version": views.get(name) if views is not None else None,
                "events_applied": row.events_applied if row else 0,
                "updated_at": row.updated_at.isoformat() if row and row.updated_at else None,
                "last_error": row.last_error if row else None,
            }
    return out
