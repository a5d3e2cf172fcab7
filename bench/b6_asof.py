"""#6 as-of read of a policy with 50, 500 and 5,000 events, with and without snapshots.

The histories are made by the real aggregate and saved by the real application: a
policy is applied and activated through the application, then grown in memory with
the aggregate's own commands in yearly cycles (premium debited, sales declared,
claims registered and paid, renewal notice, renewal re-rated by ``decide_renewal``,
activation), saved in chunks; the product snapshots every 100 versions as it saves.

Measured per size: the product's ``get_policy(id, as_of=now)`` (nearest snapshot, then
the events after it); variants: a direct fold of every event without snapshots, and the
bench's own snapshot writer (one replay pass) read through ``as_of_read`` at ``now`` and
at the middle of the history, and through a snapshotting repository; baseline: raw
psycopg select of the same rows.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime
from typing import Any

import psycopg

from policy_core.aggregates.policy import Policy
from policy_core.personal_data.keys import memory_vault
from policy_core.quoting import decide_renewal
from policy_core.settlement import SECTIONS

from .b1_apply import apply_kwargs
from .common import (
    Config,
    Measure,
    fresh_schema,
    interleaved,
    latencies_ms,
    make_runtime,
    median,
    qualified,
    row,
)
from .proposals import fold
from .snapshots import SnapshottingPolicyAdministration, as_of_read, write_snapshots

TARGET_MS = 20.0


def grow(app: Any, pid: uuid.UUID, target: int, rng: random.Random) -> None:
    """Add events to policy ``pid`` with its own commands until it has ``target`` events."""
    policy: Policy = app.get_policy(pid)
    pending = 0

    def flush(force: bool = False) -> None:
        nonlocal pending
        if policy.pending_events and (force or len(policy.pending_events) >= 250):
            app.save(policy)
        pending = 0

    def room() -> int:
        return target - policy.version

    while room() > 0:
        p = policy.current_period
        if p.activated_at is None and room() > 0:
            policy.activate(p.number)
        if not p.is_collected and room() > 0:
            policy.record_debit(p.number, len(p.debits) + 1, p.premium - p.collected, p.debit_date, "bench")
        for _ in range(30):
            if room() <= 0:
                break
            r = rng.random()
            if r < 0.5 or room() < 2:
                policy.declare_sales(rng.choice([10, 30, 50, 100]) * 1_000_000, date(2026, 6, 1))
            else:
                cid = uuid.uuid4()
                policy.register_claim(cid, p.number)
                policy.record_claim_payment(
                    p.number, cid, 1, {s: rng.randrange(0, 5) * 10_000 for s in SECTIONS}
                )
        flush()
        if room() >= 3:
            policy.issue_renewal_notice(p.number, date(2026, 12, 1))
            scheme = app.scheme_of(policy)
            decision = decide_renewal(
                scheme,
                number=p.number + 1,
                previous_end=p.end,
                industry=policy.industry,
                annual_sales=policy.annual_sales,
                plan=policy.plan,
                liability_limit=policy.liability_limit,
                network_rider=policy.network_rider,
                participants=0,
                is_holiday=app.is_holiday,
            )
            policy.renew(decision.facts())
        elif room() > 0:
            policy.declare_sales(20_000_000, date(2026, 6, 1))
    flush(force=True)


def run(cfg: Config, sizes: tuple[int, ...] | None = None) -> list[Measure]:
    sizes = sizes or cfg.size((50, 500, 5000), (50, 500))
    rng = random.Random(6)
    out: list[Measure] = []
    with fresh_schema(cfg, "b6") as db:
        rt = make_runtime(db)
        app = rt.app
        snap_app = SnapshottingPolicyAdministration(env=db.eventsourcing_env(2), vault=memory_vault())
        snap_app.snapshots.recorder.create_table()  # type: ignore[union-attr]
        raw = psycopg.connect(db.dsn)
        select = f"SELECT * FROM {qualified(db)} WHERE originator_id = %s ORDER BY originator_version"
        policies = {}
        for n in sizes:
            pid = app.apply(**apply_kwargs(n, "b6"))
            grow(app, pid, n, rng)
            assert app.get_policy(pid).version == n, (n, app.get_policy(pid).version)
            snaps = write_snapshots(snap_app, pid)
            history = app.history(pid)
            policies[n] = (pid, history[len(history) // 2].timestamp, snaps)
            cfg.say(
                f"  #6 policy with {n} events ({len(app.get_policy(pid).periods)} periods, {snaps} snapshots)"
            )
        reads = {50: 30, 500: 15, 5000: 7} if not cfg.quick else {50: 5, 500: 3, 5000: 2}
        for n in sizes:
            pid, middle, snaps = policies[n]
            k = reads.get(n, 5)
            now = datetime.now(UTC)
            # correctness first: both paths give the same state
            a, b = app.get_policy(pid, as_of=now), as_of_read(snap_app, pid, now)
            assert (a.version, a.annual_sales, len(a.periods)) == (b.version, b.annual_sales, len(b.periods))
            am, bm = app.get_policy(pid, as_of=middle), as_of_read(snap_app, pid, middle)
            assert am.version == bm.version, (am.version, bm.version)

            def lat(fn: Any, k: int = k) -> Any:
                return lambda: median(latencies_ms(fn, k))

            series = interleaved(
                {
                    "raw": lat(lambda pid=pid: raw.execute(select, [pid], prepare=True).fetchall()),
                    "product": lat(lambda pid=pid, now=now: app.get_policy(pid, as_of=now)),
                    "fold": lat(
                        lambda pid=pid, now=now: fold([e for e in app.history(pid) if e.timestamp <= now])
                    ),
                    "snap": lat(lambda pid=pid, now=now: as_of_read(snap_app, pid, now)),
                    "snap_mid": lat(lambda pid=pid, middle=middle: as_of_read(snap_app, pid, middle)),
                    "current": lat(lambda pid=pid: snap_app.repository.get(pid)),
                },
                cfg.runs,
            )
            cfg.say(f"  #6 {n} events: " + ", ".join(f"{k_} {median(v):.2f} ms" for k_, v in series.items()))
            big = n == max(sizes) and n >= 5000
            target = (f"<= {TARGET_MS:.0f} ms", lambda v, r: v <= TARGET_MS) if big else ("-", None)
            # key, label, series, (target, met) or None, notes
            specs: list[tuple[str, str, str, Any, str]] = [
                (
                    f"asof_{n}",
                    f"as-of read, {n} events (product get_policy, snapshots every 100)",
                    "product",
                    (f"{target[0]} with snapshots" if big else "-", target[1]),
                    "the product path: nearest snapshot at or before as_of, then the events after it",
                ),
                (
                    f"asof_fold_{n}",
                    f"as-of read, {n} events, no snapshots, direct fold (variant)",
                    "fold",
                    None,
                    "",
                ),
                (
                    f"asof_snap_{n}",
                    f"as-of read (now), {n} events, bench snapshot writer every 100 (variant)",
                    "snap",
                    target,
                    f"{snaps} snapshots",
                ),
                (
                    f"asof_snap_mid_{n}",
                    f"as-of read (middle of history), {n} events, bench snapshot writer (variant)",
                    "snap_mid",
                    None,
                    "",
                ),
                (
                    f"current_snap_{n}",
                    f"current read via snapshots (repository.get), {n} events",
                    "current",
                    None,
                    "",
                ),
            ]
            for key, label, name, goal, notes in specs:
                out.append(
                    row(
                        6,
                        key,
                        label,
                        series[name],
                        "ms",
                        baseline="raw psycopg select of the same rows",
                        baseline_runs=series["raw"],
                        target=goal[0] if goal else "-",
                        met=goal[1] if goal else None,
                        notes=notes,
                    )
                )
        raw.close()
        snap_app.close()
        rt.close()
    return out
