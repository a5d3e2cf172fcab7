"""Every kind of correction on real PostgreSQL: the live views follow, ``projections verify``
(a replay into a scratch schema) agrees with them, and they agree with the aggregates."""

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


def test_views_follow_every_correction_and_verify_agrees(runtime, database):
    app = runtime.app
    pid = in_force_policy(
        app, member_number="C-1", holder={"name": "試験商店"}, application_date=date(2026, 1, 10)
    )
    p = app.get_policy(pid).current_period

    def claim(day: int):
        return app.report_incident(
            policy_id=pid,
            occurred_at=datetime(2026, 6, day, tzinfo=TOKYO),
            discovered_at=datetime(2026, 6, day, 12, tzinfo=TOKYO),
            cause="theft",
            records_affected=100,
            description="laptop stolen",
        )

    cid = claim(1)
    app.set_reserve(cid, sections={"liability_basic": 3_000_000, "expense_basic": 500_000}, reason="estimate")
    app.assess_losses(
        cid,
        [
            {"category": "damages", "risk": "basic", "amount": 2_000_000},
            {"category": "advertising", "risk": "basic", "amount": 600_000},
        ],
    )
    app.pay_claim(cid)  # 1,900,000 + (500,000 * 90%) = 450,000
    app.reverse_payment(cid, 1, reason="paid to the wrong account")
    app.pay_claim(cid)
    app.correct_loss(cid, 1, amount=1_000_000, reason="court reduced the damages")  # recovery due 1,000,000
    app.withdraw_loss(cid, 2, reason="invoice was for another incident")  # recovery due 450,000 more
    app.close_claim(cid, reason="settled")
    app.reopen_claim(cid, reason="further invoice")
    other = claim(2)
    app.deny_claim(other, reason="excluded_outside_japan", message="server abroad")
    app.reopen_claim(other, reason="server was in Japan")
    app.cancel(pid, effective_date=date(2026, 12, 1), reason="holder asked")
    app.reinstate(pid, reason="cancelled the wrong policy")

    with psycopg.connect(database.dsn, autocommit=True) as conn:
        prepare(conn, database.schema, all_views())
        Projector(EventSource.from_app(app), all_views(), conn, database.schema).catch_up()
    assert_views_match(app, database)
    report = verify(database.dsn, EventSource.from_app(app), database.schema, all_views())
    assert report.ok, report.to_dict()

    with ReadModels(database, mapper=app.mapper) as reads:
        row = reads.get_claim_row(cid)
        assert (row["paid_total"], row["payments_reversed"], row["recoveries_due"]) == (
            2_350_000,
            1,
            1_450_000,
        )
        assert (row["reserve_total"], row["status"]) == (0, "paid")
        portfolio = reads.portfolio("chuokai", 2026)
        assert portfolio["paid_yen"] == 2_350_000 and portfolio["recoveries_due_yen"] == 1_450_000
        assert portfolio["outstanding_reserve_yen"] == 0 and portfolio["return_premium"] == 0
        assert portfolio["incurred_yen"] == 2_350_000
        assert portfolio["paid_loss_ratio_percent"] == round(2_350_000 * 100 / p.premium, 2)
        assert sum(c["recoveries_due_yen"] for c in portfolio["coinsurers"]) == 1_450_000
