"""HTTP API (FastAPI). The application object is built in the lifespan: nothing connects at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from policy_core.bootstrap import Runtime, bootstrap
from policy_core.errors import DomainError
from policy_core.scheme import all_schemes
from policy_core.settings import Settings

STATUS = {"invalid": 422, "not_found": 404, "conflict": 409}


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = runtime or bootstrap(settings or Settings())
        app.state.runtime = rt
        try:
            yield
        finally:
            if runtime is None:
                rt.close()

    app = FastAPI(title="policy-admin", version="0.1.0", lifespan=lifespan)

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse(
            status_code=STATUS.get(exc.kind, 422),
            media_type="application/problem+json",
            content={"type": f"urn:policy-admin:error:{exc.code}", "title": exc.code.replace("_", " "),
                     "status": STATUS.get(exc.kind, 422), "detail": exc.message},
        )

    @app.get("/api/v1/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/v1/schemes")
    def schemes() -> list[dict[str, Any]]:
        return [
            {"key": s.key, "name": s.name, "deductible": s.deductible,
             "plans": {k: v.model_dump() for k, v in s.plans.items()},
             "anniversary": {"month": s.calendar.anniversary.month, "day": s.calendar.anniversary.day}}
            for s in all_schemes()
        ]

    return app
