"""#2 the debit run for 100,000 active policies, and the renewal run for them (simulated bank).

Setup (not timed): a template of varied policies is made through the application
(two schemes, every plan, 4% of accounts failing at the simulated bank), copied to
100,000 policies with COPY, and the read models are built by the product's
projection engine. The state is then saved (events head, every read-model table) and
restored before each run, so every run starts from the same 100,000 policies.

Timed: ``scheduler.jobs.Jobs.run_due(as_of)`` exactly as the scheduler calls it, with
the simulated bank, from the first catch-up to the last (the read models reflect the
run when it returns), in two layouts: the scheduler process alone (it catches the read
models up itself, ``ProjectionRunner.catch_up``), and as deployed, with the projection
runner in its own process following the log while the scheduler writes (the scheduler's
``ProjectionRunner.sync`` then only waits for it). The CPU seconds the machine spent
during each run (from /proc/stat), the scheduler process's and the projection process's
are recorded, to tell what a 2-core machine can do at all:

* debit run: ``as_of`` = 09:00 Tokyo on the last first-premium debit date (+1 min):
  every policy has its first premium due;
* renewal run: policies with the premium collected and the renewal notice issued;
  ``as_of`` = the last anniversary (+1 min): every policy is renewed and activated.

Baseline: raw psycopg COPY of the same number of event rows (the run's own events:
debit run ~1 per policy, renewal run 2 per policy) into a table of the events table's
shape with its indexes.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import time
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from datetime import time as dtime
from typing import Any

import psycopg

from policy_core.calendar import TOKYO
from policy_core.personal_data.keys import memory_vault

from .common import Config, Measure, fresh_schema, make_runtime, qualified, row
from .datagen import copy_template, policies_template

TARGET_S = {"debit": 12.0, "renewal": 24.0}  # issue 16: as deployed, 100,000 policies
APPLICATION_DATE = date(2026, 1, 10)  # the template's (policies_template default)


def _rm_tables(conn: psycopg.Connection[Any], schema: str) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename LIKE 'rm\\_%%' ORDER BY 1",
            [schema],
        ).fetchall()
    ]


class Checkpoint:
    """Save and restore the events head and every read-model table of a schema."""

    def __init__(self, db: Any) -> None:
        self.db = db
        with psycopg.connect(db.dsn, autocommit=True) as conn:
            self.head = conn.execute(
                f"SELECT coalesce(max(notification_id), 0) FROM {qualified(db)}"
            ).fetchone()[0]
            self.tables = _rm_tables(conn, db.schema)
            for t in self.tables:
                conn.execute(f'CREATE TABLE "{db.schema}"."bak_{t}" AS SELECT * FROM "{db.schema}"."{t}"')

    def restore(self) -> None:
        s = self.db.schema
        with psycopg.connect(self.db.dsn, autocommit=True) as conn:
            conn.execute(f"DELETE FROM {qualified(self.db)} WHERE notification_id > %s", [self.head])
            for t in self.tables:
                conn.execute(f'TRUNCATE "{s}"."{t}"')
                conn.execute(f'INSERT INTO "{s}"."{t}" SELECT * FROM "{s}"."bak_{t}"')
            conn.execute(f"VACUUM (ANALYZE) {qualified(self.db)}")
            for t in self.tables:
                conn.execute(f'VACUUM (ANALYZE) "{s}"."{t}"')


def raw_copy_seconds(db: Any, rows: int, state: bytes, topic: str) -> float:
    table = f'"{db.schema}"."bench_copy_events"'
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(
            f"CREATE TABLE {table} (originator_id uuid NOT NULL, originator_version bigint NOT NULL, "
            "topic text, state bytea, notification_id bigserial, "
            "PRIMARY KEY (originator_id, originator_version))"
        )
        conn.execute(f"CREATE UNIQUE INDEX ON {table} (notification_id)")
    data = [(uuid.uuid4(), 3, topic, state) for _ in range(rows)]
    with psycopg.connect(db.dsn) as conn:
        t = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy(
                f"COPY {table} (originator_id, originator_version, topic, state) FROM STDIN (FORMAT BINARY)"
            ) as cp,
        ):
            cp.set_types(["uuid", "int8", "text", "bytea"])
            for r in data:
                cp.write_row(r)
        conn.commit()
        return time.perf_counter() - t


def machine_busy_s() -> float:
    """CPU seconds all cores have spent busy since boot (/proc/stat: everything but idle and iowait)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def _follower(dsn: str, schema: str, ready: Any, stop: Any, out: Any) -> None:
    """The production layout's projection process (``policy-admin projections run``)."""
    from policy_core.application import PolicyAdministration
    from policy_core.database import Database
    from policy_core.projections import ProjectionRunner

    db = Database(dsn=dsn, schema=schema)
    app = PolicyAdministration(env=db.eventsourcing_env(2), vault=memory_vault())
    runner = ProjectionRunner(db, app, poll_interval=0.2)
    runner.start()
    ready.set()
    started = time.process_time()  # from here: following the run (imports and start-up left out)
    stop.wait()
    runner.stop()
    out.send(time.process_time() - started)
    app.close()


@contextlib.contextmanager
def projection_process(db: Any, cpu: dict[str, float]) -> Iterator[None]:
    """The projection runner in its own process while the block runs; ``cpu["projections"]``: the CPU
    seconds it spent from the moment it was following until it was stopped."""
    ctx = mp.get_context("spawn")
    ready, stop = ctx.Event(), ctx.Event()
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_follower, args=(db.dsn, db.schema, ready, stop, child), daemon=True)
    proc.start()
    try:
        if not ready.wait(60):
            raise RuntimeError("the projection process did not start")
        time.sleep(0.5)  # connected and listening
        yield
    finally:
        stop.set()
        if parent.poll(30):
            cpu["projections"] = parent.recv()
        proc.join(30)
        if proc.is_alive():
            proc.terminate()


def _scenario(cfg: Config, kind: str, n: int, tpl_n: int) -> dict[str, Any]:
    from scheduler.clock import SettableClock
    from scheduler.gateway import SimulatedBank
    from scheduler.jobs import Jobs, debit_run_at

    stage = "due" if kind == "debit" else "notified"
    tpl = policies_template(cfg, policies=tpl_n, stage=stage)
    copies = n // tpl_n
    result: dict[str, Any] = {"policies": copies * tpl_n}
    with fresh_schema(cfg, f"b2{kind[0]}") as db:
        clock = SettableClock(datetime.combine(APPLICATION_DATE, dtime(10), tzinfo=TOKYO))
        rt = make_runtime(db, clock=clock)
        try:
            t = time.perf_counter()
            copy_template(db, tpl, copies)
            result["setup_copy_s"] = round(time.perf_counter() - t, 1)
            t = time.perf_counter()
            rt.projections.catch_up()
            result["setup_projections_s"] = round(time.perf_counter() - t, 1)
            if kind == "debit":
                last = rt.read_models.query(
                    _sql("SELECT max(next_debit_date) AS d FROM {}", rt, "rm_collections_debits")
                )
                as_of = debit_run_at(last[0]["d"]) + timedelta(minutes=1)
            else:
                last = rt.read_models.query(_sql("SELECT max(period_end) AS d FROM {}", rt, "rm_policies"))
                as_of = last[0]["d"].astimezone(TOKYO) + timedelta(minutes=1)
            clock.set(as_of)
            cfg.say(
                f"  #2 {kind}: {result['policies']} policies ready (copy {result['setup_copy_s']} s, "
                f"read models {result['setup_projections_s']} s); as_of {as_of.isoformat()}"
            )
            vacuum = Checkpoint(db)
            vacuum.restore()

            catch_up_s = [0.0]

            def catch_up() -> Any:  # the projections' share of a run, for the breakdown
                t1 = time.perf_counter()
                try:
                    return rt.projections.catch_up()
                finally:
                    catch_up_s[0] += time.perf_counter() - t1

            def sync() -> Any:  # waits for the projection process (the scheduler's wiring)
                t1 = time.perf_counter()
                try:
                    return rt.projections.sync()
                finally:
                    catch_up_s[0] += time.perf_counter() - t1

            cpu: dict[str, list[dict[str, float]]] = {"alone": [], "process": []}

            def once(layout: str) -> tuple[float, Any]:
                vacuum.restore()
                catch_up_s[0] = 0.0
                usage: dict[str, float] = {"projections": 0.0}
                follower = projection_process(db, usage) if layout == "process" else contextlib.nullcontext()
                with follower:
                    jobs = Jobs(
                        rt.app,
                        rt.read_models,
                        sync if layout == "process" else catch_up,
                        SimulatedBank(),
                        now=clock.now,
                    )
                    busy0, own0 = machine_busy_s(), time.process_time()
                    t0 = time.perf_counter()
                    report = jobs.run_due(as_of)
                    secs = time.perf_counter() - t0
                    busy1, own1 = machine_busy_s(), time.process_time()
                # The projection process's share includes half a second of idle waiting on either side.
                cpu[layout].append(
                    {
                        "machine": busy1 - busy0,
                        "scheduler": own1 - own0,
                        "projections": usage["projections"],
                        "wall": secs,
                    }
                )
                return secs, report

            for layout in ("alone", "process"):
                runs: list[float] = []
                reports = []
                projections_s: list[float] = []
                for i in range(cfg.runs):
                    secs, report = once(layout)
                    runs.append(secs)
                    reports.append(report.to_dict())
                    projections_s.append(catch_up_s[0])
                    cfg.say(
                        f"  #2 {kind} run ({layout}) {i + 1}: {secs:.1f} s (projections "
                        f"{catch_up_s[0]:.1f} s) "
                        f"debited {report.debited} failed {report.failed} renewed {report.renewed} "
                        f"activated {report.activated} errors {len(report.errors)}"
                    )
                r = reports[-1]
                result[layout] = {
                    "runs": runs,
                    "projections_s": projections_s,
                    "cpu": cpu[layout],
                    "report": {k: v for k, v in r.items() if k != "steps"},
                }
            with psycopg.connect(db.dsn) as conn:
                new = conn.execute(
                    f"SELECT topic, state, originator_version FROM {qualified(db)} "
                    "WHERE notification_id > %s ORDER BY notification_id LIMIT 1",
                    [vacuum.head],
                ).fetchone()
                count = conn.execute(
                    f"SELECT count(*) FROM {qualified(db)} WHERE notification_id > %s", [vacuum.head]
                ).fetchone()[0]
            result["run_events"] = count
            result["copy_runs"] = [
                raw_copy_seconds(db, count, bytes(new[1]), new[0]) for _ in range(cfg.runs)
            ]
        finally:
            rt.close()
    return result


def _sql(q: str, rt: Any, table: str) -> Any:
    from psycopg import sql

    return sql.SQL(q).format(rt.read_models.table(table))


def run(cfg: Config) -> list[Measure]:
    # BENCH_B2_POLICIES: a smaller store for profiling on a shared machine (the target is at 100,000).
    n = int(os.environ.get("BENCH_B2_POLICIES") or cfg.size(100_000, 400))
    tpl_n = cfg.size(200, 20)
    out: list[Measure] = []
    for kind in ("debit", "renewal"):
        res = _scenario(cfg, kind, n, tpl_n)
        label = "debit run" if kind == "debit" else "renewal run"
        base = f"raw psycopg COPY of {res['run_events']:,} event rows"
        notes = (
            f"{res['policies']:,} policies; setup: COPY {res['setup_copy_s']} s, read models "
            f"{res['setup_projections_s']} s; run events {res['run_events']:,}"
        )
        for layout in ("alone", "process"):
            v = res[layout]
            rep = v["report"]
            detail = (
                f"debited {rep['debited']}, failed {rep['debit_failed']}, lapsed {rep['lapsed']}, "
                f"renewed {rep['renewed']}, activated {rep['activated']}, errors {len(rep['errors'])}"
            )
            if layout == "alone":
                extra_note = "; of which projections catch-up " + ", ".join(
                    f"{x:.1f} s" for x in v["projections_s"]
                )
                how = "scheduler process alone: it catches the read models up itself"
            else:
                extra_note = "; of which waiting for the projection process " + ", ".join(
                    f"{x:.1f} s" for x in v["projections_s"]
                )
                how = "with a projection process beside the scheduler, as deployed"
            c = sorted(v["cpu"], key=lambda x: x["wall"])[len(v["cpu"]) // 2]
            extra_note += (
                f"; CPU seconds in the median run: machine {c['machine']:.1f} of "
                f"{os.cpu_count()} x {c['wall']:.1f} s "
                f"({c['machine'] / (c['wall'] * (os.cpu_count() or 1)):.0%}"
                f" busy), scheduler process {c['scheduler']:.1f}"
                + (f", projection process {c['projections']:.1f}" if layout == "process" else "")
                + ", PostgreSQL and the rest "
                f"{c['machine'] - c['scheduler'] - (c['projections'] if layout == 'process' else 0):.1f}"
            )
            out.append(
                row(
                    2,
                    f"{kind}_run_s" + ("" if layout == "alone" else "_with_runner"),
                    f"{label}, {res['policies']:,} active policies ({how})",
                    v["runs"],
                    "s",
                    baseline=base,
                    baseline_runs=res["copy_runs"],
                    target=f"<= {TARGET_S[kind]:.0f} s"
                    if not cfg.quick
                    else f"<= {TARGET_S[kind]:.0f} s at 100,000",
                    met=(lambda val, r, t=TARGET_S[kind]: val <= t) if not cfg.quick else None,
                    notes=notes + "; " + detail + extra_note,
                    extra={"report": rep, "cpu": v["cpu"]},
                )
            )
    return out
