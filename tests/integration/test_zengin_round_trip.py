"""Zengin round trip on real PostgreSQL: request file -> bank result file with mixed codes -> events."""

from __future__ import annotations

import stat
import tempfile
from datetime import date, datetime

from policy_core.bootstrap import bootstrap
from policy_core.calendar import TOKYO
from policy_core.cli import main
from policy_core.settings import Settings
from scheduler.clock import SettableClock
from scheduler.jobs import Jobs
from scheduler.zengin import parse_request_file, simulate_result_file, write_result_file
from scheduler.zengin_gateway import ZenginGateway, collector_from_settings
from tests.conftest import BANK, ZENGIN_COLLECTOR


def test_request_file_then_result_file_records_each_outcome_once(database, tmp_path, monkeypatch):
    clock = SettableClock(datetime(2026, 12, 1, tzinfo=TOKYO))
    rt = bootstrap(Settings(POLICY_DATA_DIR=tempfile.mkdtemp()), database=database, clock=clock)
    try:
        collector = collector_from_settings(Settings(**ZENGIN_COLLECTOR))
        gateway = ZenginGateway(database, tmp_path / "outbox", collector)
        jobs = Jobs(rt.app, rt.read_models, rt.projections.catch_up, gateway, now=clock.now)
        accounts = ["1234567", "9000001", "9000002", "2345678", "9000004"]
        pids = [
            rt.app.apply(
                scheme="chuokai",
                member_number=f"Z-{i}",
                holder={"name": f"m{i}"},
                industry="retail",
                annual_sales=20_000_000,
                plan="A",
                bank_account=dict(BANK, account_number=acct),
                application_date=date(2026, 12, 15),
            )
            for i, acct in enumerate(accounts)
        ]
        clock.set(datetime(2027, 4, 27, 12, tzinfo=TOKYO))
        jobs.run_due(clock.now())
        jobs.run_due(clock.now())  # the same day again: no second file, no duplicate rows
        files = sorted((tmp_path / "outbox").glob("request-*.txt"))
        assert [f.name[:17] for f in files] == ["request-20270426-"]
        request = files[0].read_bytes()
        # account numbers and holder kana: owner-only files in an owner-only directory
        assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
        assert stat.S_IMODE((tmp_path / "outbox").stat().st_mode) == 0o700
        assert gateway.purge(0) == 0  # no result ingested yet: kept
        parsed = parse_request_file(request)
        assert len(parsed.records) == 5 and parsed.trailer.total_count == 5
        assert parsed.trailer.total_amount == 5 * 30_000
        assert all(len(r) == 120 for r in request.split(b"\r\n") if r)
        # nothing is recorded until the bank answers
        assert all(not rt.app.get_policy(p).period(1).debits for p in pids)

        result = simulate_result_file(request)
        counts = gateway.ingest_result_file(result, rt.app)
        assert counts == {"debited": 2, "failed": 3, "lapsed": 0, "unchanged": 0}
        attempts = [rt.app.get_policy(p).period(1).debits[0] for p in pids]
        assert [a.outcome for a in attempts] == ["debited", "failed", "failed", "debited", "failed"]
        assert [a.result_code for a in attempts if a.outcome == "failed"] == ["1", "2", "4"]
        assert [a.reason for a in attempts if a.outcome == "failed"] == [
            "insufficient_funds",
            "no_such_account",
            "no_direct_debit_mandate",
        ]
        assert [rt.app.get_policy(p).period(1).is_collected for p in pids] == [
            True,
            False,
            False,
            True,
            False,
        ]
        again = gateway.ingest_result_file(result, rt.app)
        assert again["unchanged"] == 5
        assert gateway.purge(7) == 0 and files[0].exists()  # ingested today: kept for 7 days
        assert gateway.purge(0) == 1 and not files[0].exists()  # purged once the days have passed

        # a result file the bank made by hand with other codes is read the same way
        custom = write_result_file(request, {r.customer_number: "8" for r in parsed.records})
        assert len(custom) == len(request)

        # `zengin ingest FILE`: the bank's result file (account numbers in it) is owner-only after
        result_file = tmp_path / "result.txt"
        result_file.write_bytes(result)  # the same file again: recorded once, nothing changes
        result_file.chmod(0o644)
        monkeypatch.setenv("DATABASE_URL", database.dsn)
        monkeypatch.setenv("POLICY_DB_SCHEMA", database.schema)
        monkeypatch.setenv("POLICY_DATA_DIR", str(tmp_path))
        assert main(["zengin", "ingest", str(result_file)]) == 0
        assert stat.S_IMODE(result_file.stat().st_mode) == 0o600
    finally:
        rt.close()
