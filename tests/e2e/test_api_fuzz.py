"""No request can produce a 500: schemathesis generates requests from our own OpenAPI spec.

Bounded: a fixed number of examples per operation, derandomised, so the run takes seconds.
"""

from __future__ import annotations

import os
import re
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


# ------------------------------------------------------------------ the full run: every check, stateful
#: Checks that must never fail: the server answers only what the document says it answers.
CONTRACT_CHECKS = {
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "unsupported_method",
    "allow_header_conformance",
    "missing_required_header",
    "use_after_free",
    "ensure_resource_availability",
    "ignored_auth",
}
#: Refusals of schema-valid data by rules the schema does not state (they depend on now, on
#: recorded state or on reference data) are tolerated only where the operation declares them: its
#: 422 answer lists the problem codes in ``x-unstated-rule-problems`` (``api/openapi.py``,
#: ``UNSTATED_RULES``, each rule in words). Any other refusal of a schema-valid request fails the
#: run: the static rules (closed sets, bounds, digits of a bank account, a correction or an
#: endorsement naming what it changes, condolence recipients, the years of a moment) are stated in
#: the document.
DATA_CHECKS = {"positive_data_acceptance", "negative_data_rejection"}
#: A text with a control or format character: the schema's ``pattern`` refuses them, but the
#: generator's coverage phase sends them as "valid" anyway (a generator limit with patterns this
#: large); the server refuses them as the pattern says.
TEXT_REFUSAL = "contains a control or format character"


def declared_unstated(spec: dict[str, Any]) -> dict[str, set[str]]:
    """ "METHOD path" -> the problem codes its 422 answer declares as depending on now or state."""
    return {
        f"{method.upper()} {path}": set(op["responses"].get("422", {}).get("x-unstated-rule-problems", []))
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
    }


def tolerated(declared: dict[str, set[str]], operation: str, failure: str) -> bool:
    """A refusal of schema-valid data by a rule the operation declares as unstated (its problem
    type in the answer)."""
    found = re.search(r"urn:policy-admin:problem:([a-z_]+)", failure)
    return found is not None and found.group(1) in declared.get(operation, set())


def seed_claims_to_pay(client: Any, n: int) -> None:
    """Seed 003 through the API: a policy whose premium is collected, ``n`` assessed claims unpaid."""
    r = client.post("/api/v1/policies", headers=auth("operator"), json=APPLICATION)
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    r = client.post(
        "/api/v1/operations/run-due", headers=auth("operator"), json={"as_of": "2026-05-01T12:00:00+09:00"}
    )
    assert r.status_code == 200 and r.json()["debited"] == 1, r.text
    for i in range(n):
        r = client.post(
            "/api/v1/claims",
            headers=auth("operator"),
            json={
                "policy_id": pid,
                "occurred_at": f"2026-06-{i + 1:02d}T10:00:00+09:00",
                "discovered_at": f"2026-06-{i + 2:02d}T10:00:00+09:00",
                "cause": "insider",
                "records_affected": 100,
            },
        )
        assert r.status_code == 201, r.text
        items = [{"category": "damages", "risk": "basic", "amount": 1_000_000}]
        r = client.post(
            f"/api/v1/claims/{r.json()['id']}/losses", headers=auth("operator"), json={"items": items}
        )
        assert r.status_code == 200, r.text


def test_schemathesis_all_checks_and_the_stateful_phase_reach_a_payment(client, settle):
    """Bounded (5 examples per operation, 30 stateful steps, derandomised): every phase (examples
    from the seeds, coverage, fuzzing, stateful through the document's links), every check."""
    from schemathesis.config import SchemathesisConfig
    from schemathesis.engine import events, from_schema

    seed_claims_to_pay(client, 8)  # earlier phases may close, deny or pay some
    settle()
    config = SchemathesisConfig.from_dict(
        {
            "headers": auth("operator"),
            "generation": {"max-examples": 5, "deterministic": True, "database": "none"},
            "phases": {"stateful": {"max-steps": 30}},
            "workers": 1,
        }
    )
    schema = openapi.from_asgi("/openapi.json", client.app, config=config)
    failures: dict[tuple[str, str], list[str]] = {}
    stateful: dict[tuple[str, int], int] = {}
    phases: set[str] = set()
    for event in from_schema(schema).execute():
        if isinstance(event, events.FatalError):
            raise event.exception
        if not isinstance(event, events.ScenarioFinished):
            continue
        phase = str(event.phase).lower()
        phases.add(phase)
        recorder = event.recorder
        for case_id, interaction in recorder.interactions.items():
            case = recorder.cases[case_id].value
            if "stateful" in phase and interaction.response is not None:
                key = (f"{case.method.upper()} {case.path}", interaction.response.status_code)
                stateful[key] = stateful.get(key, 0) + 1
        for case_id, checks in recorder.checks.items():
            case = recorder.cases[case_id].value
            for check in checks:
                if check.failure_info is None:
                    continue
                interaction = recorder.interactions.get(case_id)
                body = interaction.response.content[:400] if interaction and interaction.response else b""
                failures.setdefault((check.name, f"{case.method.upper()} {case.path}"), []).append(
                    f"{str(check.failure_info.failure)[:120]} {body!r}"
                )
    assert any("stateful" in p for p in phases), phases
    if os.environ.get("FUZZ_REPORT"):
        with open(os.environ["FUZZ_REPORT"], "w") as out:
            for k, v in sorted(failures.items()):
                out.write(f"{k} {len(v)} {v[:2]}\n")
            for k2, n in sorted(stateful.items()):
                out.write(f"STATEFUL {k2} {n}\n")
    declared = declared_unstated(client.get("/openapi.json").json())
    assert declared["POST /api/v1/operations/run-due"] == {"date_out_of_range", "as_of_in_future"}
    contract = {k: v[:2] for k, v in failures.items() if k[0] in CONTRACT_CHECKS}
    assert contract == {}, contract
    data = {
        k: [f for f in v if TEXT_REFUSAL not in f and not tolerated(declared, k[1], f)][:2]
        for k, v in failures.items()
        if k[0] in DATA_CHECKS
    }
    data = {k: v for k, v in data.items() if v}
    assert data == {}, data
    unknown = {k: v[:1] for k, v in failures.items() if k[0] not in CONTRACT_CHECKS | DATA_CHECKS}
    assert unknown == {}, unknown
    # the stateful phase walked the links to a claim payment (not only 404s on made-up ids)
    paid = stateful.get(("POST /api/v1/claims/{claim_id}/payments", 201), 0)
    assert paid >= 1, sorted(stateful.items())
