"""Issue 10, defect 4: run-due is single-flight across processes (one PostgreSQL advisory lock
shared by the API, the CLI and the scheduler); the bank is never asked twice for one attempt."""

from __future__ import annotations

import tempfile
import threading
from datetime import date, datetime

import psycopg
import pytest

from policy_core.bootstrap import bootstrap
from policy_core.calendar import TOKYO
from policy_core.settings import Settings
from scheduler.clock import SettableClock
from scheduler.gateway import SimulatedBank
from scheduler.jobs import Jobs
from scheduler.leader import RunInProgress, RunLock
from tests.conftest import BANK


class CountingBank(SimulatedBank):
    """Counts what it is asked; the first batch waits until told to go on."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.entered = threading.Event()
        self.go_on = threading.Event()

    def collect(self, requests):
        self.asked.extend(r.customer_number for r in requests)
        self.entered.set()
        assert self.go_on.wait(30)
        return super().collect(requests)


@pytest.fixture
def rt(database):
    clock = SettableClock(datetime(2026, 1, 10, 10, tzinfo=TOKYO))
    runtime = bootstrap(
        Settings(POLICY_DATA_DIR=tempfile.mkdtemp(), POLICY_RUN_DUE_WAIT="0"), database=database, clock=clock
    )
    for i in range(12):
        runtime.app.apply(
            scheme="chuokai",
            member_number=f"M-{i}",
            holder={"name": f"member {i}"},
            industry="retail",
            annual_sales=20_000_000,
            plan="A",
            bank_account=BANK,
            application_date=date(2026, 1, 10),
        )
    clock.set(datetime(2026, 5, 1, 12, tzinfo=TOKYO))
    yield runtime
    runtime.close()


def test_two_concurrent_runs_ask_the_bank_once_per_attempt(rt):
    bank = CountingBank()

    def jobs():
        return Jobs(
            rt.app,
            rt.read_models,
            rt.projections.catch_up,
            bank,
            now=rt.clock.now,
            run_lock=RunLock(rt.database),
        )

    as_of = rt.clock.now()
    first = threading.Thread(target=lambda: jobs().run_due(as_of))
    first.start()
    assert bank.entered.wait(30)  # the first run is at the bank
    with pytest.raises(RunInProgress) as refused:
        jobs().run_due(as_of)  # another process: refused at once, with Retry-After
    assert refused.value.code == "run_in_progress" and refused.value.details["retry_after"] > 0
    bank.go_on.set()
    first.join(30)
    again = jobs().run_due(as_of, wait=5)  # after the first: nothing is due any more
    assert len(bank.asked) == len(set(bank.asked)) == 12
    assert again.debited == 0


def test_the_api_answers_409_run_in_progress_while_another_process_holds_the_lock(rt):
    from fastapi.testclient import TestClient

    from api.auth import parse_keys
    from api.main import create_app

    key = "o" * 24
    app = create_app(rt.settings, runtime=rt, api_keys=parse_keys(f"operator:{key}"))
    headers = {"Authorization": f"Bearer {key}"}
    lock = RunLock(rt.database)
    with TestClient(app, raise_server_exceptions=False) as client:
        with psycopg.connect(rt.database.dsn, autocommit=True) as other:  # e.g. the CLI's run
            assert other.execute("SELECT pg_try_advisory_lock(%s)", (lock.key,)).fetchone()[0]
            r = client.post(
                "/api/v1/operations/run-due", headers=headers, json={"as_of": "2026-05-01T12:00:00+09:00"}
            )
            assert r.status_code == 409 and r.json()["type"].endswith(":run_in_progress")
            assert int(r.headers["retry-after"]) > 0
        r = client.post(
            "/api/v1/operations/run-due", headers=headers, json={"as_of": "2026-05-01T12:00:00+09:00"}
        )
        assert r.status_code == 200 and r.json()["debited"] == 12
