"""Bulk runs: many policies per atomic save (the PostgreSQL recorder locks the table per write).

The decisions are the same as the one-policy use cases'; a batch that loses a concurrency race
is done again policy by policy through those (each idempotent), so a bulk run is as safe to
repeat as the single commands.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from ..aggregates.policy import Policy
from ..errors import DomainError, NotFound
from ..store import collector_paused
from .collections import DebitOutcome, decide_debits
from .common import Actor, job_error
from .lifecycle import renew_decided

if TYPE_CHECKING:
    from ..application import PolicyAdministration


def renew_many(
    app: PolicyAdministration,
    items: Iterable[tuple[UUID, int]],
    *,
    activate: bool = True,
    actor: Actor | None = None,
    batch_size: int = 500,
) -> dict[str, Any]:
    """Renew many policies into period ``n`` (and activate it), many per atomic save.

    The same decisions as ``renew`` then ``activate`` for each policy; what the anniversary
    run does for a whole scheme. The policies of a batch are read with one query. A batch that
    loses a concurrency race is done again policy by policy through ``renew``/``activate``
    (each idempotent). A policy the aggregate refuses is reported in ``errors`` and the
    rest of its batch goes on.
    """
    out: dict[str, Any] = {"renewed": 0, "activated": 0, "unchanged": 0, "errors": []}
    items = list(items)
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        with collector_paused():
            _renew_chunk(app, chunk, activate, actor, out)
    return out


def _renew_chunk(
    app: PolicyAdministration,
    chunk: list[tuple[UUID, int]],
    activate: bool,
    actor: Actor | None,
    out: dict[str, Any],
) -> None:
    """One batch of ``renew_many``: read with one query, decided, saved atomically (or redone)."""
    policies = app.get_policies([pid for pid, _ in chunk], personal=())  # renewing reads no personal data
    counts = {"renewed": 0, "activated": 0, "unchanged": 0}
    changed: list[Policy] = []
    errors: list[dict[str, str]] = []
    for pid, n in chunk:
        try:
            policy = policies.get(pid) or app._get(Policy, pid)
        except NotFound as exc:
            errors.append(job_error("anniversary", pid, exc))
            continue
        _renew_then_activate(
            pid,
            partial(renew_decided, app, policy, n),
            partial(policy.activate, n) if activate else None,
            counts,
            errors,
        )
        if policy.pending_events:
            changed.append(policy)
    try:
        if changed:
            app._save(*changed, actor=actor, command="renew")
    except IntegrityError:
        counts = {"renewed": 0, "activated": 0, "unchanged": 0}
        errors = []
        for pid, n in chunk:
            _renew_then_activate(
                pid,
                partial(app.renew, pid, n, actor=actor),
                partial(app.activate, pid, n, actor=actor) if activate else None,
                counts,
                errors,
            )
    for k, v in counts.items():
        out[k] += v
    out["errors"].extend(errors)


def _renew_then_activate(
    policy_id: UUID,
    renew: Callable[[], bool],
    activate: Callable[[], bool] | None,
    counts: dict[str, int],
    errors: list[dict[str, str]],
) -> None:
    """One policy's anniversary, counted: renew, then (if renewing was not refused) activate."""
    try:
        counts["renewed" if renew() else "unchanged"] += 1
    except DomainError as exc:
        errors.append(job_error("anniversary", policy_id, exc))
        return
    if activate is None:
        return
    try:
        counts["activated" if activate() else "unchanged"] += 1
    except DomainError as exc:
        errors.append(job_error("activate", policy_id, exc))


def record_debit_results(
    app: PolicyAdministration,
    results: Iterable[DebitOutcome],
    *,
    actor: Actor | None = None,
    batch_size: int = 500,
    loaded: dict[UUID, Policy] | None = None,
) -> dict[str, int]:
    """Record a debit run's results, many policies per atomic save (the store locks per write).

    ``loaded`` are policies the caller already read for this run (the debit run reads them
    for the bank accounts): used once instead of read again. A batch that loses a concurrency
    race, stale ``loaded`` copies included, is recorded again policy by policy from fresh
    reads (each idempotent).
    """
    loaded = dict(loaded or {})
    counts = {"debited": 0, "failed": 0, "lapsed": 0, "unchanged": 0}
    batch: list[DebitOutcome] = []

    def flush() -> None:
        if not batch:
            return
        try:
            mine = {r.policy_id: p for r in batch if (p := loaded.pop(r.policy_id, None)) is not None}
            with collector_paused():
                aggregates, outcome = decide_debits(app, batch, mine)
                app._save(*aggregates, actor=actor, command="record_debit_results")
        except IntegrityError:
            outcome = {"debited": 0, "failed": 0, "lapsed": 0, "unchanged": 0}
            for r in batch:

                def one(r: DebitOutcome = r) -> dict[str, int]:
                    aggs, o = decide_debits(app, [r])
                    app._save(*aggs, actor=actor, command="record_debit_results")
                    return o

                for k, v in app._retrying(one).items():
                    outcome[k] += v
        for k, v in outcome.items():
            counts[k] += v
        batch.clear()

    for r in results:
        batch.append(r)
        if len(batch) >= batch_size:
            flush()
    flush()
    return counts
