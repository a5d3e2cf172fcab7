"""Shared fixtures.

PostgreSQL: ``TEST_DATABASE_URL`` (CI sets it) or, without it, an embedded server
from pgserver started once per session. No PostgreSQL test is ever skipped: if no
database can be had, the run fails and says why.
"""

from __future__ import annotations

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
