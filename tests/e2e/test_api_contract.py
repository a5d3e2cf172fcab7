"""The OpenAPI document tells the truth: summaries and descriptions, one Problem schema for every
error, closed sets as enums, links along the lifecycle, 405 with Allow, docs served offline."""

from __future__ import annotations

from tests.e2e.conftest import auth


def spec_of(client):
    r = client.get("/openapi.json")
    assert r.status_code == 200
    return r.json()


def test_every_operation_is_described_and_documents_its_errors_as_problems(client):
    spec = spec_of(client)
    schemas = spec["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "Problem" in schemas
    assert set(schemas["Problem"]["required"]) >= {"type", "title", "status", "detail"}
    ops = [(m, p, o) for p, v in spec["paths"].items() for m, o in v.items()]
    assert len(ops) >= 50
    for method, path, op in ops:
        name = f"{method} {path}"
        assert op.get("summary") and op.get("description"), name
        assert op["operationId"].isidentifier(), name
        if op["operationId"] == "healthz":
            continue
        responses = op["responses"]
        for status in ("422", "503"):
            assert responses[status]["content"] == {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            }, (name, status)
        if op.get("security"):
            assert {"401", "403"} <= set(responses), name
        if "{" in path:
            assert "404" in responses, name
        if method == "post":
            assert "409" in responses and "400" in responses or "requestBody" not in op, name
            assert any(p["name"] == "Idempotency-Key" for p in op["parameters"]), name
    assert "HTTPValidationError" not in str(spec)


def test_closed_sets_are_enums_and_links_walk_the_lifecycle(client):
    spec = spec_of(client)
    s = spec["components"]["schemas"]
    assert set(s["QuoteRequest"]["properties"]["scheme"]["enum"]) == {"jcci", "chuokai"}
    assert s["QuoteRequest"]["properties"]["plan"]["enum"] == ["A", "B", "C", "D", "E"]
    assert "printing" in s["QuoteRequest"]["properties"]["industry"]["enum"]
    assert "insider" in s["ClaimReport"]["properties"]["cause"]["enum"]
    assert "condolence" in s["LossItemIn"]["properties"]["category"]["enum"]
    assert s["LossItemIn"]["properties"]["risk"]["enum"] == ["basic", "recourse"]
    assert "policy_not_in_force" in s["ClaimDenial"]["properties"]["reason"]["enum"]
    assert s["BankAccountIn"]["properties"]["account_type"]["enum"] == ["ordinary", "current"]
    params = {p["name"]: p for p in spec["paths"]["/api/v1/policies"]["get"]["parameters"]}
    assert "active" in str(params["status"]["schema"])
    # examples from the seeds
    assert s["PolicyApplication"]["examples"][0]["holder"]["name"] == "山田印刷株式会社"
    # links: apply -> policy -> limits; claim -> losses -> payment -> claim
    paths = spec["paths"]
    apply_links = paths["/api/v1/policies"]["post"]["responses"]["201"]["links"]
    assert apply_links["GetPolicy"]["operationId"] == "get_policy"
    policy_links = paths["/api/v1/policies/{policy_id}"]["get"]["responses"]["200"]["links"]
    assert policy_links["GetPolicyLimits"]["operationId"] == "policy_limits"
    assert policy_links["ReportClaimOnPolicy"]["operationId"] == "report_claim"
    claim_links = paths["/api/v1/claims"]["post"]["responses"]["201"]["links"]
    assert claim_links["AssessLosses"]["operationId"] == "assess_losses"
    losses_links = paths["/api/v1/claims/{claim_id}/losses"]["post"]["responses"]["200"]["links"]
    assert losses_links["PayClaim"]["operationId"] == "pay_claim"
    pay_links = paths["/api/v1/claims/{claim_id}/payments"]["post"]["responses"]["201"]["links"]
    assert pay_links["GetPaidClaim"]["operationId"] == "get_claim"
    ids = {o["operationId"] for v in paths.values() for o in v.values()}
    for links in (apply_links, policy_links, claim_links, losses_links, pay_links):
        assert {link["operationId"] for link in links.values()} <= ids


def test_405_names_every_allowed_method(client):
    r = client.delete("/api/v1/policies", headers=auth("operator"))
    assert r.status_code == 405 and r.headers["content-type"] == "application/problem+json"
    assert set(r.headers["allow"].split(", ")) == {"GET", "POST"}
    r = client.put("/api/v1/claims/00000000-0000-0000-0000-000000000001/payments", headers=auth("operator"))
    assert r.status_code == 405 and set(r.headers["allow"].split(", ")) == {"GET", "POST"}


def test_docs_pages_load_their_assets_from_the_server_not_a_cdn(client):
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        assert "cdn.jsdelivr" not in html and "unpkg" not in html, page
        assets = [a for a in html.split('"') if a.endswith((".js", ".css"))]
        assert assets, page
        for asset in assets:
            assert asset.startswith("/"), asset
            r = client.get(asset)
            assert r.status_code == 200 and len(r.content) > 1000, asset


def test_the_idempotency_key_header_schema_states_what_the_server_refuses(client):
    """A key the schema allows is a key the server takes, and one it refuses breaks the schema
    (schemathesis sent a tab, which a header value may carry, documented as valid and refused)."""
    import re

    spec = client.get("/openapi.json").json()
    (param,) = [
        p for p in spec["paths"]["/api/v1/claims"]["post"]["parameters"] if p["name"] == "Idempotency-Key"
    ]
    schema = param["schema"]
    pattern = re.compile(schema["pattern"])

    def post_with(key: str | bytes) -> dict:
        r = client.post("/api/v1/claims", headers={**auth("operator"), "Idempotency-Key": key}, json={})
        assert r.status_code == 422
        return r.json()

    for bad in ("a\u00adb", "a\x7fb", "a\x85b", "k" * 201):
        assert not (pattern.search(bad) and len(bad) <= schema["maxLength"])
        assert post_with(bad.encode("latin-1"))["type"].endswith("invalid_idempotency_key")
    for good in ("7&#\tx", "retry-2026-12-01-0001", "k" * 200):
        assert pattern.search(good)
        # taken as a key: the 422 is the body's (a claim needs its fields), not the key's
        assert not post_with(good.encode("latin-1"))["type"].endswith("invalid_idempotency_key")
