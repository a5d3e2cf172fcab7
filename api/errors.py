"""Errors as RFC 9457 problem+json, mapped in one place."""

from __future__ import annotations

import logging
from typing import Any

import psycopg
import psycopg_pool
from eventsourcing import persistence as es_persistence
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from policy_core.errors import DomainError

log = logging.getLogger("api.errors")

STATUS = {"invalid": 422, "not_found": 404, "conflict": 409, "unavailable": 503}
RETRY_AFTER_SECONDS = 5  # what a 503 tells a client to wait
TYPE_PREFIX = "urn:policy-admin:problem:"


def problem(status: int, code: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": TYPE_PREFIX + code, "title": code.replace("_", " "), "status": status, "detail": detail}
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(status_code=status, content=body, media_type="application/problem+json")


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)


_DATABASE_DOWN: tuple[type[BaseException], ...] = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    psycopg_pool.PoolTimeout,
    es_persistence.OperationalError,
    es_persistence.InterfaceError,
)


def database_unavailable(exc: BaseException) -> bool:
    """The database cannot be reached (down, restarting, no connection to be had in time)."""
    seen = 0
    cur: BaseException | None = exc
    while cur is not None and seen < 10:
        if isinstance(cur, _DATABASE_DOWN) and not isinstance(cur, psycopg.errors.QueryCanceled):
            return True
        cur = cur.__cause__ or cur.__context__
        seen += 1
    return False


def unavailable(request: Request, exc: BaseException) -> JSONResponse:
    log.warning("database unavailable", extra={"path": request.url.path, "error": type(exc).__name__})
    response = problem(503, "database_unavailable", "the database cannot be reached just now; retry shortly")
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def allowed_methods(request: Request) -> str:
    """Every method the OpenAPI document lists at the request's path (a path's methods are
    separate routes, so the router's own 405 names only one of them); GET off the document."""
    import re

    table = getattr(request.app.state, "allowed_methods", None)
    if table is None:
        table = []
        for path, ops in request.app.openapi().get("paths", {}).items():
            pattern = "^" + re.sub(r"\\{[^/]+\\}", "[^/]+", re.escape(path)) + "$"
            table.append((re.compile(pattern), {m.upper() for m in ops}))
        request.app.state.allowed_methods = table
    path = request.scope.get("path", "")
    methods: set[str] = set()
    for regex, found in table:
        if regex.match(path):
            methods |= found
    methods = methods or {"GET"}
    return ", ".join(sorted(methods))


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> JSONResponse:
        status = STATUS.get(exc.kind, 422)
        response = problem(status, exc.code, exc.message, **{k: _jsonable(v) for k, v in exc.details.items()})
        if status == 503 or "retry_after" in exc.details:
            response.headers["Retry-After"] = str(exc.details.get("retry_after", RETRY_AFTER_SECONDS))
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": e.get("type")}
            for e in exc.errors()
        ]
        return problem(422, "validation_error", "the request is not valid", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {
            401: "unauthorized",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
            409: "conflict",
        }.get(exc.status_code, "http_error")
        response = problem(exc.status_code, code, str(exc.detail))
        if exc.status_code == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        if exc.status_code == 405:
            response.headers["Allow"] = allowed_methods(request)
        return response

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        if database_unavailable(exc):
            return unavailable(request, exc)
        log.exception("unhandled error", extra={"path": request.url.path})
        return problem(500, "internal_error", "an unexpected error occurred; it has been logged")
