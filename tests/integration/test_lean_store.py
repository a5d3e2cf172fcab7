"""The lean save path on real PostgreSQL keeps the library's guarantees: every row of a save in
one transaction, notification ids gap-free in insertion order, one NOTIFY per transaction, and a
conflict on any row failing the whole save (nothing of it recorded); small saves (binary arrays)
and bulk saves (COPY) alike."""

from __future__ import annotations

import psycopg
import pytest
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError

from policy_core.store import COPY_FROM, LeanApplicationRecorder

pytestmark = pytest.mark.postgres


class Counter(Aggregate):
    @event("Started")
    def __init__(self, name: str) -> None:
        self.name = name
        self.n = 0

    @event("Bumped")
    def bump(self) -> None:
        self.n += 1


def _rows(runtime) -> list[tuple]:
    db = runtime.database
    with psycopg.connect(db.dsn) as conn:
        return conn.execute(
            f'SELECT notification_id, originator_id, originator_version, topic FROM "{db.schema}".'
            '"policy_admin_events" ORDER BY notification_id'
        ).fetchall()


@pytest.mark.parametrize("size", [3, COPY_FROM, 3 * COPY_FROM])
def test_a_save_records_every_row_with_gap_free_ids_in_order_and_one_notify(runtime, size):
    app = runtime.app
    assert isinstance(app.recorder, LeanApplicationRecorder)
    app.save(Counter("first"))
    before = _rows(runtime)
    counters = [Counter(f"c{i}") for i in range(size)]
    for c in counters[::2]:
        c.bump()  # some aggregates with two new events
    calls = []
    notify = app.recorder._notify_channel
    app.recorder._notify_channel = lambda curs: (calls.append(1), notify(curs))  # type: ignore[method-assign]
    with psycopg.connect(runtime.database.dsn, autocommit=True) as listen:
        listen.execute(f'LISTEN "{app.recorder.channel_name}"')
        recordings = app.save(*counters)
        # the channel is shared by every schema of the database (other tests may notify too)
        notifies = list(listen.notifies(timeout=1.0, stop_after=1))
    assert calls == [1] and notifies  # one NOTIFY, in the save's one transaction, delivered
    after = _rows(runtime)[len(before) :]
    expected = [(e.originator_id, e.originator_version) for c in counters for e in _events_of(c, recordings)]
    assert [(r[1], r[2]) for r in after] == expected
    ids = [r[0] for r in after]
    assert ids == list(range(before[-1][0] + 1, before[-1][0] + 1 + len(ids)))  # no gaps, in order
    assert [r.notification.id for r in recordings] == ids
    for c in counters:
        got = app.repository.get(c.id)
        assert (got.name, got.n, got.version) == (c.name, c.n, c.version)


def _events_of(counter, recordings):
    return [r.domain_event for r in recordings if r.domain_event.originator_id == counter.id]


@pytest.mark.parametrize("size", [3, 3 * COPY_FROM])
def test_a_conflict_on_any_row_fails_the_whole_save_and_records_nothing(runtime, size):
    app = runtime.app
    counters = [Counter(f"k{i}") for i in range(size)]
    app.save(*counters)
    stale = app.repository.get(counters[size // 2].id)
    fresh = app.repository.get(counters[size // 2].id)
    fresh.bump()
    app.save(fresh)  # another writer got there first
    before = _rows(runtime)
    batch = []
    for c in counters:
        agg = stale if c.id == stale.id else app.repository.get(c.id)
        agg.bump()
        batch.append(agg)
    with pytest.raises(IntegrityError):
        app.save(*batch)
    assert _rows(runtime) == before  # not one row of the failed save
    app.save(Counter("after"))  # the store takes the next save as usual, ids continuing
    last = _rows(runtime)[-1]
    assert last[0] == before[-1][0] + 1 or last[0] > before[-1][0]
