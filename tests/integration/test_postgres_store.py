"""The event store on real PostgreSQL: explicit tables, persistence across restarts,
atomic multi-aggregate saves, and concurrent payments that never exceed a cap."""

from __future__ import annotations

import tempfile
import threading
from datetime import date, datetime

import psycopg
import pytest

from policy_core.bootstrap import bootstrap, initialise_store
from policy_core.calendar import TOKYO
from policy_core.errors import Conflict, InvalidInput
from policy_core.settings import Settings
from tests.conftest import BANK, FIXED_NOW


def _settings() -> Settings:
    return Settings(POLICY_DATA_DIR=tempfile.mkdtemp())


def _active_policy(app, *, plan="A", member="M-1"):
    pid = app.apply(
        scheme="chuokai",
        member_number=member,
        holder={"name": "Yamada Shoten"},
        industry="printing",
        annual_sales=100_000_000,
        plan=plan,
        bank_account=BANK,
        application_date=date(2026, 1, 10),
    )
    p = app.get_policy(pid)
    app.activate(pid, 1)
    app.record_debit_success(
        pid, 1, attempt=1, amount=p.current_period.premium, debit_date=p.current_period.debit_date
    )
    return pid


def _claim(app, pid, damages):
    cid = app.report_incident(
        policy_id=pid,
        occurred_at=datetime(2026, 6, 1, tzinfo=TOKYO),
        discovered_at=datetime(2026, 6, 2, tzinfo=TOKYO),
        cause="insider",
        records_affected=100,
        description="customer list taken",
    )
    app.assess_losses(cid, [{"category": "damages", "risk": "basic", "amount": damages}])
    return cid


def _count_events(database) -> int:
    with database.connect() as conn:
        return conn.execute("SELECT count(*) FROM policy_admin_events").fetchone()[0]


def test_tables_are_created_only_by_the_explicit_start_up_step(database):
    rt = bootstrap(_settings(), database=database, initialise=False)
    try:
        with pytest.raises(psycopg.errors.UndefinedTable):
            with database.connect() as conn:
                conn.execute("SELECT 1 FROM policy_admin_events")
        initialise_store(rt.app)
        initialise_store(rt.app)  # idempotent
        assert _count_events(database) == 0
    finally:
        rt.close()


def test_state_survives_a_restart_and_topics_are_stable(database):
    rt = bootstrap(_settings(), database=database)
    pid = _active_policy(rt.app)
    rt.close()
    rt2 = bootstrap(_settings(), database=database, clock=lambda: FIXED_NOW)
    try:
        p = rt2.app.get_policy(pid)
        assert p.status == "active" and p.current_period.is_collected
        with database.connect() as conn:
            topics = {r[0] for r in conn.execute("SELECT DISTINCT topic FROM policy_admin_events")}
        assert topics == {
            "policy_admin:Policy.Applied",
            "policy_admin:Policy.Activated",
            "policy_admin:Policy.PremiumDebited",
            # the member's register and the year's policy-number series, saved with the policy
            "policy_admin:MemberRegister.Created",
            "policy_admin:MemberRegister.PolicyEntered",
            "policy_admin:NumberSeries.Created",
            "policy_admin:NumberSeries.NumberIssued",
        }
    finally:
        rt2.close()


def test_bad_input_records_nothing_on_postgres(runtime, database):
    bad = dict(BANK, account_number="123456")
    with pytest.raises(InvalidInput) as err:
        runtime.app.apply(
            scheme="jcci",
            member_number="M-9",
            holder={"name": "x"},
            industry="retail",
            annual_sales=20_000_000,
            plan="A",
            bank_account=bad,
            application_date=date(2026, 5, 1),
        )
    assert err.value.code == "invalid_bank_account"
    assert "123456" not in str(err.value)
    assert _count_events(database) == 0


def test_claim_payment_saves_claim_and_policy_atomically(runtime, database):
    app = runtime.app
    pid = _active_policy(app)
    cid = _claim(app, pid, 5_000_000)
    before = _count_events(database)
    payment = app.pay_claim(cid)
    assert payment["total"] == 4_900_000
    with database.connect() as conn:
        rows = conn.execute(
            "SELECT topic FROM policy_admin_events WHERE notification_id > "
            "(SELECT max(notification_id) - 2 FROM policy_admin_events) ORDER BY notification_id"
        ).fetchall()
    assert _count_events(database) == before + 2
    assert sorted(r[0] for r in rows) == [
        "policy_admin:Claim.ClaimPaid",
        "policy_admin:Policy.ClaimPaymentRecorded",
    ]


def test_concurrent_payments_on_one_policy_never_exceed_the_period_cap(database):
    """Separate applications (own connection pools) pay claims on one policy at once."""
    writers = 4
    runtimes = [bootstrap(_settings(), database=database, clock=lambda: FIXED_NOW) for _ in range(writers)]
    try:
        app = runtimes[0].app
        pid = _active_policy(app, plan="A")  # liability_basic limit 10,000,000 per period
        claims = [_claim(app, pid, 4_000_000) for _ in range(writers)]  # each would pay 3,900,000
        barrier = threading.Barrier(writers)
        results: list[object] = [None] * writers

        def pay(i: int) -> None:
            barrier.wait()
            try:
                results[i] = runtimes[i].app.pay_claim(claims[i])
            except Conflict as exc:
                results[i] = exc

        threads = [threading.Thread(target=pay, args=(i,)) for i in range(writers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        paid = [r["total"] for r in results if isinstance(r, dict)]
        refused = [r for r in results if isinstance(r, Conflict)]
        period = app.get_policy(pid).current_period
        # 3 full payments would be 11,700,000 > 10,000,000: the cap binds for the later ones.
        assert period.paid["liability_basic"] == sum(paid) <= 10_000_000
        assert sum(paid) == 10_000_000
        assert all(r.code == "nothing_payable" for r in refused)
        limited = [
            r
            for r in results
            if isinstance(r, dict)
            and r["settlement"]["sections"]["liability_basic"]["limited_by"] == "period_aggregate"
        ]
        assert len(limited) == 1
        # Each claim's recorded payments agree with the policy's period usage.
        total_on_claims = sum(app.get_claim(c).paid_total for c in claims)
        assert total_on_claims == period.paid["liability_basic"]
    finally:
        for rt in runtimes:
            rt.close()


def test_the_loser_of_a_payment_race_retries_against_the_new_state(database):
    """Deterministic interleaving: B pays between A's read and A's save."""
    rt_a, rt_b = (bootstrap(_settings(), database=database, clock=lambda: FIXED_NOW) for _ in range(2))
    try:
        a, b = rt_a.app, rt_b.app
        pid = _active_policy(a, plan="A")
        c1, c2 = _claim(a, pid, 8_000_000), _claim(a, pid, 8_000_000)
        real_save = a.save
        calls = {"n": 0}

        def save_after_b_pays(*objs, **kw):
            calls["n"] += 1
            if calls["n"] == 1:
                b.pay_claim(c2)  # B wins the race: 7,900,000 paid on the period
            return real_save(*objs, **kw)

        a.save = save_after_b_pays
        payment = a.pay_claim(c1)
        assert calls["n"] == 2  # the first save lost (IntegrityError) and the command ran again
        assert a.conflicts_retried == 1
        section = payment["settlement"]["sections"]["liability_basic"]
        assert section["paid"] == 2_100_000 and section["limited_by"] == "period_aggregate"
        assert a.get_policy(pid).current_period.paid["liability_basic"] == 10_000_000
    finally:
        rt_a.close()
        rt_b.close()


def test_two_payments_of_the_same_claim_racing_pay_once(database):
    runtimes = [bootstrap(_settings(), database=database, clock=lambda: FIXED_NOW) for _ in range(2)]
    try:
        app = runtimes[0].app
        pid = _active_policy(app, plan="B")
        cid = _claim(app, pid, 1_100_000)
        barrier = threading.Barrier(2)
        out: list[object] = [None, None]

        def pay(i: int) -> None:
            barrier.wait()
            try:
                out[i] = runtimes[i].app.pay_claim(cid)
            except Conflict as exc:
                out[i] = exc

        ts = [threading.Thread(target=pay, args=(i,)) for i in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert sum(1 for o in out if isinstance(o, dict)) == 1
        assert app.get_claim(cid).paid_total == 1_000_000
        assert app.get_policy(pid).current_period.paid["liability_basic"] == 1_000_000
    finally:
        for rt in runtimes:
            rt.close()


def test_idempotent_scheduler_commands_from_concurrent_writers(database):
    runtimes = [bootstrap(_settings(), database=database, clock=lambda: FIXED_NOW) for _ in range(3)]
    try:
        app = runtimes[0].app
        pid = app.apply(
            scheme="jcci",
            member_number="M-7",
            holder={"name": "x"},
            industry="retail",
            annual_sales=20_000_000,
            plan="A",
            bank_account=BANK,
            application_date=date(2026, 5, 1),
        )
        barrier = threading.Barrier(3)
        out: list[bool] = [False] * 3

        def activate(i: int) -> None:
            barrier.wait()
            out[i] = runtimes[i].app.activate(pid, 1)

        ts = [threading.Thread(target=activate, args=(i,)) for i in range(3)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert sorted(out) == [False, False, True]
        assert [type(e).__name__ for e in app.history(pid)] == ["Applied", "Activated"]
    finally:
        for rt in runtimes:
            rt.close()


def test_embedded_postgres_keeps_data_across_restarts(tmp_path):
    """The main job's default: no DATABASE_URL -> pgserver under POLICY_DATA_DIR."""
    rt = bootstrap(Settings(POLICY_DATA_DIR=str(tmp_path), DATABASE_URL=None))
    try:
        assert rt.database.embedded is not None
        pid = rt.app.apply(
            scheme="jcci",
            member_number="E-1",
            holder={"name": "x"},
            industry="retail",
            annual_sales=20_000_000,
            plan="A",
            bank_account=BANK,
            application_date=date(2026, 5, 1),
        )
    finally:
        rt.close()
        rt.database.embedded.cleanup()
    rt2 = bootstrap(Settings(POLICY_DATA_DIR=str(tmp_path), DATABASE_URL=None))
    try:
        assert rt2.app.get_policy(pid).member_number == "E-1"
        assert (tmp_path / "pgdata").is_dir()
    finally:
        rt2.close()
        rt2.database.embedded.cleanup()


def test_snapshots_every_100_events_serve_current_and_as_of_reads(runtime, database):
    """Current and as-of reads that start from a snapshot equal a full replay."""
    from policy_core.application import fold

    app = runtime.app
    pid = _active_policy(app)
    marks = []
    for i in range(230):
        app.declare_sales(pid, annual_sales=100_000_000 + i, declared_on=date(2026, 6, 1))
        if i % 37 == 0:
            marks.append(app.get_policy(pid).modified_on)
    with database.connect() as conn:
        versions = [
            r[0]
            for r in conn.execute(
                "SELECT originator_version FROM policy_admin_snapshots WHERE originator_id = %s "
                "ORDER BY originator_version",
                (pid,),
            )
        ]
    assert versions == [100, 200]
    history = app.history(pid)
    assert len(history) == 233
    current = app.get_policy(pid)
    assert current.version == 233 and current.annual_sales == 100_000_229
    for mark in marks:
        expected = fold(None, [e for e in history if e.timestamp <= mark])
        got = app.get_policy(pid, as_of=mark)
        assert got.version == expected.version and got.annual_sales == expected.annual_sales
        assert got.periods == expected.periods
