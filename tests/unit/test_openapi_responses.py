"""Every operation's answer is typed in the OpenAPI document, every number with its unit.

Built from the app's routes (no database): each 2xx answer has a schema for each content type it
names; a JSON answer is a named, closed model (``api/responses.py``), never a bare object; every
integer or number field in those models says its unit, and a money field says yen."""

from __future__ import annotations

import re
import tempfile
from typing import Any

import pytest

from api.main import create_app
from policy_core.settings import Settings

#: words that state a number's unit (or that it is a count, a position, an ordinal)
UNITS = (
    "yen",
    "(a count)",
    "percent",
    "permille",
    "basis points",
    "fraction",
    "months",
    "seconds",
    "position",
    "sequence number",
    "version",
    "points",
    "month of the year",
    "day of the month",
    "hour of the day",
    "relative weight",
    "http status",
    "calendar year",
)
#: field names that hold money: their description must say yen
MONEY = re.compile(
    r"(premium|amount|deductible|reserve|incurred|sales|refund|_yen$|loading$|^paid|payable|eligible"
    r"|recover|outstanding|collected|arrears|_limit$|^limits$|^liability$|^expense$|^gross_loss$|_cap)"
)
#: ratios say their unit in the name (percent, a fraction): not money
RATIO = re.compile(r"(_percent|_permille|_bp|ratio)$")
NON_JSON = {"text/csv", "application/pdf", "text/html", "application/x-ndjson"}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    app = create_app(Settings(POLICY_DATA_DIR=tempfile.mkdtemp()), runtime=None, api_keys={})  # type: ignore[arg-type]
    return app.openapi()


def _operations(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", op)
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    return spec["components"]["schemas"][ref.rsplit("/", 1)[1]]


def test_every_operation_answers_a_typed_2xx(spec):
    untyped = []
    operations = _operations(spec)
    for name, op in operations:
        ok = {s: r for s, r in op["responses"].items() if s.startswith("2")}
        if not ok:
            untyped.append(f"{name}: no 2xx answer documented")
        for status, response in ok.items():
            content = response.get("content") or {}
            if not content:
                untyped.append(f"{name} {status}: no content")
            for media, body in content.items():
                schema = body.get("schema")
                if not schema:
                    untyped.append(f"{name} {status} {media}: no schema")
                elif media in NON_JSON:
                    if schema.get("type") != "string":
                        untyped.append(f"{name} {status} {media}: not a string")
                elif "$ref" not in schema:
                    untyped.append(f"{name} {status} {media}: not a named model: {schema}")
                else:
                    model = _resolve(spec, schema)
                    if not model.get("properties"):
                        untyped.append(f"{name} {status}: {schema['$ref']} has no properties")
    assert len(operations) >= 50
    assert untyped == []


def _response_models(spec: dict[str, Any]) -> set[str]:
    """Every component schema reachable from a 2xx JSON answer."""
    seen: set[str] = set()
    todo = []
    for _, op in _operations(spec):
        for status, response in op["responses"].items():
            if status.startswith("2"):
                for media, body in (response.get("content") or {}).items():
                    if media not in NON_JSON and "$ref" in (body.get("schema") or {}):
                        todo.append(body["schema"]["$ref"].rsplit("/", 1)[1])
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(re.findall(r"#/components/schemas/(\w+)", repr(spec["components"]["schemas"][name])))
    return seen


def _numbers(schema: Any, path: str, inherited: str) -> list[tuple[str, str]]:
    """(path, description) of every integer or number in ``schema`` (a value of a map or a list
    takes its field's description)."""
    if not isinstance(schema, dict):
        return []
    description = schema.get("description", inherited)
    out: list[tuple[str, str]] = []
    kinds = [schema.get("type")] + [s.get("type") for s in schema.get("anyOf", []) if isinstance(s, dict)]
    if "integer" in kinds or "number" in kinds:
        out.append((path, description))
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            out += _numbers(sub, path, description)
    if isinstance(schema.get("additionalProperties"), dict):
        out += _numbers(schema["additionalProperties"], f"{path}[*]", description)
    if isinstance(schema.get("items"), dict):
        out += _numbers(schema["items"], f"{path}[]", description)
    return out


def test_every_number_in_an_answer_states_its_unit_and_money_says_yen(spec):
    models = _response_models(spec)
    assert {"PolicyOut", "ClaimOut", "Portfolio", "SettlementPreview", "QuoteOut"} <= models
    missing, not_yen = [], []
    closed = []
    for name in sorted(models):
        model = spec["components"]["schemas"][name]
        if model.get("additionalProperties") is not False and name not in _OPEN:
            closed.append(name)
        for field, schema in (model.get("properties") or {}).items():
            for path, description in _numbers(schema, f"{name}.{field}", ""):
                text = description.lower()
                if not any(u in text for u in UNITS):
                    missing.append(f"{path}: {description!r}")
                if (
                    MONEY.search(field)
                    and not RATIO.search(field)
                    and "yen" not in text
                    and "(a count)" not in text
                ):
                    not_yen.append(f"{path}: {description!r}")
    assert missing == [], "numbers without a unit"
    assert not_yen == [], "money fields that do not say yen"
    assert closed == [], "answers that admit undocumented fields"


#: models FastAPI serialises itself (``response_model=``: extra fields are dropped, never sent) and
#: the open envelopes of signed statements and event metadata (kept as signed or recorded)
_OPEN = {
    "RiskAssessmentOut",
    "RiskAssessmentList",
    "RiskAssessmentItem",
    "OverallOut",
    "AreaOut",
    "CauseOut",
    "ChangeOut",
    "ErasureStatus",
    "SignedStatement",
    "ClosingStatement",
    "EventMetadata",
}


def test_the_test_sees_a_number_without_a_unit():
    """The walk itself: a bare integer, one in a map and one in a list are each found."""
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "integer"},
            "b": {"type": "object", "additionalProperties": {"type": "integer"}, "description": "x, yen"},
            "c": {"anyOf": [{"type": "array", "items": {"type": "number"}}, {"type": "null"}]},
        },
    }
    found = {p: d for field, s in schema["properties"].items() for p, d in _numbers(s, field, "")}
    assert found == {"a": "", "b[*]": "x, yen", "c[]": ""}
