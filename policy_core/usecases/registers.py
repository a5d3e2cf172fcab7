"""Reading the small guard aggregates (member registers, number series) that use cases save
together with the policy or claim they guard or number; the backfill of member registers for
policies applied before registers existed.

The number series of a scheme year is read once and then kept by the process between saves
(``take_series`` / ``keep_series``): the next number is decided from the kept state and saved
with the policy in one atomic save, so an apply reads nothing to number its policy. Another
process (or thread) that issued a number meanwhile makes the kept state stale; the save then
fails on the series' version like any stale save, nothing is recorded, and the command re-runs
against the stored series (read again). Numbers stay consecutive, unique (a number is the
series' version) and gap-free; a kept series is only ever used by one command at a time.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from ..aggregates.policy import Policy
from ..aggregates.register import MemberRegister, NumberSeries
from ..errors import NotFound
from .common import Actor
from .reads import get_policies

if TYPE_CHECKING:
    from ..application import PolicyAdministration

T = TypeVar("T")

BACKFILL_PAGE = 500

_kept: weakref.WeakKeyDictionary[Any, dict[UUID, NumberSeries]] = weakref.WeakKeyDictionary()
_kept_lock = threading.Lock()


def get_or_none(app: PolicyAdministration, cls: type[T], aggregate_id: UUID) -> T | None:
    try:
        return app._get(cls, aggregate_id)
    except NotFound:
        return None


def exists(app: PolicyAdministration, aggregate_id: UUID) -> bool:
    return bool(list(app.events.get(aggregate_id, limit=1)))


def number_series(app: PolicyAdministration, scheme: str, kind: str, year: int) -> NumberSeries:
    """The series that issues the next number of this kind for the scheme year (new if none yet)."""
    series = get_or_none(app, NumberSeries, NumberSeries.id_for(scheme, kind, year))
    return series if series is not None else NumberSeries.open(scheme, kind, year)


def take_series(
    app: PolicyAdministration, scheme: str, kind: str, year: int, *, fresh: bool = False
) -> NumberSeries:
    """The series as this process last saved it (taken out: no other command can use it until
    it is kept again), else as stored. ``fresh``: read it from the store (a re-run after a stale
    save)."""
    sid = NumberSeries.id_for(scheme, kind, year)
    with _kept_lock:
        kept = _kept.get(app)
        series = kept.pop(sid, None) if kept is not None else None
    if series is not None and not fresh:
        return series
    return number_series(app, scheme, kind, year)


def keep_series(app: PolicyAdministration, series: NumberSeries) -> None:
    """After a successful save: keep the series for the next number (the newest state wins)."""
    with _kept_lock:
        kept = _kept.setdefault(app, {})
        held = kept.get(series.id)
        if held is None or held.version < series.version:
            kept[series.id] = series


def applied_policy_ids(app: PolicyAdministration, *, page: int = BACKFILL_PAGE) -> list[UUID]:
    """Every policy ever applied, in the order recorded (the ``Applied`` notifications)."""
    ids: list[UUID] = []
    start: int | None = 1
    while True:
        found = app.recorder.select_notifications(start=start, limit=page, topics=[Policy.Applied.TOPIC])
        ids.extend(
            n.originator_id if isinstance(n.originator_id, UUID) else UUID(n.originator_id) for n in found
        )
        if len(found) < page:
            return ids
        start = found[-1].id + 1


def backfill_member_registers(
    app: PolicyAdministration, *, actor: Actor | None = None, page: int = BACKFILL_PAGE
) -> dict[str, int]:
    """Enter in its member's register every policy that is not there (a store written before
    member registers existed: the overlap rule, ``member_already_insured``, reads the register).

    One save per member (the register opened if the member has none), each entry a
    ``MemberRegister.PolicyEntered`` event with the policy's first cover start, in start order;
    idempotent: a policy already entered is left alone, so a second run records nothing. A
    member's register saved meanwhile by an application makes the save stale and it re-runs."""
    members: dict[tuple[str, str], list[tuple[Any, UUID]]] = {}
    ids = applied_policy_ids(app, page=page)
    for i in range(0, len(ids), page):
        for policy in get_policies(app, ids[i : i + page], personal=()).values():
            key = (policy.scheme, policy.member_number)
            members.setdefault(key, []).append((policy.periods[0].start, policy.id))

    def enter(scheme: str, member_number: str, policies: list[tuple[Any, UUID]]) -> int:
        def command() -> int:
            stored = get_or_none(app, MemberRegister, MemberRegister.id_for(scheme, member_number))
            register = stored if stored is not None else MemberRegister.open(scheme, member_number)
            known = {e["policy_id"] for e in register.policies}
            missing = sorted(p for p in policies if p[1] not in known)
            for start, policy_id in missing:
                register.enter(policy_id, start)
            if missing:
                app._save(register, actor=actor, command="backfill_member_registers")
            return len(missing)

        return app._retrying(command)

    entered = registers = 0
    for (scheme, member_number), policies in members.items():
        n = enter(scheme, member_number, policies)
        entered += n
        registers += n > 0
    return {"policies": len(ids), "members": len(members), "registers_changed": registers, "entered": entered}
