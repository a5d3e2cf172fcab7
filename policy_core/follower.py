"""A thread that follows the event log: the lifecycle the projection runner and the audit sealer
share (start, stop, running, a supervisor that restarts a failed session with backoff, and the
wait for the next NOTIFY in short slices so that stopping is prompt).

A follower says what one session does (``_session``: connect, LISTEN, loop until ``_stopping``)
and how a failure is described; everything else is here, once.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, ClassVar

import psycopg

STOP_CHECK = 0.25  # seconds: how often a waiting follower looks at its stop flag
RESET_AFTER = 60.0  # seconds: a session that ran this long before failing restarts the backoff


class LogFollower:
    thread_name: ClassVar[str] = "log-follower"
    failure_message: ClassVar[str] = "log follower failed; restarting"
    logger: ClassVar[logging.Logger] = logging.getLogger("policy_core.follower")

    def _init_follower(self, backoff: tuple[float, float]) -> None:
        self.backoff = backoff
        self.restarts = 0
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ what a follower does
    def _session(self) -> None:  # pragma: no cover - every follower defines it
        raise NotImplementedError

    def _failure_extra(self, exc: Exception) -> dict[str, Any]:
        """More fields for the failure's log line (never an exception message: it may quote data)."""
        return {}

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> threading.Thread:
        if self._thread is not None and self._thread.is_alive():
            return self._thread
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name=self.thread_name, daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def _stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        """Follow the log until stop(); a failed session restarts (from the follower's own stored
        position, read again by the next session) after a delay doubling up to ``backoff[1]``."""
        delay = self.backoff[0]
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self._session()
                return
            except Exception as exc:  # noqa: BLE001 - the supervisor restarts whatever failed
                self.restarts += 1
                self.last_error = type(exc).__name__
                if time.monotonic() - started > RESET_AFTER:
                    delay = self.backoff[0]
                self.logger.error(
                    self.failure_message,
                    extra={
                        "error": self.last_error,
                        "restarts": self.restarts,
                        "retry_in_s": delay,
                        **self._failure_extra(exc),
                    },
                )
                self._stop.wait(delay)
                delay = min(delay * 2, self.backoff[1])

    def _wait(self, listen: psycopg.Connection[Any], timeout: float) -> None:
        """Until a NOTIFY, ``timeout`` or stop(): in short slices, so that stopping is prompt."""
        deadline = time.monotonic() + timeout
        while not self._stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            if any(True for _ in listen.notifies(timeout=min(remaining, STOP_CHECK), stop_after=1)):
                for _ in listen.notifies(timeout=0):  # drain: one read serves them all
                    pass
                return


__all__ = ["STOP_CHECK", "LogFollower"]
