"""Cover endorsements on real PostgreSQL: the live views follow premium deltas, returns,
out-of-sequence re-application and the limits at discovery; ``projections verify`` (a replay into a
scratch schema) agrees with them, and they agree with the aggregates."""

from __future__ import annotations

from datetime import date, datetime

import psycopg
import pytest

from policy_core.calendar import TOKYO
from policy_core.projections import EventSource, ReadModels, all_views, verify
from policy_core.projections.engine import Projector
from policy_core.projections.maintenance import prepare
from tests.integration.test_projections_properties import assert_views_match
from tests.unit.test_model import in_force_policy

pytestmark = pytest.mark.postgres


def test_views_follow_cover_endorsements_and_verify_agrees(runtime, database):
    app = runtime.app

    def policy(member: str, scheme: str = "chuokai"):
        return in_force_policy(
            app,
            scheme=scheme,
            member_number=member,
            holder={"name": "試験商店"},
            application_date=date(2026, 1, 10),
        )

    up, down = policy("E-1"), policy("E-2", "jcci")
    # Out of sequence: the rider from 1 Aug recorded first, the plan from 1 Jun after it.
    app.endorse(up, effective_date=date(2026, 8, 1), changes={"network_rider": True}, reason="web shop")
    claim = app.report_incident(
        policy_id=up,
        occurred_at=datetime(2026, 7, 1, tzinfo=TOKYO),
        discovered_at=datetime(2026, 7, 2, 12, tzinfo=TOKYO),
        cause="theft",
        records_affected=100,
        description="laptop stolen",
    )
    app.endorse(up, effective_date=date(2026, 6, 1), changes={"plan": "C"}, reason="late upgrade")
    # The claim discovered 2 Jul is now under plan C: its accident limits moved with it.
    app.assess_losses(claim, [{"category": "damages", "risk": "basic", "amount": 1_000_000}])
    app.pay_claim(claim)
    # A return: plan A from 1 Jul, then a sales correction on top.
    app.endorse(down, effective_date=date(2026, 7, 1), changes={"plan": "A"}, reason="downgrade")
    app.endorse(down, effective_date=date(2026, 9, 1), changes={"annual_sales": 100_000_000}, reason="x")

    with psycopg.connect(database.dsn, autocommit=True) as conn:
        prepare(conn, database.schema, all_views())
        Projector(EventSource.from_app(app), all_views(), conn, database.schema).catch_up()
    assert_views_match(app, database)
    report = verify(database.dsn, EventSource.from_app(app), database.schema, all_views())
    assert report.ok, report.to_dict()

    p_up = app.get_policy(up).current_period
    p_down = app.get_policy(down).current_period
    assert p_up.limits["liability_basic"] == 100_000_000 and p_up.network_rider
    assert p_down.refunded > 0
    with ReadModels(database, mapper=app.mapper) as reads:
        written = reads.portfolio("chuokai", 2026)["written_premium"]
        assert written == p_up.premium
        jcci = reads.portfolio("jcci", 2026)
        assert jcci["written_premium"] == p_down.premium
        assert jcci["return_premium"] == p_down.refunded
        body = reads.limits_json(up, 1)
        assert body is not None and b'"liability_basic":{"limit":100000000,' in body
