"""Measurement variants of product code, used inside the bench only.

The proposals measured here in earlier runs (P1-P8: no pre-read in ``apply``, the cached
participants count, bulk loads and batched renewals, one-statement limits, snapshots, the
direct fold, trusted bank accounts from the store, async dependencies) are product code
now; what is left is the fold the #6 "no snapshots" variant replays with.
"""

from __future__ import annotations

from typing import Any


def fold(events: Any) -> Any:
    """Replay by calling each event's ``mutate`` (what ``project_aggregate`` does, without its
    per-event ``assert isinstance(e, CanMutateProtocol)``: a runtime-checkable Protocol check that
    costs ~25 us per event, most of an aggregate load). The product's ``application.fold``."""
    agg = None
    for e in events:
        agg = e.mutate(agg)
    return agg


def fold_projector(aggregate: Any, events: Any) -> Any:
    for e in events:
        aggregate = e.mutate(aggregate)
    return aggregate
