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


def test_threads_of_one_process_share_the_kept_series_and_register_checks(database):
    """One process (as one API worker's thread pool): the series kept between saves is used by
    one command at a time, a stale kept series after another process's number re-runs, and two
    racing applications of one member with overlapping cover accept one (409 for the other)."""
    one = bootstrap(Settings(POLICY_DATA_DIR=tempfile.mkdtemp()), database=database, clock=lambda: FIXED_NOW)
    other = bootstrap(
        Settings(POLICY_DATA_DIR=tempfile.mkdtemp()), database=database, clock=lambda: FIXED_NOW
    )
    ids: list = []
    outcomes: list = []
    errors: list = []
    barrier = threading.Barrier(4)

    def burst(i: int) -> None:
        barrier.wait()
        try:
            for j in range(4):
                ids.append(_apply(one.app, f"T-{i}-{j}"))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def same(i: int) -> None:
        barrier.wait()
        try:
            outcomes.append(_apply(one.app, "TWICE", date(2026, 5 + i, 10)))
        except Conflict as exc:
            outcomes.append(exc.code)

    try:
        ids.append(_apply(one.app, "FIRST"))  # the series is now kept by `one`
        ids.append(_apply(other.app, "BY-OTHER"))  # ...and stale there
        threads = [threading.Thread(target=burst, args=(i,)) for i in range(2)]
        threads += [threading.Thread(target=same, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert sorted(map(str, outcomes))[-1] == "member_already_insured"
        assert sum(1 for o in outcomes if o != "member_already_insured") == 1
        ids.extend(o for o in outcomes if o != "member_already_insured")
        numbers = sorted(other.app.get_policy(pid).number for pid in ids)
        assert numbers == [f"CHUOKAI-2026-{n:06d}" for n in range(1, 12)]
        # a policy keeps its number wherever it is read, and a repeated application is refused
        assert one.app.get_policy(ids[0]).number == other.app.get_policy(ids[0]).number
        with pytest.raises(Conflict) as refused:
            _apply(one.app, "FIRST")
        assert refused.value.code == "already_applied"
        assert len(set(numbers)) == len(numbers)
    finally:
        one.close()
        other.close()
