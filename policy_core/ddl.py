"""Every table comes from one start-up step: a small registry of table providers.

Each module that owns tables declares them in one place, next to its code, with
``@table_provider(name, tables=...)`` on a function that creates them idempotently from the
runtime it is given (its database, application, projection runner...). ``create_all`` runs
every provider in order; the composition root (``policy_core.bootstrap``) calls it at
start-up (``policy-admin db init``, ``serve``, every command that builds a runtime with
``initialise=True``) after importing every module that declares tables. Nothing creates a table
inside a request.

To add tables: write ``create_<yours>(runtime)`` in your module, decorate it, and add your
module to ``bootstrap._declare_tables``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("policy_core.ddl")

Create = Callable[[Any], None]  # takes the Runtime


@dataclass(frozen=True)
class TableProvider:
    name: str
    create: Create
    tables: tuple[str, ...]  # what it makes (for the docs and the tests)
    order: int  # lower first: the event store before the read models that replay it


_PROVIDERS: dict[str, TableProvider] = {}

EVENT_STORE = 0
READ_MODELS = 10
DEFAULT = 50


def table_provider(
    name: str, *, tables: tuple[str, ...] = (), order: int = DEFAULT
) -> Callable[[Create], Create]:
    """Register ``create`` as the provider of ``name``'s tables (registering again replaces)."""

    def register(create: Create) -> Create:
        _PROVIDERS[name] = TableProvider(name, create, tables, order)
        return create

    return register


def providers() -> list[TableProvider]:
    return sorted(_PROVIDERS.values(), key=lambda p: p.order)


def create_all(runtime: Any) -> list[str]:
    """Run every provider against ``runtime``, in order. Returns the providers' names."""
    done = []
    for provider in providers():
        provider.create(runtime)
        done.append(provider.name)
    log.info("tables ready", extra={"providers": ",".join(done)})
    return done
