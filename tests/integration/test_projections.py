"""Read models on real PostgreSQL: exactly once across crashes, rebuild equals live,
verify finds tampering, schema changes rebuild without touching the event store,
live lag settles to zero, and the read API the scheduler and back office use."""

from __future__ import annotations

import json
import logging
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import psycopg.rows
import pytest

from policy_core.bootstrap import bootstrap
from policy_core.calendar import TOKYO, scheme_year
from policy_core.database import Database
from policy_core.errors import ViewFailed
from policy_core.projections import (
    EventSource,
    ProjectionRunner,
    ReadModels,
    all_views,
    participants_counter,
    rebuild,
    select_views,
    verify,
)
from policy_core.projections import tracking as tracking_mod
from policy_core.projections.engine import Projector
from policy_core.projections.maintenance import prepare
from policy_core.projections.tables import Rows, Table, col
from policy_core.projections.views.policies import PoliciesView
from policy_core.scheme import load_scheme
from policy_core.settings import Settings
from policy_core.settlement import SECTIONS
from tests.conftest import BANK, FIXED_NOW
from tests.integration.test_projections_properties import assert_views_match

pytestmark = pytest.mark.postgres


# ---------------------------------------------------------------------------- helpers


def _settings() -> Settings:
    return Settings(POLICY_DATA_DIR=tempfile.mkdtemp())


def onboard(
    app: Any,
    member: str,
    *,
    scheme: str = "chuokai",
    plan: str = "A",
    industry: str = "printing",
    fail_first: bool = False,
    pay: bool = True,
) -> UUID:
    pid = app.apply(
        scheme=scheme,
        member_number=member,
        holder={"name": f"Holder {member}"},
        industry=industry,
        annual_sales=100_000_000,
        plan=plan,
        bank_account=BANK,
        application_date=date(2026, 1, 10),
    )
    app.activate(pid, 1)
    p = app.get_policy(pid).current_period
    attempt = 1
    if fail_first:
        app.record_debit_failure(
            pid, 1, attempt=1, debit_date=p.debit_date, result_code="1", reason="insufficient funds"
        )
        attempt = 2
    if pay:
        app.record_debit_success(pid, 1, attempt=attempt, amount=p.premium, debit_date=p.debit_date)
    return pid


def paid_claim(app: Any, pid: UUID, damages: int = 3_000_000) -> UUID:
    cid = app.report_incident(
        policy_id=pid,
        occurred_at=datetime(2026, 6, 1, tzinfo=TOKYO),
        discovered_at=datetime(2026, 6, 2, tzinfo=TOKYO),
        cause="theft",
        records_affected=50,
        description="laptop stolen from a car",
    )
    app.assess_losses(
        cid,
        [
            {"category": "damages", "risk": "basic", "amount": damages},
            {"category": "incident_response", "risk": "basic", "amount": 600_000},
        ],
    )
    app.pay_claim(cid)
    return cid


def small_book(app: Any, n: int = 6) -> list[UUID]:
    pids = []
    for i in range(n):
        pid = onboard(
            app,
            f"B-{i}",
            scheme=("chuokai", "jcci")[i % 2] if i % 3 else "chuokai",
            plan="ABC"[i % 3],
            fail_first=i % 2 == 1,
        )
        if i % 2 == 0:
            paid_claim(app, pid, 1_000_000 * (i + 1))
        pids.append(pid)
    return pids


def positions(database: Database) -> dict[str, tracking_mod.TrackingRow]:
    with psycopg.connect(database.dsn) as conn, conn.cursor() as cur:
        return tracking_mod.read_all(cur, database.schema)


def handled_events(database: Database) -> dict[str, int]:
    """How many events in the log each view handles: what ``events_applied`` must equal."""
    with database.connect() as conn:
        topics = conn.execute("SELECT topic, count(*) FROM policy_admin_events GROUP BY topic").fetchall()
    return {v.name: sum(n for t, n in topics if t in v.topics) for v in all_views()}


def events_fingerprint(database: Database) -> tuple[int, str]:
    with database.connect() as conn:
        return conn.execute(
            "SELECT count(*), md5(string_agg(originator_id::text || originator_version || topic"
            " || md5(state), ',' ORDER BY notification_id)) FROM policy_admin_events"
        ).fetchone()  # type: ignore[return-value]


class Crash(Exception):
    pass


@contextmanager
def raises_crash() -> Iterator[None]:
    """A view that cannot apply an event stops the catch-up loudly: ViewFailed, caused by the crash."""
    with pytest.raises(ViewFailed) as failed:
        yield
    assert isinstance(failed.value.__cause__, Crash)


# ---------------------------------------------------------------------------- exactly once


def test_a_crash_in_the_middle_of_a_batch_then_a_restart_counts_everything_once(runtime, database):
    app = runtime.app
    small_book(app)
    source = EventSource.from_app(app)
    head = source.head()
    calls = {"n": 0}

    def crash_on_the_7th_portfolio_event(view, event):
        if view.name == "portfolio":
            calls["n"] += 1
            if calls["n"] == 7:
                raise Crash("power cut")

    with psycopg.connect(database.dsn, autocommit=True) as conn:
        prepare(conn, database.schema, all_views())
        crashing = Projector(
            source, all_views(), conn, database.schema, fault=crash_on_the_7th_portfolio_event
        )
        with raises_crash():
            crashing.catch_up(limit=1000)  # one batch holds the whole log
    before = positions(database)
    assert before["portfolio"].position == 0 and before["portfolio"].events_applied == 0
    with database.connect() as conn:  # the half-applied batch left nothing behind
        assert conn.execute("SELECT count(*) FROM rm_portfolio").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM rm_portfolio_coinsurers").fetchone()[0] == 0
    # The views applied before the crash in that round committed their own transactions.
    assert before["limits"].position == before["policies"].position == head

    # A crash after the rows were written but before the commit: also all or nothing.
    real_advance = tracking_mod.advance

    def advance_then_die(cur, schema, view, position, applied):
        real_advance(cur, schema, view, position, applied)
        if view == "portfolio":
            raise Crash("killed before COMMIT")

    tracking_mod.advance = advance_then_die
    try:
        with psycopg.connect(database.dsn, autocommit=True) as conn, raises_crash():
            Projector(source, all_views(), conn, database.schema).catch_up(limit=1000)
    finally:
        tracking_mod.advance = real_advance
    assert positions(database)["portfolio"].position == 0

    # Restart: resumes from the tracking positions; a second run finds nothing to do.
    with psycopg.connect(database.dsn, autocommit=True) as conn:
        restarted = Projector(source, all_views(), conn, database.schema)
        assert restarted.catch_up(limit=5) > 0
        assert restarted.catch_up(limit=5) == 0
    after = positions(database)
    assert {n: r.position for n, r in after.items()} == {v.name: head for v in all_views()}
    assert {n: r.events_applied for n, r in after.items()} == handled_events(database)
    assert_views_match(app, database)


def test_a_failing_view_is_rolled_back_and_retried_while_the_others_keep_up(runtime, database):
    app = runtime.app
    small_book(app, 3)
    failures = {"left": 2}

    def flaky_claims_view(view, event):
        if view.name == "claims" and failures["left"]:
            failures["left"] -= 1
            raise Crash("transient")

    runner = ProjectionRunner(
        database, app, fault=flaky_claims_view, poll_interval=0.2, view_backoff=(0.05, 0.2)
    )
    runner.start()
    try:
        head = EventSource.from_app(app).head()
        assert runner.wait_for(head, timeout=15), runner.status()
        assert failures["left"] == 0
        row = positions(database)["claims"]
        assert row.last_error is None and row.events_applied == handled_events(database)["claims"]
    finally:
        runner.stop()
    assert_views_match(app, database)


# ---------------------------------------------------------------------------- rebuild and verify


def test_rebuild_equals_live_and_verify_finds_tampering(runtime, database):
    app = runtime.app
    pids = small_book(app)
    source = EventSource.from_app(app)
    live = ProjectionRunner(database, app, batch_size=3)  # live: many small batches
    live.catch_up()
    assert verify(database.dsn, source, database.schema, all_views()).ok

    # Rebuilt from event zero in big batches, swapped in: identical, and the live rows are gone for good.
    rebuild(database.dsn, source, database.schema, all_views(), batch_size=10_000)
    assert verify(database.dsn, source, database.schema, all_views(), batch_size=7).ok
    assert_views_match(app, database)
    with database.connect() as conn:  # the swapped-in tables were analysed by the rebuild itself
        analysed = dict(
            conn.execute(
                "SELECT relname, last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE schemaname = %s",
                [database.schema],
            ).fetchall()
        )
    assert all(analysed[t.name] for v in all_views() for t in v.tables), analysed

    with database.connect() as conn:  # an operator "fixes" the read model by hand
        conn.execute(
            "UPDATE rm_limits SET paid = paid + 1, remaining = remaining - 1 "
            "WHERE policy_id = %s AND section = 'liability_basic'",
            [pids[0]],
        )
        conn.execute(
            "UPDATE rm_policies SET holder_name_index = 'not-the-index' WHERE policy_id = %s", [pids[1]]
        )
        conn.execute("DELETE FROM rm_collections_attempts WHERE policy_id = %s", [pids[1]])
        conn.commit()
    report = verify(database.dsn, source, database.schema, all_views())
    assert not report.ok
    by_view = {v.view: v for v in report.views}
    assert by_view["claims"].ok and by_view["portfolio"].ok
    limits = {t.table: t for t in by_view["limits"].tables}["rm_limits"]
    assert limits.differing == 1
    assert limits.samples[0]["kind"] == "changed"
    assert limits.samples[0]["columns"]["paid"]["rebuilt"] + 1 == limits.samples[0]["columns"]["paid"]["live"]
    policies = {t.table: t for t in by_view["policies"].tables}["rm_policies"]
    assert policies.samples[0]["columns"] == {
        "holder_name_index": {"live": "<redacted>", "rebuilt": "<redacted>"}
    }
    attempts = {t.table: t for t in by_view["collections"].tables}["rm_collections_attempts"]
    assert attempts.differing == 2 and {s["kind"] for s in attempts.samples} == {"missing_in_live"}
    assert "Somebody Else" not in json.dumps(report.to_dict(), default=str)

    rebuild(database.dsn, source, database.schema, select_views(["limits", "policies", "collections"]))
    assert verify(database.dsn, source, database.schema, all_views()).ok


@pytest.mark.parametrize("checkpoint_events, max_rows", [(1_000_000, 2_000_000), (7, 5)])
def test_a_resident_replay_equals_the_aggregates_with_checkpoints_and_evictions(
    runtime, database, checkpoint_events, max_rows
):
    """Resident units of work (rebuild, verify): rows kept across batches and written at
    checkpoints; with tiny limits every few events are checkpointed and the rows evicted."""
    app = runtime.app
    small_book(app)
    source = EventSource.from_app(app)
    with psycopg.connect(database.dsn, autocommit=True) as conn:
        prepare(conn, database.schema, all_views())
        projector = Projector(
            source,
            all_views(),
            conn,
            database.schema,
            resident=True,
            checkpoint_events=checkpoint_events,
            max_resident_rows=max_rows,
        )
        assert projector.catch_up(limit=4) > 0
        if checkpoint_events > 100:  # built from empty tables in one go: never read them
            assert all(u.reads == 0 for u in projector._units.values())
        assert projector.catch_up(limit=4) == 0
    after = positions(database)
    assert {n: r.events_applied for n, r in after.items()} == handled_events(database)
    assert_views_match(app, database)
    assert verify(database.dsn, source, database.schema, all_views()).ok


def test_a_checkpoint_over_the_row_cap_empties_every_unit_not_only_the_biggest(runtime, database):
    """Five units each under the cap but together over it: the checkpoint must bring the total
    down, or every later batch would checkpoint again (a 1,000,000-event rebuild in one process
    slowed from 80 s to 540 s that way)."""
    app = runtime.app
    small_book(app)
    cap = 60
    crowded_but_each_small = 0
    with psycopg.connect(database.dsn, autocommit=True) as conn:
        prepare(conn, database.schema, all_views())
        projector = Projector(
            EventSource.from_app(app),
            all_views(),
            conn,
            database.schema,
            resident=True,
            checkpoint_events=10**9,
            max_resident_rows=cap,
        )
        while projector.step(limit=4).read:
            if projector._checkpoint_due():
                units = projector._units.values()
                crowded_but_each_small += all(len(u) <= cap for u in units)
                projector.checkpoint()
                assert not projector._checkpoint_due()
        projector.checkpoint(keep=False)
    assert crowded_but_each_small > 0
    assert {n: r.events_applied for n, r in positions(database).items()} == handled_events(database)
    assert_views_match(app, database)


def test_a_resident_replay_that_crashes_resumes_from_its_last_checkpoint(runtime, database):
    app = runtime.app
    small_book(app)
    source = EventSource.from_app(app)
    seen = {"n": 0}
    halfway = handled_events(database)["policies"] // 2 + 1

    def crash_halfway_through_the_policies_view(view, event):
        if view.name == "policies":
            seen["n"] += 1
            if seen["n"] == halfway:
                raise Crash("power cut")

    with psycopg.connect(database.dsn, autocommit=True) as conn:
        prepare(conn, database.schema, all_views())
        crashing = Projector(
            source,
            all_views(),
            conn,
            database.schema,
            resident=True,
            checkpoint_events=10,
            fault=crash_halfway_through_the_policies_view,
        )
        with raises_crash():
            crashing.catch_up(limit=3)
    half = positions(database)["policies"]
    assert 0 < half.position < source.head()  # checkpoints before the crash were committed
    with psycopg.connect(database.dsn, autocommit=True) as conn:
        assert Projector(source, all_views(), conn, database.schema, resident=True).catch_up(limit=3) > 0
    after = positions(database)
    assert {n: r.events_applied for n, r in after.items()} == handled_events(database)
    assert_views_match(app, database)


def test_a_resident_catch_up_beside_a_live_runner_counts_everything_once(runtime, database):
    """The live runner commits the events a resident catch-up holds in memory: the catch-up's
    checkpoint finds the view moved, drops its work and goes on from the runner's position."""
    app = runtime.app
    small_book(app)
    source = EventSource.from_app(app)
    with (
        psycopg.connect(database.dsn, autocommit=True) as conn,
        psycopg.connect(database.dsn, autocommit=True) as other,
    ):
        prepare(conn, database.schema, all_views())
        resident = Projector(source, all_views(), conn, database.schema, resident=True)
        assert resident.step(limit=10).read == 10  # held in memory, nothing committed
        Projector(source, all_views(), other, database.schema).catch_up(limit=7)  # the live runner
        assert resident.checkpoint() == -1
        assert resident.positions == {v.name: source.head() for v in all_views()}
        onboard(app, "late")  # more events: the catch-up goes on from the runner's position
        assert resident.catch_up(limit=10) > 0
    after = positions(database)
    assert {n: r.events_applied for n, r in after.items()} == handled_events(database)
    assert_views_match(app, database)


def test_a_resident_unit_that_reads_rows_another_writer_committed_ahead_of_it_reloads(runtime, database):
    """The race seen with two schedulers' catch-ups at once (``KeyError: rm_collections_attempts:
    a row with key ... exists``): a resident unit of work that did not start from empty tables
    reads rows on demand; when another writer has committed the view beyond the unit's position
    meanwhile, those rows already hold the effect of events the unit has yet to apply, and a
    handler creating a row meets it. Injected here deterministically: the unit applies one small
    batch, another projector commits everything, the unit's next batch prefetches the other's
    rows. The unit must treat it as the view having moved (reload, go on), not as a failure."""
    app = runtime.app
    small_book(app, 2)
    source = EventSource.from_app(app)
    with (
        psycopg.connect(database.dsn, autocommit=True) as conn,
        psycopg.connect(database.dsn, autocommit=True) as other,
    ):
        prepare(conn, database.schema, all_views())
        Projector(source, all_views(), other, database.schema).catch_up()
        committed = {n: r.position for n, r in positions(database).items()}
        for i in range(4):  # new policies: their Applied events create rows in every view
            onboard(app, f"R-{i}", fail_first=i % 2 == 0)
        resident = Projector(source, all_views(), conn, database.schema, resident=True)
        assert all(not u.complete for u in resident._units.values())
        assert resident.step(limit=2).read == 2  # the first new policy's events, held in memory
        Projector(source, all_views(), other, database.schema).catch_up(limit=5)  # the other writer
        assert {n: r.position for n, r in positions(database).items()} != committed
        resident.step(limit=500)  # prefetches the other writer's rows: must not raise
        assert resident.positions == {v.name: source.head() for v in all_views()}
        onboard(app, "R-late")
        assert resident.catch_up(limit=10) > 0
    after = positions(database)
    assert {n: r.events_applied for n, r in after.items()} == handled_events(database)
    assert_views_match(app, database)


def test_sync_waits_for_a_live_runner_and_catches_up_itself_when_none_follows(runtime, database):
    app = runtime.app
    small_book(app, 3)
    source = EventSource.from_app(app)
    alone = ProjectionRunner(database, app)
    assert alone.sync() > 0  # nobody follows the log: applied here, at once
    assert {r.position for r in positions(database).values()} == {source.head()}

    live = ProjectionRunner(database, app, poll_interval=0.1)
    live.start()
    try:
        assert live.wait_for(source.head(), timeout=15)
        for i in range(2):
            paid_claim(app, onboard(app, f"live-{i}"))
        assert alone.sync(stall=30) == 0  # the live runner applied them; nothing done twice here
        assert min(r.position for r in positions(database).values()) >= source.head()
    finally:
        live.stop()

    stuck = ProjectionRunner(
        database,
        app,
        poll_interval=0.1,
        view_backoff=(30, 60),
        fault=lambda view, event: (_ for _ in ()).throw(Crash("stuck")) if view.name == "claims" else None,
    )
    stuck.start()
    try:
        paid_claim(app, onboard(app, "after"))
        time.sleep(0.5)
        assert alone.sync(stall=0.5) > 0  # a follower that stopped moving: caught up here
    finally:
        stuck.stop()
    assert {n: r.events_applied for n, r in positions(database).items()} == handled_events(database)
    assert_views_match(app, database)


def test_a_resident_projector_is_not_for_isolated_live_following(runtime, database):
    with psycopg.connect(database.dsn, autocommit=True) as conn:
        prepare(conn, database.schema, all_views())
        with pytest.raises(ValueError, match="resident"):
            Projector(
                EventSource.from_app(runtime.app),
                all_views(),
                conn,
                database.schema,
                resident=True,
                isolate=True,
            )


def test_a_rebuild_in_worker_processes_equals_live_and_a_failing_worker_changes_nothing_live(
    runtime, database
):
    app = runtime.app
    small_book(app)
    source = EventSource.from_app(app)
    ProjectionRunner(database, app).catch_up()
    seen: list[int] = []
    positions_after = rebuild(
        database.dsn,
        source,
        database.schema,
        all_views(),
        batch_size=5,
        workers=2,
        on_batch=lambda r: seen.append(r.last_id),
    )
    assert set(positions_after.values()) == {source.head()}
    assert seen and seen == sorted(seen)  # progress: the slowest worker's position, never going back
    assert verify(database.dsn, source, database.schema, all_views()).ok
    assert_views_match(app, database)

    class Broken(PoliciesView):
        def on_activated(self, e: Any, rows: Any) -> None:
            raise Crash("bug in a handler")

    before = positions(database)
    with pytest.raises(RuntimeError, match="rebuild worker"):
        rebuild(
            database.dsn, source, database.schema, [Broken(), *select_views(["claims", "limits"])], workers=2
        )
    assert positions(database) == before  # the live views were not swapped
    assert verify(database.dsn, source, database.schema, all_views()).ok


class PoliciesV2(PoliciesView):
    """A schema change: a new column."""

    version = PoliciesView.version + 1
    tables = (
        Table(
            PoliciesView.tables[0].name,
            (*PoliciesView.tables[0].columns, col("segment", "text")),
            key=("policy_id",),
            owner="policy_id",
        ),
        PoliciesView.tables[1],
    )


def test_a_schema_version_change_rebuilds_that_view_without_touching_the_event_store(runtime, database):
    app = runtime.app
    small_book(app, 4)
    ProjectionRunner(database, app).catch_up()
    events_before = events_fingerprint(database)
    tracking_before = positions(database)

    views = [PoliciesV2() if v.name == "policies" else v for v in all_views()]
    runner = ProjectionRunner(database, app, views=views)
    runner.catch_up()  # start-up finds version 1 recorded, this code builds 2: rebuild

    after = positions(database)
    assert after["policies"].schema_version == str(PoliciesView.version + 1)
    assert after["policies"].rebuilt_at > tracking_before["policies"].rebuilt_at
    for name in ("limits", "claims", "collections", "portfolio"):  # untouched
        assert after[name].rebuilt_at == tracking_before[name].rebuilt_at
    with database.connect() as conn:
        cols = {
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = 'rm_policies'",
                [database.schema],
            )
        }
        assert "segment" in cols
        assert conn.execute("SELECT count(*) FROM rm_policies").fetchone()[0] == 4
    assert events_fingerprint(database) == events_before
    assert verify(database.dsn, EventSource.from_app(app), database.schema, views).ok
    # The old code now sees a view it does not build: verify says so instead of comparing.
    report = verify(database.dsn, EventSource.from_app(app), database.schema, select_views(["policies"]))
    assert [v.status for v in report.views] == ["version_mismatch"]


# ---------------------------------------------------------------------------- live following


def test_lag_settles_to_zero_after_a_burst_of_writes(database):
    writers = [bootstrap(_settings(), database=database, clock=lambda: FIXED_NOW) for _ in range(3)]
    app = writers[0].app
    reads = ReadModels(database, mapper=app.mapper)
    onboard(app, "L-0")
    lag = reads.lag()  # nothing applied yet: everything is behind, and for a measurable time
    head = EventSource.from_app(app).head()  # the policy's 3 events and its register and number series
    assert head == 7
    assert all(v["events_behind"] == head and v["position"] == 0 for v in lag.values())
    time.sleep(0.05)
    assert reads.lag()["limits"]["seconds_behind"] > 0
    # Polling every 30 s: only LISTEN/NOTIFY can make the runner this quick.
    runner = ProjectionRunner(database, app, poll_interval=30)
    runner.start()
    # A second runner (another replica) racing for the same views must not apply anything twice.
    rival = ProjectionRunner(database, writers[1].app, poll_interval=30)
    rival.start()
    try:
        assert runner.wait_for(EventSource.from_app(app).head(), timeout=15)

        def burst(i: int) -> None:
            for j in range(4):
                pid = onboard(writers[i].app, f"L-{i}-{j}", fail_first=j == 1)
                if j == 2:
                    paid_claim(writers[i].app, pid)

        threads = [threading.Thread(target=burst, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        # Rebuilding a view while the runner follows and writers write: still exactly once.
        rebuild(database.dsn, EventSource.from_app(app), database.schema, select_views(["portfolio"]))
        for t in threads:
            t.join()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            lag = reads.lag()
            if all(v["events_behind"] == 0 for v in lag.values()):
                break
            time.sleep(0.05)
        assert all(v["events_behind"] == 0 and v["seconds_behind"] == 0 for v in lag.values()), lag
        assert reads.ready()[0]
        assert runner.restarts == 0 and rival.restarts == 0
        assert {n: r.events_applied for n, r in positions(database).items()} == handled_events(database)
        assert_views_match(app, database)
    finally:
        runner.stop()
        rival.stop()
        reads.close()
        for w in writers:
            w.close()


def test_a_runner_whose_connection_dies_restarts_from_its_tracking_position(runtime, database):
    app = runtime.app
    onboard(app, "R-1")
    runner = ProjectionRunner(database, app, poll_interval=0.2, backoff=(0.05, 0.5))
    runner.start()
    try:
        assert runner.wait_for(EventSource.from_app(app).head(), timeout=15)
        with psycopg.connect(database.dsn, autocommit=True) as admin:  # the database drops the runner
            for backend in runner.backend_pids:
                admin.execute("SELECT pg_terminate_backend(%s)", [backend])
        pid = onboard(app, "R-2")
        paid_claim(app, pid)
        assert runner.wait_for(EventSource.from_app(app).head(), timeout=15)
        assert runner.restarts >= 1
    finally:
        runner.stop()
    assert {n: r.events_applied for n, r in positions(database).items()} == handled_events(database)
    assert_views_match(app, database)


# ---------------------------------------------------------------------------- read API


def test_the_read_api_serves_limits_collections_and_the_portfolio(runtime, database):
    app = runtime.app
    a = onboard(app, "Q-1", plan="A")
    b = onboard(app, "Q-2", plan="B", fail_first=True, pay=False)
    c = onboard(app, "Q-3", scheme="jcci", industry="retail")
    cid = paid_claim(app, a, 4_000_000)
    ProjectionRunner(database, app).catch_up()
    with ReadModels(database, mapper=app.mapper) as reads:
        lim = reads.limits(a)
        assert lim["sections"]["liability_basic"] == {
            "limit": 10_000_000,
            "paid": 3_900_000,
            "remaining": 6_100_000,
        }
        assert lim["claims"][str(cid)]["liability_basic"]["paid"] == 3_900_000
        assert reads.limits(a, period=2) is None

        period_b = app.get_policy(b).current_period
        due = reads.debits_due(period_b.debits[-1].next_debit_date)
        assert [(r["policy_id"], r["next_attempt"]) for r in due] == [(b, 2)]
        assert reads.debits_due(period_b.debits[-1].next_debit_date - timedelta(days=1)) == []
        assert [(r["policy_id"], r["result_code"]) for r in reads.failed_debits()] == [(b, "1")]
        assert [r["policy_id"] for r in reads.arrears()] == [b]
        assert reads.get_policy_row(b)["arrears"] == period_b.premium

        assert [r["policy_id"] for r in reads.list_policies({"scheme": "chuokai"})] == [a, b]
        # exact match on the normalised name (blind index): width, case and spaces do not matter
        assert [r["policy_id"] for r in reads.list_policies({"holder_name": "ｈｏｌｄｅｒ q-3"})] == [c]
        assert reads.list_policies({"holder_name": "q-3"}) == []  # no substring search
        assert "holder_name" not in reads.list_policies({"scheme": "jcci"})[0]
        shown = reads.list_policies({"scheme": "jcci"}, reveal_personal=True)[0]
        assert shown["holder_name"] == "Holder Q-3" and "holder_name_sealed" not in shown
        assert [r["policy_id"] for r in reads.list_policies({"in_arrears": True})] == [b]
        assert reads.count_policies({"status": ["active"]}) == 3
        with pytest.raises(ValueError):
            reads.list_policies({"holder_name; DROP TABLE": "x"})
        assert reads.get_claim_row(cid)["paid_liability_basic"] == 3_900_000

        year = reads.portfolio("chuokai", 2026)
        assert year["participants"] == 2 and year["claims_paid"] == 1
        premium = app.get_policy(a).current_period.premium
        assert year["collected_premium"] == premium + app.get_policy(b).current_period.collected
        assert year["loss_ratio"] == round(year["paid_total"] / year["collected_premium"], 4)
        assert sum(x["paid_total"] for x in year["coinsurers"]) == year["paid_total"]
        assert [x["coinsurer"] for x in year["coinsurers"]] == [
            "leader",
            "insurer_b",
            "insurer_c",
            "insurer_d",
        ]
        assert {(m["plan"], m["policies_in_force"]) for m in year["mix"]} == {("A", 1), ("B", 1)}
        assert reads.participants("chuokai") == 2 and reads.participants("jcci") == 1
    counter = participants_counter(database)
    try:
        assert counter("chuokai") == 2 and counter("nowhere") == 0
    finally:
        counter.close()  # type: ignore[attr-defined]


def test_the_participants_counter_before_any_view_exists_counts_nothing(database):
    counter = participants_counter(database)
    try:
        assert counter("jcci") == 0
    finally:
        counter.close()  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------- CLI


@pytest.fixture
def keep_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_cli_run_once_rebuild_verify_status(runtime, database, monkeypatch, capsys, keep_logging):
    from policy_core.cli import main

    app = runtime.app
    pid = onboard(app, "C-1")
    paid_claim(app, pid)
    monkeypatch.setenv("DATABASE_URL", database.dsn)
    monkeypatch.setenv("POLICY_DB_SCHEMA", database.schema)
    monkeypatch.setenv("POLICY_DATA_DIR", tempfile.mkdtemp())
    assert main(["projections", "run", "--once"]) == 0
    assert main(["projections", "rebuild", "claims"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["rebuilt"] == {
        "claims": EventSource.from_app(app).head()
    }
    assert main(["projections", "verify"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    assert main(["projections", "status"]) == 0
    capsys.readouterr()
    with database.connect() as conn:
        conn.execute("UPDATE rm_claims SET paid_total = 0")
        conn.commit()
    assert main(["projections", "verify", "claims"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["views"][0]["status"] == "differs"


# ---------------------------------------------------------------------------- recorded co-insurer shares


# jcci as shipped
PRESET_A = (("leader", 4000), ("insurer_b", 3000), ("insurer_c", 2000), ("insurer_d", 1000))
# The changed preset: another leader (it takes the remainder), two co-insurers gone, one new, odd shares.
PRESET_B = (("insurer_b", 4999), ("leader", 3334), ("insurer_e", 1667))


@pytest.fixture
def change_preset(monkeypatch):
    """``change_preset(scheme, shares)``: the scheme's preset now sets these co-insurer shares.

    Every module that imported ``load_scheme`` (the application deciding periods, the
    portfolio view's calendars and fallback shares, the oracle) sees the changed preset; the
    presets fingerprint is recomputed, as in a new release with an edited preset file.
    """
    import sys

    from policy_core import scheme as scheme_module
    from policy_core.projections.views.portfolio import presets_fingerprint
    from policy_core.scheme import Coinsurer

    original = scheme_module.load_scheme
    changed: dict[str, Any] = {}

    def load_scheme(key: str) -> Any:
        s = original(key)
        return s.model_copy(update={"coinsurers": changed[key]}) if key in changed else s

    for name, module in list(sys.modules.items()):
        if (
            name.split(".")[0] in ("policy_core", "api", "scheduler", "tests")
            and getattr(module, "load_scheme", None) is original
        ):
            monkeypatch.setattr(module, "load_scheme", load_scheme)

    def change(key: str, shares: tuple[tuple[str, int], ...]) -> None:
        changed[key] = [Coinsurer(key=k, name=k, share_bp=bp) for k, bp in shares]
        presets_fingerprint.cache_clear()

    yield change
    presets_fingerprint.cache_clear()


def _claim_in(app: Any, pid: UUID, period: Any, damages: int) -> UUID:
    discovered = period.start + timedelta(days=10)
    cid = app.report_incident(
        policy_id=pid,
        occurred_at=discovered - timedelta(days=1),
        discovered_at=discovered,
        cause="theft",
        records_affected=50,
        description="laptop stolen from a car",
    )
    app.assess_losses(
        cid,
        [
            {"category": "damages", "risk": "basic", "amount": damages},
            {"category": "incident_response", "risk": "basic", "amount": 600_001},
        ],
    )
    app.pay_claim(cid)
    return cid


def _coinsurer_rows(database: Database) -> dict[tuple[str, int, str], dict[str, Any]]:
    with psycopg.connect(database.dsn) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        cur.execute(f'SELECT * FROM "{database.schema}".rm_portfolio_coinsurers')
        return {(r["scheme"], r["scheme_year"], r["coinsurer"]): r for r in cur.fetchall()}


def _assert_parts_add_up(database: Database) -> None:
    """Every amount of every year, split among the co-insurers, adds up to the year's total."""
    coins = _coinsurer_rows(database)
    columns = (
        "written_premium",
        "collected_premium",
        "return_premium",
        *(f"paid_{s}" for s in SECTIONS),
        "paid_total",
    )
    with psycopg.connect(database.dsn) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        cur.execute(f'SELECT * FROM "{database.schema}".rm_portfolio')
        for totals in cur.fetchall():
            year = (totals["scheme"], totals["scheme_year"])
            parts = [r for k, r in coins.items() if k[:2] == year]
            for c in columns:
                assert sum(r[c] for r in parts) == totals[c], (year, c)


def _split(amount: int, shares: tuple[tuple[str, int], ...]) -> dict[str, int]:
    """The rule written out again: round down per co-insurer, the first listed takes the rest."""
    (first, _), *others = shares
    parts = {k: amount * bp // 10_000 for k, bp in others}
    return {first: amount - sum(parts.values()), **parts}


def _add(into: dict[str, int], parts: dict[str, int]) -> None:
    for k, v in parts.items():
        into[k] = into.get(k, 0) + v


def test_each_period_is_allocated_by_the_shares_it_recorded_whatever_the_preset_says_later(
    runtime, database, change_preset
):
    app = runtime.app
    a = onboard(app, "S-1", scheme="jcci")  # period 1 records the shipped shares (A)
    ProjectionRunner(database, app).catch_up()  # the live view, built with the old preset

    change_preset("jcci", PRESET_B)  # a new release edits the preset
    a1 = app.get_policy(a).periods[0]
    assert [(c["key"], c["share_bp"]) for c in a1.coinsurers] == list(PRESET_A)
    claim_a1 = _claim_in(app, a, a1, 3_000_001)  # paid after the change, on a period of shares A
    b = onboard(app, "S-2", scheme="jcci")  # same scheme year, applied after the change: shares B
    b1 = app.get_policy(b).periods[0]
    assert [(c["key"], c["share_bp"]) for c in b1.coinsurers] == list(PRESET_B)
    assert app.renew(a, 2)  # renewed after the change: shares B
    app.activate(a, 2)
    a2 = app.get_policy(a).periods[1]
    assert [(c["key"], c["share_bp"]) for c in a2.coinsurers] == list(PRESET_B)
    app.record_debit_success(a, 2, attempt=1, amount=a2.premium, debit_date=a2.debit_date)
    claim_a2 = _claim_in(app, a, a2, 1_234_567)
    app.cancel(a, effective_date=(a2.start + timedelta(days=100)).astimezone(TOKYO).date(), reason="closing")
    returned = next(e.return_premium for e in app.history(a) if type(e).__name__ == "Cancelled")
    assert returned > 0

    # The runner finds the view's presets fingerprint changed: it rebuilds it, then follows.
    before = positions(database)["portfolio"]
    ProjectionRunner(database, app).catch_up()
    after = positions(database)["portfolio"]
    assert after.schema_version != before.schema_version and after.rebuilt_at > before.rebuilt_at

    cal = load_scheme("jcci").calendar
    y1, y2 = scheme_year(cal, a1.start), scheme_year(cal, a2.start)
    assert scheme_year(cal, b1.start) == y1 and y2 == y1 + 1
    paid_a1 = app.get_claim(claim_a1).paid
    paid_a2 = app.get_claim(claim_a2).paid
    want: dict[tuple[int, str], dict[str, int]] = defaultdict(dict)
    _add(want[(y1, "written_premium")], _split(a1.premium, PRESET_A))
    _add(want[(y1, "written_premium")], _split(b1.premium, PRESET_B))
    _add(want[(y1, "collected_premium")], _split(a1.premium, PRESET_A))
    _add(want[(y1, "collected_premium")], _split(b1.premium, PRESET_B))
    _add(want[(y2, "written_premium")], _split(a2.premium, PRESET_B))
    _add(want[(y2, "collected_premium")], _split(a2.premium, PRESET_B))
    _add(want[(y2, "return_premium")], _split(returned, PRESET_B))
    for year, paid, shares in ((y1, paid_a1, PRESET_A), (y2, paid_a2, PRESET_B)):
        for s in SECTIONS:
            parts = _split(paid[s], shares)
            _add(want[(year, f"paid_{s}")], parts)
            _add(want[(year, "paid_total")], parts)

    coins = _coinsurer_rows(database)
    assert {k[2] for k in coins if k[1] == y1} == {
        "leader",
        "insurer_b",
        "insurer_c",
        "insurer_d",
        "insurer_e",
    }
    assert {k[2] for k in coins if k[1] == y2} == {"leader", "insurer_b", "insurer_e"}
    for (year, column), parts in want.items():
        got = {k[2]: r[column] for k, r in coins.items() if k[1] == year}
        assert got == {k: parts.get(k, 0) for k in got}, (year, column)
    # Year 1 is split by both, year by year the parts still add up to every total.
    assert coins[("jcci", y1, "insurer_c")]["paid_total"] == sum(
        paid_a1[s] * 2000 // 10_000 for s in SECTIONS
    )
    assert coins[("jcci", y1, "insurer_e")]["paid_total"] == 0
    assert coins[("jcci", y1, "insurer_e")]["written_premium"] == b1.premium * 1667 // 10_000
    _assert_parts_add_up(database)
    # share_bp: the year's common share; NULL where the year's periods recorded different shares.
    assert {k[2]: r["share_bp"] for k, r in coins.items() if k[1] == y2} == dict(PRESET_B)
    assert all(r["share_bp"] is None for k, r in coins.items() if k[1] == y1)
    assert_views_match(app, database)
    assert verify(database.dsn, EventSource.from_app(app), database.schema, all_views()).ok

    with ReadModels(database, mapper=app.mapper) as reads:
        second = reads.portfolio("jcci", y2)
        assert [c["coinsurer"] for c in second["coinsurers"]] == ["insurer_b", "leader", "insurer_e"]
        first = reads.portfolio("jcci", y1)
        assert sum(c["written_premium"] for c in first["coinsurers"]) == first["written_premium"]

    # Live (the old preset's view, followed event by event) equals a rebuild from event zero.
    rebuild(database.dsn, EventSource.from_app(app), database.schema, select_views(["portfolio"]))
    assert _coinsurer_rows(database) == coins
    assert verify(database.dsn, EventSource.from_app(app), database.schema, all_views(), batch_size=1).ok


def test_periods_recorded_without_shares_fall_back_to_the_preset(
    runtime, database, change_preset, monkeypatch
):
    from policy_core.quoting import PeriodDecision

    app = runtime.app
    recorded_facts = PeriodDecision.facts
    # As the application recorded periods before their shares were part of the facts:
    monkeypatch.setattr(
        PeriodDecision,
        "facts",
        lambda self: {k: v for k, v in recorded_facts(self).items() if k != "coinsurers"},
    )
    old = onboard(app, "F-1", scheme="jcci")
    monkeypatch.setattr(PeriodDecision, "facts", recorded_facts)
    new = onboard(app, "F-2", scheme="jcci")
    assert app.get_policy(old).periods[0].coinsurers == []
    ProjectionRunner(database, app).catch_up()
    year = scheme_year(load_scheme("jcci").calendar, app.get_policy(old).periods[0].start)
    premium_old, premium_new = (app.get_policy(p).periods[0].premium for p in (old, new))

    def written() -> dict[str, int]:
        return {k[2]: r["written_premium"] for k, r in _coinsurer_rows(database).items() if k[1] == year}

    assert written() == {
        k: _split(premium_old, PRESET_A)[k] + _split(premium_new, PRESET_A)[k] for k, _ in PRESET_A
    }
    change_preset("jcci", PRESET_B)
    ProjectionRunner(database, app).catch_up()  # schema version changed: rebuilt
    want = _split(premium_new, PRESET_A)  # recorded: unchanged
    _add(want, _split(premium_old, PRESET_B))  # not recorded: today's preset
    assert written() == want
    _assert_parts_add_up(database)
    assert_views_match(app, database)
    assert verify(database.dsn, EventSource.from_app(app), database.schema, all_views()).ok


def test_a_small_table_is_read_whole_with_one_query_and_keeps_what_the_unit_changed(database):
    """``Table(whole=True)`` (the portfolio's totals per scheme and year): the first row asked for
    reads the whole table once; later keys, present or absent, ask nothing; a row the unit had
    already made or changed is not overwritten by the read."""
    t = Table(
        "rm_test_whole",
        (col("scheme", "text", null=False), col("n", "integer", null=False)),
        key=("scheme",),
        whole=True,
    )
    with pytest.raises(ValueError, match="owner"):
        Table("x", (col("a", "uuid"),), key=("a",), owner="a", whole=True)
    with psycopg.connect(database.dsn, autocommit=True) as conn, conn.cursor() as cur:
        for stmt in t.ddl(database.schema):
            cur.execute(stmt)
        cur.execute(
            f'INSERT INTO "{database.schema}".rm_test_whole VALUES (%s, 1), (%s, 2), (%s, 3)', ["a", "b", "c"]
        )
        rows = Rows(cur, database.schema, [t])
        rows.new("rm_test_whole", scheme="d", n=9)  # made before the table was read
        assert rows.get("rm_test_whole", "a") == {"scheme": "a", "n": 1}
        assert rows.reads == 1
        assert rows.get("rm_test_whole", "b")["n"] == 2
        assert rows.get("rm_test_whole", "zz") is None
        assert rows.get("rm_test_whole", "d")["n"] == 9
        assert rows.reads == 1
        rows.require("rm_test_whole", "c")["n"] = 30
        assert rows.flush() == 2  # d inserted, c updated
        cur.execute(f'SELECT scheme, n FROM "{database.schema}".rm_test_whole ORDER BY 1')
        assert cur.fetchall() == [("a", 1), ("b", 2), ("c", 30), ("d", 9)]


def test_a_batch_fetches_its_new_members_data_keys_with_one_key_store_query(runtime, database):
    """The policies view indexes and seals each holder's name under the member's current data key:
    a batch of applications asks the key store once for all its members (it asked once per
    application: a round trip per policy in a rebuild), and the rows are those of live following
    one event per batch."""
    app = runtime.app
    for i in range(5):
        onboard(app, f"K-{i}", pay=False)
    source = EventSource.from_app(app)
    ProjectionRunner(database, app, batch_size=1).catch_up()
    store = app.vault.store
    calls: list[object] = []
    one, many = store.for_subject, store.for_subjects
    store.for_subject = lambda s: (calls.append("for_subject"), one(s))[1]
    store.for_subjects = lambda ss: (calls.append(("for_subjects", len(ss))), many(ss))[1]
    try:
        rebuild(database.dsn, source, database.schema, select_views(["policies"]), batch_size=10_000)
    finally:
        store.for_subject, store.for_subjects = one, many
    assert calls == [("for_subjects", 5)]
    with database.connect() as conn:
        names = conn.execute("SELECT holder_name_index, holder_name_sealed FROM rm_policies").fetchall()
    assert len(names) == 5 and all(index and sealed for index, sealed in names)
    assert verify(database.dsn, source, database.schema, all_views(), batch_size=1).ok


def _indexes(database: Database) -> set[tuple[str, str, str]]:
    with database.connect() as conn:
        found = conn.execute(
            "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = %s"
            r" AND tablename LIKE 'rm\_%%'",
            [database.schema],
        ).fetchall()
    return {(t, n, d) for t, n, d in found}


@pytest.mark.parametrize("workers", [1, 2])
def test_a_rebuild_builds_the_secondary_indexes_once_after_its_replay(runtime, database, workers):
    """The staging tables are loaded without their secondary indexes (the replay reads by the
    primary key only) and get them before the swap: the live schema ends with the same indexes
    as one made by ``db init``."""
    app = runtime.app
    small_book(app, 3)
    made = _indexes(database)
    declared = {
        (t.name, f"{t.name}__{'_'.join(i)}_idx"[:63])
        for v in all_views()
        for t in v.tables
        for i in t.indexes
    }
    assert declared and declared <= {(t, n) for t, n, _ in made}
    rebuild(database.dsn, EventSource.from_app(app), database.schema, all_views(), workers=workers)
    assert _indexes(database) == made
    assert verify(database.dsn, EventSource.from_app(app), database.schema, all_views()).ok
