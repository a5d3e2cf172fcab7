"""#7 growth: append latency and as-of read at 100,000 and at 10,000,000 stored events.

One events table grows in place: copies of the simulated template are made by
PostgreSQL itself (``INSERT ... SELECT`` over ``generate_series``, ids from md5; see
datagen) up to the first size, measured, then grown to the second size, ``VACUUM
(ANALYZE)``-ed as an operator's maintenance would (and as autovacuum would after such a
load), and measured again.

Measured at each size (median of runs, each run = ``ops`` operations):

* append: ``apply`` through the application service (a new policy: the existence
  pre-read, the participants read, one event appended), p50 and p99;
* append to an existing aggregate: ``declare_sales`` on a random stored policy (read its
  history, append one event), p50;
* as-of read: ``get_policy(id, as_of=now)`` of a random stored policy, p50 and p99.

Target: each at the large size within 1.5 x of the small size.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, date, datetime
from typing import Any

from policy_core.aggregates.policy import Policy

from .b1_apply import apply_kwargs
from .common import (
    Config,
    Measure,
    count_events,
    fresh_schema,
    make_runtime,
    median,
    percentile,
    row,
    vacuum_analyze,
)
from .datagen import copied_id, copy_in_database, simulated_template

TARGET = 1.5


def measure(
    cfg: Config, rt: Any, copies: int, policy_ids: list[Any], ops: int, tag: str
) -> dict[str, list[float]]:
    app = rt.app
    rng = random.Random(hash(tag) & 0xFFFF)
    out: dict[str, list[float]] = {
        k: [] for k in ("append_p50", "append_p99", "append_existing_p50", "asof_p50", "asof_p99")
    }
    for r in range(-1, cfg.runs):  # run -1 warms caches and connections
        appends, existing, reads = [], [], []
        for i in range(ops):
            t = time.perf_counter()
            app.apply(**apply_kwargs(i, f"{tag}{r}"))
            appends.append((time.perf_counter() - t) * 1000)
            pid = copied_id(rng.randrange(copies), rng.choice(policy_ids))
            t = time.perf_counter()
            try:
                app.declare_sales(pid, annual_sales=50_000_000, declared_on=date(2027, 6, 1))
            except Exception:  # noqa: BLE001 - a lapsed/expired policy refuses: still a read + decision
                pass
            existing.append((time.perf_counter() - t) * 1000)
            pid = copied_id(rng.randrange(copies), rng.choice(policy_ids))
            t = time.perf_counter()
            app.get_policy(pid, as_of=datetime.now(UTC))
            reads.append((time.perf_counter() - t) * 1000)
        if r < 0:
            continue
        out["append_p50"].append(percentile(appends, 50))
        out["append_p99"].append(percentile(appends, 99))
        out["append_existing_p50"].append(percentile(existing, 50))
        out["asof_p50"].append(percentile(reads, 50))
        out["asof_p99"].append(percentile(reads, 99))
    return out


def run(cfg: Config, sizes: tuple[int, int] | None = None) -> list[Measure]:
    small, large = sizes or cfg.size((100_000, 10_000_000), (2_000, 20_000))
    ops = cfg.size(300, 30)
    tpl = simulated_template(cfg, policies=cfg.size(300, 30), years=cfg.size(4, 2))
    policy_ids = [r.originator_id for r in tpl.rows if r.topic == Policy.Applied.TOPIC]
    results: dict[int, dict[str, list[float]]] = {}
    info: dict[str, Any] = {}
    with fresh_schema(cfg, "b7") as db:
        rt = make_runtime(db)
        try:
            copies_done = 0
            for size in (small, large):
                want = max(1, size // tpl.events)
                t = time.perf_counter()
                copy_in_database(
                    db,
                    tpl,
                    want - copies_done,
                    first_copy=copies_done,
                    progress=lambda n: cfg.say(f"  #7 ... {n:,} rows copied"),
                )
                copies_done = want
                vacuum_analyze(db)
                stored = count_events(db)
                info[f"setup_s_{size}"] = round(time.perf_counter() - t, 1)
                info[f"stored_{size}"] = stored
                cfg.say(f"  #7 {stored:,} events stored (setup {info[f'setup_s_{size}']} s)")
                results[size] = measure(cfg, rt, copies_done, policy_ids, ops, f"g{size}")
                cfg.say(
                    f"  #7 at {stored:,}: "
                    + ", ".join(f"{k} {median(v):.2f} ms" for k, v in results[size].items())
                )
            with db.connect() as conn:
                info["table_bytes"] = conn.execute(
                    "SELECT pg_total_relation_size('policy_admin_events')"
                ).fetchone()[0]
        finally:
            rt.close()
    out = []
    labels = {
        "append_p50": "append (apply) p50",
        "append_p99": "append (apply) p99",
        "append_existing_p50": "append to a stored policy (declare_sales) p50",
        "asof_p50": "as-of read of a stored policy p50",
        "asof_p99": "as-of read p99",
    }
    s_n, l_n = info[f"stored_{small}"], info[f"stored_{large}"]
    for k, label in labels.items():
        gated = k in ("append_p50", "asof_p50", "append_existing_p50")
        out.append(
            row(
                7,
                f"growth_{k}",
                f"{label} at {l_n:,} events",
                results[large][k],
                "ms",
                baseline=f"same at {s_n:,} events",
                baseline_runs=results[small][k],
                target=f"<= {TARGET} x" if gated else "-",
                met=(lambda v, r: r is not None and r <= TARGET) if gated else None,
                notes=f"{ops} ops per run; table "
                f"{info.get('table_bytes', 0) / 2**30:.1f} GiB at the large size; "
                f"setup {info[f'setup_s_{small}']} s + {info[f'setup_s_{large}']} s",
                extra=info,
            )
        )
    return out
