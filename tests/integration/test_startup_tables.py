"""Every table comes from the one start-up step (policy_core.ddl), and a request runs no DDL
(issue 10, defect 5: two first run-due calls with the Zengin gateway raced on CREATE TABLE)."""

from __future__ import annotations

import re
import tempfile
import threading
from datetime import date, datetime
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.auth import parse_keys
from api.main import create_app
from policy_core import ddl, reporting
from policy_core.bootstrap import bootstrap
from policy_core.calendar import TOKYO
from policy_core.cli import main
from policy_core.settings import Settings
from scheduler.clock import SettableClock
from tests.conftest import BANK, ZENGIN_COLLECTOR

DDL = re.compile(r"^\s*(CREATE|ALTER|DROP|GRANT|REVOKE|DO)\b", re.IGNORECASE)
KEYS = "operator:op-key-0123456789abcdefghij"
OP = {"Authorization": "Bearer op-key-0123456789abcdefghij"}


def _tables(database: Any) -> set[str]:
    with psycopg.connect(database.dsn) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            [database.schema],
        ).fetchall()
    return {r[0] for r in rows}


def _declared_tables() -> set[str]:
    return {t for p in ddl.providers() for t in p.tables if re.fullmatch(r"[a-z_]+", t)}


def test_db_init_creates_every_declared_table_and_nothing_else_does(database, monkeypatch):
    rt = bootstrap(Settings(POLICY_DATA_DIR=tempfile.mkdtemp()), database=database, initialise=False)
    rt.close()
    assert _tables(database) == set()  # building a runtime makes no table

    monkeypatch.setenv("DATABASE_URL", database.dsn)
    monkeypatch.setenv("POLICY_DB_SCHEMA", database.schema)
    monkeypatch.setenv("POLICY_DATA_DIR", tempfile.mkdtemp())
    assert main(["db", "init"]) == 0

    names = {p.name for p in ddl.providers()}
    assert {
        "event store",
        "read models",
        "reporting views",
        "api idempotency",
        "zengin requests",
        "audit chain",
    } <= names
    assert [p.name for p in ddl.providers()].index("reporting views") > [
        p.name for p in ddl.providers()
    ].index("read models")  # the views read the read models' tables
    declared = _declared_tables()
    assert {"policy_admin_events", "api_idempotency", "zengin_requests", "rm_tracking"} <= declared
    made = _tables(database)
    assert declared <= made
    assert any(t.startswith("rm_") and t != "rm_tracking" for t in made)  # every view's tables
    views = _reporting_views(database)
    assert views == {v.name for v in reporting.VIEWS}  # one view per documented table

    # the views come from db init's own provider, not only from preparing new read-model tables:
    # with the read models in place and the views gone, db init makes them again
    with psycopg.connect(database.dsn, autocommit=True) as conn, conn.cursor() as cur:
        reporting.drop_views(cur, database.schema)
    assert _reporting_views(database) == set()
    assert main(["db", "init"]) == 0
    assert _reporting_views(database) == views

    assert main(["db", "init"]) == 0  # idempotent
    assert _tables(database) == made


def _reporting_views(database: Any) -> set[str]:
    with psycopg.connect(database.dsn) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.views WHERE table_schema = %s",
            [reporting.reporting_schema(database.schema)],
        ).fetchall()
    return {r[0] for r in rows}


@pytest.fixture
def zengin_runtime(database):
    clock = SettableClock(datetime(2026, 12, 1, tzinfo=TOKYO))
    settings = Settings(
        POLICY_DATA_DIR=tempfile.mkdtemp(), POLICY_COLLECTION_GATEWAY="zengin", **ZENGIN_COLLECTOR
    )
    rt = bootstrap(settings, database=database, clock=clock)
    yield rt, clock
    rt.close()


def test_two_first_run_due_calls_with_zengin_do_not_race_and_run_no_ddl(zengin_runtime, monkeypatch):
    rt, clock = zengin_runtime
    for i in range(3):
        rt.app.apply(
            scheme="chuokai",
            member_number=f"Z-{i}",
            holder={"name": f"m{i}"},
            industry="retail",
            annual_sales=20_000_000,
            plan="A",
            bank_account=dict(BANK, account_number=f"123456{i}"),
            application_date=date(2026, 12, 15),
        )
    clock.set(datetime(2027, 4, 27, 12, tzinfo=TOKYO))  # cover started; the first debit run is due

    statements: list[str] = []
    real_execute = psycopg.Cursor.execute

    def recording_execute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        text = query if isinstance(query, str) else query.as_string(self.connection)
        statements.append(text)
        return real_execute(self, query, *args, **kwargs)

    app = create_app(rt.settings, runtime=rt, api_keys=parse_keys(KEYS))
    with TestClient(app, raise_server_exceptions=False) as client:
        monkeypatch.setattr(psycopg.Cursor, "execute", recording_execute)
        barrier = threading.Barrier(2)
        responses: list[Any] = []

        def first_run_due() -> None:
            barrier.wait()
            responses.append(
                client.post("/api/v1/operations/run-due", headers=OP, json={"as_of": clock.now().isoformat()})
            )

        threads = [threading.Thread(target=first_run_due) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        monkeypatch.undo()

    assert [r.status_code for r in responses] == [200, 200], [r.text for r in responses]
    assert statements, "the requests' statements were recorded"
    assert [s for s in statements if DDL.match(s)] == []
    with rt.database.connect() as conn:
        rows = conn.execute("SELECT policy_id, period_number, attempt FROM zengin_requests").fetchall()
    assert len(rows) == 3 and len(set(rows)) == 3  # each due debit requested once
    assert sorted(p.name for p in (rt.settings.data_dir / "zengin" / "outbox").glob("request-*.txt"))


def test_processes_starting_at_once_create_the_tables_in_turn(database):
    """Two runtimes (two `projections run` started together) run the start-up step at the same
    moment on an empty schema: both succeed (concurrent CREATE ... IF NOT EXISTS used to fail one
    of them with a pg_type unique violation)."""
    from policy_core.bootstrap import create_tables

    data_dir = tempfile.mkdtemp()
    runtimes = [
        bootstrap(Settings(POLICY_DATA_DIR=data_dir), database=database, initialise=False) for _ in range(4)
    ]
    barrier = threading.Barrier(len(runtimes))
    errors: list[BaseException] = []

    def start(rt: Any) -> None:
        barrier.wait()
        try:
            create_tables(rt)
        except BaseException as exc:  # reported below
            errors.append(exc)

    try:
        threads = [threading.Thread(target=start, args=(rt,)) for rt in runtimes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert _declared_tables() <= _tables(database)
    finally:
        for rt in runtimes:
            rt.close()
