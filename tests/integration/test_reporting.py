"""The reporting schema for BI tools: every documented column read through the read-only role."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from policy_core import reporting
from policy_core.projections.maintenance import rebuild
from policy_core.projections.views import all_views
from tests.conftest import BANK

pytestmark = pytest.mark.postgres

DOC = Path(__file__).resolve().parents[2] / "docs" / "reporting.md"
PERSONAL = re.compile(r"holder|name|kana|address|phone|email|account|description|member", re.I)


def documented() -> dict[str, list[str]]:
    """``{view: [column, ...]}`` as docs/reporting.md lists them (parsed from the page, not the code)."""
    views: dict[str, list[str]] = {}
    current = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        m = re.match(r"### `reporting\.(\w+)`", line)
        if m:
            current = views.setdefault(m.group(1), [])
            continue
        m = re.match(r"\| `(\w+)` \|", line)
        if m and current is not None:
            current.append(m.group(1))
    return views


def make_data(runtime) -> tuple:
    app = runtime.app
    pid = app.apply(
        scheme="chuokai",
        member_number="R-1",
        holder={"name": "山田 花子"},
        industry="retail",
        annual_sales=80_000_000,
        plan="B",
        bank_account=BANK,
        application_date=date(2026, 1, 10),
    )
    app.activate(pid, 1)
    policy = app.get_policy(pid)
    period = policy.current_period
    app.record_debit_success(pid, 1, attempt=1, amount=period.premium, debit_date=period.debit_date)
    other = app.apply(
        scheme="jcci",
        member_number="R-2",
        holder={"name": "佐藤 一郎"},
        industry="retail",
        annual_sales=50_000_000,
        plan="A",
        bank_account=BANK,
        application_date=date(2026, 1, 10),
    )
    debit_date = app.get_policy(other).current_period.debit_date
    app.record_debit_failure(
        other, 1, attempt=1, debit_date=debit_date, result_code="1", reason="insufficient_funds"
    )
    app.lapse(other, 1)
    cid = app.report_incident(
        policy_id=pid,
        occurred_at=policy.current_period.start + timedelta(days=60),
        discovered_at=policy.current_period.start + timedelta(days=62),
        cause="insider",
        records_affected=10,
        description="staff member took the list",
    )
    runtime.projections.catch_up()
    return pid, cid


def read_as_role(dsn: str, schema: str, view: str, columns: list[str]) -> list[tuple]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(reporting.ROLE)))
        query = sql.SQL("SELECT {} FROM {}.{}").format(
            sql.SQL(", ").join(map(sql.Identifier, columns)), sql.Identifier(schema), sql.Identifier(view)
        )
        return conn.execute(query).fetchall()


def test_every_documented_column_reads_through_the_reporting_role(runtime, pg_dsn):
    pid, cid = make_data(runtime)
    schema = reporting.reporting_schema(runtime.database.schema)
    docs = documented()
    assert set(docs) == {v.name for v in reporting.VIEWS} and all(docs.values())
    for view, columns in docs.items():
        rows = read_as_role(pg_dsn, schema, view, columns)
        assert rows, f"reporting.{view} has no rows for the data made"
        assert not [c for c in columns if PERSONAL.search(c) and c != "view_name"], view
    # The views have exactly the documented columns: nothing undocumented (and nothing personal) leaks.
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        found: dict[str, list[str]] = {}
        for view, column in conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s"
            " ORDER BY table_name, ordinal_position",
            [schema],
        ):
            found.setdefault(view, []).append(column)
    assert found == docs
    # The figures are the read models'.
    rows = read_as_role(pg_dsn, schema, "policies", ["policy_id", "status", "premium"])
    (row,) = [r for r in rows if r[0] == pid]
    assert (
        row[0] == pid and row[1] == "active" and row[2] == runtime.app.get_policy(pid).current_period.premium
    )
    (claim,) = read_as_role(pg_dsn, schema, "claims", ["claim_id", "scheme", "status"])
    assert claim == (cid, "chuokai", "reported")
    fresh = dict(read_as_role(pg_dsn, schema, "freshness", ["view_name", "position"]))
    head = read_as_role(pg_dsn, schema, "freshness", ["log_head"])[0][0]
    assert set(fresh) == {v.name for v in all_views()} and all(p == head for p in fresh.values())


def test_the_role_reads_only_the_reporting_schema(runtime, pg_dsn):
    make_data(runtime)
    live = runtime.database.schema
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(reporting.ROLE)))
        for table in ("rm_policies", "policy_admin_events", "rm_tracking"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(
                    sql.SQL("SELECT 1 FROM {}.{}").format(sql.Identifier(live), sql.Identifier(table))
                )
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                sql.SQL("DELETE FROM {}.policies").format(sql.Identifier(reporting.reporting_schema(live)))
            )


def test_a_rebuild_keeps_the_views(runtime, pg_dsn):
    """The blue/green swap drops the live tables: the views are dropped and made again with it."""
    pid, _ = make_data(runtime)
    live = runtime.database.schema
    rebuild(pg_dsn, runtime.projections.source, live, list(all_views()))
    rows = read_as_role(pg_dsn, reporting.reporting_schema(live), "policies", ["policy_id"])
    assert (pid,) in rows and len(rows) == 2
    # db init again (idempotent): the same views, the same rows.
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        runtime.projections.prepare(conn)
    assert read_as_role(pg_dsn, reporting.reporting_schema(live), "limits", ["policy_id"]).count((pid,)) == 4
