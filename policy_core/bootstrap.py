"""The one wiring point: settings -> database -> application, read models, projections.

Nothing connects at import time; the API builds this in its lifespan, the CLI in
its command, tests in fixtures.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .application import PolicyAdministration
from .database import Database, open_database
from .personal_data.setup import check_store_cipher, open_vault, store_cipher_env
from .settings import Settings

log = logging.getLogger("policy_core.bootstrap")


class _FunctionClock:
    def __init__(self, fn: Callable[[], datetime]) -> None:
        self.fn = fn

    def now(self) -> datetime:
        return self.fn()


@dataclass
class Runtime:
    settings: Settings
    database: Database
    app: PolicyAdministration
    clock: Any  # has now() -> aware datetime
    read_models: Any = None  # projections.ReadModels
    projections: Any = None  # projections.ProjectionRunner
    audit: Any = None  # audit.Sealer (the hash chain over the log)
    _closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for closer in reversed(self._closers):
            try:
                closer()
            except Exception:  # pragma: no cover - best effort on shutdown
                log.exception("error while closing")
        self._closers.clear()


def initialise_store(app: PolicyAdministration) -> None:
    """Create the event store's tables (and the key store's): an explicit start-up step, idempotent."""
    ensure_keys = getattr(app.vault.store, "ensure_tables", None)
    if ensure_keys is not None:
        ensure_keys()
    app.recorder.create_table()  # type: ignore[attr-defined]
    if app.snapshots is not None:
        app.snapshots.recorder.create_table()  # type: ignore[attr-defined]


def build_application(database: Database, settings: Settings, **kwargs: Any) -> PolicyAdministration:
    env = database.eventsourcing_env(settings.pool_size)
    vault = kwargs.get("vault")
    if settings.store_cipher and vault is not None:
        env.update(store_cipher_env(vault))
    return PolicyAdministration(env=env, **kwargs)


def build_sealer(database: Database, app: PolicyAdministration, settings: Settings, **kwargs: Any) -> Any:
    """The audit sealer over the application's log, signing with the configured key."""
    from .audit import Sealer, Signer

    return Sealer(
        database,
        app,
        signer=Signer.from_settings(settings),
        every_events=settings.audit_checkpoint_events,
        every_minutes=settings.audit_checkpoint_minutes,
        **kwargs,
    )


def bootstrap(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    initialise: bool = True,
    clock: Callable[[], datetime] | Any | None = None,
    read_models: bool = True,
) -> Runtime:
    """Build the runtime. ``clock`` is a function returning now, or an object with ``now()``."""
    from .projections import ProjectionRunner, ReadModels, participants_counter

    settings = settings or Settings()
    db = database or open_database(settings.database_url, settings.data_dir, settings.db_schema)
    if clock is None:
        clock_obj: Any = _FunctionClock(lambda: datetime.now(UTC))
    elif hasattr(clock, "now"):
        clock_obj = clock
    else:
        clock_obj = _FunctionClock(clock)
    participants = participants_counter(db)
    vault = open_vault(db, settings, initialise=initialise)
    app = build_application(db, settings, clock=clock_obj.now, participants=participants, vault=vault)
    app.retention_years = settings.retention_years
    runtime = Runtime(settings=settings, database=db, app=app, clock=clock_obj)
    runtime._closers.append(app.close)
    runtime._closers.append(vault.store.close)  # type: ignore[attr-defined]
    runtime._closers.append(getattr(participants, "close", lambda: None))
    if initialise:
        initialise_store(app)
    check_store_cipher(app, settings.store_cipher)
    if read_models:
        runtime.projections = ProjectionRunner(db, app)
        if initialise:
            import psycopg

            with psycopg.connect(db.dsn, autocommit=True) as conn:
                runtime.projections.prepare(conn)
        runtime.read_models = ReadModels(db, mapper=app.mapper)
        runtime._closers.append(runtime.read_models.close)
        runtime._closers.append(runtime.projections.stop)
    runtime.audit = build_sealer(db, app, settings)
    if initialise:
        import psycopg

        with psycopg.connect(db.dsn, autocommit=True) as conn:
            runtime.audit.prepare(conn)
    runtime._closers.append(runtime.audit.stop)
    log.info("runtime ready", extra={"embedded": db.embedded is not None, "schema": db.schema or "public"})
    return runtime
