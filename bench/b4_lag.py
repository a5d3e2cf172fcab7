"""#4 live projection lag, p50 and p99, under a steady 200 commands/s.

The projection runner runs as it does in production's ``projections run`` service: its
own process, ``ProjectionRunner.start()`` (LISTEN/NOTIFY with polling fallback), all
five views. The bench instruments it in-process: after every ``Projector.step`` that
read something, it records (monotonic time, lowest view position). CLOCK_MONOTONIC is
system-wide, so those times compare with the load generator's.

The load generator (this process) issues commands open-loop on a fixed schedule of
200/s through the application service: 70% ``apply`` (new policies), 30%
``declare_sales`` on policies applied earlier. For each command it records the
commit moment (``insert_events`` returned) and the highest notification id it wrote.
A command's lag = first moment every view's position reached that id - commit moment.
"""

from __future__ import annotations

import multiprocessing as mp
import random
import time
from datetime import date
from typing import Any

from policy_core.personal_data.keys import memory_vault

from .b1_apply import apply_kwargs
from .common import Config, Measure, fresh_schema, make_runtime, median, percentile, row

RATE = 200.0
TARGET_P99_MS = 250.0


def _runner_process(dsn: str, schema: str, ready: Any, stop: Any, out: Any) -> None:
    from policy_core.application import PolicyAdministration
    from policy_core.database import Database
    from policy_core.projections import ProjectionRunner
    from policy_core.projections.engine import Projector

    timeline: list[tuple[float, int]] = []
    original = Projector.step

    def step(self: Any, *args: Any, **kwargs: Any) -> Any:
        r = original(self, *args, **kwargs)
        if r.read:
            timeline.append((time.monotonic(), self.min_position()))
        return r

    Projector.step = step  # type: ignore[method-assign]
    db = Database(dsn=dsn, schema=schema)
    app = PolicyAdministration(env=db.eventsourcing_env(2), vault=memory_vault())
    runner = ProjectionRunner(db, app)
    runner.start()
    ready.set()
    stop.wait()
    time.sleep(0.5)
    runner.stop()
    app.close()
    out.send({"timeline": timeline, "restarts": runner.restarts, "status": runner.status()})
    out.close()


def one_run(cfg: Config, rt: Any, db: Any, seconds: float, seed: int, existing: list[Any]) -> dict[str, Any]:
    app = rt.app
    ctx = mp.get_context("spawn")
    ready, stop = ctx.Event(), ctx.Event()
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_runner_process, args=(db.dsn, db.schema, ready, stop, child), daemon=True)
    proc.start()
    ready.wait(60)
    time.sleep(1.0)  # let it catch up with what is already there
    commits: list[tuple[float, int]] = []
    recorder = app.recorder
    original_insert = recorder.insert_events

    def insert_events(stored: Any, **kwargs: Any) -> Any:
        ids = original_insert(stored, **kwargs)
        if ids:
            commits.append((time.monotonic(), max(ids)))
        return ids

    recorder.insert_events = insert_events
    rng = random.Random(seed)
    n = int(seconds * RATE)
    behind = 0
    t0 = time.monotonic()
    try:
        for i in range(n):
            due = t0 + i / RATE
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            elif wait < -0.005:
                behind += 1
            if rng.random() < 0.7 or not existing:
                pid = app.apply(**apply_kwargs(i, f"lag{seed}"))
                existing.append(pid)
            else:
                app.declare_sales(
                    rng.choice(existing),
                    annual_sales=rng.choice([30, 50, 100]) * 1_000_000,
                    declared_on=date(2026, 6, 1),
                )
        elapsed = time.monotonic() - t0
    finally:
        recorder.insert_events = original_insert
    time.sleep(1.0)
    stop.set()
    got = parent.recv() if parent.poll(30) else {"timeline": [], "restarts": None}
    proc.join(10)
    timeline = got["timeline"]
    lags = []
    j = 0
    for committed, nid in commits:  # both in increasing order
        while j < len(timeline) and timeline[j][1] < nid:
            j += 1
        if j == len(timeline):
            break
        k = j
        while k < len(timeline) and timeline[k][0] < committed:  # a step that ended before the commit
            k += 1
        if k < len(timeline):
            lags.append(max(0.0, timeline[k][0] - committed) * 1000)
    return {
        "lags": lags,
        "commands": n,
        "rate": n / elapsed,
        "late_commands": behind,
        "measured": len(lags),
        "steps": len(timeline),
        "restarts": got.get("restarts"),
    }


def run(cfg: Config) -> list[Measure]:
    seconds = cfg.size(30.0, 3.0)
    p50s, p99s, rates, infos = [], [], [], []
    with fresh_schema(cfg, "b4") as db:
        rt = make_runtime(db)
        try:
            existing = [rt.app.apply(**apply_kwargs(i, "seed")) for i in range(50)]
            rt.projections.catch_up()
            for r in range(cfg.runs):
                res = one_run(cfg, rt, db, seconds, r, existing)
                p50s.append(percentile(res["lags"], 50) or 0.0)
                p99s.append(percentile(res["lags"], 99) or 0.0)
                rates.append(res["rate"])
                infos.append({k: v for k, v in res.items() if k != "lags"})
                cfg.say(
                    f"  #4 run {r + 1}: {res['commands']} commands at {res['rate']:.0f}/s, lag p50 "
                    f"{p50s[-1]:.1f} ms p99 {p99s[-1]:.1f} ms ({res['measured']} measured, "
                    f"{res['steps']} runner steps)"
                )
        finally:
            rt.close()
    notes = (
        f"{seconds:.0f} s at {RATE:.0f} commands/s per run (70% apply, 30% declare_sales); "
        f"achieved {median(rates):.0f}/s; runner in its own process"
    )
    return [
        row(
            4,
            "lag_p50_ms",
            "live projection lag p50 (commit -> every view applied)",
            p50s,
            "ms",
            notes=notes,
            extra={"runs": infos},
        ),
        row(
            4,
            "lag_p99_ms",
            "live projection lag p99",
            p99s,
            "ms",
            target=f"<= {TARGET_P99_MS:.0f} ms",
            met=lambda v, r: v <= TARGET_P99_MS,
            notes=notes,
        ),
    ]
