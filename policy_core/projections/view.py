"""The base class of a read model ("view").

A view has a name, a schema version, its tables, and one handler per event
class it reads. Handlers are deterministic functions of the event and of the
view's own rows: no clock, no other view's tables, no aggregate reads. What an
event records (a period's premium, its co-insurer shares) is taken from the
event, never looked up again. Scheme parameters that events do not record (the
calendar, or shares for periods recorded before they were) come from the scheme
presets; a view that uses them puts a fingerprint of them in its schema version,
so that a change of preset is a schema change and rebuilds the view.

Bump ``version`` whenever the tables or what a handler computes change: at
start-up the runner rebuilds a view whose recorded version differs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar
from uuid import UUID

from .tables import Rows, Table

Handler = Callable[[Any, Any, Rows], None]


def handles(*event_classes: Any) -> Callable[[Handler], Handler]:
    """Mark a view method as the handler of these event classes (by their stable TOPIC)."""
    topics = tuple(c.TOPIC for c in event_classes)

    def mark(fn: Handler) -> Handler:
        fn.__dict__.setdefault("_handles", ())
        fn._handles = fn._handles + topics  # type: ignore[attr-defined]
        return fn

    return mark


class View:
    name: ClassVar[str]
    version: ClassVar[int]
    # Relative work per event in a rebuild (measured): how a parallel rebuild groups views.
    rebuild_cost: ClassVar[float] = 1.0
    tables: ClassVar[tuple[Table, ...]]
    _handlers: ClassVar[dict[str, str]]
    _topics: ClassVar[frozenset[str]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        handlers: dict[str, str] = {}
        for klass in reversed(cls.__mro__):
            for attr, fn in vars(klass).items():
                for topic in getattr(fn, "_handles", ()):
                    handlers[topic] = attr
        cls._handlers = handlers
        cls._topics = frozenset(handlers)

    # ------------------------------------------------------------------ identity
    def schema_version(self) -> str:
        """What the tracking table records; any difference means "rebuild this view"."""
        return str(self.version)

    @property
    def topics(self) -> frozenset[str]:
        return self._topics

    def table(self, name: str) -> Table:
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(name)

    def bind(self, source: Any) -> None:
        """Called by the projector with its event source (which carries the application's mapper):
        a view that derives keyed values (the policies view's blind index) takes its keys here."""

    # ------------------------------------------------------------------ applying
    def ids(self, event: Any) -> Iterable[UUID]:
        """Aggregate ids whose rows the batch should prefetch for this event."""
        yield event.originator_id
        for attr in ("policy_id", "claim_id"):
            value = getattr(event, attr, None)
            if isinstance(value, UUID):
                yield value

    def prepare(self, events: Iterable[tuple[str, Any]]) -> None:
        """Called by the projector with a batch's events (topic, event) before their handlers run,
        and with none after them: a view that needs something outside its tables per event (the
        policies view: the members' data keys) fetches it here for the whole batch at once."""

    def apply(self, topic: str, event: Any, rows: Rows) -> None:
        getattr(self, self._handlers[topic])(event, rows)

    def __repr__(self) -> str:
        return f"<view {self.name} v{self.schema_version()}>"
