"""A fold for bulk reads: the library's replay of decorated events, without its per-event machinery.

The library replays an event through ``mutate``: for the creating event it resolves the
aggregate's topic, filters the event's attributes against ``__base_init__`` and ``__init__``
(``inspect``-cached, but a dict comprehension over every attribute, twice), then calls them;
for an ``@event``-decorated method it looks the method up, filters the attributes against its
signature and binds it, then checks and moves the version. A bulk run folds two events for each
of a thousand policies per chunk, and that machinery was a fifth of the debit run's fold.

``replay`` does the same steps with each event class's plan worked out once: the same checks
(originator id, next version), the same calls with the same arguments, the same resulting
state (``tests/unit/test_replay.py`` compares every policy event type's state with the
library's fold). An event class whose replay the plan cannot reproduce (its own ``apply`` or
``mutate``, an undecorated event) goes the library's way, ``event.mutate``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any

from eventsourcing.domain import (
    CanInitAggregate,
    CanMutateAggregate,
    DecoratedFuncCaller,
    _init_mentions_id,
    decorated_funcs,
)
from eventsourcing.utils import resolve_topic

Step = Callable[[Any, Any], Any]
_steps: dict[type, Step] = {}
_classes: dict[str, tuple[type, frozenset[str], bool]] = {}


def replay(aggregate: Any, events: Iterable[Any]) -> Any:
    """Apply events in order to ``aggregate`` (None before the creating event), as ``fold`` does."""
    for e in events:
        step = _steps.get(type(e))
        if step is None:
            step = _steps[type(e)] = _plan(type(e))
        aggregate = step(e, aggregate)
    return aggregate


def _library(e: Any, aggregate: Any) -> Any:
    return e.mutate(aggregate)


def _params(func: Callable[..., Any]) -> frozenset[str]:
    return frozenset(inspect.signature(func).parameters)


def _apply_is_inherited(cls: type, after: type) -> bool:
    """Whether ``cls``'s ``apply`` past ``after`` in its MRO is the library's no-op."""
    mro = cls.__mro__
    for klass in mro[mro.index(after) + 1 :]:
        if "apply" in vars(klass):
            return vars(klass)["apply"] is CanMutateAggregate.apply
    return False


def _plan(cls: type) -> Step:
    if (
        cls.mutate is CanInitAggregate.mutate  # type: ignore[attr-defined]
        and cls.apply is CanMutateAggregate.apply  # type: ignore[attr-defined]
    ):
        return _create
    if (
        issubclass(cls, DecoratedFuncCaller)
        and cls.mutate is CanMutateAggregate.mutate
        and cls.apply is DecoratedFuncCaller.apply
        and inspect.isfunction(decorated_funcs.get(cls))
        and _apply_is_inherited(cls, DecoratedFuncCaller)
    ):
        return _decorated(decorated_funcs[cls])
    return _library


def _aggregate_class(topic: str) -> tuple[type, frozenset[str], bool]:
    found = _classes.get(topic)
    if found is None:
        agg_cls = resolve_topic(topic)
        found = _classes[topic] = (agg_cls, _params(agg_cls.__init__), agg_cls in _init_mentions_id)
    return found


def _create(e: Any, aggregate: Any) -> Any:
    """``CanInitAggregate.mutate``: a shell of the aggregate's class, the base init, then ``__init__``."""
    if aggregate is not None:
        return e.mutate(aggregate)  # the library's assertion
    d = e.__dict__
    agg_cls, names, mentions_id = _aggregate_class(d["originator_topic"])
    agg: Any = agg_cls.__new__(agg_cls)  # type: ignore[call-overload]
    agg.__base_init__(
        originator_id=d["originator_id"], originator_version=d["originator_version"], timestamp=d["timestamp"]
    )
    kwargs = {k: d[k] for k in names if k in d}
    if mentions_id:
        kwargs["id"] = d["originator_id"]
    agg.__init__(**kwargs)
    return agg


def _decorated(func: Callable[..., Any]) -> Step:
    names = tuple(_params(func) - {"self"})

    def step(e: Any, aggregate: Any) -> Any:
        """``CanMutateAggregate.mutate`` with ``DecoratedFuncCaller.apply``: checked, applied, moved on."""
        d = e.__dict__
        if (
            aggregate is None
            or d["originator_id"] != aggregate.id
            or d["originator_version"] != aggregate.version + 1
        ):
            return e.mutate(aggregate)  # the library's own errors
        func(aggregate, **{k: d[k] for k in names if k in d})
        aggregate.version = d["originator_version"]
        aggregate.modified_on = d["timestamp"]
        return aggregate

    return step


__all__ = ["replay"]
