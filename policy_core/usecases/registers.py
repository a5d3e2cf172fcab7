"""Reading the small guard aggregates (member registers, number series) that use cases save
together with the policy or claim they guard or number.

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

from ..aggregates.register import NumberSeries
from ..errors import NotFound

if TYPE_CHECKING:
    from ..application import PolicyAdministration

T = TypeVar("T")

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
