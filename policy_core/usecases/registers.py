"""Reading the small guard aggregates (member registers, number series) that use cases save
together with the policy or claim they guard or number."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar
from uuid import UUID

from ..aggregates.register import NumberSeries
from ..errors import NotFound

if TYPE_CHECKING:
    from ..application import PolicyAdministration

T = TypeVar("T")


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
