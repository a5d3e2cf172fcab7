"""``python -m bench [--quick] [--only 1,3] [--runs N] [--results-dir DIR] [--no-docs]``.

Runs the benchmarks (each in a fresh PostgreSQL schema), writes the results as JSON to
``bench/results/`` and, for a full run, regenerates the table in docs/performance.md.
Timings never decide the exit code: it is non-zero only when a benchmark crashed.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import report
from .common import Config, bench_dsn

MODULES = {
    1: "b1_apply",
    2: "b2_runs",
    3: "b3_rebuild",
    4: "b4_lag",
    5: "b5_http",
    6: "b6_asof",
    7: "b7_growth",
    8: "b8_codec",
    9: "b9_dashboard",
    10: "b10_audit",
}


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--quick", action="store_true", help="tiny sizes, one run each (CI: checks the benchmarks work)"
    )
    p.add_argument("--only", default="", help="comma-separated benchmark numbers (default: all), e.g. 1,6")
    p.add_argument("--runs", type=int, default=None, help="runs per figure (default 3; quick 1)")
    p.add_argument("--results-dir", type=Path, default=report.RESULTS)
    p.add_argument("--no-docs", action="store_true", help="do not touch docs/performance.md")
    p.add_argument("--docs", action="store_true", help="regenerate docs/performance.md even in quick mode")
    p.add_argument("--quiet", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    logging.basicConfig(level=logging.WARNING)
    only = [int(x) for x in args.only.split(",") if x.strip()] or sorted(MODULES)
    unknown = [n for n in only if n not in MODULES]
    if unknown:
        print(f"unknown benchmark(s) {unknown}: expected {sorted(MODULES)}", file=sys.stderr)
        return 2
    cfg = Config(
        dsn=bench_dsn(), quick=args.quick, runs=args.runs or (1 if args.quick else 3), verbose=not args.quiet
    )
    data: dict[str, Any] = {
        "format": "policy-admin-bench/1",
        "started_at": datetime.now(UTC).isoformat(),
        "quick": cfg.quick,
        "runs": cfg.runs,
        "machine": report.machine(cfg.dsn),
        "benchmarks": {},
        "measures": [],
    }
    failed = 0
    for n in only:
        cfg.say(f"#{n} {report.TITLES[n]}")
        t = time.perf_counter()
        entry: dict[str, Any] = {"title": report.TITLES[n], "error": None}
        try:
            module = importlib.import_module(f"bench.{MODULES[n]}")
            measures = module.run(cfg)
            data["measures"].extend(m.to_dict() for m in measures)
        except Exception:  # noqa: BLE001 - one crashed benchmark must not hide the others
            failed += 1
            entry["error"] = traceback.format_exc()
            cfg.say(f"#{n} FAILED:\n{entry['error']}")
        entry["seconds"] = round(time.perf_counter() - t, 1)
        data["benchmarks"][str(n)] = entry
        cfg.say(f"#{n} done in {entry['seconds']} s")
    data["finished_at"] = datetime.now(UTC).isoformat()
    path = report.write_json(data, args.results_dir)
    cfg.say(f"results: {path}")
    if not cfg.quick or args.docs:
        merged = report.merge_latest(data, args.results_dir)
        if not args.no_docs:
            cfg.say(f"docs: {report.write_doc(merged)}")
    if not args.quiet:
        print(report.table(data))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
