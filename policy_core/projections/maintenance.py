"""Operations on views: create, rebuild from event zero, verify against a fresh replay.

None of these writes to the event store: they read it through the recorder.

Rebuild is blue/green. The views are replayed into a staging schema
(``<schema>__rmb``), committing batch by batch, so a crashed rebuild resumes where
it stopped. Then one transaction locks the live views' tracking rows (the live
runner waits), replays the last events that arrived meanwhile, drops the live
tables, moves the staged ones in (``ALTER TABLE ... SET SCHEMA``) and records the
new position and schema version. Readers see the old view until that commit and
the complete new one after it; never a half-built view.

Verify replays into a scratch schema, then in one REPEATABLE READ transaction
reads each live view's position, brings the scratch copy to exactly that
position, and compares the tables row by row (full outer join on the key).
The snapshot makes the live tables and their position consistent without
blocking the live runner.
"""

from __future__ import annotations

import logging
import multiprocessing
import secrets
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from .. import reporting
from . import tracking
from .engine import (
    DEFAULT_BATCH,
    EventSource,
    Projector,
    StepResult,
    create_indexes,
    create_tables,
    drop_schema,
)
from .view import View

log = logging.getLogger("policy_core.projections")

REBUILD_BATCH = 5000
Progress = Callable[[StepResult], None]


def live_schema(schema: str | None) -> str:
    return schema or "public"


def staging_schema(live: str) -> str:
    return f"{live}__rmb"[:63]


def _connect(dsn: str) -> psycopg.Connection[Any]:
    return psycopg.connect(dsn, autocommit=True)


def _lock_key(live: str, purpose: str = "rebuild") -> int:
    return zlib.crc32(f"policy-admin:projections:{purpose}:{live}".encode()) - 2**31


# ---------------------------------------------------------------------------- prepare


def prepare(conn: psycopg.Connection[Any], schema: str, views: Iterable[View]) -> list[View]:
    """Create missing views in place (position zero); return those whose schema version differs."""
    stale = []
    with conn.transaction(), conn.cursor() as cur:
        # Two runners starting together must not both create the tables.
        cur.execute("SELECT pg_advisory_xact_lock(%s)", [_lock_key(schema, "prepare")])
        tracking.ensure(cur, schema)
        rows = tracking.read_all(cur, schema)
        created = False
        for v in views:
            row = rows.get(v.name)
            if row is None:
                if not created:
                    reporting.drop_views(cur, schema)  # they read the tables about to be made anew
                    created = True
                log.info("creating view", extra={"view": v.name, "schema_version": v.schema_version()})
                create_tables(cur, schema, v)
            elif row.schema_version != v.schema_version():
                stale.append(v)
        if created:  # put back the views dropped above (db init's "reporting views" makes them)
            reporting.install(cur, schema)
    return stale


# ---------------------------------------------------------------------------- rebuild


def rebuild(
    dsn: str,
    source: EventSource,
    schema: str,
    views: list[View],
    *,
    batch_size: int = REBUILD_BATCH,
    on_batch: Progress | None = None,
    only_if_stale: bool = False,
    workers: int = 1,
) -> dict[str, int]:
    """Replay ``views`` from event zero into a staging schema and swap them in. Returns positions.

    ``workers > 1``: the bulk of the replay runs in that many worker processes, each reading
    and applying the log for its own group of views (grouped by ``View.rebuild_cost``): the
    views are independent, so a rebuild uses every core. The tail and the swap stay here.
    """
    staging = staging_schema(schema)
    with _connect(dsn) as conn:
        log.info("waiting for the rebuild lock", extra={"schema": schema})
        conn.execute("SELECT pg_advisory_lock(%s)", [_lock_key(schema)])
        try:
            if only_if_stale:
                views = prepare(conn, schema, views)
                if not views:
                    return {}
            names = [v.name for v in views]
            log.info("rebuild started", extra={"views": ",".join(names), "staging": staging})
            with conn.transaction(), conn.cursor() as cur:
                tracking.ensure(cur, staging)
                staged = tracking.read_all(cur, staging)
                for v in views:
                    row = staged.get(v.name)
                    same = row is not None and row.schema_version == v.schema_version()
                    if row is not None and same and _has_tables(cur, staging, v):
                        log.info("resuming staged rebuild", extra={"view": v.name, "position": row.position})
                    else:
                        create_tables(cur, staging, v, indexes=False)
            groups = _groups(views, workers)
            if len(groups) > 1:
                _replay_in_workers(dsn, source, staging, groups, batch_size, on_batch)
            projector = Projector(source, views, conn, staging, resident=True)
            projector.catch_up(batch_size, on_batch=on_batch)
            with conn.transaction(), conn.cursor() as cur:
                for v in views:  # built once over the loaded rows, before the live views are locked
                    create_indexes(cur, staging, v)
            with conn.transaction(), conn.cursor() as cur:
                tracking.ensure(cur, schema)
                for v in sorted(views, key=lambda v: v.name):
                    cur.execute(
                        sql.SQL(
                            "INSERT INTO {} (view_name, position, schema_version) VALUES (%s, 0, %s)"
                            " ON CONFLICT (view_name) DO NOTHING"
                        ).format(tracking.qualified(schema)),
                        [v.name, v.schema_version()],
                    )
                    tracking.lock(cur, schema, v.name)
                projector.catch_up(batch_size, on_batch=on_batch)  # the tail, under the lock
                staged = tracking.read_all(cur, staging)
                reporting.drop_views(cur, schema)  # they read the live tables replaced here
                for v in views:
                    for t in v.tables:
                        cur.execute(t.drop(schema))
                        cur.execute(
                            sql.SQL("ALTER TABLE {} SET SCHEMA {}").format(
                                t.qualified(staging), sql.Identifier(schema)
                            )
                        )
                    tracking.install(cur, schema, staged[v.name])
                reporting.install(cur, schema)
            positions = {v.name: staged[v.name].position for v in views}
            with conn.cursor() as cur:
                drop_schema(cur, staging)
                # Statistics for the tables just swapped in (filled by COPY, never analysed): without
                # them the planner guesses until autovacuum's next round and may nest loops over
                # 100,000 rows (the dashboard took seconds instead of milliseconds).
                for v in views:
                    for t in v.tables:
                        cur.execute(sql.SQL("ANALYZE {}").format(t.qualified(schema)))
            log.info(
                "rebuild finished", extra={"views": ",".join(names), "position": max(positions.values())}
            )
            return positions
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", [_lock_key(schema)])


def _groups(views: list[View], workers: int) -> list[list[View]]:
    """Views in at most ``workers`` groups of about equal cost (largest first, to the lightest group)."""
    groups: list[list[View]] = [[] for _ in range(max(1, min(workers, len(views))))]
    costs = [0.0] * len(groups)
    for v in sorted(views, key=lambda v: -v.rebuild_cost):
        i = costs.index(min(costs))
        groups[i].append(v)
        costs[i] += v.rebuild_cost
    return [g for g in groups if g]


def _replay_worker(
    dsn: str, source: EventSource, schema: str, views: list[View], batch_size: int, progress: Any, slot: int
) -> None:
    """In a forked process: replay one group of views into the staging schema."""
    detached = source.detached(dsn)
    try:
        with _connect(dsn) as conn:
            projector = Projector(detached, views, conn, schema, resident=True)

            def report(r: StepResult) -> None:
                progress[slot] = r.last_id

            projector.catch_up(batch_size, on_batch=report)
    finally:
        detached.close()


def _replay_in_workers(
    dsn: str,
    source: EventSource,
    schema: str,
    groups: list[list[View]],
    batch_size: int,
    on_batch: Progress | None,
) -> None:
    """Run one worker process per group; report the slowest worker's position as progress.

    Forked, so the workers inherit the views and the mapper as they are (no pickling, custom
    views included); each opens its own connections. A failed worker stops the others and the
    rebuild raises; what the workers committed stays in the staging schema to resume from."""
    ctx = multiprocessing.get_context("fork")
    progress = ctx.Array("q", len(groups), lock=False)
    procs = [
        ctx.Process(
            target=_replay_worker,
            name=f"rebuild-{i}",
            args=(dsn, source, schema, group, batch_size, progress, i),
            daemon=True,
        )
        for i, group in enumerate(groups)
    ]
    log.info(
        "rebuild workers started", extra={"groups": "; ".join(",".join(v.name for v in g) for g in groups)}
    )
    for p in procs:
        p.start()
    reported = 0
    try:
        while any(p.is_alive() for p in procs):
            for p in procs:
                p.join(0.5)
                if p.exitcode not in (None, 0):
                    raise RuntimeError(f"rebuild worker {p.name} failed (exit code {p.exitcode})")
            if on_batch is not None:
                slowest = min(progress)
                if slowest > reported:
                    on_batch(StepResult(read=slowest - reported, last_id=slowest))
                    reported = slowest
        failed = [p.name for p in procs if p.exitcode != 0]
        if failed:
            raise RuntimeError(f"rebuild workers failed: {', '.join(failed)}")
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join()


def _has_tables(cur: psycopg.Cursor[Any], schema: str, view: View) -> bool:
    cur.execute(
        "SELECT count(*) FROM pg_tables WHERE schemaname = %s AND tablename = ANY(%s)",
        [schema, [t.name for t in view.tables]],
    )
    row = cur.fetchone()
    return bool(row and row[0] == len(view.tables))


# ---------------------------------------------------------------------------- verify


@dataclass
class TableDiff:
    table: str
    live_rows: int
    rebuilt_rows: int
    differing: int
    samples: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ViewReport:
    view: str
    status: str  # ok | differs | missing | version_mismatch | behind
    position: int | None = None
    schema_version: str | None = None
    detail: str | None = None
    tables: list[TableDiff] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass
class VerifyReport:
    views: list[ViewReport]

    @property
    def ok(self) -> bool:
        return all(v.ok for v in self.views)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "views": [asdict(v) | {"ok": v.ok} for v in self.views]}


def verify(
    dsn: str,
    source: EventSource,
    schema: str,
    views: list[View],
    *,
    batch_size: int = REBUILD_BATCH,
    on_batch: Progress | None = None,
    samples: int = 20,
    wait_for_head: float = 10.0,
) -> VerifyReport:
    """Replay into a scratch schema and compare with the live views at the same position.

    A view that is not at the log's head (as it was when verify started; a live runner gets
    ``wait_for_head`` seconds to get there) fails as ``behind``, with its recorded error: a
    view stuck at an event it cannot apply is never reported as ok."""
    scratch = f"{schema}__rmv_{secrets.token_hex(4)}"[:63]
    reports: dict[str, ViewReport] = {}
    head = source.head()
    with _connect(dsn) as conn:
        deadline = time.monotonic() + wait_for_head
        while True:
            with conn.cursor() as cur:
                try:
                    live = tracking.read_all(cur, schema)
                except psycopg.errors.UndefinedTable:
                    live = {}
            lagging = [
                v
                for v in views
                if v.name in live and live[v.name].position < head and not live[v.name].last_error
            ]
            if not lagging or time.monotonic() >= deadline:
                break
            time.sleep(0.2)
        checked = []
        for v in views:
            row = live.get(v.name)
            if row is None:
                reports[v.name] = ViewReport(v.name, "missing", detail="the view was never built here")
            elif row.schema_version != v.schema_version():
                reports[v.name] = ViewReport(
                    v.name,
                    "version_mismatch",
                    position=row.position,
                    schema_version=row.schema_version,
                    detail=f"live view is version {row.schema_version}, "
                    f"this code builds {v.schema_version()}; rebuild it",
                )
            elif row.position < head:
                reports[v.name] = ViewReport(
                    v.name,
                    "behind",
                    position=row.position,
                    schema_version=row.schema_version,
                    detail=f"the view is at position {row.position}, the log's head is {head}"
                    + (f"; it fails with {row.last_error}" if row.last_error else ""),
                )
            else:
                checked.append(v)
        if checked:
            stop = min(live[v.name].position for v in checked)
            try:
                with conn.transaction(), conn.cursor() as cur:
                    tracking.ensure(cur, scratch)
                    for v in checked:
                        create_tables(cur, scratch, v, indexes=False)  # compared whole, never searched
                projector = Projector(source, checked, conn, scratch, resident=True)
                projector.catch_up(batch_size, stop=stop, on_batch=on_batch)
                conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
                try:
                    with conn.transaction(), conn.cursor() as cur:
                        frozen = tracking.read_all(cur, schema)
                        for v in checked:
                            row = frozen.get(v.name)
                            if row is None or row.schema_version != v.schema_version():
                                reports[v.name] = ViewReport(
                                    v.name, "version_mismatch", detail="the live view changed during verify"
                                )
                                continue
                            if row.position < projector.positions[v.name]:
                                reports[v.name] = ViewReport(
                                    v.name,
                                    "version_mismatch",
                                    position=row.position,
                                    detail="the live view was rebuilt during verify",
                                )
                                continue
                            single = Projector(source, [v], conn, scratch, resident=True)
                            single.catch_up(batch_size, stop=row.position, on_batch=on_batch)
                            tables = [_compare(cur, schema, scratch, t, samples) for t in v.tables]
                            differs = any(t.differing for t in tables)
                            reports[v.name] = ViewReport(
                                v.name,
                                "differs" if differs else "ok",
                                position=row.position,
                                schema_version=row.schema_version,
                                tables=tables,
                            )
                finally:
                    conn.isolation_level = None
            finally:
                with conn.cursor() as cur:
                    drop_schema(cur, scratch)
    report = VerifyReport([reports[v.name] for v in views])
    for r in report.views:
        log.info(
            "verify result",
            extra={
                "view": r.view,
                "status": r.status,
                "position": r.position,
                "differing_rows": sum(t.differing for t in r.tables),
            },
        )
    return report


def _compare(cur: psycopg.Cursor[Any], live: str, scratch: str, table: Any, samples: int) -> TableDiff:
    join = sql.SQL(" AND ").join(sql.SQL("l.{0} = r.{0}").format(sql.Identifier(k)) for k in table.key)
    body = sql.SQL(
        "FROM {} AS l FULL OUTER JOIN {} AS r ON {} WHERE to_jsonb(l) IS DISTINCT FROM to_jsonb(r)"
    ).format(table.qualified(live), table.qualified(scratch), join)
    cur.execute(
        sql.SQL("SELECT (SELECT count(*) FROM {}), (SELECT count(*) FROM {}), (SELECT count(*) {})").format(
            table.qualified(live), table.qualified(scratch), body
        )
    )
    live_rows, rebuilt_rows, differing = cur.fetchone()  # type: ignore[misc]
    out = TableDiff(table.name, live_rows, rebuilt_rows, differing)
    if differing:
        cur.execute(sql.SQL("SELECT to_jsonb(l), to_jsonb(r) {} LIMIT %s").format(body), [samples])
        for left, right in cur.fetchall():
            out.samples.append(_describe(table, left, right))
    return out


def _describe(table: Any, live: dict[str, Any] | None, rebuilt: dict[str, Any] | None) -> dict[str, Any]:
    """One differing row: its key, which columns differ, their values (personal data redacted)."""
    some = live or rebuilt or {}
    key = {k: some.get(k) for k in table.key}
    if live is None:
        return {"key": key, "kind": "missing_in_live"}
    if rebuilt is None:
        return {"key": key, "kind": "missing_in_rebuild"}
    cols = [c for c in table.column_names if live.get(c) != rebuilt.get(c)]

    def show(row: dict[str, Any], c: str) -> Any:
        return "<redacted>" if c in table.personal else row.get(c)

    return {
        "key": key,
        "kind": "changed",
        "columns": {c: {"live": show(live, c), "rebuilt": show(rebuilt, c)} for c in cols},
    }


__all__ = [
    "DEFAULT_BATCH",
    "REBUILD_BATCH",
    "TableDiff",
    "VerifyReport",
    "ViewReport",
    "prepare",
    "rebuild",
    "staging_schema",
    "verify",
]
