"""Scheduler jobs on real PostgreSQL: activations, debits on business days, retries, lapses,
renewals, catch-up after downtime, and two schedulers at once."""

from __future__ import annotations

import tempfile
import threading
import time
from datetime import date, datetime, timedelta

import pytest

from policy_core.bootstrap import bootstrap
from policy_core.calendar import TOKYO
from policy_core.errors import InvalidInput
from policy_core.holidays import is_bank_holiday
from policy_core.settings import Settings
from scheduler.clock import SettableClock
from scheduler.gateway import SimulatedBank
from scheduler.jobs import Jobs
from scheduler.leader import Leadership
from scheduler.service import SchedulerService
from tests.conftest import BANK


def tokyo(y, m, d, h=0):
    return datetime(y, m, d, h, tzinfo=TOKYO)


@pytest.fixture
def sim(database):
    clock = SettableClock(tokyo(2026, 12, 1))
    rt = bootstrap(Settings(POLICY_DATA_DIR=tempfile.mkdtemp()), database=database, clock=clock)
    jobs = Jobs(rt.app, rt.read_models, rt.projections.catch_up, SimulatedBank(), now=clock.now)
    yield rt, clock, jobs
    rt.close()


def apply(rt, member, application_date, *, scheme="chuokai", account="1234567", enrollment=None, plan="A"):
    return rt.app.apply(
        scheme=scheme,
        member_number=member,
        holder={"name": f"member {member}"},
        industry="retail",
        annual_sales=20_000_000,
        plan=plan,
        bank_account=dict(BANK, account_number=account),
        application_date=application_date,
        enrollment=enrollment,
    )


def events(rt, pid):
    return [type(e).__name__ for e in rt.app.history(pid)]


def run_until(clock, jobs, moment):
    clock.set(moment)
    return jobs.run_due(moment)


def test_a_chuokai_scheme_year_debits_every_policy_on_the_right_business_day(sim):
    rt, clock, jobs = sim
    regular = apply(
        rt, "R-1", date(2026, 12, 15)
    )  # regular: cover 25 Mar 2027, debit 25 Apr 2027 (Sun) -> 26 Apr
    january = apply(rt, "R-2", date(2027, 1, 20))  # regular too
    clock.set(tokyo(2027, 2, 10, 10))
    feb = apply(rt, "M-2", date(2027, 2, 10))  # mid-term: cover 25 Apr, debit 23 May 2027 (Sun) -> 24 May
    clock.set(tokyo(2027, 4, 28, 10))
    apr = apply(rt, "M-4", date(2027, 4, 28))  # cover 25 Jun, debit 23 Jul 2027 (Fri)
    clock.set(tokyo(2027, 9, 5, 10))
    sep = apply(rt, "M-9", date(2027, 9, 5))  # cover 25 Nov, debit 23 Dec 2027 (Thu, no longer a holiday)
    clock.set(tokyo(2027, 12, 20, 10))
    dec = apply(rt, "M-12", date(2027, 12, 20), enrollment="mid_term")  # cover 25 Feb 2028, debit 23 Mar 2028
    report = run_until(clock, jobs, tokyo(2028, 3, 24, 12))
    assert not report.errors
    expected = {
        regular: date(2027, 4, 26),
        january: date(2027, 4, 26),
        feb: date(2027, 5, 24),
        apr: date(2027, 7, 23),
        sep: date(2027, 12, 23),
        dec: date(2028, 3, 23),
    }
    for pid, day in expected.items():
        period = rt.app.get_policy(pid).period(1)
        assert period.is_collected, pid
        assert period.debits[0].debit_date == day
        assert not is_bank_holiday(day) and day.weekday() < 5
        assert rt.app.get_policy(pid).status == "active"
    assert report.debited == 6 and report.activated == 6


def test_three_failed_debits_lapse_and_claims_in_that_period_are_denied(sim):
    rt, clock, jobs = sim
    pid = apply(rt, "F-1", date(2026, 12, 15), account="9000001")  # insufficient funds, every time
    run_until(clock, jobs, tokyo(2027, 4, 1, 12))
    assert rt.app.get_policy(pid).status == "active"
    cid = rt.app.report_incident(
        policy_id=pid,
        occurred_at=tokyo(2027, 3, 30, 10),
        discovered_at=tokyo(2027, 3, 31, 10),
        cause="theft",
        records_affected=10,
        description="laptop stolen",
    )
    report = run_until(clock, jobs, tokyo(2027, 7, 1, 12))
    policy = rt.app.get_policy(pid)
    days = [d.debit_date for d in policy.period(1).debits]
    assert days == [date(2027, 4, 26), date(2027, 5, 25), date(2027, 6, 25)]
    assert [d.result_code for d in policy.period(1).debits] == ["1", "1", "1"]
    assert policy.status == "lapsed" and policy.lapsed_at == policy.period(1).start
    assert report.lapsed == 1
    assert rt.app.get_claim(cid).status == "denied"
    assert rt.app.get_claim(cid).denial_reason == "policy_not_in_force"
    # nothing more is attempted for a lapsed policy
    again = run_until(clock, jobs, tokyo(2027, 9, 1, 12))
    assert again.debited == again.failed == 0


def test_renewal_at_the_anniversary_rerates_and_debits_the_new_period(sim):
    rt, clock, jobs = sim
    pid = apply(rt, "N-1", date(2026, 12, 15), plan="B")
    run_until(clock, jobs, tokyo(2027, 5, 1, 12))
    rt.app.declare_sales(pid, annual_sales=500_000_000, declared_on=date(2028, 1, 10))
    report = run_until(clock, jobs, tokyo(2028, 4, 30, 12))
    policy = rt.app.get_policy(pid)
    assert len(policy.periods) == 2
    p2 = policy.period(2)
    assert p2.start == tokyo(2028, 3, 25, 16) and p2.activated_at == p2.start
    assert p2.basis["annual_sales"] == 500_000_000 and p2.premium == 250_000
    assert p2.is_collected and p2.debits[0].debit_date == date(2028, 4, 25)
    assert policy.period(1).renewal_notice_on == date(2028, 2, 24)  # 30 days before 25 Mar 2028
    assert report.renewed == 1 and report.renewal_notices == 1
    assert all(p == 0 for p in p2.paid.values())


def test_non_renewal_notice_expires_the_policy_at_the_anniversary(sim):
    rt, clock, jobs = sim
    pid = apply(rt, "X-1", date(2026, 12, 15))
    run_until(clock, jobs, tokyo(2027, 6, 1, 12))
    rt.app.give_non_renewal_notice(pid, received_on=date(2027, 6, 1))
    report = run_until(clock, jobs, tokyo(2028, 3, 26, 12))
    policy = rt.app.get_policy(pid)
    assert policy.status == "expired" and len(policy.periods) == 1
    assert report.expired == 1 and report.renewed == 0


def test_a_week_of_downtime_is_caught_up_in_order(sim):
    rt, clock, jobs = sim
    a = apply(rt, "D-1", date(2027, 1, 15))  # regular: starts 25 Mar 2027 16:00
    b = apply(rt, "D-2", date(2027, 1, 20), account="9000002")
    run_until(clock, jobs, tokyo(2027, 3, 20, 12))
    assert events(rt, a) == ["Applied"]
    # down from 20 Mar to 28 Apr: the start (25 Mar) and the debit (26 Apr) were missed
    report = run_until(clock, jobs, tokyo(2027, 4, 28, 12))
    assert events(rt, a) == ["Applied", "Activated", "PremiumDebited"]
    assert events(rt, b) == ["Applied", "Activated", "PremiumDebitFailed"]
    assert report.steps[0].startswith("2027-03-25T16:00") and report.steps[-1].startswith("2027-04-26T09:00")
    # the same run again changes nothing
    n = rt.app.recorder.max_notification_id()
    again = jobs.run_due(tokyo(2027, 4, 28, 12))
    assert rt.app.recorder.max_notification_id() == n and again.debited == 0


def test_run_due_refuses_a_future_as_of_and_changes_nothing(sim):
    rt, clock, jobs = sim
    apply(rt, "Z-1", date(2026, 12, 15))
    n = rt.app.recorder.max_notification_id()
    with pytest.raises(InvalidInput) as err:
        jobs.run_due(clock.now() + timedelta(seconds=1))
    assert err.value.code == "as_of_in_future"
    assert rt.app.recorder.max_notification_id() == n


def test_two_schedulers_at_once_record_each_debit_once(database):
    clock = SettableClock(tokyo(2026, 12, 1))
    runtimes = [
        bootstrap(Settings(POLICY_DATA_DIR=tempfile.mkdtemp()), database=database, clock=clock)
        for _ in range(2)
    ]
    try:
        pids = [
            apply(
                runtimes[0],
                f"T-{i}",
                date(2026, 12, 15),
                account="9000003" if i % 5 == 0 else f"{1000000 + i}",
            )
            for i in range(20)
        ]
        clock.set(tokyo(2027, 5, 1, 12))
        # Without leadership: both run the same day at once; idempotent commands keep one of each.
        jobs = [
            Jobs(rt.app, rt.read_models, rt.projections.catch_up, SimulatedBank(), now=clock.now)
            for rt in runtimes
        ]
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def run(j):
            barrier.wait()
            try:
                j.run_due(clock.now())
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(j,)) for j in jobs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        for pid in pids:
            names = events(runtimes[0], pid)
            assert names.count("Activated") == 1
            assert names.count("PremiumDebited") + names.count("PremiumDebitFailed") == 1
        # With leadership, only one of two services acts; the other takes over when the leader goes.
        services = [
            SchedulerService(j, Leadership(rt.database), clock) for j, rt in zip(jobs, runtimes, strict=True)
        ]
        assert services[0].tick() is not None
        assert services[1].tick() is None
        services[0].leadership.release()
        assert services[1].tick() is not None
        services[1].leadership.release()
    finally:
        for rt in runtimes:
            rt.close()


def test_a_standby_takes_over_when_the_leaders_session_dies(database):
    import psycopg

    first, second = Leadership(database), Leadership(database)
    try:
        assert first.try_acquire() and not second.try_acquire()
        pid = first._conn.info.backend_pid
        with psycopg.connect(database.dsn, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        deadline = time.monotonic() + 10
        while not second.try_acquire():
            assert time.monotonic() < deadline, "standby did not take over"
            time.sleep(0.1)
        assert not first.is_leader
    finally:
        first.release()
        second.release()


def test_the_apscheduler_service_ticks_run_due_while_leading(sim):
    rt, clock, jobs = sim
    pid = apply(rt, "S-1", date(2026, 12, 15))
    clock.set(tokyo(2027, 4, 27, 12))
    service = SchedulerService(jobs, Leadership(rt.database), clock, interval_seconds=0.2)
    service.start()
    try:
        deadline = time.monotonic() + 20
        while not rt.app.get_policy(pid).period(1).is_collected:
            assert time.monotonic() < deadline, service.status()
            time.sleep(0.1)
        assert service.status()["leader"] is True and service.ticks >= 1
        job = service._scheduler.get_job("run-due")
        assert job.misfire_grace_time is None and job.coalesce is True
    finally:
        service.stop()
