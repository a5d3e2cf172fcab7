"""Reports as the system knew them: computed from the log up to a recorded moment.

``position_at(as_of)`` is the last notification recorded at or before ``as_of`` (events'
recorded timestamps rise with their notification ids — each save is timestamped, then commits
under the recorder's table lock — so a binary search decodes about log2(n) events).
``replayed(views, position)`` replays those views' own handlers from event zero up to that
position into a scratch schema and hands back a ``ReadModels`` over it, so an as-of report is
answered by the very queries that answer today's, and equals today's when ``as_of`` is now.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from ..calendar import TOKYO
from ..database import Database
from ..projections import tracking
from ..projections.engine import EventSource, Projector, create_tables, drop_schema
from ..projections.maintenance import REBUILD_BATCH, live_schema
from ..projections.read import ReadModels
from ..projections.views import select_views


def _timestamp(source: EventSource, row: tuple[Any, ...]) -> datetime:
    from eventsourcing.persistence import StoredEvent

    return source.mapper.to_domain_event(StoredEvent(row[1], row[2], row[3], bytes(row[4]))).timestamp


def position_at(database: Database, source: EventSource, as_of: datetime) -> int:
    """The last log position recorded at or before ``as_of`` (0: nothing was recorded yet)."""
    table = sql.SQL("{}.{}").format(sql.Identifier(source.schema), sql.Identifier(source.events_table))
    probe = sql.SQL(
        "SELECT notification_id, originator_id, originator_version, topic, state FROM {}"
        " WHERE notification_id >= %s ORDER BY notification_id LIMIT 1"
    ).format(table)
    with psycopg.connect(database.dsn, autocommit=True) as conn:
        head = conn.execute(sql.SQL("SELECT max(notification_id) FROM {}").format(table)).fetchone()
        lo, hi = 0, (head[0] if head else None) or 0
        while lo < hi:
            mid = (lo + hi + 1) // 2
            row = conn.execute(probe, [mid]).fetchone()
            if row is None or row[0] > hi or _timestamp(source, row) > as_of:
                hi = mid - 1
            else:
                lo = row[0]
    return lo


@contextmanager
def replayed(
    database: Database, source: EventSource, views: list[str], position: int
) -> Iterator[ReadModels]:
    """Read models for ``views`` as they stood at ``position``, in a scratch schema dropped after use."""
    scratch = f"{live_schema(database.schema)}__asof_{secrets.token_hex(4)}"[:63]
    chosen = select_views(views)
    with psycopg.connect(database.dsn, autocommit=True) as conn:
        try:
            with conn.transaction(), conn.cursor() as cur:
                tracking.ensure(cur, scratch)
                for v in chosen:
                    create_tables(cur, scratch, v)
            if position > 0:
                Projector(source, chosen, conn, scratch, resident=True).catch_up(REBUILD_BATCH, stop=position)
            rm = ReadModels(
                Database(dsn=database.dsn, schema=scratch), mapper=source.mapper, max_connections=1
            )
            try:
                yield rm
            finally:
                rm.close()
        finally:
            with conn.cursor() as cur:
                drop_schema(cur, scratch)


@dataclass
class AggregatesSource(EventSource):
    """The log restricted to some aggregates' events (a policy and its claims): replaying a view
    that keys its rows by those aggregates gives their rows exactly, without the rest of the log."""

    ids: tuple[UUID, ...] = ()

    @classmethod
    def of(cls, source: EventSource, ids: Iterable[UUID]) -> AggregatesSource:
        return cls(recorder=source.recorder, mapper=source.mapper, ids=tuple(ids))

    def rows(self, after: int, limit: int, stop: int | None = None) -> list[tuple[Any, ...]]:
        statement = sql.SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {}.{}"
            " WHERE notification_id > %s AND notification_id <= %s AND originator_id = ANY(%s)"
            " ORDER BY notification_id LIMIT %s"
        ).format(sql.Identifier(self.schema), sql.Identifier(self.events_table))
        return self._fetch(statement, [after, stop if stop is not None else 2**62, list(self.ids), limit])


def limits_as_of(database: Database, app: Any, policy_id: UUID, period: int | None, as_of: datetime) -> Any:
    """``GET /policies/{id}/limits`` as it stood at ``as_of``: the limits view's own handlers
    replayed over the policy's and its claims' events up to that moment, answered by the same
    query (dashed claim ids, every claim listed), stamped with the log position."""
    policy = app.get_policy(policy_id, as_of=as_of)  # validates as_of; NotFound before it existed
    if period is not None:
        policy.period(period)  # unknown_period, as the current answer says
    claims = {UUID(hex=c) for p in policy.periods for c in (*p.claims, *p.claim_paid)}
    source = EventSource.from_app(app)
    position = position_at(database, source, as_of)
    with replayed(database, AggregatesSource.of(source, [policy_id, *claims]), ["limits"], position) as rm:
        body = rm.limits_json(policy_id, period)
    if body is None:
        return None
    answer = json.loads(body)
    answer["source"], answer["position"] = "events", position
    return answer


def portfolio_as_of(rt: Any, scheme: str, year: int, as_of: datetime) -> dict[str, Any] | None:
    """``GET /reports/portfolio`` as it stood at ``as_of`` (None: no portfolio then)."""
    source = EventSource.from_app(rt.app)
    position = position_at(rt.database, source, as_of)
    with replayed(rt.database, source, ["portfolio"], position) as rm:
        report = rm.portfolio(scheme, year)
    if report is not None:
        report["position"], report["as_of"] = position, as_of.astimezone(TOKYO).isoformat()
    return report


def collections_as_of(rt: Any, scheme: str | None, as_of: datetime) -> dict[str, Any]:
    """``GET /reports/collections`` as it stood at ``as_of``: arrears and lapses then."""
    source = EventSource.from_app(rt.app)
    position = position_at(rt.database, source, as_of)
    with replayed(rt.database, source, ["collections"], position) as rm:
        return {
            "arrears": rm.arrears(scheme=scheme),
            "lapses": rm.lapses(scheme=scheme),
            "position": position,
            "as_of": as_of.astimezone(TOKYO).isoformat(),
        }
