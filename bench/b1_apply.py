"""#1 apply-policy commands/s through the application service.

Baselines in the same run and schema:

* the library's bare save of one equivalent event: an ``eventsourcing`` Application with
  the same persistence settings (same transcoder, no compression) saving a new aggregate
  whose creation event carries the same payload as ``Policy.Applied`` (holder, bank
  account, the decided period): the library's floor for "record one new aggregate";
* raw psycopg: one single-row ``INSERT`` + ``COMMIT`` of a row of the same shape and
  size into a table shaped like ``policy_admin_events``.

Each run does the three loops one after the other, sequentially on one thread.
"""

from __future__ import annotations

import time
import uuid
from datetime import date
from typing import Any

import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import JSONTranscoder

from policy_core.application import DateAsISO

from .common import Config, Measure, fresh_schema, make_runtime, row

APPLICATION_DATE = date(2026, 1, 10)
BANK = {
    "bank_code": "0001",
    "branch_code": "001",
    "account_type": "ordinary",
    "account_number": "1234567",
    "holder_kana": "ﾔﾏﾀﾞ ｼｮｳﾃﾝ",
}


class BarePolicy(Aggregate):
    class Applied(Aggregate.Created):
        scheme: str
        member_number: str
        holder: dict[str, Any]
        industry: str
        annual_sales: int
        plan: str
        liability_limit: int | None
        network_rider: bool
        bank_account: dict[str, str]
        application_date: date
        enrollment: str
        period: dict[str, Any]

    @event(Applied)
    def __init__(
        self,
        scheme: str,
        member_number: str,
        holder: dict[str, Any],
        industry: str,
        annual_sales: int,
        plan: str,
        liability_limit: int | None,
        network_rider: bool,
        bank_account: dict[str, str],
        application_date: date,
        enrollment: str,
        period: dict[str, Any],
    ) -> None:
        self.scheme = scheme
        self.member_number = member_number
        self.period = period


class BareApplication(Application[uuid.UUID]):
    name = "bench_bare"
    env = {"COMPRESSOR_TOPIC": ""}

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())


def apply_kwargs(i: int, tag: str) -> dict[str, Any]:
    return dict(
        scheme="chuokai" if i % 2 else "jcci",
        member_number=f"B1-{tag}-{i:07d}",
        holder={"name": f"Bench member {i}"},
        industry="printing",
        annual_sales=100_000_000,
        plan="B",
        network_rider=bool(i % 3 == 0),
        bank_account=BANK,
        application_date=APPLICATION_DATE,
    )


def run(cfg: Config) -> list[Measure]:
    n = cfg.size(2000, 100)
    with fresh_schema(cfg, "b1") as db:
        rt = make_runtime(db)
        bare = BareApplication(env=db.eventsourcing_env(rt.settings.pool_size))
        bare.recorder.create_table()  # type: ignore[attr-defined]
        app = rt.app
        decision = app.quote(
            scheme="chuokai",
            industry="printing",
            annual_sales=100_000_000,
            plan="B",
            application_date=APPLICATION_DATE,
        )
        facts = decision.facts()
        probe = app.apply(**apply_kwargs(0, "probe"))
        applied = app.history(probe)[0]
        state = app.mapper.to_stored_event(applied).state
        raw_table = f'"{db.schema}"."bench_raw_events"'
        with psycopg.connect(db.dsn, autocommit=True) as c:
            c.execute(
                f"CREATE TABLE {raw_table} (originator_id uuid NOT NULL, originator_version bigint NOT NULL, "
                "topic text, state bytea, notification_id bigserial, "
                "PRIMARY KEY (originator_id, originator_version))"
            )
            c.execute(f"CREATE UNIQUE INDEX ON {raw_table} (notification_id)")
        raw = psycopg.connect(db.dsn)
        insert = (
            f"INSERT INTO {raw_table} (originator_id, originator_version, topic, state)"
            " VALUES (%s, 1, %s, %s)"
        )
        topic = "bench:Raw.Applied"

        def product(r: int) -> float:
            kws = [apply_kwargs(i, f"r{r}") for i in range(n)]
            t = time.perf_counter()
            for kw in kws:
                app.apply(**kw)
            return n / (time.perf_counter() - t)

        def library(r: int) -> float:
            t = time.perf_counter()
            for i in range(n):
                agg = BarePolicy(
                    scheme="jcci",
                    member_number=f"B1-{r}-{i:07d}",
                    holder={"name": f"Bench member {i}"},
                    industry="printing",
                    annual_sales=100_000_000,
                    plan="B",
                    liability_limit=None,
                    network_rider=False,
                    bank_account=dict(BANK),
                    application_date=APPLICATION_DATE,
                    enrollment=facts["enrollment"],
                    period=facts,
                )
                bare.save(agg)
            return n / (time.perf_counter() - t)

        def rawsql(r: int) -> float:
            t = time.perf_counter()
            for _ in range(n):
                raw.execute(insert, (uuid.uuid4(), topic, state), prepare=True)
                raw.commit()
            return n / (time.perf_counter() - t)

        # warm-up (connections, prepared statements, caches)
        product(-1), library(-1), rawsql(-1)
        prod_runs, lib_runs, raw_runs = [], [], []
        for r in range(cfg.runs):
            prod_runs.append(product(r))
            lib_runs.append(library(r))
            raw_runs.append(rawsql(r))
            cfg.say(
                f"  #1 run {r + 1}: apply {prod_runs[-1]:.0f}/s, bare save {lib_runs[-1]:.0f}/s, "
                f"raw insert {raw_runs[-1]:.0f}/s"
            )
        raw.close()
        bare.close()
        rt.close()
    notes = f"{n} sequential commands per run; event state {len(state)} B"
    rows = [
        row(
            1,
            "apply_per_s",
            "apply-policy commands/s (application service)",
            prod_runs,
            "cmd/s",
            baseline="library bare save of one equivalent event",
            baseline_runs=lib_runs,
            target=">= 0.9 x bare save",
            met=lambda v, r: r is not None and r >= 0.9,
            notes=notes,
        ),
        row(
            1,
            "apply_vs_raw_insert",
            "apply-policy commands/s vs raw INSERT+COMMIT",
            prod_runs,
            "cmd/s",
            baseline="raw psycopg single-row INSERT+COMMIT",
            baseline_runs=raw_runs,
            notes=notes,
        ),
        row(
            1,
            "bare_save_vs_raw_insert",
            "library bare save/s vs raw INSERT+COMMIT",
            lib_runs,
            "save/s",
            baseline="raw psycopg single-row INSERT+COMMIT",
            baseline_runs=raw_runs,
        ),
    ]
    return rows
