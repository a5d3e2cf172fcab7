"""One acting scheduler: leadership through a session-level PostgreSQL advisory lock.

The lock is held on a dedicated connection. If the leader's process dies its session
ends, PostgreSQL releases the lock, and a standby that polls takes over within one
poll interval. Duplicate triggers change nothing anyway (idempotent commands); the lock
avoids the wasted work and the double bank files.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from policy_core.database import Database
from policy_core.errors import Conflict

log = logging.getLogger("scheduler.leader")


def lock_key(name: str) -> int:
    """A stable 32-bit key per deployment schema, so two deployments on one server don't block each other."""
    return zlib.crc32(name.encode())


class RunInProgress(Conflict):
    """Another process (the API, the CLI or the scheduler) is running run-due now."""

    code = "run_in_progress"


class RunLock:
    """run-due is single-flight across processes: one session-level PostgreSQL advisory lock per
    deployment schema, shared by the API, the CLI and the scheduler. A second caller waits up to
    ``wait`` seconds for the first, then gets :class:`RunInProgress` (HTTP 409 with Retry-After)."""

    RETRY_AFTER_SECONDS = 10

    def __init__(self, database: Database, name: str = "policy-admin-run-due") -> None:
        self.database = database
        self.key = lock_key(f"{database.schema or 'public'}:{name}")

    def _try(self, conn: psycopg.Connection[Any]) -> bool:
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        return bool(row and row[0])

    @contextmanager
    def held(self, wait: float = 0.0, poll: float = 0.2) -> Iterator[None]:
        conn = psycopg.connect(
            self.database.dsn, autocommit=True, connect_timeout=5, application_name="policy-admin-run-due"
        )
        try:
            deadline = time.monotonic() + wait
            while not self._try(conn):
                if time.monotonic() >= deadline:
                    raise RunInProgress(
                        "run-due is already running (the API, the CLI or the scheduler); try again shortly",
                        retry_after=self.RETRY_AFTER_SECONDS,
                    )
                time.sleep(poll)
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
        finally:
            conn.close()


class Leadership:
    def __init__(self, database: Database, name: str = "policy-admin-scheduler") -> None:
        self.database = database
        self.key = lock_key(f"{database.schema or 'public'}:{name}")
        self._conn: psycopg.Connection[Any] | None = None

    @property
    def is_leader(self) -> bool:
        if self._conn is None:
            return False
        try:
            self._conn.execute("SELECT 1")  # a dead session means the lock is gone
            return True
        except psycopg.Error:
            self._drop()
            return False

    def try_acquire(self) -> bool:
        if self.is_leader:
            return True
        conn = psycopg.connect(
            self.database.dsn, autocommit=True, connect_timeout=5, application_name="policy-admin-scheduler"
        )
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        got = bool(row and row[0])
        if got:
            self._conn = conn
            log.info("scheduler leadership acquired", extra={"lock_key": self.key})
            return True
        conn.close()
        return False

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
            except psycopg.Error:
                pass
            self._drop()
            log.info("scheduler leadership released", extra={"lock_key": self.key})

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg.Error:
                pass
        self._conn = None
