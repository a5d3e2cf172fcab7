"""The batch engine: read a batch of notifications once, apply it to each view.

Per batch: the notifications after the lowest view position are read once
through the recorder (``select_notifications``), the ones some view handles are
decoded once with the application's mapper, and each view then applies its
share in its own transaction:

    lock the view's tracking row (FOR UPDATE) and check the position
    prefetch the rows of the aggregates the events mention
    run the handlers on those rows in memory
    write the changed rows (one INSERT and one UPDATE per table)
    move the tracking position to the batch's last notification id
    commit

One transaction per view rather than one for all: a view whose handler fails
(a bug, a preset it cannot read) rolls back alone and is retried with back-off,
while the others keep up; it also lets one view be rebuilt or added while the
others follow live. It costs one extra commit per view per batch, nothing next
to the per-event commits of the library's stock process runner.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import psycopg
from eventsourcing.persistence import Notification
from psycopg import sql
from psycopg.rows import tuple_row

from ..errors import ViewFailed
from ..store import collector_paused
from . import tracking
from .tables import Rows
from .view import View

log = logging.getLogger("policy_core.projections")

DEFAULT_BATCH = 2000


def trace(exc: BaseException) -> str:
    """Where an exception came from, without its message (a message may quote a row's personal data)."""
    frames = traceback.format_tb(exc.__traceback__)[-6:]
    return f"{type(exc).__qualname__}\n" + "".join(frames)


class PositionMoved(Exception):
    """Another writer (a second runner, a rebuild) moved the view: reload and go on."""


class VersionChanged(Exception):
    """The view's tables were replaced by another schema version while running."""


@dataclass
class EventSource:
    """The application's notification log, read through its recorder and decoded by its mapper."""

    recorder: Any
    mapper: Any

    @classmethod
    def from_app(cls, app: Any) -> EventSource:
        return cls(recorder=app.recorder, mapper=app.mapper)

    @property
    def schema(self) -> str:
        return self.recorder.datastore.schema or "public"

    @property
    def events_table(self) -> str:
        return self.recorder.events_table_name

    @property
    def channel(self) -> str:
        return self.recorder.channel_name

    def _statement(self, bounded: bool) -> sql.Composed:
        return sql.SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {}.{}"
            " WHERE notification_id > %s{} ORDER BY notification_id LIMIT %s"
        ).format(
            sql.Identifier(self.schema),
            sql.Identifier(self.events_table),
            sql.SQL(" AND notification_id <= %s") if bounded else sql.SQL(""),
        )

    def rows(self, after: int, limit: int, stop: int | None = None) -> list[tuple[Any, ...]]:
        """The notifications after ``after`` as tuples (id, originator id, version, topic, state)."""
        params = [after, stop, limit] if stop is not None else [after, limit]
        return self._fetch(self._statement(stop is not None), params)

    def read_topics(
        self, after: int, limit: int, stop: int | None, topics: frozenset[str]
    ) -> tuple[int, int, list[Any]]:
        """The notifications after ``after`` as the recorder's ``select_notifications`` returns
        them (read as tuples: a fifth faster in a rebuild), keeping only those of ``topics`` (the
        others are never made into objects): how many were read, the last id read, and those kept."""
        rows = self.rows(after, limit, stop)
        if not rows:
            return 0, after, []
        kept = [
            Notification(id=i, originator_id=o, originator_version=v, topic=t, state=bytes(s))
            for i, o, v, t, s in rows
            if t in topics
        ]
        return len(rows), rows[-1][0], kept

    def _fetch(self, statement: sql.Composed, params: list[Any]) -> list[tuple[Any, ...]]:
        with self.recorder.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
            cur.execute(statement, params, prepare=True)
            return cur.fetchall()

    def head(self) -> int:
        return self.recorder.max_notification_id() or 0

    def decode(self, notification: Any) -> Any:
        return self.mapper.to_domain_event(notification)

    def preload(self, notifications: Sequence[Any]) -> None:
        """The data keys of a batch's envelopes in one key-store query (personal-data mapper)."""
        preload = getattr(self.mapper, "preload_keys", None)
        if preload is not None:
            preload(n.state for n in notifications)

    def detached(self, dsn: str) -> DetachedSource:
        """The same log read over a connection of its own (for a worker process: the recorder's
        pool must not cross a fork)."""
        return DetachedSource(
            recorder=None, mapper=self.mapper, dsn=dsn, names=(self.schema, self.events_table, self.channel)
        )


@dataclass
class DetachedSource(EventSource):
    dsn: str = ""
    names: tuple[str, str, str] = ("public", "", "")
    _conn: psycopg.Connection[Any] | None = None

    @property
    def schema(self) -> str:
        return self.names[0]

    @property
    def events_table(self) -> str:
        return self.names[1]

    @property
    def channel(self) -> str:
        return self.names[2]

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.dsn, autocommit=True)
        return self._conn

    def _fetch(self, statement: sql.Composed, params: list[Any]) -> list[tuple[Any, ...]]:
        # The read-ahead thread and the caller share the one connection.
        with self._lock, self._connection().cursor(row_factory=tuple_row) as cur:
            cur.execute(statement, params, prepare=True)
            return cur.fetchall()

    def head(self) -> int:
        rows = self._fetch(
            sql.SQL("SELECT max(notification_id) FROM {}.{}").format(
                sql.Identifier(self.schema), sql.Identifier(self.events_table)
            ),
            [],
        )
        return (rows[0][0] if rows else None) or 0

    @cached_property
    def _lock(self) -> threading.Lock:
        return threading.Lock()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


# ---------------------------------------------------------------------------- view tables


def create_tables(cur: psycopg.Cursor[Any], schema: str, view: View, *, indexes: bool = True) -> None:
    """Drop and create the view's tables in ``schema`` and set its position to zero.

    ``indexes=False`` (a rebuild's staging, verify's scratch): without the secondary indexes,
    which a replay does not read; a rebuild builds them once after the load (``create_indexes``),
    cheaper than keeping them up to date row by row."""
    for t in view.tables:
        cur.execute(t.drop(schema))
        for stmt in t.ddl(schema, indexes=indexes):
            cur.execute(stmt)
    tracking.reset(cur, schema, view.name, view.schema_version())


def create_indexes(cur: psycopg.Cursor[Any], schema: str, view: View) -> None:
    """The view's secondary indexes in ``schema``, those it lacks."""
    for t in view.tables:
        for stmt in t.index_ddl(schema):
            cur.execute(stmt)


def drop_tables(cur: psycopg.Cursor[Any], schema: str, view: View) -> None:
    for t in view.tables:
        cur.execute(t.drop(schema))


# ---------------------------------------------------------------------------- the projector


@dataclass
class _Failure:
    count: int = 0
    retry_at: float = 0.0
    error: str = ""


@dataclass
class _Batch:
    start: int
    read: int
    last_id: int
    decoded: list[tuple[int, str, Any]]
    topics: frozenset[str]  # the topics decoded

    def topics_missing(self, topics: frozenset[str]) -> bool:
        return not topics <= self.topics


@dataclass
class StepResult:
    read: int = 0
    last_id: int = 0
    applied: dict[str, int] = field(default_factory=dict)


class Projector:
    """Applies the notification log to views whose tables live in ``schema``.

    ``isolate=True`` (live following): a failing view is rolled back, its error type
    recorded in its tracking row, and retried with exponential back-off while the
    other views go on. ``isolate=False`` (rebuild, verify): the first failure raises.

    ``resident=True`` (rebuild, verify, a long catch-up): each view keeps one unit of work
    across batches instead of one per batch, and writes it at checkpoints (every
    ``checkpoint_events`` events of the log read, when it holds more than ``max_resident_rows``
    rows, and at
    the end of ``catch_up``), in one transaction per view that also moves its position. A
    view whose tables start empty (position zero) never reads them: a row it has not made
    does not exist. A crash loses only the work since the last checkpoint; the position
    committed with the rows says where to resume. Not for live following: readers would
    see nothing until a checkpoint.
    """

    def __init__(
        self,
        source: EventSource,
        views: Iterable[View],
        conn: psycopg.Connection[Any],
        schema: str,
        *,
        isolate: bool = False,
        backoff: tuple[float, float] = (0.5, 60.0),
        fault: Callable[[View, Any], None] | None = None,
        resident: bool = False,
        checkpoint_events: int = 1_000_000,
        max_resident_rows: int = 2_000_000,
    ) -> None:
        if resident and isolate:
            raise ValueError(
                "a resident projector is for rebuilds and catch-ups, not isolated live following"
            )
        self.source = source
        self.views = list(views)
        for v in self.views:
            v.bind(source)
        self.conn = conn
        self.schema = schema
        self.isolate = isolate
        self.backoff = backoff
        self.fault = fault  # test hook: called before each handler
        self.resident = resident
        self.checkpoint_events = checkpoint_events
        self.max_resident_rows = max_resident_rows
        self.positions: dict[str, int] = {}
        self.committed: dict[str, int] = {}  # resident mode: the positions the database holds
        self._units: dict[str, Rows] = {}
        self._cursor: psycopg.Cursor[Any] | None = None
        self._pending: dict[str, int] = {}  # resident mode: events applied since the last checkpoint
        # resident mode: notifications read since the last checkpoint (the log's events, not the
        # views' sum: six views handling the same event do not make six events' worth of work)
        self._read_since_checkpoint = 0
        self.failures: dict[str, _Failure] = {}
        self.stopped: set[str] = set()  # views whose tables changed version underneath
        self.reload()

    # ------------------------------------------------------------------ positions
    def reload(self, names: Iterable[str] | None = None) -> None:
        with self.conn.cursor() as cur:
            rows = tracking.read_all(cur, self.schema)
        for v in self.views:
            if names is not None and v.name not in names:
                continue
            row = rows.get(v.name)
            if row is None:
                raise LookupError(f"view {v.name} has no tracking row in schema {self.schema}")
            if row.schema_version != v.schema_version():
                raise VersionChanged(
                    f"view {v.name} is at version {row.schema_version}, this code builds {v.schema_version()}"
                )
            self.positions[v.name] = row.position
            self.committed[v.name] = row.position
            self._units.pop(v.name, None)
            self._pending.pop(v.name, None)

    def min_position(self) -> int:
        return min(self.positions.values(), default=0)

    def eligible(self, stop: int | None = None) -> list[View]:
        now = time.monotonic()
        out = []
        for v in self.views:
            if v.name in self.stopped:
                continue
            f = self.failures.get(v.name)
            if f is not None and f.retry_at > now:
                continue
            if stop is not None and self.positions[v.name] >= stop:
                continue
            out.append(v)
        return out

    def next_retry_in(self) -> float | None:
        pending = [f.retry_at for n, f in self.failures.items() if n not in self.stopped]
        return max(0.0, min(pending) - time.monotonic()) if pending else None

    # ------------------------------------------------------------------ stepping
    def _fetch(self, start: int, limit: int, stop: int | None, topics: frozenset[str]) -> _Batch:
        read, last, wanted = self.source.read_topics(start, limit, stop, topics)
        if not read:
            return _Batch(start, 0, start, [], topics)
        self.source.preload(wanted)
        decode = self.source.decode
        decoded = [(n.id, n.topic, decode(n)) for n in wanted]
        return _Batch(start, read, last, decoded, topics)

    def step(
        self,
        limit: int = DEFAULT_BATCH,
        stop: int | None = None,
        ahead: Future[_Batch] | None = None,
    ) -> StepResult:
        """Read one batch after the lowest eligible position and apply it. ``read == 0``: caught up.

        ``ahead`` is a batch being fetched in the background; used when it starts where this step does.
        """
        views = self.eligible(stop)
        result = StepResult()
        if not views:
            return result
        start = min(self.positions[v.name] for v in views)
        topics = frozenset().union(*(v.topics for v in views))
        batch = ahead.result() if ahead is not None else None
        if batch is None or batch.start != start or batch.topics_missing(topics):
            batch = self._fetch(start, limit, stop, topics)
        if not batch.read:
            return result
        result.read = batch.read
        result.last_id = last = batch.last_id
        if self.resident:
            self._read_since_checkpoint += batch.read
        idle: list[View] = []
        for v in views:
            position = self.positions[v.name]
            if position >= last:
                continue
            topics = v.topics
            events = [(topic, e) for (nid, topic, e) in batch.decoded if nid > position and topic in topics]
            if not events:
                idle.append(v)
                continue
            try:
                self._apply(v, events, position, last)
            except PositionMoved:
                log.info("view moved by another writer; reloading", extra={"view": v.name})
                try:
                    self.reload([v.name])
                except VersionChanged:
                    self.stopped.add(v.name)
                    log.error(
                        "view tables changed version while running; restart to rebuild",
                        extra={"view": v.name},
                    )
                continue
            except VersionChanged:
                self.stopped.add(v.name)
                log.error(
                    "view tables changed version while running; restart to rebuild", extra={"view": v.name}
                )
                if not self.isolate:
                    raise
                continue
            except Exception as exc:
                if not self.isolate:
                    self._record(v, exc)
                    raise ViewFailed(v.name, position, type(exc).__name__) from exc
                self._failed(v, exc, position)
                continue
            result.applied[v.name] = len(events)
        if idle:
            if self.resident:
                for v in idle:
                    self.positions[v.name] = last
            else:
                self._advance_idle(idle, last)
        return result

    def _advance_idle(self, views: list[View], last: int) -> None:
        """Views with nothing in the batch: move their positions together, in one transaction."""
        moved = []
        with self.conn.transaction(), self.conn.cursor() as cur:
            for v in views:
                cur.execute(
                    sql.SQL(
                        "UPDATE {} SET position = %s, updated_at = now(), last_error = NULL, failed_at = NULL"
                        " WHERE view_name = %s AND position = %s AND schema_version = %s"
                    ).format(tracking.qualified(self.schema)),
                    [last, v.name, self.positions[v.name], v.schema_version()],
                )
                if cur.rowcount != 1:
                    moved.append(v.name)
        for v in views:
            if v.name not in moved:
                self.positions[v.name] = last
                self.failures.pop(v.name, None)
        if moved:
            try:
                self.reload(moved)
            except VersionChanged:
                self.stopped.update(moved)
                log.error(
                    "view tables changed version while running; restart to rebuild",
                    extra={"views": ",".join(moved)},
                )

    def _apply(self, view: View, events: list[tuple[str, Any]], position: int, last: int) -> None:
        if self.resident:
            self._apply_resident(view, events, last)
            return
        started = time.perf_counter()
        with self.conn.transaction(), self.conn.cursor() as cur:
            self._lock(cur, view, position)
            rows = Rows(cur, self.schema, view.tables)
            self._run(view, events, rows)
            written = rows.flush()
            tracking.advance(cur, self.schema, view.name, last, len(events))
        self.positions[view.name] = last
        self.failures.pop(view.name, None)
        if events:
            log.debug(
                "batch applied",
                extra={
                    "view": view.name,
                    "position": last,
                    "events": len(events),
                    "rows_written": written,
                    "ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )

    def _lock(self, cur: psycopg.Cursor[Any], view: View, position: int) -> None:
        """Lock the view's tracking row; it must still be at ``position`` and this code's version."""
        row = tracking.lock(cur, self.schema, view.name)
        if row is None or row.position != position:
            raise PositionMoved(view.name)
        if row.schema_version != view.schema_version():
            raise VersionChanged(view.name)

    def _run(self, view: View, events: list[tuple[str, Any]], rows: Rows) -> None:
        """The view's handlers over the batch, on rows prefetched for the aggregates it mentions."""
        if not rows.complete:
            ids: set[Any] = set()
            for _, e in events:
                ids.update(view.ids(e))
            rows.prefetch(ids)
        view.prepare(events)
        try:
            for topic, e in events:
                if self.fault is not None:
                    self.fault(view, e)
                view.apply(topic, e, rows)
        finally:
            view.prepare(())

    def _apply_resident(self, view: View, events: list[tuple[str, Any]], last: int) -> None:
        rows = self._units.get(view.name)
        if rows is None:
            # Position zero: the tables were made empty with it (create_tables, or a crash
            # before the first checkpoint, which commits rows and position together).
            if self._cursor is None or self._cursor.closed:
                self._cursor = self.conn.cursor()  # outlives batches and checkpoints: reads on a miss
            rows = self._units[view.name] = Rows(
                self._cursor, self.schema, view.tables, complete=self.committed[view.name] == 0
            )
        try:
            self._run(view, events, rows)
        except BaseException as exc:
            # Half a batch is in the unit of work: forget it all and fall back to what is committed.
            self._units.pop(view.name, None)
            self._pending.pop(view.name, None)
            self.positions[view.name] = self.committed[view.name]
            if isinstance(exc, Exception) and self._moved_underneath(view):
                # The unit read rows (a prefetch, a miss) that another writer had committed beyond
                # this unit's position, so a handler met its own future (a row that "exists"):
                # not a failure of the view, the same as a checkpoint finding it moved.
                raise PositionMoved(view.name) from exc
            raise
        self.positions[view.name] = last
        self._pending[view.name] = self._pending.get(view.name, 0) + len(events)

    def _moved_underneath(self, view: View) -> bool:
        """Resident mode: whether another writer has committed the view beyond the position this
        projector's unit of work started from (rows and position commit together, so any row read
        from the tables that is newer than that position comes with a moved tracking row)."""
        try:
            with self.conn.cursor() as cur:
                cur.execute(
                    sql.SQL("SELECT position, schema_version FROM {} WHERE view_name = %s").format(
                        tracking.qualified(self.schema)
                    ),
                    [view.name],
                )
                row = cur.fetchone()
        except psycopg.Error:
            return False  # the original failure is the one to report
        return row is None or row[0] != self.committed[view.name]

    def checkpoint(self, keep: bool = True) -> int:
        """Resident mode: write every view's unit of work and position. Returns rows written.

        ``keep=False`` (the end of a catch-up) frees the rows: a later batch reads what it needs.
        A view another writer moved meanwhile (a live runner beside this catch-up) drops its
        unit of work and goes on from the position that writer committed.
        """
        written, moved = 0, False
        self._read_since_checkpoint = 0
        # Over the cap all units are emptied, not only a big one: otherwise the total stays over
        # it and every following batch would checkpoint again.
        crowded = self._resident_rows() > self.max_resident_rows
        for v in self.views:
            name = v.name
            if name in self.stopped or self.positions[name] == self.committed[name]:
                continue
            rows = self._units.get(name)
            started = time.perf_counter()
            try:
                with self.conn.transaction(), self.conn.cursor() as cur:
                    self._lock(cur, v, self.committed[name])
                    if rows is not None:
                        written += rows.flush()
                    tracking.advance(cur, self.schema, name, self.positions[name], self._pending.get(name, 0))
            except PositionMoved:
                log.info("view moved by another writer; dropping this checkpoint", extra={"view": name})
                self.reload([name])
                moved = True
                continue
            except (VersionChanged, ViewFailed):
                raise
            except Exception as exc:
                self._record(v, exc)
                raise ViewFailed(name, self.committed[name], type(exc).__name__) from exc
            self.committed[name] = self.positions[name]
            self._pending[name] = 0
            if rows is not None:
                if not keep or crowded:
                    rows.evict()
                else:
                    rows.mark_clean()
            log.debug(
                "checkpoint",
                extra={
                    "view": name,
                    "position": self.positions[name],
                    "rows_written": written,
                    "ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
        return -1 if moved else written

    def _resident_rows(self) -> int:
        return sum(len(u) for u in self._units.values())

    def _checkpoint_due(self) -> bool:
        return (
            self._read_since_checkpoint >= self.checkpoint_events
            or self._resident_rows() > self.max_resident_rows
        )

    def _record(self, view: View, exc: Exception) -> None:
        """A failure that stops this catch-up: logged and kept in the view's tracking row (so
        ``/readyz`` and ``projections status`` show it), its type only."""
        log.error(
            "view cannot apply its events",
            extra={"view": view.name, "position": self.committed.get(view.name), "error": type(exc).__name__},
        )
        try:
            tracking.record_error(self.conn, self.schema, view.name, type(exc).__name__)
        except psycopg.Error:
            log.warning("could not record the view's error", extra={"view": view.name})

    def _failed(self, view: View, exc: Exception, position: int) -> None:
        f = self.failures.setdefault(view.name, _Failure())
        f.count += 1
        base, cap = self.backoff
        delay = min(cap, base * 2 ** (f.count - 1))
        f.retry_at = time.monotonic() + delay
        f.error = type(exc).__name__
        # The exception's type and the position only: a message may quote event data.
        log.error(
            "view batch failed; rolled back, will retry",
            extra={
                "view": view.name,
                "position": position,
                "error": f.error,
                "attempt": f.count,
                "retry_in_s": round(delay, 2),
            },
        )
        log.debug("view batch failure detail", extra={"view": view.name, "trace": trace(exc)})
        try:
            tracking.record_error(self.conn, self.schema, view.name, f.error)
        except psycopg.Error:
            log.warning("could not record the view's error", extra={"view": view.name})

    def catch_up(
        self,
        limit: int = DEFAULT_BATCH,
        stop: int | None = None,
        on_batch: Callable[[StepResult], None] | None = None,
    ) -> int:
        """Apply batches until no eligible view has anything left (up to ``stop``). Returns events read.

        The next batch is read and decoded in a background thread while this one is applied
        (the database does the writing meanwhile), which is worth about a fifth of a rebuild.
        """
        total = 0
        topics = frozenset().union(*(v.topics for v in self.views))
        # Resident: the cyclic collector paused for the catch-up. The units of work hold millions
        # of long-lived rows, and every collection of the oldest generation walked them all
        # again: a third of a rebuild's CPU at 200,000 events, more the longer the log. A batch
        # makes no reference cycles to speak of; the collector runs as usual afterwards.
        paused = collector_paused() if self.resident else contextlib.nullcontext()
        with paused, ThreadPoolExecutor(1, thread_name_prefix="projections-read") as pool:
            ahead: Future[_Batch] | None = None
            while True:
                r = self.step(limit, stop, ahead)
                if r.read == 0:
                    if self.resident:
                        if self.checkpoint(keep=False) < 0:
                            continue  # a view went back to what another writer committed: go on from there
                    return total
                ahead = pool.submit(self._fetch, r.last_id, limit, stop, topics) if r.read == limit else None
                total += r.read
                if self.resident and self._checkpoint_due():
                    self.checkpoint()
                if on_batch is not None:
                    on_batch(r)


def schema_exists(cur: psycopg.Cursor[Any], schema: str) -> bool:
    cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema])
    return cur.fetchone() is not None


def drop_schema(cur: psycopg.Cursor[Any], schema: str) -> None:
    cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
