"""The database gate: with PostgreSQL away, requests answer 503 at once instead of waiting.

The event store's client retries a failed statement ten times, each attempt waiting up to the
connect/pool timeout: a request would hang for about twenty seconds before failing. A probe
(a thread started with the app) connects every second with the connect timeout; once two
probes in a row failed and until one succeeds, every API request except ``/healthz`` is
answered at once with 503 problem+json and ``Retry-After``. The first successful probe opens
the gate again: the server recovers by
itself. A request that meets the database failing before the probe notices still ends in 503
(``api/errors.py`` maps connection errors), only later.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from policy_core.database import Database

from .errors import RETRY_AFTER_SECONDS, problem

log = logging.getLogger("api.dbgate")


class DatabaseGate:
    def __init__(self, database: Database, interval: float = 1.0, failures_to_close: int = 2) -> None:
        self.database = database
        self.interval = interval
        self.failures_to_close = failures_to_close  # one lost probe is not an outage
        self.failures = 0
        self.down_since: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def probe(self) -> bool:
        """One probe now; returns whether the database answered."""
        try:
            with self.database.connect(autocommit=True) as conn:
                conn.execute("SELECT 1")
        except Exception as exc:  # noqa: BLE001 - any failure to reach it is "down"
            self.failures += 1
            if self.down_since is None and self.failures >= self.failures_to_close:
                self.down_since = time.monotonic()
                log.warning("database unreachable; answering 503", extra={"error": type(exc).__name__})
            return False
        self.failures = 0
        if self.down_since is not None:
            log.warning(
                "database reachable again",
                extra={"down_for_s": round(time.monotonic() - self.down_since, 1)},
            )
            self.down_since = None
        return True

    def start(self) -> None:
        def run() -> None:
            while not self._stop.wait(self.interval):
                self.probe()

        self._thread = threading.Thread(target=run, name="db-gate", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)


class DatabaseGateMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gate: Any = None
        if scope["type"] == "http":
            state = getattr(scope.get("app"), "state", None)
            gate = getattr(state, "db_gate", None) if state is not None else None
        if gate is not None and gate.down and not scope["path"].endswith("/healthz"):
            response = problem(
                503, "database_unavailable", "the database cannot be reached just now; retry shortly"
            )
            response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
