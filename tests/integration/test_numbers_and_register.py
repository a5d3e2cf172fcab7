"""Policy numbers and the member register under real concurrency (PostgreSQL): writers racing on
one scheme year never give a number twice nor lose one, and two applications of one member
racing each other cannot both be accepted."""

from __future__ import annotations

import tempfile
import threading
from datetime import date

import pytest

from policy_core.bootstrap import bootstrap
from policy_core.errors import Conflict
from policy_core.settings import Settings
from tests.conftest import BANK, FIXED_NOW

pytestmark = pytest.mark.postgres


def _apply(app, member, application_date=date(2026, 5, 10)):
    return app.apply(
        scheme="chuokai",
        member_number=member,
        holder={"name": "試験株式会社"},
        industry="printing",
        annual_sales=200_000_000,
        plan="A",
        bank_account=dict(BANK),
        application_date=application_date,
    )


def test_racing_writers_take_consecutive_unique_numbers(database):
    writers = [
        bootstrap(Settings(POLICY_DATA_DIR=tempfile.mkdtemp()), database=database, clock=lambda: FIXED_NOW)
        for _ in range(3)
    ]
    ids: list = []
    errors: list = []

    def burst(i: int) -> None:
        try:
            for j in range(5):
                ids.append(_apply(writers[i].app, f"N-{i}-{j}"))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    try:
        threads = [threading.Thread(target=burst, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        numbers = sorted(writers[0].app.get_policy(pid).number for pid in ids)
        assert numbers == [f"CHUOKAI-2026-{n:06d}" for n in range(1, 16)]
    finally:
        for w in writers:
            w.close()


def test_racing_applications_of_one_member_accept_one(database):
    writers = [
        bootstrap(Settings(POLICY_DATA_DIR=tempfile.mkdtemp()), database=database, clock=lambda: FIXED_NOW)
        for _ in range(2)
    ]
    outcomes: list = []
    barrier = threading.Barrier(2)

    def one(i: int) -> None:
        barrier.wait()
        try:
            outcomes.append(_apply(writers[i].app, "SAME", date(2026, 5 + i, 10)))
        except Conflict as exc:
            outcomes.append(exc.code)

    try:
        threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(map(str, outcomes))[-1] == "member_already_insured"
        assert sum(1 for o in outcomes if o != "member_already_insured") == 1
    finally:
        for w in writers:
            w.close()
