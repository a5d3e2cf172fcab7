"""The scheduled jobs: cover starts, renewal notices, anniversaries, debits, retries, lapses.

``run_due(as_of)`` does every job due up to ``as_of`` in the order the due times fall,
so a scheduler that was down for days catches up in order: a renewal at the
anniversary happens before the debit of the renewed period, a retry after the
failure it retries. Each step reads what is due from the read models (caught up
first, so they reflect the previous step) and sends idempotent commands that the
aggregates confirm: running the same day twice changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import partial
from typing import Any
from uuid import UUID

from psycopg import sql

from policy_core.application import SYSTEM, Actor, DebitOutcome, PolicyAdministration
from policy_core.bank import BankAccount
from policy_core.bounds import EARLIEST
from policy_core.calendar import TOKYO
from policy_core.errors import DomainError, InvalidInput
from policy_core.projections.read import ReadModels
from policy_core.scheme import all_schemes
from policy_core.store import collector_paused

from .attempts import collect_once
from .gateway import CollectionGateway, DebitRequest, customer_number_for

log = logging.getLogger("scheduler.jobs")

DEBIT_RUN_HOUR = 9  # the debit run of a debit date happens at 09:00 Asia/Tokyo
MAX_STEPS = 100_000


@dataclass
class RunReport:
    as_of: datetime
    activated: int = 0
    renewal_notices: int = 0
    renewed: int = 0
    expired: int = 0
    debited: int = 0
    failed: int = 0
    lapsed: int = 0
    unchanged: int = 0
    erased: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "activated": self.activated,
            "renewal_notices": self.renewal_notices,
            "renewed": self.renewed,
            "expired": self.expired,
            "debited": self.debited,
            "debit_failed": self.failed,
            "lapsed": self.lapsed,
            "unchanged": self.unchanged,
            "erased": self.erased,
            "errors": self.errors,
            "steps": self.steps,
        }


def debit_run_at(d: date) -> datetime:
    return datetime.combine(d, time(DEBIT_RUN_HOUR), tzinfo=TOKYO)


class Jobs:
    def __init__(
        self,
        app: PolicyAdministration,
        read_models: ReadModels,
        catch_up: Callable[[], Any],
        gateway: CollectionGateway,
        *,
        now: Callable[[], datetime],
        actor: Actor = SYSTEM,
        batch_size: int = 1000,
        run_lock: Any | None = None,
        ledger: Any | None = None,
    ) -> None:
        self.app = app
        self.read = read_models
        self.catch_up = catch_up
        self.gateway = gateway
        self.now = now
        self.actor = actor
        self.batch_size = batch_size
        self.run_lock = run_lock  # scheduler.leader.RunLock: single-flight across processes
        # scheduler.attempts.AttemptLedger: each attempt asked of the gateway once, across crashes
        self.ledger = ledger
        self.notice_days = {s.key: s.renewal_notice_days for s in all_schemes()}

    # ------------------------------------------------------------------ queries
    def _t(self, name: str) -> sql.Composed:
        return self.read.table(name)

    def _rows(self, query: str, params: list[Any], *tables: str) -> list[dict[str, Any]]:
        return self.read.query(sql.SQL(query).format(*(self._t(t) for t in tables)), params)

    def _activations(self, until: datetime) -> list[dict[str, Any]]:
        return self._rows(
            "SELECT policy_id, current_period, period_start FROM {} "
            "WHERE status = 'applied' AND period_start <= %s ORDER BY period_start, policy_id",
            [until],
            "rm_policies",
        )

    def _anniversaries(self, until: datetime) -> list[dict[str, Any]]:
        return self._rows(
            "SELECT policy_id, current_period, period_end, non_renewal_notice_on FROM {} "
            "WHERE status = 'active' AND period_end <= %s ORDER BY period_end, policy_id",
            [until],
            "rm_policies",
        )

    def _notices(self, until: datetime) -> list[dict[str, Any]]:
        rows = self._rows(
            "SELECT policy_id, scheme, current_period, period_end FROM {} WHERE status = 'active' "
            "AND non_renewal_notice_on IS NULL AND renewal_notice_on IS NULL "
            "AND period_end <= %s ORDER BY period_end, policy_id",
            [until + timedelta(days=max(self.notice_days.values(), default=0))],
            "rm_policies",
        )
        return [r for r in rows if r["period_end"] - timedelta(days=self.notice_days[r["scheme"]]) <= until]

    def _debits(self, until: datetime) -> list[dict[str, Any]]:
        day = until.astimezone(TOKYO).date()
        if until < debit_run_at(day):
            day -= timedelta(days=1)
        return [
            r
            for r in self.read.debits_due(day)
            if r["policy_status"] in ("applied", "active") and r["outstanding"] > 0
        ]

    def next_due(self, as_of: datetime) -> datetime | None:
        """The earliest moment at or before ``as_of`` at which something is due."""
        candidates: list[datetime] = []
        if rows := self._activations(as_of):
            candidates.append(rows[0]["period_start"])
        if rows := self._anniversaries(as_of):
            candidates.append(rows[0]["period_end"])
        if rows := self._notices(as_of):
            candidates.append(
                min(r["period_end"] - timedelta(days=self.notice_days[r["scheme"]]) for r in rows)
            )
        if first := self._first_debit_date(as_of):
            candidates.append(debit_run_at(first))
        return min(candidates) if candidates else None

    def _first_debit_date(self, until: datetime) -> date | None:
        """The earliest next debit date among ``_debits(until)``, in one aggregate row (a debit run
        has every active policy due: reading them all twice cost a tenth of the run)."""
        day = until.astimezone(TOKYO).date()
        if until < debit_run_at(day):
            day -= timedelta(days=1)
        rows = self._rows(
            "SELECT min(next_debit_date) AS d FROM {} WHERE state = 'due' AND next_debit_date <= %s "
            "AND policy_status IN ('applied', 'active') AND outstanding > 0",
            [day],
            "rm_collections_debits",
        )
        return rows[0]["d"] if rows else None

    # ------------------------------------------------------------------ running
    def run_due(self, as_of: datetime, *, wait: float = 0.0) -> RunReport:
        """Everything due up to ``as_of``; single-flight: with a run lock, a run already going on
        elsewhere is waited for up to ``wait`` seconds, then RunInProgress."""
        self._check_as_of(as_of)
        if self.run_lock is None:
            return self._run_due(as_of)
        with self.run_lock.held(wait):
            return self._run_due(as_of)

    def _check_as_of(self, as_of: datetime) -> None:
        if not isinstance(as_of, datetime) or as_of.tzinfo is None or as_of.utcoffset() is None:
            raise InvalidInput("as_of must be a date and time with offset", code="naive_datetime")
        if as_of > self.now():
            raise InvalidInput(
                f"as_of {as_of.isoformat()} is in the future; jobs only run for time that has come",
                code="as_of_in_future",
            )
        if as_of < EARLIEST:
            raise InvalidInput(
                f"as_of {as_of.isoformat()} is before {EARLIEST.isoformat()}", code="date_out_of_range"
            )

    def _run_due(self, as_of: datetime) -> RunReport:
        report = RunReport(as_of=as_of)
        seen: set[tuple[Any, ...]] = set()
        for _ in range(MAX_STEPS):
            self.catch_up()
            instant = self.next_due(as_of)
            if instant is None:
                break
            if not self._run_at(instant, report, seen):
                break  # everything due has been tried in this run (failures are in report.errors)
        self._erasures(as_of, report)
        self.catch_up()
        log.info("run-due finished", extra={k: v for k, v in report.to_dict().items() if isinstance(v, int)})
        return report

    def _erasures(self, as_of: datetime, report: RunReport) -> None:
        """Erasure requests that have become lawful by ``as_of`` (each re-checked when carried out)."""
        today = as_of.astimezone(TOKYO).date()
        due = self.read.erasures_due(today)
        if due:
            report.erased += self.app.run_due_erasures(due, today)["erased"]

    def _run_at(self, instant: datetime, report: RunReport, seen: set[tuple[Any, ...]]) -> bool:
        """Everything due at ``instant`` not yet tried in this run; False when nothing was left."""
        report.steps.append(instant.astimezone(TOKYO).isoformat())
        before = len(seen)
        act = self.actor
        renewals = []
        for key, pid, n, row in _unseen("anniversary", self._anniversaries(instant), seen):
            if row["non_renewal_notice_on"] is not None:
                self._command(report, key, partial(self.app.expire, pid, n, actor=act), "expired")
            else:
                renewals.append((pid, n + 1))
                seen.add(("activate", pid, n + 1))
        if renewals:  # renewed and activated together, many policies per save
            done = self.app.renew_many(renewals, actor=act, batch_size=self.batch_size)
            report.renewed += done["renewed"]
            report.activated += done["activated"]
            report.unchanged += done["unchanged"]
            for err in done["errors"]:
                _refused(report, err)
        for key, pid, n, _ in _unseen("activate", self._activations(instant), seen):
            self._command(report, key, partial(self.app.activate, pid, n, actor=act), "activated")
        issued_on = instant.astimezone(TOKYO).date()
        for key, pid, n, _ in _unseen("notice", self._notices(instant), seen):
            self._command(
                report,
                key,
                partial(self.app.issue_renewal_notice, pid, n, issued_on=issued_on, actor=act),
                "renewal_notices",
            )
        debits = [
            r
            for r in self._debits(instant)
            if ("debit", r["policy_id"], r["period_number"], r["next_attempt"]) not in seen
        ]
        for r in debits:
            seen.add(("debit", r["policy_id"], r["period_number"], r["next_attempt"]))
        if debits:
            self._collect(debits, report)
        return len(seen) > before

    def _command(self, report: RunReport, key: tuple[Any, ...], fn: Callable[[], bool], counter: str) -> bool:
        try:
            changed = fn()
        except DomainError as exc:
            _refused(
                report, {"job": key[0], "policy_id": str(key[1]), "code": exc.code, "detail": exc.message}
            )
            return False
        if changed:
            setattr(report, counter, getattr(report, counter) + 1)
        else:
            report.unchanged += 1
        return True

    def _collect(self, rows: list[dict[str, Any]], report: RunReport) -> None:
        for start in range(0, len(rows), self.batch_size):
            # The collector paused for the whole chunk (read, bank, decide, save): the chunk's
            # aggregates are dropped when _collect_chunk returns, so the collection that follows
            # finds little alive (paused only around the read, it walked the chunk's live policies).
            with collector_paused():
                self._collect_chunk(rows[start : start + self.batch_size], report)

    def _collect_chunk(self, chunk: list[dict[str, Any]], report: RunReport) -> None:
        requests = []
        # One query per chunk; of the personal fields only the bank accounts are opened.
        policies = self.app.get_policies([r["policy_id"] for r in chunk], personal=("bank_account",))
        ids: dict[str, UUID] = {}  # the requests carry the policy id as text
        for r in chunk:
            pid = r["policy_id"]
            policy = policies.get(pid) or self.app.get_policy(pid)
            policies[pid] = policy
            text = str(pid)
            ids[text] = pid
            requests.append(
                DebitRequest(
                    policy_id=text,
                    period_number=r["period_number"],
                    attempt=r["next_attempt"],
                    amount=r["outstanding"],
                    debit_date=r["next_debit_date"],
                    account=BankAccount.from_recorded(policy.bank_account),
                    customer_number=customer_number_for(pid, r["period_number"], r["next_attempt"]),
                    new_code=policy.zengin_new_code,
                )
            )
        results = collect_once(self.gateway, self.ledger, requests)
        outcomes = [
            DebitOutcome(
                policy_id=ids.get(res.request.policy_id) or UUID(res.request.policy_id),
                period_number=res.request.period_number,
                attempt=res.request.attempt,
                debit_date=res.request.debit_date,
                success=res.success,
                amount=res.request.amount if res.success else 0,
                result_code=res.result_code,
                reason=res.reason,
                reference=res.request.customer_number,
            )
            for res in results
        ]
        # One save for the chunk (the default, 500, made two per chunk: twice the lock, NOTIFY, commit)
        counts = self.app.record_debit_results(
            outcomes, actor=self.actor, loaded=policies, batch_size=self.batch_size
        )
        report.debited += counts["debited"]
        report.failed += counts["failed"]
        report.lapsed += counts["lapsed"]
        report.unchanged += counts["unchanged"]


def _refused(report: RunReport, error: dict[str, str]) -> None:
    """A command the aggregate refused: reported, and logged without its detail (it may quote data)."""
    report.errors.append(error)
    log.warning(
        "job refused", extra={"job": error["job"], "policy_id": error["policy_id"], "code": error["code"]}
    )


def _unseen(kind: str, rows: list[dict[str, Any]], seen: set[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    """Rows not yet tried in this run, marked as tried: (key, policy id, period, row)."""
    for row in rows:
        key = (kind, row["policy_id"], row["current_period"])
        if key not in seen:
            seen.add(key)
            yield key, row["policy_id"], row["current_period"], row
