"""Regression: a cancellation withdrawn by a reinstatement leaves every co-insurer's return
premium exactly where it was (the property test's oracle used to split the withdrawal as a
negative amount, whose floor-rounded parts left the leader a few yen)."""

from __future__ import annotations

from datetime import date

import psycopg
import pytest

from policy_core.projections import EventSource, all_views, verify
from policy_core.projections.engine import Projector
from policy_core.projections.maintenance import prepare
from policy_core.projections.views.portfolio import allocate
from tests.conftest import BANK
from tests.integration.test_projections_properties import assert_views_match, expected_views
from tests.unit.test_model import in_force_policy

pytestmark = pytest.mark.postgres


def test_a_reinstatement_takes_back_each_coinsurers_part_of_the_return_premium(runtime, database):
    app = runtime.app
    pid = in_force_policy(
        app,
        scheme="jcci",
        member_number="J-1",
        holder={"name": "試験商店"},
        annual_sales=100_000_000,
        application_date=date(2026, 1, 10),
    )
    p = app.get_policy(pid).current_period
    app.cancel(pid, effective_date=date(2026, 9, 1), reason="holder asked")
    cancelled = [e for e in app.history(pid) if type(e).__name__ == "Cancelled"][-1]
    shares = [(c["key"], c["share_bp"]) for c in p.coinsurers]
    # The scenario needs a return premium whose parts round: split as a negative amount they
    # would differ from the negated parts of the positive amount.
    negated = {k: -v for k, v in allocate(cancelled.return_premium, shares).items()}
    assert allocate(-cancelled.return_premium, shares) != negated
    app.reinstate(pid, reason="cancelled the wrong policy")

    with psycopg.connect(database.dsn, autocommit=True) as conn:
        prepare(conn, database.schema, all_views())
        Projector(EventSource.from_app(app), all_views(), conn, database.schema).catch_up()
    expected = expected_views(app, database)
    year = [k for k in expected["rm_portfolio"] if k[0] == "jcci"][0][1]
    assert expected["rm_portfolio"][("jcci", year)]["return_premium"] == 0
    for key, _ in shares:
        assert expected["rm_portfolio_coinsurers"][("jcci", year, key)]["return_premium"] == 0
    assert_views_match(app, database)
    report = verify(database.dsn, EventSource.from_app(app), database.schema, all_views())
    assert report.ok, report.to_dict()


def test_a_collected_later_period_ended_by_a_lapse_is_lapsed_in_collections(runtime, database):
    """The lapse of an unpaid period ends a later, already collected one: its debit row says
    ``lapsed`` (its money is refund due, never cover), in the view and the oracle alike."""
    app = runtime.app
    pid = app.apply(
        scheme="chuokai",
        member_number="L-1",
        holder={"name": "試験商店"},
        industry="printing",
        annual_sales=100_000_000,
        plan="B",
        bank_account=BANK,
        application_date=date(2026, 1, 10),
    )
    app.activate(pid, 1)
    app.renew(pid, 2)
    app.activate(pid, 2)
    second = app.get_policy(pid).periods[1]
    app.record_debit_success(pid, 2, attempt=1, amount=second.premium, debit_date=second.debit_date)
    app.lapse(pid, 1)
    pol = app.get_policy(pid)
    assert pol.periods[1].is_collected and pol.periods[1].lapsed_at is not None

    with psycopg.connect(database.dsn, autocommit=True) as conn:
        prepare(conn, database.schema, all_views())
        Projector(EventSource.from_app(app), all_views(), conn, database.schema).catch_up()
    expected = expected_views(app, database)
    assert expected["rm_collections_debits"][(pid, 2)]["state"] == "lapsed"
    assert_views_match(app, database)
