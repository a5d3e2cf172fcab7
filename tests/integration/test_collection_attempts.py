"""A gateway is never asked twice for the same debit attempt, across a crash too (#10): the
attempts ledger (scheduler/attempts.py) records each attempt before it is sent and its answer as
soon as it comes; a run after a crash reuses the recorded answer, or asks the gateway what became
of the request, instead of debiting again."""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Sequence
from datetime import date

import pytest

from policy_core.bootstrap import bootstrap
from policy_core.settings import Settings
from scheduler.attempts import AttemptLedger
from scheduler.clock import SettableClock
from scheduler.gateway import DebitRequest, DebitResult, SimulatedBank
from scheduler.jobs import Jobs
from tests.integration.test_scheduler import apply, tokyo

DEBIT_RUN = tokyo(2027, 4, 27, 12)  # chuokai: cover from 1 April, first debit on the 27th


class CountingBank(SimulatedBank):
    """The simulated bank, counting every debit it is asked for (and every status enquiry)."""

    def __init__(self, *, can_reconcile: bool = True) -> None:
        self.asked: Counter[str] = Counter()
        self.enquired: Counter[str] = Counter()
        if not can_reconcile:
            self.reconcile = None  # type: ignore[assignment,method-assign]

    def collect(self, requests: Sequence[DebitRequest]) -> list[DebitResult]:
        self.asked.update(r.customer_number for r in requests)
        return super().collect(requests)

    def reconcile(self, requests: Sequence[DebitRequest]) -> list[DebitResult]:  # type: ignore[override]
        self.enquired.update(r.customer_number for r in requests)
        return super().collect(requests)


class Crash(Exception):
    pass


@pytest.fixture
def world(database):
    clock = SettableClock(tokyo(2026, 12, 1))
    rt = bootstrap(Settings(POLICY_DATA_DIR=tempfile.mkdtemp()), database=database, clock=clock)
    pids = [
        apply(rt, f"ATT-{i}", date(2026, 12, 15), account=acct)
        for i, acct in enumerate(["1234567", "9000001"])
    ]
    clock.set(DEBIT_RUN)
    yield rt, clock, pids
    rt.close()


def _jobs(rt, clock, bank):
    return Jobs(
        rt.app,
        rt.read_models,
        rt.projections.catch_up,
        bank,
        now=clock.now,
        ledger=AttemptLedger(rt.database),
    )


def _debits(rt, pid):
    return rt.app.get_policy(pid).period(1).debits


def test_a_crash_after_the_bank_answered_reuses_the_answer(world, monkeypatch):
    rt, clock, pids = world
    bank = CountingBank()
    jobs = _jobs(rt, clock, bank)
    real_record = rt.app.record_debit_results

    def crash(*a, **kw):
        raise Crash("killed after the bank answered, before the results were recorded")

    monkeypatch.setattr(rt.app, "record_debit_results", crash)
    with pytest.raises(Crash):
        jobs.run_due(DEBIT_RUN)
    assert sum(bank.asked.values()) == 2 and all(_debits(rt, p) == [] for p in pids)  # nothing recorded

    monkeypatch.setattr(rt.app, "record_debit_results", real_record)
    restarted = _jobs(rt, clock, bank)  # a new process: nothing in memory
    report = restarted.run_due(DEBIT_RUN)
    assert (report.debited, report.failed) == (1, 1)
    assert max(bank.asked.values()) == 1 and sum(bank.asked.values()) == 2  # never asked twice
    assert sum(bank.enquired.values()) == 0  # the answer was on record
    assert [d.outcome for p in pids for d in _debits(rt, p)] == ["debited", "failed"]
    restarted.run_due(DEBIT_RUN)  # and again: nothing new
    assert sum(bank.asked.values()) == 2


def test_a_crash_while_the_request_was_out_asks_what_became_of_it(world, monkeypatch):
    rt, clock, pids = world
    bank = CountingBank()
    jobs = _jobs(rt, clock, bank)

    def crash(self, results):
        raise Crash("killed before the answer was written")

    monkeypatch.setattr(AttemptLedger, "answered", crash)
    with pytest.raises(Crash):
        jobs.run_due(DEBIT_RUN)
    monkeypatch.undo()
    report = _jobs(rt, clock, bank).run_due(DEBIT_RUN)
    assert (report.debited, report.failed) == (1, 1)
    assert sum(bank.asked.values()) == 2 and max(bank.asked.values()) == 1  # not debited again
    assert sum(bank.enquired.values()) == 2  # a status enquiry instead


def test_a_gateway_that_cannot_say_is_not_asked_again(world, monkeypatch, caplog):
    rt, clock, pids = world
    bank = CountingBank(can_reconcile=False)

    def crash(self, results):
        raise Crash("killed before the answer was written")

    monkeypatch.setattr(AttemptLedger, "answered", crash)
    with pytest.raises(Crash):
        _jobs(rt, clock, bank).run_due(DEBIT_RUN)
    monkeypatch.undo()
    report = _jobs(rt, clock, bank).run_due(DEBIT_RUN)
    assert sum(bank.asked.values()) == 2  # the ambiguous attempts are not sent again
    assert (report.debited, report.failed) == (0, 0)
    assert "without an answer: not sent again" in caplog.text
    with rt.database.connect() as conn:
        rows = conn.execute("SELECT count(*) FROM collection_attempts WHERE result_code IS NULL").fetchone()
    assert rows is not None and rows[0] == 2  # left for the operator, on record
