"""P5 (proposal): snapshots for Policy, and as-of reads that start from one.

Before P5 shipped, turning snapshotting on (``snapshotting_intervals = {Policy: 100}``) breaks
commands: the library snapshots the aggregate's ``__dict__`` with the application's
JSON transcoder, which cannot encode the ``Period`` and ``DebitAttempt`` dataclasses
(``TranscodingNotRegisteredError`` raised from ``save`` *after* the events were
recorded). The two transcodings below fix that; ``as_of_read`` is the read path.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import JSONTranscoder

from policy_core.aggregates.policy import Policy
from policy_core.application import APPLICATION_NAME, DebitAttemptAsDict, PeriodAsDict, PolicyAdministration

from .proposals import fold

SNAPSHOT_INTERVAL = 100


class SnapshottingPolicyAdministration(PolicyAdministration):
    """What the product class would become (P5): transcodings + a snapshot every 100 policy events.

    ``_take_snapshots`` is widened: the library snapshots only when a save *ends* on a multiple
    of the interval, so a save of several events that crosses one (a debit run batch, a payment
    saving claim and policy) would skip it.
    """

    name = APPLICATION_NAME  # same tables: policy_admin_events, policy_admin_snapshots
    snapshotting_intervals = {Policy: SNAPSHOT_INTERVAL}

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(PeriodAsDict())
        transcoder.register(DebitAttemptAsDict())

    def _take_snapshots(self, processing_event: Any) -> None:
        if not self.snapshots:
            return
        for aggregate in processing_event.aggregates:
            interval = self.snapshotting_intervals.get(type(aggregate))
            if not interval:
                continue
            new = sum(1 for e in processing_event.events if e.originator_id == aggregate.id)
            if aggregate.version // interval > (aggregate.version - new) // interval:
                self.take_snapshot(aggregate.id, version=aggregate.version // interval * interval)


def write_snapshots(app: Any, policy_id: UUID, interval: int = SNAPSHOT_INTERVAL) -> int:
    """Snapshots every ``interval`` versions of an existing history, in one pass (backfill)."""
    snapshot_cls = Policy.Snapshot
    agg = None
    taken = []
    for e in app.events.get(policy_id):
        agg = e.mutate(agg)
        if agg.version % interval == 0:
            taken.append(snapshot_cls.take(agg))
    have = set(snapshot_versions(app, policy_id))  # the product now snapshots as it saves
    missing = [t for t in taken if t.originator_version not in have]
    if missing:
        app.snapshots.put(missing)
    return len(taken)


def as_of_read(app: Any, policy_id: UUID, as_of: datetime) -> Policy:
    """The policy as it was at ``as_of``: the latest snapshot of a state last modified at or
    before ``as_of``, then the events after it recorded at or before ``as_of``.

    Recorded timestamps of one aggregate increase with its version (each save follows a read of
    the previous state), so the right snapshot is found by a binary search over the snapshot
    versions that decodes only the (small) *event* at each probed version, then one snapshot is
    decoded. Without a snapshot it falls back to the full replay of the shipped
    ``get_policy(as_of=...)``.
    """
    latest = list(app.snapshots.get(policy_id, desc=True, limit=1))
    if not latest:
        return app.get_policy(policy_id, as_of=as_of)
    start, until = latest[0], None
    if start.state["_modified_on"] > as_of:
        versions = snapshot_versions(app, policy_id)
        lo, hi, best = 0, len(versions) - 1, None
        while lo <= hi:  # the last version whose event was recorded at or before as_of
            mid = (lo + hi) // 2
            v = versions[mid]
            e = next(iter(app.events.get(policy_id, gt=v - 1, lte=v)))
            if e.timestamp <= as_of:
                best, lo = v, mid + 1
            else:
                hi = mid - 1
        if best is None:
            return app.get_policy(policy_id, as_of=as_of)
        start = next(iter(app.snapshots.get(policy_id, gt=best - 1, lte=best)))
        later = [v for v in versions if v > best]
        until = later[0] if later else None  # that event was recorded after as_of: read no further
    events = [
        e for e in app.events.get(policy_id, gt=start.originator_version, lte=until) if e.timestamp <= as_of
    ]
    return fold([start, *events])


def snapshot_versions(app: Any, policy_id: UUID) -> list[int]:
    from psycopg.sql import SQL, Identifier

    recorder = app.snapshots.recorder
    stmt = SQL(
        "SELECT originator_version FROM {}.{} WHERE originator_id = %s ORDER BY originator_version"
    ).format(Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name))
    with recorder.datastore.get_connection() as conn, conn.cursor() as cur:
        cur.execute(stmt, [policy_id])
        return [r["originator_version"] for r in cur.fetchall()]
