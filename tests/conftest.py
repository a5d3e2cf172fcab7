"""Shared fixtures.

PostgreSQL: ``TEST_DATABASE_URL`` (CI sets it) or, without it, an embedded server
from pgserver started once per session. No PostgreSQL test is ever skipped: if no
database can be had, the run fails and says why.
"""

from __future__ import annotations

import logging
import os
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from policy_core.database import Database

BANK = {
    "bank_code": "0001",
    "branch_code": "001",
    "account_type": "ordinary",
    "account_number": "1234567",
    "holder_kana": "ﾔﾏﾀﾞ ﾀﾛｳ",
}
FIXED_NOW = datetime(2030, 1, 1, tzinfo=UTC)
# The Zengin gateway's collector settings for tests (a deployment sets its bank's values).
ZENGIN_COLLECTOR = {
    "POLICY_ZENGIN_COLLECTOR_CODE": "1234567890",
    "POLICY_ZENGIN_COLLECTOR_NAME": "ｺｼﾞﾝｼﾞﾖｳﾎｳﾛｳｴｲﾎｹﾝ",
    "POLICY_ZENGIN_COLLECTOR_ACCOUNT": "0001-001-ordinary-1234567",
}
# One master key for every runtime the suite starts (a deployment's processes share one; tests of
# the generated key file unset it). Fixed bytes: a test key, never a deployment's.
TEST_MASTER_KEY = "cG9saWN5LWFkbWluIHRlc3QgbWFzdGVyIGtleSAzMmI="
os.environ.setdefault("POLICY_MASTER_KEY", TEST_MASTER_KEY)

# One log file per run (tests/logscan.py): every logger of this process and of every process the
# tests start (they inherit POLICY_LOG_FILE) appends its JSON lines there; at the end of the session
# the file is searched for the tests' personal values and any hit fails the run. setdefault: the
# processes the suite starts (and pytest-xdist workers, if ever used) share the controller's file.
os.environ.setdefault(
    "POLICY_LOG_FILE", str(Path(tempfile.mkdtemp(prefix="policy-admin-test-logs-")) / "run.log")
)
RUN_LOG = Path(os.environ["POLICY_LOG_FILE"])


def pytest_configure(config: pytest.Config) -> None:
    from policy_core.logs import KEEP, file_handler

    root = logging.getLogger()
    if not any(getattr(h, "baseFilename", None) == str(RUN_LOG.resolve()) for h in root.handlers):
        handler = file_handler(RUN_LOG)
        setattr(handler, KEEP, True)  # configure_logging (the CLI's main, in tests) keeps it
        root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)  # what a deployment logs (POLICY_LOG_LEVEL=INFO)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if hasattr(session.config, "workerinput"):  # an xdist worker: the controller scans once
        return
    from tests.logscan import leaks, personal_values

    for h in logging.getLogger().handlers:
        if isinstance(h, logging.FileHandler):
            h.flush()
    text = RUN_LOG.read_text(encoding="utf-8") if RUN_LOG.exists() else ""
    found = leaks(text, personal_values(Path(__file__).parent))
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if found:
        shown = ", ".join(f"{v!r} on {n} line(s)" for v, n in found.items())
        message = f"personal values in the run's logs ({RUN_LOG}): {shown}"
        if reporter is not None:
            reporter.write_line(message, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    elif reporter is not None:
        lines = text.count("\n")
        reporter.write_line(f"logs of this run: {RUN_LOG} ({lines} lines, no personal value found)")


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        try:
            with psycopg.connect(url, connect_timeout=10) as conn:
                conn.execute("SELECT 1")
        except Exception as exc:
            pytest.fail(f"TEST_DATABASE_URL is set but PostgreSQL is unreachable: {exc}", pytrace=False)
        yield url
        return
    try:
        import pgserver

        tmp = Path(tempfile.mkdtemp(prefix="policy-admin-pg-"))
        server = pgserver.get_server(tmp / "pgdata", cleanup_mode="delete")
    except Exception as exc:
        pytest.fail(
            f"no TEST_DATABASE_URL and the embedded PostgreSQL (pgserver) failed to start: {exc}",
            pytrace=False,
        )
    yield server.get_uri()
    server.cleanup()


@pytest.fixture
def database(pg_dsn: str) -> Iterator[Database]:
    db = Database(dsn=pg_dsn, schema=f"t_{uuid.uuid4().hex[:16]}")
    db.ensure_schema()
    yield db
    db.drop_schema()


@pytest.fixture
def runtime(database: Database):
    from policy_core.bootstrap import bootstrap
    from policy_core.settings import Settings

    rt = bootstrap(Settings(POLICY_DATA_DIR=tempfile.mkdtemp()), database=database, clock=lambda: FIXED_NOW)
    yield rt
    rt.close()
