"""Projection building blocks without a database: co-insurer allocation, the per-batch
unit of work, the view registry, and the guard that every event type is projected."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policy_core.aggregates.claim import Claim
from policy_core.aggregates.policy import Policy
from policy_core.projections import VIEW_NAMES, all_views, loss_ratio, select_views
from policy_core.projections.tables import COPY_FROM, Rows, Table, col
from policy_core.projections.views.claims import claim_status
from policy_core.projections.views.policies import policy_status
from policy_core.projections.views.portfolio import (
    PortfolioView,
    allocate,
    decode_shares,
    encode_shares,
    period_shares,
    preset_shares,
    presets_fingerprint,
)
from policy_core.scheme import load_scheme

# ---------------------------------------------------------------------------- allocation


@given(amount=st.integers(min_value=0, max_value=10**12), scheme=st.sampled_from(["jcci", "chuokai"]))
def test_each_amount_is_split_by_share_and_the_parts_add_up(amount: int, scheme: str) -> None:
    s = load_scheme(scheme)
    parts = allocate(amount, preset_shares(scheme))
    assert sum(parts.values()) == amount
    assert list(parts) == [c.key for c in s.coinsurers]
    leader, *others = s.coinsurers
    for c in others:
        assert parts[c.key] == amount * c.share_bp // 10_000  # rounded down
    # The leader takes the rest: its own share plus the fractions the others lost.
    assert 0 <= parts[leader.key] - amount * leader.share_bp // 10_000 <= len(others)


def test_allocation_example() -> None:
    assert allocate(43_900_001, preset_shares("jcci")) == {
        "leader": 17_560_001,
        "insurer_b": 13_170_000,
        "insurer_c": 8_780_000,
        "insurer_d": 4_390_000,
    }


shares_strategy = st.lists(st.integers(min_value=1, max_value=10_000), min_size=1, max_size=6).filter(
    lambda bps: sum(bps) <= 10_000
)


@given(amount=st.integers(min_value=0, max_value=10**12), bps=shares_strategy)
def test_any_recorded_shares_split_an_amount_that_adds_up(amount: int, bps: list[int]) -> None:
    shares = tuple((f"c{i}", bp) for i, bp in enumerate(bps))
    parts = allocate(amount, shares)
    assert sum(parts.values()) == amount
    assert list(parts) == [k for k, _ in shares]
    assert all(parts[k] == amount * bp // 10_000 for k, bp in shares[1:])
    assert decode_shares(encode_shares(shares)) == shares


def test_a_period_is_allocated_by_its_recorded_shares_else_by_the_preset() -> None:
    recorded = {"coinsurers": [{"key": "leader", "share_bp": 6000}, {"key": "insurer_x", "share_bp": 4000}]}
    assert period_shares("jcci", recorded) == (("leader", 6000), ("insurer_x", 4000))
    # Recorded before the facts carried shares: the preset's current shares.
    assert period_shares("jcci", {}) == preset_shares("jcci")
    assert period_shares("jcci", {"coinsurers": []}) == preset_shares("jcci")
    assert preset_shares("jcci") == tuple((c.key, c.share_bp) for c in load_scheme("jcci").coinsurers)


def test_loss_ratio() -> None:
    assert loss_ratio(0, 0) is None
    assert loss_ratio(43_900_000, 100_000_000) == 0.439


def test_the_portfolio_version_follows_the_presets() -> None:
    version = next(v for v in all_views() if v.name == "portfolio").schema_version()
    assert version == f"{PortfolioView.version}+presets.{presets_fingerprint()}"
    assert presets_fingerprint() == presets_fingerprint()


# ---------------------------------------------------------------------------- registry


def _event_classes(aggregate: type) -> list[type]:
    return [
        v
        for v in vars(aggregate).values()
        if isinstance(v, type) and hasattr(v, "TOPIC") and v.__name__ != "Created"
    ]


def test_every_event_type_is_projected_somewhere() -> None:
    """A new event type must be given to the views (or the views would silently ignore it)."""
    handled = set().union(*(v.topics for v in all_views()))
    for aggregate in (Policy, Claim):
        for cls in _event_classes(aggregate):
            assert cls.TOPIC in handled, f"{cls.__qualname__} is not projected by any view"


def test_the_policies_and_claims_views_see_every_event_of_their_aggregate() -> None:
    """Their ``version`` column is the aggregate's version: they must handle all its events."""
    views = {v.name: v for v in all_views()}
    assert {c.TOPIC for c in _event_classes(Policy)} <= views["policies"].topics
    assert {c.TOPIC for c in _event_classes(Claim)} <= views["claims"].topics


def test_views_have_unique_names_and_tables() -> None:
    tables = [t.name for v in all_views() for t in v.tables]
    assert len(set(tables)) == len(tables)
    assert all(t.startswith("rm_") for t in tables)
    assert VIEW_NAMES == ("limits", "policies", "claims", "collections", "portfolio", "erasures")
    assert [v.name for v in select_views("claims")] == ["claims"]
    with pytest.raises(ValueError, match="unknown view"):
        select_views(["limit"])


def test_only_the_holder_name_is_marked_personal() -> None:
    """Derived from personal data (never plain): its blind index and its sealed copy."""
    personal = {(t.name, c) for v in all_views() for t in v.tables for c in t.personal}
    assert personal == {("rm_policies", "holder_name_index"), ("rm_policies", "holder_name_sealed")}


def test_status_precedence_matches_the_aggregates() -> None:
    base = {"cancelled_at": None, "lapsed_at": None, "expired_at": None, "activated": True}
    assert policy_status(base) == "active"
    assert policy_status(base | {"activated": False}) == "applied"
    assert policy_status(base | {"expired_at": 1, "lapsed_at": 1}) == "lapsed"
    assert policy_status(base | {"expired_at": 1, "lapsed_at": 1, "cancelled_at": 1}) == "cancelled"
    claim = {"denial_reason": None, "closed_reason": None, "payments": 0, "loss_items": 0}
    assert claim_status(claim) == "reported"
    assert claim_status(claim | {"loss_items": 1}) == "assessed"
    assert claim_status(claim | {"loss_items": 1, "payments": 1}) == "paid"
    assert claim_status(claim | {"payments": 1, "closed_reason": "x"}) == "closed"
    assert claim_status(claim | {"closed_reason": "x", "denial_reason": "y"}) == "denied"


def test_a_table_declaration_is_checked() -> None:
    with pytest.raises(ValueError, match="owner"):
        Table("rm_x", (col("a", "uuid"), col("b", "int")), key=("a",), owner="b")
    with pytest.raises(ValueError, match="owner column must come first"):
        Table("rm_x", (col("a", "uuid"), col("b", "int")), key=("a", "b"), owner="b")
    with pytest.raises(ValueError, match="duplicate"):
        Table("rm_x", (col("a", "uuid"), col("a", "int")), key=("a",))
    with pytest.raises(ValueError, match="unknown column"):
        Table("rm_x", (col("a", "uuid"),), key=("z",))


# ---------------------------------------------------------------------------- unit of work


class FakeCursor:
    """Answers the prefetch with canned rows and records every statement."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows = rows
        self.statements: list[str] = []
        self._result: list[tuple[Any, ...]] = []

    def execute(self, query: Any, params: Any = None) -> None:
        text = query.as_string(None) if hasattr(query, "as_string") else str(query)
        self.statements.append(text)
        self._result = list(self.rows) if text.startswith("SELECT") else []

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._result

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._result[0] if self._result else None


TABLE = Table(
    "rm_t", (col("owner", "uuid"), col("n", "integer"), col("v", "bigint")), key=("owner", "n"), owner="owner"
)


def test_rows_writes_only_what_changed() -> None:
    a, b = uuid4(), uuid4()
    cur = FakeCursor([(a, 1, 10), (a, 2, 20)])
    rows = Rows(cur, "s", [TABLE])  # type: ignore[arg-type]
    rows.prefetch([a, b])
    assert rows.get("rm_t", a, 1)["v"] == 10
    assert rows.get("rm_t", b, 1) is None  # prefetched owner: known absent, no query
    assert rows.reads == 1
    rows.require("rm_t", a, 2)["v"] += 1
    rows.new("rm_t", owner=b, n=1, v=5)
    with pytest.raises(KeyError):
        rows.new("rm_t", owner=a, n=1, v=0)
    assert rows.flush() == 2
    writes = cur.statements[1:]
    assert [w.split()[0] for w in writes] == ["INSERT", "UPDATE"]
    assert all("unnest" in w for w in writes)


def test_rows_refuses_a_changed_key_and_copies_big_batches() -> None:
    a = uuid4()
    rows = Rows(FakeCursor([(a, 1, 10)]), "s", [TABLE])  # type: ignore[arg-type]
    rows.prefetch([a])
    rows.require("rm_t", a, 1)["n"] = 9
    with pytest.raises(ValueError, match="changed the key"):
        rows.flush()

    class CopyCursor(FakeCursor):
        copied = 0

        def copy(self, statement: Any) -> Any:
            cursor = self
            self.statements.append(statement.as_string(None))

            class Copy:
                def __enter__(self) -> Any:
                    return self

                def __exit__(self, *exc: object) -> None:
                    pass

                def set_types(self, types: list[str]) -> None:
                    pass

                def write_row(self, values: Any) -> None:
                    cursor.copied += 1

            return Copy()

    cur = CopyCursor([])
    rows = Rows(cur, "s", [TABLE])  # type: ignore[arg-type]
    rows.prefetch([a])
    for n in range(COPY_FROM):
        rows.new("rm_t", owner=a, n=n, v=n)
    assert rows.flush() == COPY_FROM
    assert cur.copied == COPY_FROM and any(s.startswith("COPY") for s in cur.statements)


def test_a_table_is_made_with_or_without_its_secondary_indexes() -> None:
    t = Table(
        "rm_t", (col("a", "uuid"), col("b", "text"), col("c", "date")), key=("a",), indexes=(("b", "c"),)
    )
    full = [q.as_string(None) for q in t.ddl("s")]
    bare = [q.as_string(None) for q in t.ddl("s", indexes=False)]
    assert bare == full[:1] and full[0].startswith('CREATE TABLE "s"."rm_t"')
    assert full[1:] == [q.as_string(None) for q in t.index_ddl("s")]
    assert full[1:] == ['CREATE INDEX IF NOT EXISTS "rm_t__b_c_idx" ON "s"."rm_t" ("b", "c")']
