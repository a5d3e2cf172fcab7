"""Idempotency-Key for POSTs: a repeat with the same body returns the first response and
records nothing new; the same key with a different body is a 409.

Keys are scoped to the API key that sent them. A row is claimed before the command runs,
so two concurrent repeats cannot both execute.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from psycopg.types.json import Jsonb
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from policy_core.database import Database
from policy_core.ddl import table_provider

from .errors import problem

log = logging.getLogger("api.idempotency")

TABLE = "api_idempotency"


def ensure_table(db: Database) -> None:
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
        conn.commit()


@table_provider("api idempotency", tables=(TABLE,))
def create_tables(runtime: Any) -> None:
    ensure_table(runtime.database)


class IdempotencyMiddleware:
    """ASGI middleware: only a POST that carries an Idempotency-Key goes through the replay
    store; every other request passes straight to the app (no per-request wrapping cost)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.replaying = _ReplayingMiddleware(app)

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
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        key = request.headers.get("idempotency-key")
        if request.method != "POST" or not key:
            return await call_next(request)
        if len(key) > 200:
            return problem(422, "invalid_idempotency_key", "Idempotency-Key is longer than 200 characters")
        runtime = request.app.state.runtime
        auth = request.headers.get("authorization", "")
        scope = hashlib.sha256(auth.encode()).hexdigest()[:16]
        body = await request.body()
        digest = hashlib.sha256(request.url.path.encode() + b"\n" + body).hexdigest()
        db: Database = runtime.database
        with db.connect() as conn:
            claimed = conn.execute(
                f"INSERT INTO {TABLE} (scope, key, method, path, body_sha256) VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT DO NOTHING RETURNING key",
                (scope, key, request.method, request.url.path, digest),
            ).fetchone()
            conn.commit()
            if claimed is None:
                row = conn.execute(
                    f"SELECT body_sha256, status, response, media_type FROM {TABLE} WHERE scope=%s AND "
                    "key=%s",
                    (scope, key),
                ).fetchone()
        if claimed is None:
            if row is None or row[0] != digest:
                return problem(
                    409,
                    "idempotency_key_reused",
                    "this Idempotency-Key was used with a different request body",
                )
            if row[1] is None:
                return problem(
                    409, "request_in_progress", "a request with this Idempotency-Key is still running"
                )
            return Response(
                content=_unseal(runtime, row[2]),
                status_code=row[1],
                media_type=row[3],
                headers={"Idempotent-Replayed": "true"},
            )
        response = await call_next(request)
        content = b"".join([chunk async for chunk in response.body_iterator])  # type: ignore[attr-defined]
        with db.connect() as conn:
            if response.status_code < 500 and response.status_code not in (401, 403):
                conn.execute(
                    f"UPDATE {TABLE} SET status=%s, response=%s, media_type=%s WHERE scope=%s AND key=%s",
                    (response.status_code, Jsonb(_seal(runtime, content)), response.media_type, scope, key),
                )
            else:  # not a result worth replaying: free the key for a retry
                conn.execute(f"DELETE FROM {TABLE} WHERE scope=%s AND key=%s", (scope, key))
            conn.commit()
        return Response(
            content=content,
            status_code=response.status_code,
            headers=dict(response.headers),
            media_type=response.media_type,
        )


def _seal(runtime: Any, content: bytes) -> dict[str, str]:
    """The stored response, sealed: a response body quotes the holder's name and contacts."""
    from policy_core.personal_data.crypto import seal_response

    return seal_response(runtime.app.vault, content)


def _unseal(runtime: Any, stored: Any) -> bytes:
    from policy_core.personal_data.crypto import unseal_response

    return unseal_response(runtime.app.vault, stored)
