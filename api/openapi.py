"""The OpenAPI document tells the truth: one Problem schema for every error an operation can
answer (RFC 9457 ``application/problem+json``, as ``api/errors.py`` sends them), operation ids
that are the route functions' names, the ``Idempotency-Key`` header of POSTs, and links between
operations (apply → policy → limits; report claim → losses → payment → claim) so a stateful
client (a fuzzer, a generated SDK) can walk the lifecycle.

FastAPI builds the document from the routes and their pydantic models; ``build`` amends it once,
in one place, rather than each route repeating the same error responses."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from api.schemas import text_pattern
from policy_core import bounds

PROBLEM = "application/problem+json"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


class ValidationIssue(BaseModel):
    loc: list[str] = Field(description="where: body, query, path or header, then the field names")
    msg: str
    type: str | None = None


class Problem(BaseModel):
    """An error, RFC 9457. ``type`` is stable per error (``urn:policy-admin:problem:<code>``);
    some problems carry more members (``errors`` of a 422, ``retry_after``, the conflicting state)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(
        description="urn:policy-admin:problem:<code>", examples=["urn:policy-admin:problem:not_found"]
    )
    title: str = Field(description="the code in words")
    status: int = Field(description="the HTTP status")
    detail: str = Field(description="what went wrong, for a person")
    errors: list[ValidationIssue] | None = Field(default=None, description="422 validation_error: each issue")


ERRORS: dict[int, str] = {
    400: "a body that cannot be parsed",
    401: "no or unknown API key (`Authorization: Bearer <key>`)",
    403: "the key's role may not do this",
    404: "an id, number, scheme or member that does not exist",
    409: "a conflict with the recorded state (e.g. premium not collected, claim closed), "
    "or an `Idempotency-Key` still in progress / reused with another body (`Retry-After`)",
    422: "invalid input; nothing was recorded",
    503: "the database is unreachable or a read model is stuck (`Retry-After`)",
}

#: operations that can answer 404 although their path names no id (a scheme, a policy in the body)
_NOT_FOUND_WITHOUT_PATH_ID = {
    "create_quote",
    "apply_for_policy",
    "report_claim",
    "portfolio",
    "collections",
    "close_period",
    "assess",
    "run_due",
}
_NO_ERRORS = {"healthz"}

#: operationId -> summary (the one-line title a reader of /docs sees)
SUMMARIES = {
    "list_schemes": "List the schemes and their terms",
    "list_policies": "List policies (JSON or CSV)",
    "apply_for_policy": "Apply for a policy",
    "list_claims": "List claims (JSON or CSV)",
    "report_claim": "Report an incident (a claim)",
    "portfolio": "Portfolio report of a scheme year (JSON or CSV)",
    "collections": "Arrears and lapses (JSON or CSV)",
    "run_due": "Run every job due up to a moment",
    "create_quote": "Quote a premium",
    "get_policy": "Read a policy",
    "policy_events": "A policy's recorded events",
    "policy_limits": "A period's limits, paid and remaining per section",
    "cancel_policy": "Cancel or void a policy",
    "endorse_policy": "Endorse a policy mid-term",
    "list_endorsements": "A policy's endorsements (JSON or CSV)",
    "get_endorsement": "Read one endorsement",
    "reinstate_policy": "Reinstate a cancelled policy",
    "non_renewal": "Record a notice of non-renewal",
    "declare_sales": "Declare annual sales",
    "get_claim": "Read a claim",
    "claim_events": "A claim's recorded events",
    "assess_losses": "Add assessed loss items",
    "pay_claim": "Pay a claim",
    "list_payments": "A claim's payments (JSON or CSV)",
    "get_payment": "Read one payment, explained",
    "settlement_preview": "Preview what a payment now would pay",
    "deny_claim": "Deny a claim",
    "close_claim": "Close a claim",
    "set_reserve": "Set a claim's case reserve",
    "reverse_payment": "Reverse a payment",
    "correct_loss": "Correct a loss item",
    "withdraw_loss": "Withdraw a loss item",
    "reopen_claim": "Reopen a claim",
    "verify": "Verify the hash chain and checkpoints",
    "checkpoint": "Sign a checkpoint now",
    "checkpoints": "List signed checkpoints",
    "close_period": "Close a scheme year (signed statement)",
    "closings": "List closings",
    "get_questionnaire": "The risk questionnaire in force",
    "assess": "Record a risk assessment",
    "list_assessments": "List risk assessments",
    "get_assessment": "Read a risk assessment",
    "report_pdf": "A risk assessment report (PDF)",
    "report_html": "A risk assessment report (HTML)",
    "certificate": "Certificate of cover (PDF)",
    "payment_advice": "Payment advice (PDF)",
    "request_erasure": "Request erasure of a member's personal data",
    "erasure_status": "A member's erasure status",
    "dossier": "A policy's signed audit dossier",
}
_CONFLICT_GETS = {"settlement_preview", "policy_limits", "certificate", "payment_advice"}

#: Refusals (422) of requests the schema admits, by rules the schema does not state: problem code
#: -> the rule. Most depend on now or on recorded state, which no static schema can state; the
#: last four are cross-field or reference-data rules not (yet) written as JSON Schema. Every
#: other rule is in the schema (closed sets, bounds, patterns, the years of a moment, anyOf /
#: if-then for "name at least one change" and condolence recipients).
UNSTATED_RULES: dict[str, str] = {
    "date_out_of_range": "a moment or day outside a range that moves with the clock (as-of reads and "
    "incidents not after now; applications ten years back to two years ahead; declarations, "
    "notices and effective dates within the years around today)",
    "as_of_in_future": "run-due's as_of after now",
    "unknown_period": "a period number beyond the periods the policy has recorded",
    "invalid_answers": "answers that do not fit the questionnaire in force on the assessment date",
    "nothing_to_endorse": "changes that are what the policy already has",
    # not state or now, but data no schema can carry: stated in words, tolerated by name
    "invalid_bank_account": "a bank and branch code pair that is not in the Zengin directory "
    "(thousands of pairs; the digits themselves are in the schema)",
    "outside_enrollment_window": "an application date outside the scheme calendar's enrolment "
    "windows for the enrolment asked (month-day windows per scheme)",
    "invalid_incident_dates": "occurred_at after discovered_at (JSON Schema cannot compare two fields)",
    "invalid_liability_limit": "a liability_limit that does not fit the plan: plan E above the "
    "scheme's floor, plans A..D their fixed limit or none (for an endorsement, the recorded plan)",
}
_AS_OF_READS = (
    "get_policy",
    "policy_events",
    "list_endorsements",
    "get_endorsement",
    "get_claim",
    "claim_events",
    "list_payments",
    "get_payment",
    "settlement_preview",
    "list_assessments",
    "get_assessment",
    "portfolio",
    "collections",
)
#: operationId -> the UNSTATED_RULES problems it may answer (declared in its 422 answer, with
#: ``x-unstated-rule-problems``; the schemathesis run tolerates exactly these)
REFUSED_BY_UNSTATED_RULES: dict[str, tuple[str, ...]] = {
    **{op: ("date_out_of_range",) for op in _AS_OF_READS},
    "policy_limits": ("date_out_of_range", "unknown_period"),
    "certificate": ("date_out_of_range", "unknown_period"),
    "create_quote": ("date_out_of_range", "outside_enrollment_window", "invalid_liability_limit"),
    "apply_for_policy": (
        "date_out_of_range",
        "outside_enrollment_window",
        "invalid_liability_limit",
        "invalid_bank_account",
    ),
    "report_claim": ("date_out_of_range", "invalid_incident_dates"),
    "run_due": ("date_out_of_range", "as_of_in_future"),
    "declare_sales": ("date_out_of_range",),
    "non_renewal": ("date_out_of_range",),
    "cancel_policy": ("date_out_of_range",),
    "endorse_policy": (
        "date_out_of_range",
        "nothing_to_endorse",
        "invalid_liability_limit",
        "invalid_bank_account",
    ),
    "request_erasure": ("date_out_of_range",),
    "assess": ("date_out_of_range", "invalid_answers"),
}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM: {"schema": PROBLEM_REF}}}


def _links() -> dict[tuple[str, str], dict[str, Any]]:
    """(operationId, status) -> links of that response."""
    policy = {"policy_id": "$response.body#/id"}
    claim = {"claim_id": "$response.body#/id"}
    to_policy = {
        "GetPolicy": {"operationId": "get_policy", "parameters": policy},
        "GetPolicyLimits": {"operationId": "policy_limits", "parameters": policy},
        "GetPolicyEvents": {"operationId": "policy_events", "parameters": policy},
        "ListEndorsements": {"operationId": "list_endorsements", "parameters": policy},
        "ReportClaimOnPolicy": {
            "operationId": "report_claim",
            "requestBody": {
                "policy_id": "$response.body#/id",
                "occurred_at": "$response.body#/coverage_start",
                "discovered_at": "$response.body#/coverage_start",
                "cause": "insider",
                "records_affected": 3000,
                "description": "an employee sold the customer list",
            },
            "description": "report an incident at the start of cover on this policy",
        },
    }
    to_claim = {
        "GetClaim": {"operationId": "get_claim", "parameters": claim},
        "GetClaimEvents": {"operationId": "claim_events", "parameters": claim},
        "AssessLosses": {"operationId": "assess_losses", "parameters": claim},
        "AssessSeedLosses": {
            "operationId": "assess_losses",
            "parameters": claim,
            "requestBody": {"items": [{"category": "damages", "risk": "basic", "amount": 1_000_000}]},
            "description": "assess a 1,000,000 yen damages item (basic risk) on this claim",
        },
        "PreviewSettlement": {"operationId": "settlement_preview", "parameters": claim},
        "PayClaim": {"operationId": "pay_claim", "parameters": claim},
        "ListPayments": {"operationId": "list_payments", "parameters": claim},
    }
    paid = {"claim_id": "$request.path.claim_id", "number": "$response.body#/payment/number"}
    first_policy = {"policy_id": "$response.body#/items/0/id"}
    first_claim = {"claim_id": "$response.body#/items/0/id"}
    return {
        ("list_policies", "200"): {
            "GetFirstPolicy": {"operationId": "get_policy", "parameters": first_policy},
            "GetFirstPolicyLimits": {"operationId": "policy_limits", "parameters": first_policy},
        },
        ("list_claims", "200"): {
            "GetFirstClaim": {"operationId": "get_claim", "parameters": first_claim},
            "PreviewFirstClaim": {"operationId": "settlement_preview", "parameters": first_claim},
            "PayFirstClaim": {"operationId": "pay_claim", "parameters": first_claim},
        },
        ("apply_for_policy", "201"): to_policy,
        ("get_policy", "200"): to_policy,
        ("report_claim", "201"): to_claim,
        ("assess_losses", "200"): to_claim,
        ("pay_claim", "201"): {
            "GetPayment": {"operationId": "get_payment", "parameters": paid},
            "GetPaymentAdvice": {"operationId": "payment_advice", "parameters": paid},
            "GetPaidClaim": {
                "operationId": "get_claim",
                "parameters": {"claim_id": "$request.path.claim_id"},
            },
            "ListPayments": {
                "operationId": "list_payments",
                "parameters": {"claim_id": "$request.path.claim_id"},
            },
        },
    }


def build(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    spec = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas["ValidationIssue"] = ValidationIssue.model_json_schema()
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    problem.pop("$defs", None)
    schemas["Problem"] = problem
    links = _links()
    for path, ops in spec.get("paths", {}).items():
        for method, op in ops.items():
            oid = op.get("operationId", "")
            if oid in SUMMARIES:
                op["summary"] = SUMMARIES[oid]
            responses = op.setdefault("responses", {})
            if oid in _NO_ERRORS:
                continue
            statuses = {422, 503}
            if "requestBody" in op:
                statuses.add(400)
            if op.get("security"):
                statuses |= {401, 403}
            if "{" in path or oid in _NOT_FOUND_WITHOUT_PATH_ID:
                statuses.add(404)
            if method == "post" or oid in _CONFLICT_GETS:
                statuses.add(409)
            for status in sorted(statuses):
                known = responses.get(str(status), {})
                description = known.get("description") if status != 422 else None
                responses[str(status)] = _problem(description or ERRORS[status])
            moving = REFUSED_BY_UNSTATED_RULES.get(oid, ())
            if moving:
                rules = "; ".join(f"`{code}`: {UNSTATED_RULES[code]}" for code in moving)
                responses["422"]["description"] += (
                    f". Also refused, by rules the schema does not state (they depend on now, on "
                    f"recorded state or on reference data): {rules}"
                )
                responses["422"]["x-unstated-rule-problems"] = list(moving)
            if method == "post":
                op.setdefault("parameters", []).append(
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "description": "a repeat with the same key answers the first response "
                        "(scoped to the caller's API key; kept 24 h by default)",
                        # what api/idempotency.py refuses (422 invalid_idempotency_key): longer
                        # than the bound, or a control or format character
                        "schema": {
                            "type": "string",
                            "maxLength": bounds.MAX_IDEMPOTENCY_KEY,
                            "pattern": text_pattern(multiline=True, required=False),
                        },
                    }
                )
            for status, response in responses.items():
                if (oid, status) in links:
                    response["links"] = links[(oid, status)]
    app.openapi_schema = spec
    return spec


def operation_id(route: APIRoute) -> str:
    """The route function's name: stable ids that links and clients name."""
    return route.name


def install(app: FastAPI) -> None:
    app.openapi = lambda: build(app)  # type: ignore[method-assign]
