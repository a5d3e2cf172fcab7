"""Reads: a policy or a claim now or as of a recorded time, many policies at once, a history.

``as_of`` is recorded time (what the system knew then); business-effective dates are fields
of the state. The as-of read itself (snapshots, binary search) is the application's plumbing.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from psycopg import sql
from psycopg.rows import tuple_row

from ..aggregates.claim import Claim
from ..aggregates.policy import Policy
from ..aggregates.replay import replay
from ..errors import NotFound
from ..settlement import SECTIONS
from ..store import collector_paused
from .common import aware

if TYPE_CHECKING:
    from ..application import PolicyAdministration


def get_policy(app: PolicyAdministration, policy_id: UUID, *, as_of: datetime | None = None) -> Policy:
    return app._read(Policy, policy_id, as_of)


def get_claim(app: PolicyAdministration, claim_id: UUID, *, as_of: datetime | None = None) -> Claim:
    return app._read(Claim, claim_id, as_of)


def limits_from_events(
    app: PolicyAdministration, policy_id: UUID, period: int | None = None, *, as_of: datetime | None = None
) -> dict[str, Any]:
    """``GET /policies/{id}/limits`` from the aggregates (the limits view behind or not built yet),
    in the view's shape: the period's limits, paid and remaining per section; every claim
    registered on the period with, per section, its accident limit (the limits in force at its
    discovery: a cover endorsement applies to incidents discovered from its effective time),
    paid and remaining; the policy and claim numbers."""
    policy = get_policy(app, policy_id, as_of=as_of)
    p = policy.period(period) if period is not None else policy.current_period
    claims: dict[str, Any] = {}
    numbers: dict[str, str | None] = {}
    for hex_id in dict.fromkeys([*p.claims, *p.claim_paid]):
        claim = get_claim(app, UUID(hex=hex_id), as_of=as_of)
        limits = p.limits_at(claim.discovered_at)
        paid = p.claim_paid.get(hex_id, {})
        claims[str(claim.id)] = {
            s: {"accident_limit": limits[s], "paid": paid.get(s, 0), "remaining": limits[s] - paid.get(s, 0)}
            for s in SECTIONS
        }
        numbers[str(claim.id)] = claim.number
    remaining = p.remaining()
    return {
        "policy_id": str(policy_id),
        "number": policy.number,
        "period": p.number,
        "start": p.start,
        "end": p.end,
        "sections": {
            s: {"limit": p.limits[s], "paid": p.paid.get(s, 0), "remaining": remaining[s]} for s in SECTIONS
        },
        "claims": claims,
        "claim_numbers": numbers,
    }


def history(
    app: PolicyAdministration, aggregate_id: UUID, *, cls: type | None = None, as_of: datetime | None = None
) -> list[Any]:
    """Every event of one aggregate, in order (the auditor's replay); with ``as_of``, those
    recorded at or before that moment (NotFound if the aggregate did not exist then, as the
    read of its state answers)."""
    if as_of is None:
        return app._history(aggregate_id, cls=cls)
    app._read(cls or Policy, aggregate_id, as_of)  # checks the moment; NotFound before it existed
    moment = aware(as_of, "as_of")
    return [e for e in app._history(aggregate_id, cls=cls) if e.timestamp <= moment]


def get_policies(
    app: PolicyAdministration, policy_ids: Iterable[UUID], *, personal: tuple[str, ...] | None = None
) -> dict[UUID, Policy]:
    """Many current policies read with one query (their whole histories), for bulk runs.

    Ids that are not policies are left out. Slower per policy than ``get_policy`` only for
    histories long enough to have snapshots, which a bulk run rarely meets. The data keys of the
    chunk's subjects are fetched with one key-store query.

    ``personal``: the personal fields to open (default: all). A debit run needs only the bank
    accounts, a renewal run none; the others stay sealed envelopes in the returned aggregates
    (for the bulk run's decisions and saves only: an envelope reaching a new event is stored as
    it is). Not for anything that shows or compares holders.
    """
    ids = [i for i in dict.fromkeys(policy_ids) if isinstance(i, UUID)]
    if not ids:
        return {}
    recorder: Any = app.recorder
    if not hasattr(recorder, "events_table_name"):  # not PostgreSQL: the in-memory store
        found = {}
        for i in ids:
            try:
                found[i] = app._get(Policy, i)
            except NotFound:
                pass
        return found
    statement = sql.SQL(
        "SELECT originator_id, originator_version, topic, state FROM {}.{}"
        " WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version"
    ).format(
        sql.Identifier(recorder.datastore.schema or "public"),
        sql.Identifier(recorder.events_table_name),
    )
    with recorder.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(statement, [ids])
        rows = cur.fetchall()
    to_domain: Any = app.mapper.to_domain_event
    preload = getattr(app.mapper, "preload_keys", None)
    if preload is not None:  # every data subject's key of the chunk in one key-store query
        if personal is not None:
            to_domain = partial(to_domain, fields=personal)
        if personal is None or personal:
            preload(bytes(r[3]) for r in rows)
    histories: dict[UUID, list[Any]] = {}
    out = {}
    with collector_paused():
        for oid, version, topic, state in rows:
            event = to_domain(StoredEvent(oid, version, topic, bytes(state)))
            histories.setdefault(oid, []).append(event)
        for oid, events in histories.items():
            if getattr(events[0], "originator_topic", None) == Policy.TOPIC:
                out[oid] = replay(None, events)  # the library's fold, planned per event class
    return out
