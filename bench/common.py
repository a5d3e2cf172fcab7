"""Shared plumbing: the database, fresh schemas, timing, statistics, result rows.

Every benchmark runs in its own PostgreSQL schema (``bench_<name>_<hex>``), created
at the start and dropped at the end, so it never touches a deployment's tables and
two runs never see each other's data. Only loopback servers are accepted.
"""

from __future__ import annotations

import contextlib
import logging
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from policy_core.database import Database

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
LOOPBACK = {"127.0.0.1", "localhost", "::1", ""}
EVENTS = "policy_admin_events"

log = logging.getLogger("bench")


def bench_dsn() -> str:
    dsn = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL") or DEFAULT_DSN
    host = str(conninfo_to_dict(dsn).get("host") or "")
    if host not in LOOPBACK and not host.startswith("/"):
        raise SystemExit(
            f"bench: refusing to run against {host!r}: benchmarks only use a loopback PostgreSQL"
        )
    return dsn


# ---------------------------------------------------------------------------- config


@dataclass
class Config:
    dsn: str
    quick: bool = False
    runs: int = 3  # each figure is the median of this many runs (quick: 1)
    verbose: bool = True
    scratch: dict[str, Any] = field(default_factory=dict)  # shared between benchmarks (templates)

    def size(self, full: Any, quick: Any) -> Any:
        return quick if self.quick else full

    def say(self, msg: str) -> None:
        if self.verbose:
            print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------------------- schemas


@contextlib.contextmanager
def fresh_schema(cfg: Config, name: str) -> Iterator[Database]:
    """A new schema for one benchmark, dropped afterwards (with its staging/scratch schemas)."""
    schema = f"bench_{name}_{uuid.uuid4().hex[:8]}"
    db = Database(dsn=cfg.dsn, schema=schema)
    db.ensure_schema()
    try:
        yield db
    finally:
        drop_schemas(cfg.dsn, schema)


def drop_schemas(dsn: str, prefix: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname = %s OR nspname LIKE %s",
                [prefix, prefix.replace("_", r"\_") + r"\_%"],
            ).fetchall()
        ]
        for n in names:
            conn.execute(f'DROP SCHEMA IF EXISTS "{n}" CASCADE')


def make_runtime(
    db: Database, *, clock: Any = None, read_models: bool = True, initialise: bool = True
) -> Any:
    from policy_core.bootstrap import bootstrap
    from policy_core.settings import Settings

    from .datagen import BENCH_MASTER_KEY

    # One master key for every bench runtime: copies of a template carry data keys wrapped by it.
    settings = Settings(POLICY_DATA_DIR=tempfile.mkdtemp(prefix="bench-"), POLICY_MASTER_KEY=BENCH_MASTER_KEY)
    return bootstrap(settings, database=db, clock=clock, read_models=read_models, initialise=initialise)


def qualified(db: Database, table: str = EVENTS) -> str:
    return f'"{db.schema}"."{table}"'


def vacuum_analyze(db: Database, table: str = EVENTS) -> None:
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        conn.execute(f"VACUUM (ANALYZE) {qualified(db, table)}")


def analyze_schema(db: Database) -> None:
    """ANALYZE every table of the benchmark's schema (the read models after a rebuild)."""
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY 1", [db.schema]
            ).fetchall()
        ]
        for name in names:
            conn.execute(f'ANALYZE "{db.schema}"."{name}"')


def count_events(db: Database) -> int:
    with psycopg.connect(db.dsn) as conn:
        return conn.execute(f"SELECT count(*) FROM {qualified(db)}").fetchone()[0]


# ---------------------------------------------------------------------------- statistics


def median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def percentile(xs: list[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100)."""
    if not xs:
        return None
    s = sorted(xs)
    k = max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def repeat(
    cfg: Config,
    fn: Callable[[int], float],
    *,
    runs: int | None = None,
    label: str = "",
    give_up_after: float | None = None,
) -> list[float]:
    """Call ``fn(run_index)`` (which returns one measurement) ``runs`` times.

    ``give_up_after``: when one run takes longer than this many seconds of wall time, the
    remaining runs are skipped (recorded in the result's notes by the caller).
    """
    out = []
    for i in range(runs or cfg.runs):
        started = time.perf_counter()
        value = fn(i)
        out.append(value)
        cfg.say(f"  {label} run {i + 1}: {value:.6g}")
        if give_up_after is not None and time.perf_counter() - started > give_up_after:
            break
    return out


def latencies_ms(fn: Callable[[], Any], k: int, *, warm_up: int = 0) -> list[float]:
    """``k`` sequential calls of ``fn`` (after ``warm_up`` untimed ones), each one's wall time in ms."""
    for _ in range(warm_up):
        fn()
    out = []
    for _ in range(k):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def interleaved(
    measures: dict[str, Callable[[], Any]],
    runs: int,
    *,
    after_run: Callable[[int, dict[str, list[Any]]], None] | None = None,
) -> dict[str, list[Any]]:
    """Every measurement once per run, in the given order, run after run (so that the machine's
    load falls on all of them alike); returns each one's results over the runs. ``after_run(r, so_far)``
    after each run."""
    out: dict[str, list[Any]] = {k: [] for k in measures}
    for r in range(runs):
        for k, fn in measures.items():
            out[k].append(fn())
        if after_run is not None:
            after_run(r, out)
    return out


# ---------------------------------------------------------------------------- results


@dataclass
class Measure:
    """One row of the results table."""

    bench: int
    key: str  # stable machine key, e.g. "apply_per_s"
    measure: str  # human label
    value: float | None
    unit: str
    runs: list[float] = field(default_factory=list)
    baseline: str | None = None
    baseline_value: float | None = None
    baseline_runs: list[float] = field(default_factory=list)
    ratio: float | None = None  # value / baseline_value
    target: str = "-"
    met: bool | None = None  # None: no target for this row
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def row(
    bench: int,
    key: str,
    measure: str,
    runs: list[float],
    unit: str,
    *,
    baseline: str | None = None,
    baseline_runs: list[float] | None = None,
    target: str = "-",
    met: Callable[[float | None, float | None], bool] | None = None,
    notes: str = "",
    extra: dict[str, Any] | None = None,
) -> Measure:
    value = median(runs)
    base = median(baseline_runs or [])
    r = ratio(value, base)
    ok = None
    if met is not None and value is not None:
        ok = bool(met(value, r))
    return Measure(
        bench,
        key,
        measure,
        value,
        unit,
        list(runs),
        baseline,
        base,
        list(baseline_runs or []),
        r,
        target,
        ok,
        notes,
        extra or {},
    )
