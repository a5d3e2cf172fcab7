"""The ledger of debit attempts: a gateway is never asked twice for the same attempt, whichever
gateway, across a crash too.

Before a batch goes to the gateway, each attempt (policy, period, attempt number) is written to
``collection_attempts`` in its own committed transaction; only the attempts this insert created
are sent. The gateway's answer is written back (``result_code``) as soon as it comes, before the
events are recorded. A later run (after a crash between any two of these steps) finds the row:

* answered: the recorded answer is used (the events are recorded from it; recording is idempotent
  per attempt), the bank is not asked again;
* not answered (the process died while the request was out): the gateway is asked what became of
  it (``reconcile``, a query, not a debit) if it can say; a gateway that deduplicates requests by
  their 顧客番号 itself (the Zengin gateway: one request file row per attempt, ever) is handed it
  again and writes nothing twice; otherwise the attempt is left as it is, logged as awaiting its
  answer, for an operator (the bank's own record decides it: ingest its result file).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from policy_core.database import Database
from policy_core.ddl import table_provider

from .gateway import DebitRequest, DebitResult

log = logging.getLogger("scheduler.attempts")

TABLE = "collection_attempts"


def ensure_table(db: Database) -> None:
    with db.connect() as conn:
        conn.execute(
            f"""CREATE TABLE IF NOT EXISTS {TABLE} (
                policy_id uuid NOT NULL,
                period_number integer NOT NULL,
                attempt integer NOT NULL,
                gateway text NOT NULL,
                customer_number text NOT NULL,
                amount bigint NOT NULL,
                debit_date date NOT NULL,
                result_code text,
                requested_at timestamptz NOT NULL DEFAULT now(),
                answered_at timestamptz,
                PRIMARY KEY (policy_id, period_number, attempt))"""
        )
        conn.commit()


@table_provider("collection attempts", tables=(TABLE,))
def create_tables(runtime: Any) -> None:
    ensure_table(runtime.database)


def _key(r: DebitRequest) -> tuple[UUID, int, int]:
    return UUID(r.policy_id), r.period_number, r.attempt


class AttemptLedger:
    def __init__(self, database: Database) -> None:
        self.database = database

    def claim(
        self, requests: Sequence[DebitRequest], gateway: str
    ) -> tuple[list[DebitRequest], list[DebitResult], list[DebitRequest]]:
        """Record the attempts before they are sent: (new ones, to send; ones answered before,
        with their recorded answer; ones sent before whose answer never came back)."""
        if not requests:
            return [], [], []
        with self.database.connect() as conn:
            created = {
                (row[0], row[1], row[2])
                for row in conn.execute(
                    f"INSERT INTO {TABLE} (policy_id, period_number, attempt, gateway, customer_number, "
                    "amount, debit_date) SELECT * FROM unnest(%s::uuid[], %s::int[], %s::int[], %s::text[], "
                    "%s::text[], %s::bigint[], %s::date[]) ON CONFLICT DO NOTHING "
                    "RETURNING policy_id, period_number, attempt",
                    (
                        [UUID(r.policy_id) for r in requests],
                        [r.period_number for r in requests],
                        [r.attempt for r in requests],
                        [gateway] * len(requests),
                        [r.customer_number for r in requests],
                        [r.amount for r in requests],
                        [r.debit_date for r in requests],
                    ),
                ).fetchall()
            }
            earlier = [r for r in requests if _key(r) not in created]
            answers: dict[tuple[UUID, int, int], str | None] = {}
            if earlier:
                for row in conn.execute(
                    f"SELECT policy_id, period_number, attempt, result_code FROM {TABLE} "
                    "WHERE (policy_id, period_number, attempt) IN "
                    "(SELECT * FROM unnest(%s::uuid[], %s::int[], %s::int[]))",
                    (
                        [UUID(r.policy_id) for r in earlier],
                        [r.period_number for r in earlier],
                        [r.attempt for r in earlier],
                    ),
                ).fetchall():
                    answers[(row[0], row[1], row[2])] = row[3]
            conn.commit()  # recorded before anything is sent
        fresh = [r for r in requests if _key(r) in created]
        answered = [DebitResult.from_code(r, code) for r in earlier if (code := answers.get(_key(r)))]
        pending = [r for r in earlier if not answers.get(_key(r))]
        return fresh, answered, pending

    def answered(self, results: Sequence[DebitResult]) -> None:
        """Write the gateway's answers, before the events are recorded from them."""
        if not results:
            return
        with self.database.connect() as conn:
            conn.execute(
                f"UPDATE {TABLE} AS a SET result_code = u.code, answered_at = now() "
                "FROM unnest(%s::uuid[], %s::int[], %s::int[], %s::text[]) AS u(p, n, k, code) "
                "WHERE a.policy_id = u.p AND a.period_number = u.n AND a.attempt = u.k "
                "AND a.result_code IS NULL",
                (
                    [UUID(r.request.policy_id) for r in results],
                    [r.request.period_number for r in results],
                    [r.request.attempt for r in results],
                    [r.result_code for r in results],
                ),
            )
            conn.commit()


def collect_once(
    gateway: Any, ledger: AttemptLedger | None, requests: list[DebitRequest]
) -> list[DebitResult]:
    """The gateway's answers for ``requests``, each attempt asked of the gateway at most once."""
    if ledger is None:
        return list(gateway.collect(requests))
    fresh, answered, pending = ledger.claim(requests, type(gateway).__name__)
    results = list(gateway.collect(fresh)) if fresh else []
    ledger.answered(results)
    if pending:
        reconcile = getattr(gateway, "reconcile", None)
        if reconcile is not None:
            known = [r for r in reconcile(pending) if r is not None]
            ledger.answered(known)
            results += known
            pending = [p for p in pending if _key(p) not in {_key(r.request) for r in known}]
        elif getattr(gateway, "deduplicates_requests", False):
            results += list(gateway.collect(pending))  # it writes nothing twice itself
            pending = []
        if pending:
            log.warning(
                "debit attempts sent before without an answer: not sent again",
                extra={"attempts": len(pending), "gateway": type(gateway).__name__},
            )
    return answered + results
