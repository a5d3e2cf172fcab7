"""The cost of personal-data encryption: ``python -m bench.personal_data [--policies N] [--runs R]``.

Three stores in the same run, each in its own schema: the library's plain mapper (what was
stored before issue 12), per-subject field envelopes (the default), and envelopes with the
library's whole-state cipher on top (``POLICY_STORE_CIPHER``). For each: applying policies
(commands/s, one save each), an as-of read of each policy (ms, median), and a rebuild of every
view from event zero (events/s, one process). Medians of ``--runs`` runs. Modest sizes: the
machine is shared. Prints one JSON object and writes ``bench/results/personal_data.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from eventsourcing.persistence import Mapper

from policy_core.application import PolicyAdministration
from policy_core.bootstrap import build_application, initialise_store
from policy_core.database import Database
from policy_core.personal_data.setup import open_vault
from policy_core.projections import rebuild
from policy_core.projections.engine import EventSource
from policy_core.projections.maintenance import live_schema
from policy_core.projections.runner import ProjectionRunner
from policy_core.projections.views import all_views
from policy_core.settings import Settings

from .common import bench_dsn

BANK = {
    "bank_code": "0001",
    "branch_code": "001",
    "account_type": "ordinary",
    "account_number": "1234567",
    "holder_kana": "ﾔﾏﾀﾞ ﾀﾛｳ",
}


class PlainAdministration(PolicyAdministration):
    name = "policy_admin"

    def construct_mapper(self):  # type: ignore[override]
        return Mapper(transcoder=self.construct_transcoder())


def _app(db: Database, mode: str) -> PolicyAdministration:
    settings = Settings(
        POLICY_DATA_DIR=tempfile.mkdtemp(),
        POLICY_STORE_CIPHER=mode == "envelopes+cipher",
        POLICY_MASTER_KEY="cG9saWN5LWFkbWluIGJlbmNoIG1hc3RlciBrZXkgMzI=",
    )
    vault = open_vault(db, settings)
    clock = lambda: datetime.now(UTC)  # noqa: E731
    if mode == "plain":
        app: PolicyAdministration = PlainAdministration(env=db.eventsourcing_env(2), clock=clock, vault=vault)
    else:
        app = build_application(db, settings, clock=clock, vault=vault)
    initialise_store(app)
    return app


def _once(dsn: str, mode: str, policies: int) -> dict[str, float]:
    db = Database(dsn=dsn, schema=f"bench_pd_{uuid.uuid4().hex[:10]}")
    db.ensure_schema()
    try:
        app = _app(db, mode)
        t0 = time.perf_counter()
        pids = [
            app.apply(
                scheme="chuokai",
                member_number=f"B-{i}",
                holder={"name": f"株式会社ベンチ{i}", "email": f"b{i}@example.jp", "phone": "03-0000-0000"},
                industry="retail",
                annual_sales=20_000_000,
                plan="A",
                bank_account=dict(BANK),
                application_date=date(2026, 1, 10),
            )
            for i in range(policies)
        ]
        apply_s = time.perf_counter() - t0
        for pid in pids:  # a little history for the reads and the rebuild
            app.activate(pid, 1)
            app.declare_sales(pid, annual_sales=21_000_000, declared_on=date(2026, 5, 1))
        as_of = datetime.now(UTC)
        reads = []
        for pid in pids:
            t = time.perf_counter()
            app.get_policy(pid, as_of=as_of)
            reads.append(time.perf_counter() - t)
        with db.connect(autocommit=True) as conn:
            ProjectionRunner(db, app).prepare(conn)
        source = EventSource.from_app(app)
        events = source.head()
        t = time.perf_counter()
        rebuild(db.dsn, source, live_schema(db.schema), all_views())
        rebuild_s = time.perf_counter() - t
        app.close()
        app.vault.store.close()  # type: ignore[attr-defined]
        return {
            "apply_per_s": policies / apply_s,
            "as_of_read_ms": statistics.median(reads) * 1000,
            "rebuild_events_per_s": events / rebuild_s,
            "events": events,
        }
    finally:
        db.drop_schema()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.personal_data", description=__doc__)
    p.add_argument("--policies", type=int, default=300)
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args(argv)
    dsn = bench_dsn()
    out: dict[str, Any] = {"policies": args.policies, "runs": args.runs, "at": datetime.now(UTC).isoformat()}
    modes = ("plain", "envelopes", "envelopes+cipher")
    runs: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
    for _ in range(args.runs):
        for m in modes:  # interleaved: the shared machine's load falls on all three alike
            runs[m].append(_once(dsn, m, args.policies))
    for m in modes:
        out[m] = {k: statistics.median(r[k] for r in runs[m]) for k in runs[m][0]}
    print(json.dumps(out, indent=2))
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    (results / "personal_data.json").write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
