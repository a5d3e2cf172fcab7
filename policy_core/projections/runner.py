"""Following the event log live, with a supervisor that restarts from the tracking positions.

The runner LISTENs on the channel the recorder NOTIFYs in every write
transaction (``policy_admin_events``), so a commit wakes it at once; it also
polls every ``poll_interval`` seconds in case a notification is missed (a
dropped connection, a NOTIFY-less writer). Each wake-up reads everything after
the lowest view position in batches, so a burst of writes is applied in a few
transactions, not one per event.

Why not the library's ``recorder.subscribe()``: it yields one notification at a
time from a fixed starting point with its own threads; here the same batch loop
serves catching up, live following and restarts from the tracking table, and a
failing view can be rolled back and retried without rewinding a subscription.

Failures: a view whose batch fails is rolled back and retried with back-off
(the other views go on); anything else (the database going away) ends the
session, and the supervisor starts a new one after a back-off, which reloads
every position from ``rm_tracking``: nothing is lost or applied twice.
"""

from __future__ import annotations

import logging
import time
import zlib
from typing import Any

import psycopg
from psycopg import sql

from ..database import Database
from ..ddl import READ_MODELS, table_provider
from ..follower import LogFollower
from . import tracking
from .engine import DEFAULT_BATCH, EventSource, Projector, trace
from .maintenance import REBUILD_BATCH, Progress, live_schema, prepare, rebuild
from .view import View
from .views import all_views

log = logging.getLogger("policy_core.projections")


def as_source(source: Any) -> EventSource:
    return source if isinstance(source, EventSource) else EventSource.from_app(source)


class ProjectionRunner(LogFollower):
    thread_name = "projections"
    failure_message = "projection runner failed; restarting from the tracking positions"
    logger = log

    def __init__(
        self,
        database: Database,
        source: Any,  # an EventSource or the PolicyAdministration application
        *,
        views: list[View] | None = None,
        batch_size: int = DEFAULT_BATCH,
        rebuild_batch_size: int = REBUILD_BATCH,
        poll_interval: float = 1.0,
        backoff: tuple[float, float] = (0.5, 30.0),
        view_backoff: tuple[float, float] = (0.5, 60.0),
        fault: Any = None,
        on_rebuild_batch: Progress | None = None,
    ) -> None:
        self.database = database
        self.source = as_source(source)
        self.views = views if views is not None else all_views()
        self.schema = live_schema(database.schema)
        self.batch_size = batch_size
        self.rebuild_batch_size = rebuild_batch_size
        self.poll_interval = poll_interval
        self._init_follower(backoff)
        self.view_backoff = view_backoff
        self.fault = fault
        self.on_rebuild_batch = on_rebuild_batch
        self.projector: Projector | None = None
        self.backend_pids: tuple[int, ...] = ()  # the live session's connections (diagnostics)
        self.prepared = False  # by the start-up step: a catch-up then runs no DDL

    # ------------------------------------------------------------------ one-shot
    def prepare(self, conn: psycopg.Connection[Any]) -> None:
        """Create missing views; rebuild (blue/green) those whose schema version changed."""
        stale = prepare(conn, self.schema, self.views)
        self.prepared = True
        if stale:
            log.warning(
                "view schema version changed; rebuilding", extra={"views": ",".join(v.name for v in stale)}
            )
            rebuild(
                self.database.dsn,
                self.source,
                self.schema,
                stale,
                batch_size=self.rebuild_batch_size,
                on_batch=self.on_rebuild_batch,
                only_if_stale=True,
            )

    def catch_up(self) -> int:
        """Prepare (unless the start-up step did), then apply everything up to the head once.
        Returns notifications read.

        Resident: a long backlog (a debit run's 100,000 events) is written at checkpoints, not
        once per batch; a live runner moving a view meanwhile makes that view start again from
        what the runner committed."""
        with psycopg.connect(self.database.dsn, autocommit=True) as conn:
            if not self.prepared:
                self.prepare(conn)
            projector = Projector(self.source, self.views, conn, self.schema, fault=self.fault, resident=True)
            return projector.catch_up(self.batch_size)

    def sync(self, *, stall: float = 3.0, poll: float = 0.05) -> int:
        """Bring every view to the log's present head: while a live runner (here or in another
        process, found by its connections' ``application_name``) is following, wait for it;
        catch up here when none is, or once the views stop moving for ``stall`` seconds.
        Returns the notifications this process applied.

        What the scheduler calls between its steps: with a projection process beside it, the
        two use both cores instead of doing the same work twice (a catch-up racing a runner
        drops its work at the checkpoint)."""
        head = self.source.head()
        names = {v.name: v.schema_version() for v in self.views}
        last_low, moved_at = -1, time.monotonic()
        with psycopg.connect(self.database.dsn, autocommit=True) as conn:
            followers = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [self.tag]
            ).fetchone()
            while followers and followers[0]:
                try:
                    with conn.cursor() as cur:
                        rows = tracking.read_all(cur, self.schema)
                except psycopg.errors.UndefinedTable:
                    break
                if any(n not in rows or rows[n].schema_version != version for n, version in names.items()):
                    break  # a view to create or rebuild: catch_up prepares it
                if any(rows[n].last_error for n in names):
                    break  # a failing view: catch_up here says which, where and why (ViewFailed)
                low = min(rows[n].position for n in names)
                if low >= head:
                    return 0
                now = time.monotonic()
                if low != last_low:
                    last_low, moved_at = low, now
                elif now - moved_at >= stall:
                    break
                time.sleep(poll)
        return self.catch_up()

    # ------------------------------------------------------------------ live (LogFollower)
    def _failure_extra(self, exc: Exception) -> dict[str, Any]:
        return {"trace": trace(exc)}

    @property
    def tag(self) -> str:
        """The ``application_name`` of a live runner's connections for this schema (how ``sync``
        finds runners in other processes)."""
        return f"policy-admin:projections:{zlib.crc32(self.schema.encode()):08x}"

    def _session(self) -> None:
        dsn = self.database.dsn
        with (
            psycopg.connect(dsn, autocommit=True, application_name=self.tag) as conn,
            psycopg.connect(dsn, autocommit=True, application_name=self.tag) as listen,
        ):
            listen.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.source.channel)))
            self.backend_pids = (conn.info.backend_pid, listen.info.backend_pid)
            self.prepare(conn)
            projector = Projector(
                self.source,
                self.views,
                conn,
                self.schema,
                isolate=True,
                backoff=self.view_backoff,
                fault=self.fault,
            )
            self.projector = projector
            head = self.source.head()
            ahead = sorted(n for n, p in projector.positions.items() if p > head)
            if ahead:
                log.error(
                    "views are ahead of the event log (was the event store replaced?); rebuild them",
                    extra={"views": ",".join(ahead), "head": head},
                )
            log.info(
                "following the event log",
                extra={
                    "schema": self.schema,
                    "position": projector.min_position(),
                    "views": ",".join(v.name for v in self.views),
                },
            )
            while not self._stop.is_set():
                result = projector.step(self.batch_size)
                if result.read >= self.batch_size:
                    continue  # more is waiting
                timeout = self.poll_interval
                retry_in = projector.next_retry_in()
                if retry_in is not None:
                    timeout = min(timeout, retry_in)
                self._wait(listen, timeout)

    # ------------------------------------------------------------------ for tests and health
    def positions(self) -> dict[str, int]:
        return dict(self.projector.positions) if self.projector else {}

    def wait_for(self, position: int, timeout: float = 10.0) -> bool:
        """True once every view is at ``position`` or beyond."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            p = self.positions()
            if p and len(p) == len(self.views) and min(p.values()) >= position:
                return True
            time.sleep(0.01)
        return False

    def status(self) -> dict[str, Any]:
        failing = {}
        if self.projector is not None:
            failing = {n: {"error": f.error, "attempts": f.count} for n, f in self.projector.failures.items()}
        stopped = sorted(self.projector.stopped) if self.projector else []
        return {
            "running": self.running,
            "restarts": self.restarts,
            "last_error": self.last_error,
            "failing_views": failing,
            "stopped_views": stopped,
        }


@table_provider(
    "read models",
    tables=(tracking.TRACKING, "rm_* (every view's tables)"),
    order=READ_MODELS,
)
def create_read_models(runtime: Any) -> None:
    """Every view's tables (rebuilding a view whose schema version changed); a runtime built
    without read models has none to make (the reporting views: ``policy_core.reporting``)."""
    if runtime.projections is None:
        return
    with psycopg.connect(runtime.database.dsn, autocommit=True) as conn:
        runtime.projections.prepare(conn)
