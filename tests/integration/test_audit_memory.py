"""Verification streams: its memory does not grow with the log (issue 13).

The same verification over 2,000 and over 20,000 stored events, with the same fetch size
(500 rows per round trip, so both logs take many fetches): the peak of Python allocations
(tracemalloc) during the larger one stays within a small factor of the smaller one's, where a
verification that held the log, its links or its checkpoints would need ten times as much.
No timing is measured (speed is in bench/b10_audit.py).
"""

from __future__ import annotations

import tracemalloc
from datetime import date

from policy_core.audit.verify import verify_chain
from tests.conftest import BANK

EVENTS = "policy_admin_events"
FETCH = 500


def _grow_to(runtime, total: int) -> int:
    """Copy the stored histories under new originator ids (in notification order) until the log
    holds ``total`` events; returns the count."""
    db = runtime.database
    with db.connect() as conn:
        have = conn.execute(f"SELECT count(*) FROM {EVENTS}").fetchone()[0]
        conn.execute(
            f"INSERT INTO {EVENTS} (originator_id, originator_version, topic, state)"
            " SELECT md5(%s || '-' || n || '-' || originator_id::text)::uuid,"
            " originator_version, topic, state"
            f" FROM (SELECT row_number() OVER (ORDER BY g, notification_id) AS n, g, originator_id,"
            f" originator_version, topic, state FROM {EVENTS} CROSS JOIN generate_series(1, %s) g"
            f" WHERE notification_id <= 4) copies WHERE n <= %s ORDER BY n",
            [str(have), total, total - have],
        )
        conn.commit()
        return conn.execute(f"SELECT count(*) FROM {EVENTS}").fetchone()[0]


def _peak(runtime, events: int) -> int:
    sealer = runtime.audit
    sealer.catch_up()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = verify_chain(
            runtime.database.dsn,
            sealer.schema,
            sealer.source.events_table,
            mapper=sealer.source.mapper,
            public_key=sealer.signer.public_key,
            fetch=FETCH,
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.ok and result.events_checked == events, result.difference
    return peak


def test_verification_memory_does_not_grow_with_the_log(runtime):
    for member in ("MEM-1", "MEM-2"):
        runtime.app.apply(
            scheme="jcci",
            member_number=member,
            holder={"name": "Memory Shoten"},
            industry="retail",
            annual_sales=20_000_000,
            plan="A",
            bank_account=BANK,
            application_date=date(2026, 1, 10),
        )
    small = _peak(runtime, _grow_to(runtime, 2_000))
    large = _peak(runtime, _grow_to(runtime, 20_000))
    # ten times the events; a log held in memory would need ten times the peak
    assert large < 1.5 * small + 256 * 1024, (small, large)
