"""Endorsements of cover terms (issue 11, section 1): re-rating with the period's tariff version,
pro rata premium deltas, extra premium collection and return, out-of-sequence re-application,
limits for incidents discovered from the effective time and the carried-over aggregate."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

import pytest

from policy_core.aggregates.policy import Policy, prorate_delta
from policy_core.application import PolicyAdministration
from policy_core.errors import Conflict, InvalidInput
from tests.unit.test_model import (
    PREMIUM_11_MONTHS,
    collect,
    count,
    events_of,
    in_force_policy,
    make_app,
    report,
    tokyo,
)

# The test policy: Chuo-kai, printing, 200,000,000 sales, plan B (annual 100,000), cover
# 25 Apr 2028 16:00 -> 25 Mar 2029 16:00 (11 months), premium 91,660 collected.
# Plan C rates 150,000 (the plan minimum), plan A 80,000, the rider adds 10%.
ANNUAL_C = 150_000
ANNUAL_A = 80_000


@pytest.fixture
def app() -> PolicyAdministration:
    return make_app()


def endorse(app: PolicyAdministration, pid: UUID, day: date, **changes: Any) -> dict[str, Any]:
    return app.endorse(pid, effective_date=day, changes=changes, reason="member's request")


def test_prorate_delta_by_whole_months_rounded_down_in_amount() -> None:
    assert prorate_delta(50_000, 9, 10) == 37_500
    assert prorate_delta(10_000, 7, 10) == 5_830  # 5,833.3 -> 5,830
    assert prorate_delta(-10_000, 7, 10) == -5_830  # a return is never more than its months
    assert prorate_delta(12_345, 0, 10) == 0
    assert prorate_delta(-1, 12, 10) == 0


def test_plan_upgrade_charges_an_extra_premium_pro_rata_debited_with_its_own_retries(
    app: PolicyAdministration,
) -> None:
    pid = in_force_policy(app)
    done = endorse(app, pid, date(2028, 6, 1), plan="C")
    # 25 Mar 2029 is 9 whole months after 1 Jun 2028 16:00: (150,000 - 100,000) x 9 / 12.
    assert done["premium_delta"] == 37_500 and done["months_left"] == 9
    e = events_of(app, pid, Policy.Endorsed)[0]
    assert e.changed == ["plan"] and e.cover == {"plan": "C"}
    assert e.terms["annual_premium"] == ANNUAL_C and e.terms["tariff_version"] == "chuokai-2024-04"
    assert e.terms["limits"]["liability_basic"] == 100_000_000 and e.refund == 0
    # The extra premium is debited on the next debit date (the 23rd) after it was recorded
    # (the test clock reads 1 Jan 2030), in a stream of its own.
    assert e.charge == {
        "since": 1,
        "nominal_debit_date": date(2030, 1, 23),
        "debit_date": date(2030, 1, 23),
        "next_debit_date": date(2030, 1, 23),
    }
    policy = app.get_policy(pid)
    p = policy.current_period
    assert policy.plan == "C" and p.limits["liability_basic"] == 100_000_000
    assert p.premium == PREMIUM_11_MONTHS + 37_500 and p.outstanding == 37_500
    assert p.next_debit_date == date(2030, 1, 23) and not p.is_collected
    # Three failures of the extra premium leave it in arrears; the policy does not lapse.
    for attempt, day in ((2, date(2030, 1, 23)), (3, date(2030, 2, 25)), (4, date(2030, 3, 25))):
        assert app.record_debit_failure(
            pid, 1, attempt=attempt, debit_date=day, result_code="1", reason="insufficient funds"
        )
    p = app.get_policy(pid).current_period
    assert [d.next_debit_date for d in p.debits[1:]] == [date(2030, 2, 25), date(2030, 3, 25), None]
    assert app.get_policy(pid).status == "active" and p.outstanding == 37_500


def test_extra_premium_is_collected_by_the_next_debit(app: PolicyAdministration) -> None:
    pid = in_force_policy(app)
    endorse(app, pid, date(2028, 6, 1), network_rider=True)
    p = app.get_policy(pid).current_period
    assert p.outstanding == 7_500  # 10,000 x 9 / 12
    with pytest.raises(InvalidInput):  # the amount due is the extra premium, not the period's
        app.record_debit_success(pid, 1, attempt=2, amount=PREMIUM_11_MONTHS, debit_date=date(2030, 1, 23))
    collect(app, pid)
    p = app.get_policy(pid).current_period
    assert p.is_collected and p.collected == PREMIUM_11_MONTHS + 7_500 and p.next_debit_date is None


def test_before_collection_the_delta_joins_the_premium_due(app: PolicyAdministration) -> None:
    from tests.unit.test_model import apply_policy

    pid = apply_policy(app)
    app.activate(pid, 1)
    e = endorse(app, pid, date(2028, 6, 1), plan="C")
    p = app.get_policy(pid).current_period
    assert e["premium_delta"] == 37_500 and events_of(app, pid, Policy.Endorsed)[0].charge is None
    assert p.outstanding == PREMIUM_11_MONTHS + 37_500 and p.next_debit_date == p.debit_date


def test_plan_downgrade_returns_premium_and_cancellation_returns_the_rest(app: PolicyAdministration) -> None:
    pid = in_force_policy(app)
    done = endorse(app, pid, date(2028, 6, 1), plan="A")
    assert done["premium_delta"] == -15_000  # (80,000 - 100,000) x 9 / 12
    e = events_of(app, pid, Policy.Endorsed)[0]
    assert e.refund == 15_000 and e.charge is None
    p = app.get_policy(pid).current_period
    assert p.refunded == 15_000 and p.is_collected and p.outstanding == 0
    assert p.limits["liability_basic"] == 10_000_000
    # Cancelled 1 Sep 2028 (6 whole months left): the period's premium and the return pro rata.
    app.cancel(pid, effective_date=date(2028, 9, 1), reason="closing")
    c = events_of(app, pid, Policy.Cancelled)[0]
    assert c.return_premium == PREMIUM_11_MONTHS * 6 // 11 - 15_000 * 6 // 9


def test_annual_sales_correction_is_re_rated(app: PolicyAdministration) -> None:
    pid = in_force_policy(app)
    done = endorse(app, pid, date(2028, 6, 1), annual_sales=400_000_000)
    # printing 400/M x 400 = 160,000 x 1.25 = 200,000: delta 100,000 x 9 / 12.
    assert done["premium_delta"] == 75_000
    assert app.get_policy(pid).annual_sales == 400_000_000


def test_out_of_sequence_endorsement_reverses_and_reapplies_the_later_ones(app: PolicyAdministration) -> None:
    pid = in_force_policy(app)
    endorse(app, pid, date(2028, 8, 1), network_rider=True)  # 7 months: 10,000 x 7/12 = 5,830
    assert events_of(app, pid, Policy.Endorsed)[0].premium_delta == 5_830
    endorse(app, pid, date(2028, 6, 1), plan="C")  # recorded later, effective earlier
    reversed_, reapplied = (
        events_of(app, pid, Policy.EndorsementReversed),
        events_of(app, pid, Policy.EndorsementReapplied),
    )
    assert [(r.number, r.by_number, r.premium_delta) for r in reversed_] == [(1, 2, 5_830)]
    # Re-applied on top of plan C: the rider now adds 15,000 a year, for its 7 months.
    assert [(r.number, r.by_number, r.premium_delta) for r in reapplied] == [(1, 2, 8_750)]
    assert reapplied[0].terms["plan"] == "C" and reapplied[0].terms["network_rider"] is True
    kinds = [type(e).__name__ for e in app.history(pid)[-3:]]
    assert kinds == ["EndorsementReversed", "Endorsed", "EndorsementReapplied"]
    p = app.get_policy(pid).current_period
    assert p.premium == PREMIUM_11_MONTHS + 37_500 + 8_750
    # The extra premium stream the first endorsement opened collects the recomputed deltas.
    assert events_of(app, pid, Policy.Endorsed)[0].charge is not None
    # The last event of the batch states that stream again (its dates unchanged) for the views.
    assert reapplied[0].charge["since"] == 1 and p.outstanding == 37_500 + 8_750
    assert p.next_debit_date == date(2030, 1, 23)
    # Terms by discovery time: plan B before 1 Jun, plan C from it, C with the rider from 1 Aug.
    assert p.terms_at(tokyo(2028, 5, 1))["plan"] == "B"
    assert (p.terms_at(tokyo(2028, 7, 1))["plan"], p.terms_at(tokyo(2028, 7, 1))["network_rider"]) == (
        "C",
        False,
    )
    assert (p.terms_at(tokyo(2028, 9, 1))["plan"], p.terms_at(tokyo(2028, 9, 1))["network_rider"]) == (
        "C",
        True,
    )
    # The same end state as recording them in effective order.
    other = make_app()
    qid = in_force_policy(other)
    endorse(other, qid, date(2028, 6, 1), plan="C")
    endorse(other, qid, date(2028, 8, 1), network_rider=True)
    q = other.get_policy(qid).current_period
    assert (q.premium, q.limits, q.network_rider) == (p.premium, p.limits, p.network_rider)
    assert [x["terms"] for x in q.cover_stack] == [x["terms"] for x in p.cover_stack]


def test_new_limits_apply_from_the_effective_time_and_the_aggregate_carries_over(
    app: PolicyAdministration,
) -> None:
    pid = in_force_policy(app)
    first = report(app, pid, tokyo(2028, 6, 10))
    app.assess_losses(first, [{"category": "damages", "risk": "basic", "amount": 8_100_000}])
    assert app.pay_claim(first)["total"] == 8_000_000
    endorse(app, pid, date(2028, 7, 1), plan="A")  # liability 10,000,000 from 1 Jul
    second = report(app, pid, tokyo(2028, 8, 10))
    app.assess_losses(second, [{"category": "damages", "risk": "basic", "amount": 5_100_000}])
    paid = app.pay_claim(second)
    # remaining = new limit 10,000,000 - 8,000,000 paid so far in the period.
    assert paid["total"] == 2_000_000
    lb = paid["settlement"]["sections"]["liability_basic"]
    assert lb["limited_by"] == "period_aggregate"
    p = app.get_policy(pid).current_period
    assert p.remaining()["liability_basic"] == 0
    # The first claim was discovered under plan B: its accident limit stays 50,000,000, but
    # the period has paid 10,000,000 and plan A allows no more (remaining never below 0).
    app.assess_losses(first, [{"category": "damages", "risk": "basic", "amount": 1_000_000}])
    assert p.limits_at(tokyo(2028, 6, 10))["liability_basic"] == 50_000_000


def test_remaining_is_never_below_zero_after_a_lower_limit(app: PolicyAdministration) -> None:
    pid = in_force_policy(app)
    cid = report(app, pid, tokyo(2028, 6, 10))
    app.assess_losses(cid, [{"category": "damages", "risk": "basic", "amount": 20_100_000}])
    assert app.pay_claim(cid)["total"] == 20_000_000
    endorse(app, pid, date(2028, 7, 1), plan="A")
    assert app.get_policy(pid).current_period.remaining()["liability_basic"] == 0


def test_rider_covers_network_causes_discovered_from_its_effective_time(app: PolicyAdministration) -> None:
    pid = in_force_policy(app)
    endorse(app, pid, date(2028, 7, 1), network_rider=True)
    before = report(app, pid, tokyo(2028, 6, 20), cause="website")
    after = report(app, pid, tokyo(2028, 7, 10), cause="website")
    assert app.get_claim(before).status == "denied"
    assert app.get_claim(after).status != "denied"


def test_cover_change_before_a_paid_claim_is_refused_naming_it(app: PolicyAdministration) -> None:
    pid = in_force_policy(app)
    cid = report(app, pid, tokyo(2028, 6, 10))
    app.assess_losses(cid, [{"category": "damages", "risk": "basic", "amount": 1_000_000}])
    app.pay_claim(cid)
    before = count(app)
    with pytest.raises(Conflict) as err:
        endorse(app, pid, date(2028, 6, 1), plan="C")
    assert err.value.code == "paid_claims_after_effective_date"
    assert err.value.details["claims"] == [cid.hex]
    assert count(app) == before  # changed nothing
    # Holder changes may be back-dated freely; a cover change after the discovery is fine.
    endorse(app, pid, date(2028, 5, 1), holder={"address": "大阪市"})
    endorse(app, pid, date(2028, 6, 11), plan="C")


def test_refused_reapplication_changes_nothing(app: PolicyAdministration) -> None:
    pid = in_force_policy(app)
    endorse(app, pid, date(2028, 6, 1), plan="E", liability_limit=500_000_000)
    endorse(app, pid, date(2028, 8, 1), liability_limit=600_000_000)
    before = count(app)
    # Plan D effective before the limit change: re-applying "liability_limit" on plan D fails.
    with pytest.raises(InvalidInput) as err:
        endorse(app, pid, date(2028, 7, 1), plan="D")
    assert err.value.code == "invalid_liability_limit"
    assert count(app) == before


def test_endorsement_replays_to_the_same_state_without_re_rating(app: PolicyAdministration) -> None:
    pid = in_force_policy(app)
    endorse(app, pid, date(2028, 8, 1), network_rider=True)
    endorse(app, pid, date(2028, 6, 1), plan="C")
    live = app.get_policy(pid)
    as_of = app.get_policy(pid, as_of=app.history(pid)[-1].timestamp)
    assert as_of.current_period.cover_stack == live.current_period.cover_stack
    earlier = app.get_policy(pid, as_of=events_of(app, pid, Policy.Endorsed)[0].timestamp)
    assert earlier.current_period.premium == PREMIUM_11_MONTHS + 5_830 and earlier.plan == "B"
