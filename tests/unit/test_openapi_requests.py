"""What the request schemas admit, the server accepts: the static rules are in the document.

Each rule is checked in both directions on samples: a value the schema admits passes the
server's own check, and a value the schema refuses is refused by it. The rules that depend on now
or on recorded state are declared per operation (``x-unstated-rule-problems`` of the 422 answer)."""

from __future__ import annotations

import copy
import re
import tempfile
from typing import Any
from uuid import uuid4

import jsonschema_rs
import pytest
from pydantic import ValidationError

from api.main import create_app
from api.openapi import REFUSED_BY_UNSTATED_RULES, UNSTATED_RULES
from api.schemas import EndorsementChanges, LossCorrection, LossItemIn, digits_pattern
from policy_core.bank import validate_bank_account
from policy_core.errors import DomainError
from policy_core.scheme import SCHEME_KEYS
from policy_core.settlement import LossItem


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    app = create_app(Settings(), runtime=None, api_keys={})  # type: ignore[arg-type]
    return app.openapi()


def Settings() -> Any:  # noqa: N802 - a settings object for a document built without a database
    from policy_core.settings import Settings as S

    return S(POLICY_DATA_DIR=tempfile.mkdtemp())


def _walk(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    out = []
    if isinstance(node, dict):
        out.append((path, node))
        for k, v in node.items():
            out += _walk(v, f"{path}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _walk(v, f"{path}/{i}")
    return out


def test_bounds_are_json_schema_keywords_not_pydantic_names(spec):
    """``ge``/``le`` are not JSON Schema: a bound written so is a bound the schema does not state
    (a generator sends -1 as valid, the server refuses it)."""
    wrong = [p for p, node in _walk(spec) if {"ge", "le", "gt", "lt"} & set(node) and "type" in node]
    assert wrong == []
    amount = spec["components"]["schemas"]["LossItemIn"]["properties"]["amount"]
    assert amount["minimum"] == 0 and amount["maximum"] > 0


def _pattern(spec: dict[str, Any], model: str, field: str) -> re.Pattern[str]:
    return re.compile(spec["components"]["schemas"][model]["properties"][field]["pattern"])


@pytest.mark.parametrize(
    "value",
    ["0001", "０００１", " 0001 ", "\u30000001", "001", "00001", "00a1", "", "0 01", "٠٠٠١", "0001\u200b"],
)
def test_the_digits_pattern_admits_exactly_what_the_bank_check_takes(spec, value):
    pattern = _pattern(spec, "BankAccountIn", "bank_code")
    assert pattern.pattern == digits_pattern(4)
    try:
        validate_bank_account(value, "001", "ordinary", "1234567", "ﾔﾏﾀﾞ")
        taken = True
    except DomainError as exc:
        taken = "bank_code" not in exc.message or "not a Japanese bank code" in exc.message
    assert bool(pattern.search(value)) == taken, value


def test_scheme_parameters_list_the_schemes_the_server_takes(spec):
    for path, method, name in (
        ("/api/v1/reports/portfolio", "get", "scheme"),
        ("/api/v1/reports/collections", "get", "scheme"),
        ("/api/v1/risk-assessments", "get", "scheme"),
        ("/api/v1/subjects/{scheme}/{member_number}/erasure", "get", "scheme"),
        ("/api/v1/subjects/{scheme}/{member_number}/erasure", "post", "scheme"),
    ):
        (param,) = [p for p in spec["paths"][path][method]["parameters"] if p["name"] == name]
        assert param["schema"]["enum"] == sorted(SCHEME_KEYS), (path, method)


def test_a_moment_before_2000_is_outside_the_schema(spec):
    pattern = _pattern(spec, "ClaimReport", "occurred_at")
    assert pattern.search("2026-06-01T10:00:00+09:00")
    assert not pattern.search("1999-12-31T23:00:00+09:00")
    assert not pattern.search("0705-05-18T19:57:19+00:00")


def _validator(spec: dict[str, Any], model: str) -> Any:
    """The model's schema as a validator, without the text patterns (their surrogate range is
    outside the Rust regex dialect of ``jsonschema_rs``; the text check has its own tests)."""
    components = copy.deepcopy(spec["components"])
    for _, node in _walk(components):
        if "\\ud800" in node.get("pattern", ""):
            del node["pattern"]
    return jsonschema_rs.Draft202012Validator(
        {"$ref": f"#/components/schemas/{model}", "components": components}
    )


def _server_takes(model: Any, body: dict[str, Any]) -> bool:
    try:
        model.model_validate(body)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        ({"reason": "typo"}, False),
        ({"amount": None, "recipients": None, "reason": "typo"}, False),
        ({"amount": 5, "reason": "typo"}, True),
        ({"recipients": 3, "reason": "typo"}, True),
    ],
)
def test_a_correction_names_what_it_corrects(spec, body, valid):
    from policy_core.usecases.corrections import correct_loss

    assert _validator(spec, "LossCorrection").is_valid(body) == valid
    assert _server_takes(LossCorrection, body)
    try:  # the use case checks the request before it reads anything (app None: past the check)
        correct_loss(
            None, uuid4(), 1, amount=body.get("amount"), recipients=body.get("recipients"), reason="x"
        )  # type: ignore[arg-type]
        refused = False
    except DomainError as exc:
        refused = exc.code == "nothing_to_correct"
    except AttributeError:
        refused = False
    assert refused == (not valid)


@pytest.mark.parametrize(
    ("changes", "valid"),
    [
        ({}, False),
        ({"plan": None, "holder": None}, False),
        ({"holder": {}}, False),
        ({"holder": {"name": None}}, False),
        ({"holder": {"address": "大阪市北区1-1"}}, True),
        ({"network_rider": False}, True),
        ({"annual_sales": 0}, True),
    ],
)
def test_an_endorsement_names_a_change(spec, changes, valid):
    assert _validator(spec, "EndorsementChanges").is_valid(changes) == valid
    assert _server_takes(EndorsementChanges, changes)
    dumped = EndorsementChanges.model_validate(changes).model_dump(exclude_none=True)
    named = {k: v for k, v in dumped.items() if v != {}}
    assert bool(named) == valid


@pytest.mark.parametrize(
    ("item", "valid"),
    [
        ({"category": "condolence", "risk": "basic", "amount": 1000, "recipients": 2}, True),
        ({"category": "condolence", "risk": "basic", "amount": 1000}, False),
        ({"category": "condolence", "risk": "basic", "amount": 1000, "recipients": None}, False),
        ({"category": "damages", "risk": "basic", "amount": 1000}, True),
        ({"category": "damages", "risk": "basic", "amount": 1000, "recipients": None}, True),
        ({"category": "damages", "risk": "basic", "amount": 1000, "recipients": 2}, False),
    ],
)
def test_condolence_names_its_recipients_and_only_condolence(spec, item, valid):
    assert _validator(spec, "LossItemIn").is_valid(item) == valid
    parsed = LossItemIn.model_validate(item)
    try:
        LossItem(
            category=parsed.category, risk=parsed.risk, amount=parsed.amount, recipients=parsed.recipients
        )
        taken = True
    except DomainError as exc:
        assert exc.code == "invalid_recipients"
        taken = False
    assert taken == valid


def test_every_unstated_rule_is_declared_in_words_on_its_operations(spec):
    ops = {op["operationId"]: op for ops in spec["paths"].values() for op in ops.values()}
    assert set(REFUSED_BY_UNSTATED_RULES) <= set(ops)
    for oid, codes in REFUSED_BY_UNSTATED_RULES.items():
        answer = ops[oid]["responses"]["422"]
        assert answer["x-unstated-rule-problems"] == list(codes)
        for code in codes:
            assert f"`{code}`: {UNSTATED_RULES[code]}" in answer["description"]
    undeclared = [oid for oid, op in ops.items() if oid not in REFUSED_BY_UNSTATED_RULES]
    assert all("x-unstated-rule-problems" not in ops[o]["responses"].get("422", {}) for o in undeclared)
