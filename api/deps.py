"""Dependencies: the runtime built in the lifespan, and role checks."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from policy_core.application import PolicyAdministration
from policy_core.bootstrap import Runtime

from .auth import ApiKey, find_key

bearer = HTTPBearer(auto_error=False)


# The dependencies are async: they do no I/O, and a sync dependency costs a thread-pool hop
# per request (measured in docs/performance.md, P8).
async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


async def get_app(request: Request) -> PolicyAdministration:
    return request.app.state.runtime.app


async def authenticate(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> ApiKey:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(status_code=401, detail="a bearer API key is required")
    key = find_key(request.app.state.api_keys, credentials.credentials)
    if key is None:
        raise HTTPException(status_code=401, detail="unknown API key")
    request.state.api_key = key
    return key


def require(*roles: str) -> Callable[[ApiKey], Coroutine[Any, Any, ApiKey]]:
    async def check(key: Annotated[ApiKey, Depends(authenticate)]) -> ApiKey:
        if key.role not in roles:
            raise HTTPException(
                status_code=403, detail=f"role {key.role} may not do this (needs {', '.join(roles)})"
            )
        return key

    return check


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
AppDep = Annotated[PolicyAdministration, Depends(get_app)]
Operator = Annotated[ApiKey, Depends(require("operator"))]
Reader = Annotated[ApiKey, Depends(require("operator", "auditor"))]
Lister = Annotated[ApiKey, Depends(require("operator", "auditor", "dashboard"))]
