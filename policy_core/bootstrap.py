"""The one wiring point: settings -> database -> application (and later readers, jobs).

Nothing connects at import time; the API builds this in its lifespan, the CLI in
its command, tests in fixtures.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .application import PolicyAdministration
from .database import Database, open_database
from .settings import Settings

log = logging.getLogger("policy_core.bootstrap")


@dataclass
class Runtime:
    settings: Settings
    database: Database
    app: PolicyAdministration
    _closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for closer in reversed(self._closers):
            try:
                closer()
            except Exception:  # pragma: no cover - best effort on shutdown
                log.exception("error while closing")
        self._closers.clear()


def initialise_store(app: PolicyAdministration) -> None:
    """Create the event store's tables: an explicit start-up step, idempotent."""
    app.recorder.create_table()  # type: ignore[attr-defined]
    if app.snapshots is not None:
        app.snapshots.recorder.create_table()  # type: ignore[attr-defined]


def build_application(database: Database, settings: Settings, **kwargs: Any) -> PolicyAdministration:
    return PolicyAdministration(env=database.eventsourcing_env(settings.pool_size), **kwargs)


def bootstrap(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    initialise: bool = True,
    clock: Callable[[], datetime] | None = None,
) -> Runtime:
    settings = settings or Settings()
    db = database or open_database(settings.database_url, settings.data_dir, settings.db_schema)
    app = build_application(db, settings, clock=clock)
    if initialise:
        initialise_store(app)
    runtime = Runtime(settings=settings, database=db, app=app)
    runtime._closers.append(app.close)
    log.info("runtime ready", extra={"embedded": db.embedded is not None, "schema": db.schema or "public"})
    return runtime
