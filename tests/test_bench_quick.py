"""The benchmarks keep working: the quick mode of two cheap ones (#1 apply, #6 as-of read).

Only the shape of the results is checked, never a timing: how fast anything ran
decides nothing here (docs/performance.md holds the measured figures).
"""

from __future__ import annotations

import json

import pytest

from bench.__main__ import main

pytestmark = pytest.mark.postgres

MEASURE_KEYS = {
    "bench",
    "key",
    "measure",
    "value",
    "unit",
    "runs",
    "baseline",
    "baseline_value",
    "baseline_runs",
    "ratio",
    "target",
    "met",
    "notes",
}


def test_quick_mode_produces_results_for_apply_and_as_of(pg_dsn, tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_DATABASE_URL", pg_dsn)
    code = main(["--quick", "--only", "1,6", "--results-dir", str(tmp_path), "--no-docs", "--quiet"])

    files = list(tmp_path.glob("quick-*.json"))
    assert len(files) == 1
    data = json.loads(files[0].read_text())
    errors = {k: v["error"] for k, v in data["benchmarks"].items() if v["error"]}
    assert code == 0, errors
    assert data["quick"] is True and data["format"] == "policy-admin-bench/1"
    assert set(data["benchmarks"]) == {"1", "6"}
    assert {"nproc", "postgresql", "memory_gib"} <= set(data["machine"])

    keys = {m["key"] for m in data["measures"]}
    assert {"apply_per_s", "apply_vs_raw_insert", "bare_save_vs_raw_insert"} <= keys
    assert {"asof_50", "asof_500", "asof_snap_500", "asof_fold_500", "current_snap_500"} <= keys
    for m in data["measures"]:
        assert MEASURE_KEYS <= set(m), m["key"]
        assert m["value"] is not None and m["runs"], m["key"]
        if m["baseline"]:
            assert m["baseline_value"] is not None and m["ratio"] is not None, m["key"]
    # every figure names its baseline from the same run where the issue gives one
    assert next(m for m in data["measures"] if m["key"] == "apply_per_s")["baseline"].startswith("library")


def test_no_bench_schema_is_left_behind(pg_dsn, tmp_path, monkeypatch):
    import psycopg

    monkeypatch.setenv("BENCH_DATABASE_URL", pg_dsn)
    main(["--quick", "--only", "6", "--results-dir", str(tmp_path), "--no-docs", "--quiet"])
    with psycopg.connect(pg_dsn) as conn:
        left = conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'bench\\_b6\\_%'").fetchall()
    assert left == []


def test_quick_mode_of_the_audit_benchmark_reports_verify_beside_a_raw_read(pg_dsn, tmp_path, monkeypatch):
    """#10 in --quick: verify and seal rates, each with the raw read of the same rows as its
    baseline, and the raw read as a row of its own, all in the generated table."""
    from bench.report import table

    monkeypatch.setenv("BENCH_DATABASE_URL", pg_dsn)
    code = main(["--quick", "--only", "10", "--results-dir", str(tmp_path), "--no-docs", "--quiet"])
    data = json.loads(next(tmp_path.glob("quick-*.json")).read_text())
    assert code == 0, {k: v["error"] for k, v in data["benchmarks"].items()}
    by = {m["key"]: m for m in data["measures"]}
    assert {"audit_raw_read_per_s", "audit_verify_per_s", "audit_seal_per_s"} <= set(by)
    for key in ("audit_verify_per_s", "audit_seal_per_s"):
        m = by[key]
        assert m["unit"] == "ev/s" and m["value"] > 0 and m["baseline"].startswith("raw psycopg")
        assert m["baseline_value"] == by["audit_raw_read_per_s"]["value"] and m["ratio"] is not None
    rows = table(data)
    assert "audit verify (events/s)" in rows and "raw read of the stored rows (events/s)" in rows
