"""Product changes proposed by the benchmarks, applied *inside the bench only*.

Nothing here edits product code: each proposal is a context manager or a subclass
that patches one application/read-model instance for the duration of a
measurement, so the bench can state "as shipped" and "with the proposal" side by
side. docs/performance.md gives the exact product code for each.

P1  apply: no existence pre-read. ``apply`` reads the whole history of the new
    policy id (``policy_id in self.repository``) before saving; the save of version 1
    already fails on the primary key when the policy exists, and ``apply`` already turns
    that ``IntegrityError`` into the same ``Conflict``.
P2  apply/quote/renew: the participants count (group discount tier) is read from the
    portfolio view once per command; a short-lived cache (default 30 s) removes that
    round trip. Tiers are 1,000 / 5,000 / 10,000 / 30,000 policies apart.
P3  bulk loads: ``get_policies(ids)`` reads many aggregates' events with one
    ``originator_id = ANY(%s)`` query; used by the debit run (``Jobs._collect`` and
    ``_decide_debits`` read every policy twice, one query each) and a new batch
    ``renew_many`` (renew + activate in one atomic save per batch).
P4  limits read model: one SQL statement instead of four pool round trips.
P5  snapshots: JSON transcodings for ``Period``/``DebitAttempt``, snapshotting every
    100 policy events, and as-of reads that start from the latest snapshot at or before
    the moment.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from eventsourcing.persistence import IntegrityError


# ---------------------------------------------------------------------------- P1 + P2


class CachedParticipants:
    """``participants(scheme)`` remembered for ``ttl`` seconds."""

    def __init__(self, inner: Callable[[str], int], ttl: float = 30.0) -> None:
        self.inner = inner
        self.ttl = ttl
        self._lock = threading.Lock()
        self._values: dict[str, tuple[float, int]] = {}

    def __call__(self, scheme: str) -> int:
        now = time.monotonic()
        with self._lock:
            hit = self._values.get(scheme)
            if hit is not None and now - hit[0] < self.ttl:
                return hit[1]
        value = self.inner(scheme)
        with self._lock:
            self._values[scheme] = (now, value)
        return value


@contextlib.contextmanager
def fast_apply(app: Any) -> Iterator[Any]:
    """P1 + P2 (+ P6 for every aggregate load) on one application instance."""
    repo = app.repository
    original_cls = type(repo)

    class NoPreRead(original_cls):  # type: ignore[misc, valid-type]
        def __contains__(self, item: Any) -> bool:  # P1: the insert's primary key decides
            return False

        def get(self, aggregate_id: Any, **kwargs: Any) -> Any:  # P6
            kwargs.setdefault("projector_func", fold_projector)
            return super().get(aggregate_id, **kwargs)

    original_participants = app.participants
    repo.__class__ = NoPreRead
    app.participants = CachedParticipants(original_participants)
    try:
        yield app
    finally:
        repo.__class__ = original_cls
        app.participants = original_participants


# ---------------------------------------------------------------------------- P6 fold


def fold(events: Any) -> Any:
    """P6: replay by calling each event's ``mutate`` (what ``project_aggregate`` does, without its
    per-event ``assert isinstance(e, CanMutateProtocol)``: a runtime-checkable Protocol check that
    costs ~25 us per event, most of an aggregate load)."""
    agg = None
    for e in events:
        agg = e.mutate(agg)
    return agg


def fold_projector(aggregate: Any, events: Any) -> Any:
    for e in events:
        aggregate = e.mutate(aggregate)
    return aggregate


def trusted_account(data: dict[str, str]) -> Any:
    """P7: a BankAccount from the event store, where it was recorded validated: no second (and
    third: ``from_dict`` validates, then ``__post_init__`` validates again) normalisation pass."""
    from policy_core.bank import BankAccount

    acct = object.__new__(BankAccount)
    for k in ("bank_code", "branch_code", "account_type", "account_number", "holder_kana"):
        object.__setattr__(acct, k, data[k])
    return acct


# ---------------------------------------------------------------------------- P3 bulk loads


def get_many(app: Any, ids: list[Any], cls: type | None = None) -> dict[Any, Any]:
    """Aggregates by id, from one query over all their events (P3)."""
    from eventsourcing.persistence import StoredEvent
    from psycopg.sql import SQL, Identifier

    if not ids:
        return {}
    recorder = app.recorder
    stmt = SQL("SELECT originator_id, originator_version, topic, state FROM {}.{} "
               "WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version").format(
        Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name))
    with recorder.datastore.get_connection() as conn, conn.cursor() as cur:
        cur.execute(stmt, [list(ids)])
        rows = cur.fetchall()
    by_id: dict[Any, list[Any]] = {}
    to_domain = app.mapper.to_domain_event
    for r in rows:
        e = to_domain(StoredEvent(r["originator_id"], r["originator_version"], r["topic"], bytes(r["state"])))
        by_id.setdefault(r["originator_id"], []).append(e)
    out = {}
    for oid, events in by_id.items():
        agg = fold(events)
        if cls is None or isinstance(agg, cls):
            out[oid] = agg
    return out


@contextlib.contextmanager
def preloaded(app: Any) -> Iterator[dict[Any, Any]]:
    """Let ``app._get`` answer from a dict of aggregates loaded in bulk (then fall back to one read).

    The cached aggregate is handed out once and dropped, so that a command that saves it and a
    later command never share a stale object.
    """
    cache: dict[Any, Any] = {}
    original = app._get

    def _get(cls: type, aggregate_id: Any) -> Any:
        agg = cache.pop(aggregate_id, None)
        if agg is not None and isinstance(agg, cls):
            return agg
        return original(cls, aggregate_id)

    app._get = _get
    try:
        yield cache
    finally:
        app._get = original


class FastJobs:
    """Factory for a ``scheduler.jobs.Jobs`` subclass using P3 (and P2)."""

    @staticmethod
    def build(app: Any, read_models: Any, catch_up: Callable[[], Any], gateway: Any, *, now: Callable[[], Any],
              batch_size: int = 1000) -> Any:
        from uuid import UUID

        from policy_core.aggregates.policy import Policy
        from policy_core.application import DebitOutcome
        from scheduler.gateway import DebitRequest, customer_number_for
        from scheduler.jobs import Jobs

        class _FastJobs(Jobs):
            def _collect(self, rows: list[dict[str, Any]], report: Any) -> None:
                for start in range(0, len(rows), self.batch_size):
                    chunk = rows[start:start + self.batch_size]
                    policies = get_many(self.app, [r["policy_id"] for r in chunk], Policy)
                    requests = []
                    for r in chunk:
                        policy = policies.get(r["policy_id"]) or self.app.get_policy(r["policy_id"])
                        policies[r["policy_id"]] = policy
                        requests.append(DebitRequest(
                            policy_id=str(r["policy_id"]), period_number=r["period_number"],
                            attempt=r["next_attempt"], amount=r["outstanding"], debit_date=r["next_debit_date"],
                            account=trusted_account(policy.bank_account),
                            customer_number=customer_number_for(r["policy_id"], r["period_number"],
                                                                r["next_attempt"]),
                        ))
                    results = self.gateway.collect(requests)
                    outcomes = [DebitOutcome(
                        policy_id=UUID(res.request.policy_id), period_number=res.request.period_number,
                        attempt=res.request.attempt, debit_date=res.request.debit_date, success=res.success,
                        amount=res.request.amount if res.success else 0, result_code=res.result_code,
                        reason=res.reason, reference=res.request.customer_number) for res in results]
                    # The same objects are decided on and saved: no second read (stale-safe: a lost
                    # race raises IntegrityError and record_debit_results re-runs one by one).
                    with preloaded(self.app) as cache:
                        cache.update(policies)
                        counts = self.app.record_debit_results(outcomes, actor=self.actor)
                    report.debited += counts["debited"]
                    report.failed += counts["failed"]
                    report.lapsed += counts["lapsed"]
                    report.unchanged += counts["unchanged"]

            def _run_at(self, instant: Any, report: Any, seen: set[Any]) -> bool:
                # Renewals in bulk: every anniversary due at this instant, renewed and activated
                # in batches (one atomic save per batch), then the rest as shipped.
                rows = [r for r in self._anniversaries(instant)
                        if ("anniversary", r["policy_id"], r["current_period"]) not in seen
                        and r["non_renewal_notice_on"] is None]
                if rows:
                    done = renew_many(self.app, [(r["policy_id"], r["current_period"] + 1) for r in rows],
                                      actor=self.actor, batch_size=self.batch_size)
                    for r in rows:
                        seen.add(("anniversary", r["policy_id"], r["current_period"]))
                        seen.add(("activate", r["policy_id"], r["current_period"] + 1))
                    report.renewed += done["renewed"]
                    report.activated += done["activated"]
                    report.unchanged += done["unchanged"]
                    for e in done["errors"]:
                        report.errors.append(e)
                return super()._run_at(instant, report, seen) or bool(rows)

        return _FastJobs(app, read_models, catch_up, gateway, now=now, batch_size=batch_size)


def renew_many(app: Any, items: list[tuple[Any, int]], *, actor: Any = None, batch_size: int = 1000
               ) -> dict[str, Any]:
    """P3: renew into ``n`` and activate it, for many policies, one atomic save per batch.

    Same decisions as ``PolicyAdministration.renew`` + ``activate``; a batch that loses a race is
    redone policy by policy through the shipped commands (each idempotent).
    """
    from policy_core.aggregates.policy import Policy
    from policy_core.errors import DomainError
    from policy_core.quoting import decide_renewal

    out: dict[str, Any] = {"renewed": 0, "activated": 0, "unchanged": 0, "errors": []}
    for start in range(0, len(items), batch_size):
        chunk = items[start:start + batch_size]
        policies = get_many(app, [pid for pid, _ in chunk], Policy)
        changed = []
        counts = {"renewed": 0, "activated": 0, "unchanged": 0}
        for pid, n in chunk:
            policy = policies.get(pid)
            if policy is None:
                continue
            try:
                if policy.check_renewable(n):
                    scheme = app.scheme_of(policy)
                    decision = decide_renewal(
                        scheme, number=n, previous_end=policy.current_period.end, industry=policy.industry,
                        annual_sales=policy.annual_sales, plan=policy.plan, liability_limit=policy.liability_limit,
                        network_rider=policy.network_rider, participants=app.participants(policy.scheme),
                        is_holiday=app.is_holiday)
                    policy.renew(decision.facts())
                    counts["renewed"] += 1
                else:
                    counts["unchanged"] += 1
                if policy.activate(n):
                    counts["activated"] += 1
            except DomainError as exc:
                out["errors"].append({"job": "anniversary", "policy_id": str(pid), "code": exc.code,
                                      "detail": exc.message})
                continue
            if policy.pending_events:
                changed.append(policy)
        try:
            if changed:
                app._save(*changed, actor=actor, command="renew")
        except IntegrityError:
            counts = {"renewed": 0, "activated": 0, "unchanged": 0}
            for pid, n in chunk:
                counts["renewed" if app.renew(pid, n, actor=actor) else "unchanged"] += 1
                if app.activate(pid, n, actor=actor):
                    counts["activated"] += 1
        for k, v in counts.items():
            out[k] += v
    return out


# P4 (one-statement limits) and P8 (async dependencies, POST-only idempotency) are shipped in
# policy_core.projections.read and api/: the bench measures them as the product.

