from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.auth import parse_keys
from api.main import create_app

KEYS = {
    "operator": "op-key-0123456789abcdefghij",
    "auditor": "au-key-0123456789abcdefghij",
    "dashboard": "da-key-0123456789abcdefghij",
}


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[role]}"}


@pytest.fixture
def client(runtime):
    spec = ",".join(f"{r}:{k}" for r, k in KEYS.items())
    app = create_app(runtime.settings, runtime=runtime, api_keys=parse_keys(spec))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def settle(runtime):
    """Bring the read models up to the last write (what the live runner does within milliseconds)."""
    return runtime.projections.catch_up
