"""P8 (proposal) on one FastAPI app, for #5.

* The auth dependencies (``get_runtime``, ``authenticate``, the role checks) are plain
  ``def`` in ``api/deps.py``: FastAPI runs each one in the thread pool, so a GET makes four
  thread hops (three dependencies and the endpoint), each with anyio's bookkeeping. They
  do no I/O, so ``async def`` runs them on the event loop at no cost.
* ``IdempotencyMiddleware`` is a ``BaseHTTPMiddleware``: every request, GETs included, goes
  through its extra task group and body streaming. As a plain ASGI wrapper it is entered
  only by POSTs that carry an ``Idempotency-Key``.

No ``from __future__ import annotations`` here: FastAPI reads these signatures at runtime.
"""

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials
from starlette.middleware import Middleware

from api import deps
from api.auth import ApiKey
from api.idempotency import IdempotencyMiddleware


async def get_runtime(request: Request) -> Any:
    return request.app.state.runtime


async def get_app(request: Request) -> Any:
    return request.app.state.runtime.app


async def authenticate(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(deps.bearer)]
) -> ApiKey:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(status_code=401, detail="a bearer API key is required")
    key = request.app.state.api_keys.get(credentials.credentials)
    if key is None:
        raise HTTPException(status_code=401, detail="unknown API key")
    request.state.api_key = key
    return key


def require(*roles: str) -> Any:
    async def check(key: Annotated[ApiKey, Depends(authenticate)]) -> ApiKey:
        if key.role not in roles:
            raise HTTPException(status_code=403, detail=f"role {key.role} may not do this (needs {', '.join(roles)})")
        return key

    return check


class PostOnlyIdempotency:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.slow = IdempotencyMiddleware(app)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and any(
                k == b"idempotency-key" for k, _ in scope["headers"]):
            await self.slow(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def patch_deps_module() -> None:
    """Swap the async dependencies into ``api.deps`` *before* the routers are imported, as the
    product change would (``dependency_overrides`` would instead make FastAPI re-inspect the
    override's signature on every request, which costs more than it saves)."""
    if "api.main" in __import__("sys").modules:
        raise RuntimeError("patch api.deps before importing api.main")
    deps.get_runtime = get_runtime
    deps.get_app = get_app
    deps.authenticate = authenticate
    deps.require = require
    deps.RuntimeDep = Annotated[Any, Depends(get_runtime)]
    deps.AppDep = Annotated[Any, Depends(get_app)]
    deps.Operator = Annotated[ApiKey, Depends(require("operator"))]
    deps.Reader = Annotated[ApiKey, Depends(require("operator", "auditor"))]
    deps.Lister = Annotated[ApiKey, Depends(require("operator", "auditor", "dashboard"))]


def install(app: Any) -> None:
    app.user_middleware = [Middleware(PostOnlyIdempotency) if m.cls is IdempotencyMiddleware else m
                           for m in app.user_middleware]
