"""No request can produce a 500: schemathesis generates requests from our own OpenAPI spec.

Bounded: a fixed number of examples per operation, derandomised, so the run takes seconds.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from schemathesis import openapi

from tests.e2e.conftest import auth
from tests.e2e.test_api_core import APPLICATION

EXAMPLES_PER_OPERATION = 25


def test_no_generated_request_causes_a_server_error(client):
    created = client.post("/api/v1/policies", headers=auth("operator"), json=APPLICATION)
    assert created.status_code == 201
    spec = client.get("/openapi.json").json()
    schema = openapi.from_dict(spec)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def exercise(case: Any) -> None:
            kwargs = case.as_transport_kwargs(base_url="http://testserver")
            headers = {k: v for k, v in (kwargs.get("headers") or {}).items() if k.lower() != "authorization"}
            headers.update(auth("operator"))
            response = client.request(
                kwargs["method"],
                kwargs["url"],
                params=kwargs.get("params"),
                headers=headers,
                json=kwargs.get("json"),
                content=kwargs.get("data") if isinstance(kwargs.get("data"), bytes) else None,
            )
            if response.status_code >= 500:
                failures.append(
                    f"{kwargs['method']} {kwargs['url']} {kwargs.get('params')} "
                    f"{kwargs.get('json')!r:.300} -> {response.status_code} {response.text[:300]}"
                )
            assert response.headers.get("content-type", "").startswith(
                ("application/json", "application/problem+json")
            )

        exercise()
    assert operations >= 15
    assert not failures, "\n".join(failures[:10])
