"""The Zengin (全銀) collection gateway: request files out, result files in.

``collect`` writes one 預金口座振替依頼データ file per debit date into the outbox and
remembers each request (by its 顧客番号) in ``zengin_requests``; it returns no results,
because the bank answers days later. A request already submitted is never written
again, so the scheduler may run the same day twice. ``ingest_result_file`` reads the
bank's result file and records ``PremiumDebited`` / ``PremiumDebitFailed`` with the
bank's result code; ingesting the same file twice changes nothing.
"""

from __future__ import annotations

import logging
import os
import zlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from policy_core.application import Actor, DebitOutcome, PolicyAdministration
from policy_core.database import Database
from policy_core.ddl import table_provider

from .gateway import RESULT_CODES, DebitRequest, DebitResult
from .zengin import parse_result_file, write_request_file

log = logging.getLogger("scheduler.zengin_gateway")

TABLE = "zengin_requests"


@dataclass(frozen=True)
class CollectorAccount:
    """The collector's own contract with its bank (委託者): from the deployment's settings
    (``collector_from_settings``), never a default."""

    collector_code: str
    collector_name_kana: str
    bank_code: str
    bank_name_kana: str
    branch_code: str
    branch_name_kana: str
    account_type: str
    account_number: str


ACCOUNT_FORMAT = "bank-branch-type-number, e.g. 0001-001-ordinary-1234567"


def collector_from_settings(settings: Any) -> CollectorAccount:
    """The collector from ``POLICY_ZENGIN_COLLECTOR_CODE``, ``_NAME`` and ``_ACCOUNT``; a
    ``SettingsError`` naming every missing or invalid one (start-up refuses the Zengin gateway
    without them: a request file under someone else's collector code would be refused by the bank
    at best). Bank and branch names come from the bank directory (zengin-code)."""
    from policy_core.bank import _offending, normalize_zengin_kana
    from policy_core.bank_directory import _banks
    from policy_core.settings import SettingsError

    problems: list[str] = []
    code = (settings.zengin_collector_code or "").strip()
    if not code:
        problems.append(
            "POLICY_ZENGIN_COLLECTOR_CODE is not set (the 10-digit 委託者コード your bank assigned)"
        )
    elif not (len(code) == 10 and code.isascii() and code.isdigit()):
        problems.append("POLICY_ZENGIN_COLLECTOR_CODE must be 10 digits")
    raw_name = settings.zengin_collector_name or ""
    name = normalize_zengin_kana(raw_name)
    if not name:
        problems.append("POLICY_ZENGIN_COLLECTOR_NAME is not set (the 委託者名 in half-width kana)")
    elif _offending(raw_name):
        problems.append("POLICY_ZENGIN_COLLECTOR_NAME has characters outside the Zengin set (kana, A-Z, 0-9)")
    elif len(name) > 40:
        problems.append(f"POLICY_ZENGIN_COLLECTOR_NAME is {len(name)} characters; the field holds 40")
    account = (settings.zengin_collector_account or "").strip()
    bank_code = branch_code = account_type = number = bank_name = branch_name = ""
    if not account:
        problems.append(f"POLICY_ZENGIN_COLLECTOR_ACCOUNT is not set ({ACCOUNT_FORMAT})")
    else:
        parts = account.split("-")
        if len(parts) != 4:
            problems.append(f"POLICY_ZENGIN_COLLECTOR_ACCOUNT must be {ACCOUNT_FORMAT}")
        else:
            bank_code, branch_code, account_type, number = parts
            bank = _banks().get(bank_code)
            if bank is None:
                problems.append(f"POLICY_ZENGIN_COLLECTOR_ACCOUNT: {bank_code!r} is not a Japanese bank code")
            elif branch_code not in bank.branches:
                problems.append(
                    f"POLICY_ZENGIN_COLLECTOR_ACCOUNT: {branch_code!r} is not a branch of {bank_code}"
                )
            else:
                bank_name = normalize_zengin_kana(bank.kana)[:15]
                branch_name = normalize_zengin_kana(bank.branches[branch_code].kana)[:15]
            if account_type not in ("ordinary", "current"):
                problems.append("POLICY_ZENGIN_COLLECTOR_ACCOUNT: the type must be ordinary or current")
            if not (len(number) == 7 and number.isascii() and number.isdigit()):
                problems.append("POLICY_ZENGIN_COLLECTOR_ACCOUNT: the account number must be 7 digits")
    if problems:
        raise SettingsError("the Zengin gateway needs its collector: " + "; ".join(problems))
    return CollectorAccount(
        collector_code=code,
        collector_name_kana=name,
        bank_code=bank_code,
        bank_name_kana=bank_name,
        branch_code=branch_code,
        branch_name_kana=branch_name,
        account_type=account_type,
        account_number=number,
    )


def ensure_table(db: Database) -> None:
    with db.connect() as conn:
        conn.execute(
            f"""CREATE TABLE IF NOT EXISTS {TABLE} (
                customer_number text PRIMARY KEY,
                policy_id uuid NOT NULL,
                period_number integer NOT NULL,
                attempt integer NOT NULL,
                amount bigint NOT NULL,
                debit_date date NOT NULL,
                request_file text NOT NULL,
                result_code text,
                submitted_at timestamptz NOT NULL DEFAULT now(),
                settled_at timestamptz)"""
        )
        conn.commit()


@table_provider("zengin requests", tables=(TABLE,))
def create_tables(runtime: Any) -> None:
    """Made at start-up whichever gateway is configured, so switching to ``zengin`` needs no DDL."""
    ensure_table(runtime.database)


class ZenginGateway:
    # One request row per 顧客番号 (attempt), ever: handing it an attempt again writes nothing.
    deduplicates_requests = True

    def __init__(self, database: Database, outbox: Path, collector: CollectorAccount | None = None) -> None:
        self.database = database
        self.outbox = Path(outbox)
        self.collector = collector  # None: this gateway only ingests results (``zengin ingest``)

    def collect(self, requests: Sequence[DebitRequest]) -> list[DebitResult]:
        by_date: dict[Any, list[DebitRequest]] = defaultdict(list)
        for r in requests:
            by_date[r.debit_date].append(r)
        self.outbox.mkdir(parents=True, exist_ok=True)
        os.chmod(self.outbox, 0o700)
        for debit_date, candidates in sorted(by_date.items()):
            with self.database.connect() as conn:
                # Two collectors at once (two run-due calls) take turns per debit date: the
                # second sees the first's rows and writes nothing again.
                conn.execute("SELECT pg_advisory_xact_lock(%s)", [self._lock_key(debit_date)])
                known = {
                    row[0]
                    for row in conn.execute(
                        f"SELECT customer_number FROM {TABLE} WHERE customer_number = ANY(%s)",
                        ([r.customer_number for r in candidates],),
                    ).fetchall()
                }
                batch = [r for r in candidates if r.customer_number not in known]
                if not batch:
                    conn.rollback()
                    continue
                name = self._write(debit_date, batch, conn)
                conn.commit()
            log.info(
                "zengin request file written",
                extra={"file": name, "records": len(batch), "debit_date": debit_date.isoformat()},
            )
        return []  # results come back in the bank's result file

    def _lock_key(self, debit_date: Any) -> int:
        where = f"{self.database.schema or 'public'}:{debit_date.isoformat()}"
        return zlib.crc32(f"policy-admin:zengin:{where}".encode()) - 2**31

    def _write(self, debit_date: Any, batch: list[DebitRequest], conn: Any) -> str:
        """Write one debit date's request file and remember its requests (committed by the caller,
        after the file is in place)."""
        c = self.collector
        if c is None:
            raise RuntimeError("a ZenginGateway without a collector cannot write request files")
        data = write_request_file(
            batch,
            collector_code=c.collector_code,
            collector_name_kana=c.collector_name_kana,
            collection_date=debit_date,
            bank_code=c.bank_code,
            bank_name_kana=c.bank_name_kana,
            branch_code=c.branch_code,
            branch_name_kana=c.branch_name_kana,
            account_type=c.account_type,
            account_number=c.account_number,
        )
        name = f"request-{debit_date:%Y%m%d}-{batch[0].customer_number}.txt"
        path = self.outbox / name
        tmp = path.with_suffix(".tmp")
        _write_private(tmp, data)  # account numbers and holder kana: owner-only
        with conn.cursor() as cur:
            cur.executemany(
                f"INSERT INTO {TABLE} (customer_number, policy_id, period_number, attempt, amount, "
                "debit_date, request_file) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                [
                    (
                        r.customer_number,
                        UUID(r.policy_id),
                        r.period_number,
                        r.attempt,
                        r.amount,
                        r.debit_date,
                        name,
                    )
                    for r in batch
                ],
            )
        tmp.rename(path)
        return name

    def ingest_result_file(
        self,
        data: bytes,
        app: PolicyAdministration,
        *,
        actor: Actor | None = None,
    ) -> dict[str, int]:
        records = parse_result_file(data)
        with self.database.connect() as conn:
            rows = {
                r[0]: r
                for r in conn.execute(
                    "SELECT customer_number, policy_id, period_number, attempt, amount, debit_date, "
                    "result_code "
                    f"FROM {TABLE} WHERE customer_number = ANY(%s)",
                    ([rec.customer_number for rec in records],),
                ).fetchall()
            }
        unknown = [rec.customer_number for rec in records if rec.customer_number not in rows]
        if unknown:
            raise ValueError(f"{len(unknown)} result records match no submitted request (e.g. {unknown[0]})")
        outcomes = []
        for rec in records:
            _, policy_id, period, attempt, amount, debit_date, _ = rows[rec.customer_number]
            if rec.amount != amount:
                raise ValueError(
                    f"result for {rec.customer_number} has amount {rec.amount}, requested {amount}"
                )
            outcomes.append(
                DebitOutcome(
                    policy_id=policy_id,
                    period_number=period,
                    attempt=attempt,
                    debit_date=debit_date,
                    success=rec.result_code == "0",
                    amount=amount if rec.result_code == "0" else 0,
                    result_code=rec.result_code,
                    reason=RESULT_CODES.get(rec.result_code, "other"),
                    reference=rec.customer_number,
                )
            )
        counts = app.record_debit_results(outcomes, actor=actor)
        with self.database.connect() as conn:
            with conn.cursor() as cur:
                cur.executemany(
                    f"UPDATE {TABLE} SET result_code = %s, settled_at = now() WHERE customer_number = %s",
                    [(rec.result_code, rec.customer_number) for rec in records],
                )
            conn.commit()
        log.info("zengin result file ingested", extra={"records": len(records), **counts})
        return counts

    def purge(self, older_than_days: int) -> int:
        """Delete the request files whose every record has its result ingested, at least
        ``older_than_days`` days ago (``POLICY_ZENGIN_PURGE_DAYS``): they hold account numbers."""
        with self.database.connect() as conn:
            names = [
                r[0]
                for r in conn.execute(
                    f"SELECT request_file FROM {TABLE} GROUP BY request_file "
                    "HAVING bool_and(settled_at IS NOT NULL) "
                    "AND max(settled_at) <= now() - make_interval(days => %s)",
                    [older_than_days],
                ).fetchall()
            ]
        gone = 0
        for name in names:
            path = self.outbox / name
            if path.exists():
                path.unlink()
                gone += 1
                log.info("zengin request file purged", extra={"file": name})
        return gone


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)
