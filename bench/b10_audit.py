"""#10 audit: sealing and verifying the hash chain (events/s), beside a raw read of the same rows.

A template of real policy histories (the product's own commands) is copied into a fresh events
table (datagen), then:

* raw read: a server-side cursor over every stored row in notification order, fetched and
  dropped (the floor any verification that reads the rows has to pay);
* seal: ``Sealer.catch_up()`` from position 0 (links, digests, one transaction per batch);
* verify: ``verify_chain`` over the whole log (events, links and checkpoints merged from three
  server-side cursors, a SHA-256 per event).
"""

from __future__ import annotations

import time
from typing import Any

import psycopg

from .common import Config, Measure, fresh_schema, make_runtime, qualified, repeat, row, vacuum_analyze
from .datagen import copy_template, policies_template


def _raw_read(db: Any) -> int:
    n = 0
    with psycopg.connect(db.dsn) as conn, conn.cursor(name="raw") as cur:
        cur.itersize = 5000
        cur.execute(
            f"SELECT notification_id, originator_id, originator_version, topic, state FROM {qualified(db)}"
            " ORDER BY notification_id"
        )
        for _ in cur:
            n += 1
    return n


def run(cfg: Config) -> list[Measure]:
    from policy_core.audit.cli import verification

    template = policies_template(cfg, policies=cfg.size(200, 20), stage="notified")
    copies = cfg.size(20, 2)  # modest: the machine is shared (about 28,000 events)
    with fresh_schema(cfg, "b10") as db:
        rt = make_runtime(db, read_models=False)
        try:
            events = copy_template(db, template, copies)
            vacuum_analyze(db)
            cfg.say(f"  #10 {events:,} events")

            def raw(_: int) -> float:
                t = time.perf_counter()
                assert _raw_read(db) == events
                return events / (time.perf_counter() - t)

            def seal(_: int) -> float:
                with psycopg.connect(db.dsn, autocommit=True) as conn:
                    conn.execute(f'TRUNCATE "{db.schema}".audit_chain, "{db.schema}".audit_checkpoints')
                    conn.execute(
                        f'UPDATE "{db.schema}".audit_sealer SET notification_id = 0, seq = 0, head = %s,'
                        " checkpoint_seq = 0, checkpoint_at = NULL",
                        [bytes(32)],
                    )
                t = time.perf_counter()
                assert rt.audit.catch_up() == events
                return events / (time.perf_counter() - t)

            def verify(_: int) -> float:
                t = time.perf_counter()
                result = verification(rt)
                assert result.ok and result.events_checked == events
                return events / (time.perf_counter() - t)

            raw_runs = repeat(cfg, raw, label="#10 raw read")
            seal_runs = repeat(cfg, seal, label="#10 seal")
            verify_runs = repeat(cfg, verify, label="#10 verify")
        finally:
            rt.close()
    notes = f"{events:,} stored events ({copies} copies of a {template.events}-event template)"
    baseline = "raw psycopg server-side read of the same rows"
    return [
        row(
            10,
            "audit_raw_read_per_s",
            "raw read of the stored rows (events/s)",
            raw_runs,
            "ev/s",
            notes=notes,
        ),
        row(
            10,
            "audit_verify_per_s",
            "audit verify (events/s)",
            verify_runs,
            "ev/s",
            baseline=baseline,
            baseline_runs=raw_runs,
            notes=notes,
        ),
        row(
            10,
            "audit_seal_per_s",
            "audit seal from position 0 (events/s)",
            seal_runs,
            "ev/s",
            baseline=baseline,
            baseline_runs=raw_runs,
            notes=notes,
        ),
    ]
