"""The simulation is deterministic for a seed and exercises the whole lifecycle."""

from __future__ import annotations

import tempfile
import uuid

from policy_core.bootstrap import bootstrap
from policy_core.database import Database
from policy_core.settings import Settings
from scheduler.simulate import simulate


def _run(pg_dsn: str, seed: int) -> tuple[dict, list[tuple]]:
    db = Database(dsn=pg_dsn, schema=f"t_{uuid.uuid4().hex[:16]}")
    db.ensure_schema()
    rt = bootstrap(Settings(POLICY_DATA_DIR=tempfile.mkdtemp()), database=db)
    try:
        summary = simulate(rt, policies=60, years=2, seed=seed)
        rows = rt.read_models.list_policies({}, limit=500)
        states = sorted(
            (r["member_number"], r["status"], r["current_period"], r["premium"], r["collected"]) for r in rows
        )
        return summary, states
    finally:
        rt.close()
        db.drop_schema()


def test_same_seed_same_history_and_every_stage_happens(pg_dsn):
    first, states = _run(pg_dsn, seed=11)
    second, states2 = _run(pg_dsn, seed=11)
    assert first == second and states == states2
    assert first["applied"] == 60
    statuses = {s[1] for s in states}
    assert "active" in statuses
    assert any(s[2] >= 2 for s in states)  # renewals happened
    assert first["runs"] > 0


def _events(database: Database) -> int:
    with database.connect() as conn:
        row = conn.execute(f"SELECT count(*) FROM {database.schema}.policy_admin_events").fetchone()
    return int(row[0]) if row else 0


def test_simulate_refuses_a_store_that_holds_events_and_writes_nothing(
    runtime, database, monkeypatch, capsys
):
    """#10: simulate wrote into whatever store was configured (the server's included)."""
    from policy_core.cli import main
    from tests.conftest import BANK

    runtime.app.apply(
        scheme="jcci",
        member_number="REAL-000001",
        holder={"name": "本物の事業者"},
        industry="retail",
        annual_sales=50_000_000,
        plan="A",
        bank_account=BANK,
        application_date=runtime.app.clock().date(),
    )
    held = _events(database)
    assert held > 0
    monkeypatch.setenv("DATABASE_URL", database.dsn)
    monkeypatch.setenv("POLICY_DB_SCHEMA", database.schema)
    monkeypatch.setenv("POLICY_DATA_DIR", tempfile.mkdtemp())
    capsys.readouterr()
    assert main(["simulate", "--policies", "3", "--years", "1"]) == 2
    err = capsys.readouterr().err
    said = [line for line in err.splitlines() if not line.startswith("{")]  # besides the log lines
    assert len(said) == 1 and said[0].startswith("policy-admin: "), err  # one line, no traceback
    assert "--into-existing-store" in said[0] and "empty store" in said[0]
    assert _events(database) == held  # nothing written


def test_simulate_into_an_empty_store_or_when_told_and_logs_stay_under_the_bar(database, monkeypatch, capsys):
    """An empty store is simulated into; a store with events only with --into-existing-store; while
    the progress bar is shown the info log lines are held back (#10: bars buried under JSON lines)."""
    from policy_core.cli import main

    monkeypatch.setenv("DATABASE_URL", database.dsn)
    monkeypatch.setenv("POLICY_DB_SCHEMA", database.schema)
    monkeypatch.setenv("POLICY_DATA_DIR", tempfile.mkdtemp())
    monkeypatch.setenv("POLICY_LOG_LEVEL", "INFO")
    assert main(["simulate", "--policies", "3", "--years", "1"]) == 0
    first = _events(database)
    assert first > 0
    err = capsys.readouterr().err
    assert "simulating" in err  # the bar
    bar_part = err[err.index("simulating") :]
    assert '"level": "info"' not in bar_part  # no info line after the bar started
    assert main(["simulate", "--policies", "3", "--years", "1", "--seed", "2"]) == 2
    assert _events(database) == first
    assert main(["simulate", "--policies", "3", "--years", "1", "--seed", "2", "--into-existing-store"]) == 0
    assert _events(database) > first
