"""The limits view's pre-rendered JSON (rm_limits_docs): rendering and in-place claim updates."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from uuid import UUID

import pytest

from policy_core.calendar import TOKYO
from policy_core.projections.views.limits import put_claim, put_claim_number, render_claim, render_head
from policy_core.settlement import SECTIONS

PID = UUID("3cfd4505-4e4c-5050-807d-25c6a0b4b328")
C1, C2, C3 = (UUID(int=i) for i in (1, 2, 3))


def section_rows(paid: int = 0) -> list[dict]:
    return [
        {"section": s, "limit_yen": 5_000_000, "paid": paid, "remaining": 5_000_000 - paid} for s in SECTIONS
    ]


def claim_rows(used: int) -> list[dict]:
    return [
        {"section": s, "accident_limit": 5_000_000, "paid": used, "remaining": 5_000_000 - used}
        for s in SECTIONS
    ]


def test_head_is_compact_json_with_tokyo_timestamps_whatever_the_zone_given():
    start = datetime(2026, 3, 31, 15, 0, tzinfo=UTC)
    number = "CHUOKAI-2026-000123"
    head = render_head(PID, number, 1, start, datetime(2027, 3, 31, 15, 0, tzinfo=UTC), section_rows(100))
    assert " " not in head
    doc = json.loads(head)
    assert list(doc) == ["policy_id", "number", "period", "start", "end", "sections"]
    assert doc["policy_id"] == str(PID) and doc["number"] == number and doc["period"] == 1
    assert doc["start"] == "2026-04-01T00:00:00+09:00" and doc["end"] == "2027-04-01T00:00:00+09:00"
    assert list(doc["sections"]) == list(SECTIONS)
    assert doc["sections"]["expense_basic"] == {"limit": 5_000_000, "paid": 100, "remaining": 4_999_900}
    # the same instant in another zone (a row read back from PostgreSQL, an event) renders the same
    assert (
        render_head(
            PID,
            number,
            1,
            start.astimezone(TOKYO),
            datetime(2027, 3, 31, 15, 0, tzinfo=UTC),
            section_rows(100),
        )
        == head
    )
    # a policy applied before numbers existed: null
    old = render_head(PID, None, 1, start, start, section_rows())
    assert json.loads(old)["number"] is None


def test_claim_numbers_are_kept_in_the_order_reported_compact():
    numbers = "{}"
    for cid, number in ((C1, "CHUOKAI-2026-000001"), (C2, None), (C3, "CHUOKAI-2026-000003")):
        numbers = put_claim_number(numbers, cid, number)
    assert " " not in numbers
    assert json.loads(numbers) == {
        str(C1): "CHUOKAI-2026-000001",
        str(C2): None,
        str(C3): "CHUOKAI-2026-000003",
    }
    assert list(json.loads(numbers)) == [str(C1), str(C2), str(C3)]


def test_claims_are_appended_in_order_and_replaced_in_place():
    claims = "{}"
    for cid in (C1, C2, C3):
        claims = put_claim(claims, cid, render_claim(cid, claim_rows(0)))
    assert list(json.loads(claims)) == [str(C1), str(C2), str(C3)]
    for cid, used in ((C2, 1_234_567), (C1, 5_000_000), (C3, 7), (C2, 2_000_000)):
        claims = put_claim(claims, cid, render_claim(cid, claim_rows(used)))
    doc = json.loads(claims)
    assert list(doc) == [str(C1), str(C2), str(C3)]
    assert {c: v["expense_basic"]["paid"] for c, v in doc.items()} == {
        str(C1): 5_000_000,
        str(C2): 2_000_000,
        str(C3): 7,
    }
    assert claims == json.dumps(doc, separators=(",", ":"))


def test_a_claim_with_some_sections_only_and_one_without_rows():
    member = render_claim(C1, claim_rows(0)[:1])
    claims = put_claim(put_claim("{}", C1, member), C2, render_claim(C2, claim_rows(0)))
    claims = put_claim(claims, C1, render_claim(C1, claim_rows(3)[:1]))
    assert json.loads(claims)[str(C1)] == {
        SECTIONS[0]: {"accident_limit": 5_000_000, "paid": 3, "remaining": 4_999_997}
    }
    with pytest.raises(ValueError):
        render_claim(C1, [])
