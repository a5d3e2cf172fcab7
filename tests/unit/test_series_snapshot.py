"""A number series' snapshot is taken from the series just saved (no read of its hundred
events): the same state as the library's snapshot of the replayed events, and reads through
it answer as a replay does."""

from __future__ import annotations

from eventsourcing.application import project_aggregate

from policy_core.aggregates.register import POLICY_NUMBERS, NumberSeries
from policy_core.application import SNAPSHOT_INTERVAL
from policy_core.calendar import scheme_year
from tests.unit.test_model import apply_kwargs, make_app


def test_the_series_snapshot_taken_from_memory_is_the_replayed_state(monkeypatch):
    app = make_app()
    replays: list[object] = []
    monkeypatch.setattr(app, "take_snapshot", lambda *a, **k: replays.append(a))
    pids = [app.apply(**apply_kwargs(member_number=f"S-{i:04d}")) for i in range(SNAPSHOT_INTERVAL + 3)]
    policy = app.get_policy(pids[0])
    series_id = NumberSeries.id_for(
        "chuokai", POLICY_NUMBERS, scheme_year(app.scheme("chuokai").calendar, policy.periods[0].start)
    )
    assert app.snapshots is not None
    snapshots = list(app.snapshots.get(series_id))
    assert [s.originator_version for s in snapshots] == [SNAPSHOT_INTERVAL]
    assert replays == []  # nothing replayed for the series
    replayed = project_aggregate(None, app.events.get(series_id, lte=SNAPSHOT_INTERVAL))
    expected = type(snapshots[0]).take(replayed)
    assert snapshots[0].state == expected.state and snapshots[0].topic == expected.topic
    assert app.repository.get(series_id).last == SNAPSHOT_INTERVAL + 3
    assert app.get_policy(pids[-1]).number.endswith(f"{SNAPSHOT_INTERVAL + 3:06d}")
