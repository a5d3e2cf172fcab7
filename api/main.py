"""HTTP API (FastAPI) under /api/v1.

``create_app`` builds only the HTTP app, from a runtime it is given (built by the composition
root, ``policy_core.bootstrap``, which also runs the projection runner and the scheduler beside
it in ``serve``). Nothing connects at import time. Domain errors map to problem+json in one
place (errors.py).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi_offline import FastAPIOffline

from policy_core.bootstrap import Runtime
from policy_core.settings import Settings

from . import dashboard, errors, openapi
from .auth import ApiKey, load_or_create_keys, load_or_create_secret, parse_keys
from .dbgate import DatabaseGate, DatabaseGateMiddleware
from .idempotency import IdempotencyMiddleware
from .responses import Health, Ready, typed
from .routers import (
    audit,
    claims,
    documents,
    policies,
    reports,
    risk_assessments,
    risk_dashboard,
    schemes,
    subjects,
)

log = logging.getLogger("api")
PREFIX = "/api/v1"


def resolve_keys(settings: Settings, runtime: Runtime) -> dict[str, ApiKey]:
    secret = load_or_create_secret(settings.data_dir, settings.key_id_secret)
    if settings.api_keys:
        return parse_keys(settings.api_keys, secret)
    if runtime.database.embedded is None:
        raise RuntimeError("POLICY_API_KEYS must be set when DATABASE_URL is used")
    keys, path = load_or_create_keys(settings.data_dir, secret)
    log.info("API keys loaded", extra={"keys_file": str(path)})
    return keys


def create_app(
    settings: Settings | None = None,
    *,
    runtime: Runtime,
    api_keys: dict[str, ApiKey] | None = None,
) -> FastAPI:
    """The HTTP app over ``runtime`` (which the caller owns: it starts and closes it)."""
    settings = settings or runtime.settings
    keys = api_keys if api_keys is not None else resolve_keys(settings, runtime)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.runtime = runtime
        app.state.api_keys = keys
        app.state.db_gate = gate = DatabaseGate(runtime.database)
        gate.start()
        try:
            yield
        finally:
            gate.stop()

    # /docs and /redoc from the assets packaged in fastapi-offline: they work without a CDN.
    app: FastAPI = FastAPIOffline(
        title="policy-admin",
        version="0.1.0",
        description=(
            "Group personal-information leakage liability insurance: policies, premiums, claims. "
            "Money is integer yen; every moment is ISO 8601 at the Tokyo offset (+09:00); errors are "
            "RFC 9457 problem+json; lists and reports answer CSV on `Accept: text/csv`."
        ),
        lifespan=lifespan,
        generate_unique_id_function=openapi.operation_id,
    )
    errors.install(app)
    openapi.install(app)
    app.add_middleware(
        IdempotencyMiddleware,
        ttl_hours=settings.idempotency_ttl_hours,
        lease_seconds=settings.idempotency_lease_seconds,
    )
    app.add_middleware(DatabaseGateMiddleware)  # outermost: with the database away, nothing waits

    health = APIRouter(tags=["health"])

    @health.get("/healthz", summary="Liveness", **typed(Health))
    def healthz() -> dict[str, str]:
        """The process answers (no database needed, no key)."""
        return {"status": "ok"}

    @health.get("/readyz", summary="Readiness", **typed(Ready))
    def readyz() -> Any:
        """The database answers and every read model is built, not failing and not far behind
        (each view's position, head, lag and last error); 503 otherwise."""
        rt: Runtime = app.state.runtime
        try:
            with rt.database.connect() as conn:
                conn.execute("SELECT 1")
        except Exception as exc:  # the database is what readiness is about
            return errors.problem(503, "database_unreachable", f"database unreachable: {type(exc).__name__}")
        ok, lag = rt.read_models.ready()
        body = {
            "status": "ready" if ok else "not_ready",
            "database": "ok",
            "projections": {
                name: {
                    k: v
                    for k, v in view.items()
                    if k in ("position", "head", "events_behind", "seconds_behind", "built", "last_error")
                }
                for name, view in lag.items()
            },
        }
        with rt.database.connect(connect_timeout=3, autocommit=True) as conn:
            body["audit"] = rt.audit.lag(conn)
        if ok:
            return body
        # not ready: a problem (as every 503 is documented) carrying the readiness members
        behind = sorted(n for n, v in lag.items() if v.get("last_error") or not v.get("built"))
        response = errors.problem(
            503,
            "not_ready",
            "read models not ready: " + (", ".join(behind) or "projections behind the log"),
            **{k: v for k, v in body.items() if k != "status"},
        )
        response.headers["Retry-After"] = "5"
        return response

    app.include_router(health, prefix=PREFIX)
    for r in (
        schemes.router,
        reports.router,
        policies.router,
        claims.router,
        audit.router,
        risk_assessments.router,
        documents.router,
        subjects.router,
        audit.dossier_router,
    ):
        app.include_router(r, prefix=PREFIX)
    app.include_router(risk_dashboard.router)
    dashboard.install(app)  # the web pages under /dashboard
    return app
