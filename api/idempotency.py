"""Idempotency-Key for POSTs: a repeat with the same body returns the first response and
records nothing new; the same key with a different body is a 409.

* **Scope**: the caller's identity (the API key's id), not the raw ``Authorization`` header:
  ``Bearer``, ``bearer`` and ``BEARER`` with one key are one caller.
* **Exactly once**: a row is claimed (with a lease) before the command runs, so two
  concurrent repeats cannot both execute; the second gets 409 ``request_in_progress`` with
  ``Retry-After``. The command runs inside a request context (``policy_core.requests``): its
  events carry the row's request id, a creation takes the id derived from it. A first attempt
  that failed (5xx) or was cut off (a crash, a timeout: its lease ran out) is executed again
  by the next retry, which first finds what the earlier attempt recorded and answers from it,
  so it is recorded once whether or not the first attempt got that far.
* **Replay** returns the stored status, body, ``Content-Type`` and ``Location``.
* **Expiry**: stored responses are kept ``POLICY_IDEMPOTENCY_TTL_HOURS`` (24 by default); an
  expired key is a new request.
"""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
import time
from typing import Any

from psycopg.types.json import Jsonb
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from policy_core import bounds
from policy_core.database import Database
from policy_core.ddl import table_provider
from policy_core.requests import request_context

from .auth import caller
from .errors import problem

log = logging.getLogger("api.idempotency")

TABLE = "api_idempotency"
DEFAULT_TTL_HOURS = 24.0
DEFAULT_LEASE_SECONDS = 60.0
PURGE_EVERY_SECONDS = 60.0
_REPLAYED_HEADERS = ("content-type", "location")


def ensure_table(db: Database) -> None:
    """The table and its columns (start-up; older deployments get the new columns added)."""
    with db.connect() as conn:
        conn.execute(
            f"""CREATE TABLE IF NOT EXISTS {TABLE} (
                scope text NOT NULL,
                key text NOT NULL,
                method text NOT NULL,
                path text NOT NULL,
                body_sha256 text NOT NULL,
                status integer,
                response jsonb,
                media_type text,
                created_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (scope, key))"""
        )
        for column in (
            "request_id text",
            "lease_until timestamptz",
            "attempts integer NOT NULL DEFAULT 1",
            "body bytea",
            "headers jsonb",
        ):
            conn.execute(f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS {column}")
        conn.execute(f"CREATE INDEX IF NOT EXISTS {TABLE}__created_at_idx ON {TABLE} (created_at)")
        conn.commit()


@table_provider("api idempotency", tables=(TABLE,))
def create_tables(runtime: Any) -> None:
    ensure_table(runtime.database)


def purge_expired(db: Database, ttl_hours: float) -> int:
    with db.connect() as conn:
        n = conn.execute(
            f"DELETE FROM {TABLE} WHERE created_at < now() - make_interval(secs => %s)", (ttl_hours * 3600,)
        ).rowcount
        conn.commit()
    return n


class IdempotencyMiddleware:
    """ASGI middleware: only a POST that carries an Idempotency-Key goes through the replay
    store; every other request passes straight to the app (no per-request wrapping cost)."""

    def __init__(
        self, app: ASGIApp, ttl_hours: float = DEFAULT_TTL_HOURS, lease_seconds: float = DEFAULT_LEASE_SECONDS
    ) -> None:
        self.app = app
        self.replaying = _ReplayingMiddleware(app, ttl_hours=ttl_hours, lease_seconds=lease_seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and any(name == b"idempotency-key" for name, _ in scope["headers"])
        ):
            await self.replaying(scope, receive, send)
        else:
            await self.app(scope, receive, send)


class _ReplayingMiddleware(BaseHTTPMiddleware):
    def __init__(self, app: ASGIApp, *, ttl_hours: float, lease_seconds: float) -> None:
        super().__init__(app)
        self.ttl_seconds = ttl_hours * 3600
        self.lease_seconds = lease_seconds
        self._purged_at = 0.0

    def _purge(self, db: Database) -> None:
        now = time.monotonic()
        if now - self._purged_at < PURGE_EVERY_SECONDS:
            return
        self._purged_at = now
        purge_expired(db, self.ttl_seconds / 3600)

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        key = request.headers.get("idempotency-key")
        if request.method != "POST" or not key:
            return await call_next(request)
        # a header value may carry a tab between its characters (RFC 9110 field-value); any other
        # control or format character is refused, as in every text field
        if len(key) > bounds.MAX_IDEMPOTENCY_KEY or bounds.bad_character(key, multiline=True) is not None:
            return problem(
                422,
                "invalid_idempotency_key",
                f"Idempotency-Key must be at most {bounds.MAX_IDEMPOTENCY_KEY} printable characters",
            )
        runtime = request.app.state.runtime
        who = caller(request.app.state.api_keys, request.headers.get("authorization"))
        scope = who.key_id if who is not None else "anonymous"
        body = await request.body()
        digest = hashlib.sha256(request.url.path.encode() + b"\n" + body).hexdigest()
        db: Database = runtime.database
        self._purge(db)
        claim = self._claim(runtime, scope, key, request.url.path, digest)
        if isinstance(claim, Response):
            return claim
        request_id, retry = claim
        try:
            with request_context(request_id, retry=retry):
                response = await call_next(request)
        except Exception:  # an unhandled error (answered 500 outside this middleware)
            self._release(db, scope, key, request_id)
            raise
        content = b"".join([chunk async for chunk in response.body_iterator])  # type: ignore[attr-defined]
        stored = {h: response.headers[h] for h in _REPLAYED_HEADERS if h in response.headers}
        with db.connect() as conn:
            if response.status_code in (401, 403):  # nothing ran: the key is free again
                conn.execute(f"DELETE FROM {TABLE} WHERE scope=%s AND key=%s", (scope, key))
            elif response.status_code < 500:
                conn.execute(
                    f"UPDATE {TABLE} SET status=%s, response=%s, body=NULL, headers=%s, media_type=%s, "
                    "lease_until=NULL WHERE scope=%s AND key=%s AND request_id=%s",
                    (
                        response.status_code,
                        Jsonb(_seal(runtime, content)),
                        Jsonb(stored),
                        stored.get("content-type"),
                        scope,
                        key,
                        request_id,
                    ),
                )
            conn.commit()
        if response.status_code >= 500:
            self._release(db, scope, key, request_id)
        return Response(content=content, status_code=response.status_code, headers=dict(response.headers))

    @staticmethod
    def _release(db: Database, scope: str, key: str, request_id: str) -> None:
        """The outcome is unknown to the client: the next retry executes it again, once."""
        with db.connect() as conn:
            conn.execute(
                f"UPDATE {TABLE} SET lease_until=now() WHERE scope=%s AND key=%s AND request_id=%s",
                (scope, key, request_id),
            )
            conn.commit()

    def _claim(
        self, runtime: Any, scope: str, key: str, path: str, digest: str
    ) -> tuple[str, bool] | Response:
        """Claim the key for this attempt: (request id, is a retry), or the response to send."""
        db: Database = runtime.database
        fresh_id = secrets.token_hex(16)
        with db.connect() as conn:
            claimed = conn.execute(
                f"INSERT INTO {TABLE} (scope, key, method, path, body_sha256, request_id, lease_until) "
                "VALUES (%s, %s, 'POST', %s, %s, %s, now() + make_interval(secs => %s)) "
                "ON CONFLICT DO NOTHING RETURNING request_id",
                (scope, key, path, digest, fresh_id, self.lease_seconds),
            ).fetchone()
            if claimed is not None:
                conn.commit()
                return fresh_id, False
            row = conn.execute(
                f"SELECT body_sha256, status, body, headers, request_id, "
                "EXTRACT(EPOCH FROM (lease_until - now()))::float, "
                "created_at < now() - make_interval(secs => %s), response, media_type "
                f"FROM {TABLE} WHERE scope=%s AND key=%s FOR UPDATE",
                (self.ttl_seconds, scope, key),
            ).fetchone()
            if row is None:  # deleted meanwhile (a 401, a purge): claim it again
                conn.rollback()
                return self._claim(runtime, scope, key, path, digest)
            sha, status, body, headers, request_id, lease_left, expired, old_json, old_type = row
            if expired or (request_id is None and status is None):  # past its time: a new request
                conn.execute(
                    f"UPDATE {TABLE} SET method='POST', path=%s, body_sha256=%s, status=NULL, body=NULL, "
                    "headers=NULL, response=NULL, media_type=NULL, request_id=%s, attempts=1, "
                    "created_at=now(), lease_until=now() + make_interval(secs => %s) "
                    "WHERE scope=%s AND key=%s",
                    (path, digest, fresh_id, self.lease_seconds, scope, key),
                )
                conn.commit()
                return fresh_id, False
            if sha != digest:
                conn.rollback()
                return problem(
                    409,
                    "idempotency_key_reused",
                    "this Idempotency-Key was used with a different request body",
                )
            if status is not None:
                conn.rollback()
                return _replay(runtime, status, body, headers, old_json, old_type)
            if lease_left is not None and lease_left > 0:
                conn.rollback()
                response = problem(
                    409, "request_in_progress", "a request with this Idempotency-Key is still running"
                )
                response.headers["Retry-After"] = str(max(1, math.ceil(lease_left)))
                return response
            # The earlier attempt failed or was cut off: this retry takes it over.
            conn.execute(
                f"UPDATE {TABLE} SET lease_until = now() + make_interval(secs => %s), "
                "attempts = attempts + 1 WHERE scope=%s AND key=%s",
                (self.lease_seconds, scope, key),
            )
            conn.commit()
            log.info("idempotent request retried after an unfinished attempt", extra={"path": path})
            return request_id, True


def _seal(runtime: Any, content: bytes) -> dict[str, str]:
    """The stored response, sealed: a response body quotes the holder's name and contacts."""
    from policy_core.personal_data.crypto import seal_response

    return seal_response(runtime.app.vault, content)


def _unseal(runtime: Any, stored: Any) -> bytes:
    from policy_core.personal_data.crypto import unseal_response

    return unseal_response(runtime.app.vault, stored)


def _replay(
    runtime: Any, status: int, body: bytes | None, headers: Any, sealed: Any, old_type: str | None
) -> Response:
    """The stored answer: status, body (unsealed), Content-Type and Location."""
    stored = dict(headers or {})
    if sealed is not None:  # sealed by #12's key, or a plain row from before sealing
        body = _unseal(runtime, sealed)
    if body is None:
        body = b""
    stored.setdefault("content-type", old_type or "application/json")
    stored["Idempotent-Replayed"] = "true"
    return Response(content=bytes(body), status_code=status, headers=stored)
