from __future__ import annotations

import json
import re
from typing import Any

import jsonschema_rs
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


class DocumentedClient(TestClient):
    """A test client that checks every 2xx JSON answer against the schema the OpenAPI document
    gives for it (``api/responses.py``): an undocumented field, a wrong type or a value outside
    an enum fails the test that received it, whatever that test asserts itself."""

    _validators: dict[tuple[str, str, int], Any]
    _paths: list[tuple[re.Pattern[str], str]]

    def request(self, method: str, url: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        response = super().request(method, url, *args, **kwargs)
        if 200 <= response.status_code < 300 and response.headers.get("content-type", "").startswith(
            "application/json"
        ):
            validator = self._validator(method.lower(), response.request.url.path, response.status_code)
            if validator is not None:
                errors = [
                    f"{'/'.join(map(str, e.instance_path))}: {e.message[:200]}"
                    for e in validator.iter_errors(json.loads(response.content))
                ]
                assert errors == [], f"{method} {response.request.url.path}: answer contradicts the document"
        return response

    def _validator(self, method: str, path: str, status: int) -> Any:
        if not hasattr(self, "_paths"):
            spec = self.app.openapi()  # type: ignore[attr-defined]
            self._spec = spec
            self._validators = {}
            self._paths = sorted(
                ((re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", p) + "$"), p) for p in spec["paths"]),
                key=lambda x: x[1].count("{"),
            )
        template = next(
            (p for rx, p in self._paths if rx.match(path) and method in self._spec["paths"][p]), None
        )
        if template is None:
            return None
        key = (template, method, status)
        if key not in self._validators:
            response = self._spec["paths"][template][method]["responses"].get(str(status))
            assert response is not None, f"{method.upper()} {template} answered an undocumented {status}"
            schema = response["content"]["application/json"]["schema"]
            self._validators[key] = jsonschema_rs.Draft202012Validator(
                {**schema, "components": self._spec["components"]}, validate_formats=True
            )
        return self._validators[key]


@pytest.fixture
def client(runtime):
    spec = ",".join(f"{r}:{k}" for r, k in KEYS.items())
    app = create_app(runtime.settings, runtime=runtime, api_keys=parse_keys(spec))
    with DocumentedClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def settle(runtime):
    """Bring the read models up to the last write (what the live runner does within milliseconds)."""
    return runtime.projections.catch_up
