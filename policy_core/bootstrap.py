"""The composition root: settings -> database -> application, read models, projections, jobs;
and what each process runs.

``bootstrap`` builds a ``Runtime`` (tests build one in fixtures). The process functions at the
end compose the runtime into what a command runs: ``serve`` (the HTTP app, the projection
runner and the scheduler in one process), ``run_projections`` (``projections run``) and
``run_scheduler`` (``scheduler run``). This module and ``policy_core.cli`` are the only ones
in ``policy_core`` that import ``api`` or ``scheduler`` (tests/unit/test_architecture.py);
``api`` builds only the HTTP app from the runtime it is given. Nothing connects at import time.
"""

from __future__ import annotations

import logging
import socket
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from .application import PolicyAdministration
from .database import Database, open_database
from .ddl import create_all
from .personal_data.keys import PersistentKeyStoreRequired
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
    jobs: Any = None  # scheduler.jobs.Jobs: run-due (POST /operations/run-due, the CLI, the scheduler)
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
    from .application import create_event_store

    create_event_store(SimpleNamespace(app=app))


def _declare_tables() -> None:
    """Import every module that declares tables (policy_core.ddl): the one list of them."""
    from api import idempotency  # noqa: F401
    from scheduler import attempts, zengin_gateway  # noqa: F401

    from . import application, reporting  # noqa: F401
    from .audit import sealer  # noqa: F401
    from .personal_data import store  # noqa: F401
    from .projections import runner  # noqa: F401


def create_tables(runtime: Runtime) -> list[str]:
    """The start-up step: create every table every module declares (idempotent).

    Processes starting at once (two ``projections run``, ``serve`` beside ``db init``) take turns
    under one session-level advisory lock per schema: concurrent ``CREATE ... IF NOT EXISTS``
    statements race in PostgreSQL's catalogue (``pg_type`` unique violations)."""
    _declare_tables()
    key = zlib.crc32(f"policy-admin:ddl:{runtime.database.schema or 'public'}".encode()) - 2**31
    with runtime.database.connect(autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", [key])
        try:
            return create_all(runtime)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", [key])


def build_application(database: Database, settings: Settings, **kwargs: Any) -> PolicyAdministration:
    env = database.eventsourcing_env(settings.pool_size)
    vault = kwargs.get("vault")
    if vault is None:  # production composition: never keys in memory over a real store
        raise PersistentKeyStoreRequired(
            "build_application needs the persistent key store: vault=open_vault(database, settings)"
        )
    if settings.store_cipher and vault is not None:
        env.update(store_cipher_env(vault))
    app = PolicyAdministration(env=env, **kwargs)
    app.reinstatement_window_days = settings.reinstatement_window_days
    return app


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
    if settings.collection_gateway == "zengin":  # refused before anything starts: SettingsError
        from scheduler.zengin_gateway import collector_from_settings

        collector_from_settings(settings)
    db = database or open_database(
        settings.database_url, settings.data_dir, settings.db_schema, settings.db_timeout_seconds
    )
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
    if database is None and db.embedded is not None:
        # Closed last: the embedded PostgreSQL stops with the runtime (SIGTERM included: uvicorn,
        # the CLI and the services close the runtime on it), not only at interpreter exit.
        runtime._closers.append(db.embedded.cleanup)
    runtime._closers.append(app.close)
    runtime._closers.append(vault.store.close)  # type: ignore[attr-defined]
    runtime._closers.append(getattr(participants, "close", lambda: None))
    if read_models:
        runtime.projections = ProjectionRunner(db, app)
        runtime.read_models = ReadModels(db, mapper=app.mapper)
        runtime._closers.append(runtime.read_models.close)
        runtime._closers.append(runtime.projections.stop)
        from scheduler.wiring import build_jobs

        runtime.jobs = build_jobs(runtime)
    runtime.audit = build_sealer(db, app, settings)
    runtime._closers.append(runtime.audit.stop)
    if initialise:
        create_tables(runtime)
    check_store_cipher(app, settings.store_cipher)
    log.info("runtime ready", extra={"embedded": db.embedded is not None, "schema": db.schema or "public"})
    return runtime


# ---------------------------------------------------------------------------- processes


def _stop_on_signals(stop: Callable[[], None]) -> None:
    import signal

    signal.signal(signal.SIGTERM, lambda *_: stop())
    signal.signal(signal.SIGINT, lambda *_: stop())


def serve(settings: Settings, *, host: str, port: int, workers: int = 1) -> None:
    """``policy-admin serve``: the HTTP API, and in the same process the projection runner and
    the scheduler (each unless turned off in the settings). Tables are made at start-up.

    With ``workers`` > 1, the API runs in that many worker processes (uvicorn's supervisor,
    one listening socket) while this process keeps the runner, the sealer and the scheduler:
    see :func:`serve_workers`."""
    if workers > 1:
        serve_workers(settings, host=host, port=port, workers=workers)
        return
    import uvicorn

    from api.main import create_app

    runtime = bootstrap(settings)
    service = None
    try:
        app = create_app(settings, runtime=runtime)
        if settings.run_projections:
            runtime.projections.start()
            runtime.audit.start()  # the sealer lives beside the projection runner
        if settings.run_scheduler:
            from scheduler.wiring import build_service

            service = build_service(runtime, interval_seconds=settings.scheduler_interval_seconds)
            service.start()
        uvicorn.run(app, host=host, port=port, log_config=None)  # returns on SIGTERM / SIGINT
    finally:
        if service is not None:
            service.stop()
        runtime.close()


# Set by ``serve_workers`` for its worker processes only.
WORKER_KEYS_FROM_FILE = "POLICY_API_KEYS_FROM_FILE"


def serve_workers(settings: Settings, *, host: str, port: int, workers: int) -> None:
    """N API processes beside one projection runner, one sealer and one scheduler leader.

    This (parent) process does once what must happen once, before any worker starts: it opens
    the database (with no ``DATABASE_URL`` it starts the embedded PostgreSQL, one server, and
    gives its address to the workers), creates every table, and on the embedded default makes
    the API keys file and the audit signing key, so no two workers race to create them. It runs
    the projection runner, the sealer and the scheduler in its threads as the one-process
    ``serve`` does. Each worker (:func:`worker_app`) builds its own runtime over the same
    database without creating anything and serves only the API.

    What is per process stays correct: idempotency records are rows in PostgreSQL (a retry may
    reach any worker; the claimed row decides), the participants count is each process's cache
    of the portfolio view with the same 30 s bound, the keys come from ``POLICY_API_KEYS`` or
    the one file."""
    import os

    from api.auth import load_or_create_keys

    runtime = bootstrap(settings)
    service = None
    try:
        env = {"POLICY_RUN_PROJECTIONS": "false", "POLICY_RUN_SCHEDULER": "false"}
        if runtime.database.embedded is not None:
            env["DATABASE_URL"] = runtime.database.dsn
        if not settings.api_keys:
            if runtime.database.embedded is None:
                raise RuntimeError("POLICY_API_KEYS must be set when DATABASE_URL is used")
            _, path = load_or_create_keys(settings.data_dir)
            env[WORKER_KEYS_FROM_FILE] = "1"
            log.info("API keys loaded", extra={"keys_file": str(path)})
        os.environ.update(env)  # the workers are spawned with this environment
        if settings.run_projections:
            runtime.projections.start()
            runtime.audit.start()
        if settings.run_scheduler:
            from scheduler.wiring import build_service

            service = build_service(runtime, interval_seconds=settings.scheduler_interval_seconds)
            service.start()
        log.info("starting API workers", extra={"workers": workers, "host": host, "port": port})
        run_api_workers(
            "policy_core.bootstrap:worker_app", host=host, port=port, workers=workers, log_config=None
        )  # returns on SIGTERM / SIGINT, once the workers have stopped
    finally:
        if service is not None:
            service.stop()
        runtime.close()


def run_api_workers(app: str, *, host: str, port: int, workers: int, **config: Any) -> None:
    """uvicorn's supervisor over ``workers`` processes of the factory ``app``, each worker with
    its own listening socket (:func:`worker_listener`) where the platform balances them, else
    one shared socket; accepted connections have ``TCP_NODELAY`` either way (:func:`tcp_socket`)."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    cfg = uvicorn.Config(app, factory=True, host=host, port=port, workers=workers, **config)
    if REUSE_PORT and cfg.uds is None and cfg.fd is None:
        sock: socket.socket = worker_listener(cfg.host, cfg.port)
        log.info("API workers listening", extra={"address": sock.getsockname(), "workers": workers})
    else:
        sock = tcp_socket(cfg.bind_socket())
    Multiprocess(cfg, sockets=[sock]).run()


# Linux balances new connections across the listening sockets of one SO_REUSEPORT group (by a
# hash of the connection's addresses); other systems' SO_REUSEPORT does not balance.
REUSE_PORT = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


class WorkerListener(socket.socket):
    """The address the API workers serve, bound by the supervisor (the port is reserved and a
    bind error reported before any worker starts) and never listened on there: every worker it
    is handed to gets, instead of a copy of this socket, a new socket bound to the same address
    in one ``SO_REUSEPORT`` group (``__reduce__``: what multiprocessing sends a spawned worker).

    Why: with one shared socket the worker that wakes first accepts every connection waiting
    (asyncio accepts up to its backlog per wake-up), so a client opening its connections at
    once (a load generator, a proxy's keep-alive pool) had them all served by one worker while
    the other idled: two workers measured 0.8 x one on a quiet machine, 21/11 or 32/0
    connections per worker by ``ss``. Each connection now goes to one worker's socket by the
    kernel's hash, whichever worker is awake; a worker that exits takes its socket, and its
    share of new connections, with it (uvicorn's supervisor restarts it with a new one)."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_listener_in_group, (self.family, self.getsockname()))


def worker_listener(host: str, port: int) -> WorkerListener:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = WorkerListener(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    _join_group(sock, (host, port))
    return sock


def _listener_in_group(family: int, address: tuple[Any, ...]) -> socket.socket:
    """A worker's own socket on the supervisor's address (``IPPROTO_TCP``: ``TCP_NODELAY`` on
    its connections); asyncio's server listens on it."""
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    _join_group(sock, address)
    return sock


def _join_group(sock: socket.socket, address: tuple[Any, ...]) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise


def tcp_socket(sock: socket.socket) -> socket.socket:
    """The same listening socket, as an ``IPPROTO_TCP`` socket object (inherited by workers).

    uvicorn binds the socket it shares between workers as ``socket.socket(family)`` (protocol
    0), and asyncio sets ``TCP_NODELAY`` on accepted connections only when the listening socket
    says ``IPPROTO_TCP``; without it every response after the first on a kept-alive connection
    (its head and body are two writes) waited for the client's delayed ACK: ~40 ms per request
    with two workers against ~1 ms with one (the #5 benchmark's 2-worker figure)."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.proto == socket.IPPROTO_TCP:
        return sock
    tcp = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
    tcp.set_inheritable(True)
    return tcp


def worker_app() -> Any:
    """One API worker of :func:`serve_workers` (uvicorn's factory, in a spawned process): the
    HTTP app over a runtime that creates nothing (the parent did), closed with the app."""
    import json
    import os
    from contextlib import asynccontextmanager

    from api.auth import KEYS_FILE, ApiKey, load_or_create_secret, parse_keys
    from api.main import create_app

    from .logs import configure_logging

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format, settings.log_file)
    keys: dict[str, ApiKey] | None = None
    secret = load_or_create_secret(settings.data_dir, settings.key_id_secret)  # one key id in every worker
    if settings.api_keys:
        keys = parse_keys(settings.api_keys, secret)
    elif os.environ.get(WORKER_KEYS_FROM_FILE):
        data = json.loads((settings.data_dir / KEYS_FILE).read_text())
        keys = {key: ApiKey(role=role, key=key, id_secret=secret) for role, key in data.items()}
    runtime = bootstrap(settings, initialise=False)
    app = create_app(settings, runtime=runtime, api_keys=keys)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any) -> Any:
        try:
            async with inner(a) as state:
                yield state
        finally:
            runtime.close()

    app.router.lifespan_context = lifespan
    return app


def run_scheduler(settings: Settings, *, interval: float) -> None:
    """``policy-admin scheduler run``: tick run-due while holding leadership, until a signal."""
    import threading

    from scheduler.wiring import build_service

    runtime = bootstrap(settings)
    service = build_service(runtime, interval_seconds=interval)
    stop = threading.Event()
    _stop_on_signals(stop.set)
    service.start()
    try:
        stop.wait()
    finally:
        service.stop()
        runtime.close()


def run_projections(
    settings: Settings,
    *,
    views: list[str] | None = None,
    batch_size: int | None = None,
    poll_interval: float = 1.0,
    once: bool = False,
    seal: bool = True,
) -> dict[str, int]:
    """``policy-admin projections run``: follow the event store live until a signal (or, with
    ``once``, catch up and return), the audit sealer beside the runner unless ``seal`` is off.
    Returns the events read and sealed (``once``; zeros when following live)."""
    from .projections.runner import ProjectionRunner
    from .projections.views import select_views

    runtime = bootstrap(settings)
    try:
        options: dict[str, Any] = {"views": select_views(views)}
        if batch_size is not None:
            options["batch_size"] = batch_size
        runner = ProjectionRunner(runtime.database, runtime.app, poll_interval=poll_interval, **options)
        if once:
            read = runner.catch_up()
            sealed = runtime.audit.catch_up() if seal else 0
            return {"events_read": read, "events_sealed": sealed}

        import threading

        stopped = threading.Event()
        _stop_on_signals(stopped.set)
        runner.start()
        if seal:
            runtime.audit.start()  # the audit sealer follows the log in this process too
        while runner.running and not stopped.wait(0.5):
            pass
        log.info("stopping the projection runner")
        runner.stop()
        runtime.audit.stop()
        return {"events_read": 0, "events_sealed": 0}
    finally:
        runtime.close()
