"""The four cover rules found wrong (issue 11, section 4), each reproduced from the issue's
scenario, and the policy and claim numbers (section 5), through the application in memory."""

from __future__ import annotations

from datetime import date

import pytest

from policy_core.aggregates.policy import Policy
from policy_core.application import PolicyAdministration
from policy_core.errors import Conflict, InvalidInput
from tests.unit.test_model import (
    apply_policy,
    count,
    events_of,
    in_force_policy,
    make_app,
    report,
    tokyo,
)


@pytest.fixture
def app() -> PolicyAdministration:
    return make_app()


def fail(app: PolicyAdministration, pid, period: int = 1) -> None:
    p = app.get_policy(pid).period(period)
    assert app.record_debit_failure(
        pid,
        period,
        attempt=len(p.debits) + 1,
        debit_date=p.next_debit_date,
        result_code="1",
        reason="insufficient funds",
    )


# --------------------------------------------------------------------------- lapse across an anniversary


def test_a_lapse_across_the_anniversary_ends_cover_for_the_renewed_period_too(
    app: PolicyAdministration,
) -> None:
    # Chuo-kai mid-term joiner applied 15 Dec 2025: cover 25 Feb -> 25 Mar 2026, debits failing.
    pid = apply_policy(app, application_date=date(2025, 12, 15), enrollment="mid_term")
    policy = app.get_policy(pid)
    assert (policy.current_period.start, policy.current_period.end) == (
        tokyo(2026, 2, 25, 16),
        tokyo(2026, 3, 25, 16),
    )
    assert app.activate(pid, 1)
    fail(app, pid)  # first failure before the anniversary
    assert app.renew(pid, 2) and app.activate(pid, 2)
    claim_in_2 = report(app, pid, tokyo(2026, 4, 5))
    app.assess_losses(claim_in_2, [{"category": "damages", "risk": "basic", "amount": 500_000}])
    assert app.get_claim(claim_in_2).status == "assessed"
    fail(app, pid)
    fail(app, pid)  # the third failure lapses period 1 from its start

    policy = app.get_policy(pid)
    assert policy.status == "lapsed" and policy.lapsed_at == tokyo(2026, 2, 25, 16)
    lapsed = events_of(app, pid, Policy.Lapsed)[-1]
    assert lapsed.period_number == 1 and lapsed.later_periods == [{"number": 2, "refund_due": 0}]
    # Period 2 gives no cover either: its open claim is denied, its debits stop.
    assert policy.period(2).lapsed_at == policy.period(2).start
    assert policy.period(2).next_debit_date is None
    assert not policy.in_force_at(tokyo(2026, 4, 5))
    claim = app.get_claim(claim_in_2)
    assert (claim.status, claim.denial_reason) == ("denied", "policy_not_in_force")
    # A claim discovered in period 2 after the lapse is denied at intake.
    late = app.get_claim(report(app, pid, tokyo(2026, 6, 1)))
    assert (late.status, late.denial_reason) == ("denied", "policy_not_in_force")


def test_a_late_successful_debit_for_a_lapsed_period_is_money_to_refund_not_cover(
    app: PolicyAdministration,
) -> None:
    pid = apply_policy(app, application_date=date(2025, 12, 15), enrollment="mid_term")
    app.activate(pid, 1)
    for _ in range(3):
        fail(app, pid)
    premium = app.get_policy(pid).period(1).premium
    assert app.record_debit_success(pid, 1, attempt=4, amount=premium, debit_date=date(2026, 6, 23))
    policy = app.get_policy(pid)
    assert policy.status == "lapsed"
    assert policy.period(1).collected == 0 and policy.period(1).refund_due == premium
    assert not policy.in_force_at(tokyo(2026, 3, 1))
    assert [type(e).__name__ for e in app.history(pid)][-1] == "PremiumReceivedAfterLapse"


def test_a_lapse_refunds_what_a_later_period_had_collected(app: PolicyAdministration) -> None:
    pid = apply_policy(app, application_date=date(2025, 12, 15), enrollment="mid_term")
    app.activate(pid, 1)
    fail(app, pid)
    app.renew(pid, 2)
    p2 = app.get_policy(pid).period(2)
    app.record_debit_success(pid, 2, attempt=1, amount=p2.premium, debit_date=p2.debit_date)
    fail(app, pid)
    fail(app, pid)
    policy = app.get_policy(pid)
    assert policy.period(2).refund_due == p2.premium
    assert events_of(app, pid, Policy.Lapsed)[-1].later_periods == [{"number": 2, "refund_due": p2.premium}]


# --------------------------------------------------------------------------- back-dated cancellation


def paid_claim(app: PolicyAdministration, pid, discovered) -> object:
    cid = report(app, pid, discovered)
    app.assess_losses(cid, [{"category": "damages", "risk": "basic", "amount": 1_000_000}])
    assert app.pay_claim(cid)["total"] == 900_000
    return cid


def test_a_cancellation_back_dated_before_a_paid_claims_discovery_is_refused(
    app: PolicyAdministration,
) -> None:
    pid = in_force_policy(app)  # cover 25 Apr 2028 -> 25 Mar 2029
    cid = paid_claim(app, pid, tokyo(2028, 10, 1))
    before = count(app)
    with pytest.raises(Conflict) as err:
        app.cancel(pid, effective_date=date(2028, 9, 10), reason="holder asked")
    assert err.value.code == "paid_claims_after_effective_date"
    assert err.value.details["claims"] == [cid.hex]
    assert cid.hex in err.value.message
    assert count(app) == before and app.get_policy(pid).status == "active"
    # After the discovery the cancellation is fine.
    app.cancel(pid, effective_date=date(2028, 10, 2), reason="holder asked")
    assert app.get_policy(pid).status == "cancelled"


# --------------------------------------------------------------------------- before cover start


def test_a_cancellation_dated_before_cover_start_is_refused_unless_void(app: PolicyAdministration) -> None:
    pid = in_force_policy(app)
    before = count(app)
    with pytest.raises(InvalidInput) as err:
        app.cancel(pid, effective_date=date(2028, 4, 1), reason="wrong policy")
    assert err.value.code == "effective_before_cover_start"
    assert count(app) == before
    app.cancel(pid, effective_date=date(2028, 4, 1), reason="wrong policy", void=True)
    cancelled = events_of(app, pid, Policy.Cancelled)[-1]
    assert cancelled.void is True
    assert cancelled.effective_at == tokyo(2028, 4, 25, 16)
    assert cancelled.return_premium == app.get_policy(pid).period(1).collected


def test_void_is_refused_for_a_period_with_a_claim(app: PolicyAdministration) -> None:
    pid = in_force_policy(app)
    paid_claim(app, pid, tokyo(2028, 10, 1))
    before = count(app)
    with pytest.raises(Conflict) as err:
        app.cancel(pid, effective_date=date(2028, 4, 1), reason="wrong policy", void=True)
    assert err.value.code == "void_not_allowed"
    assert count(app) == before


# --------------------------------------------------------------------------- overlapping policies


def test_one_member_cannot_hold_overlapping_policies_in_one_scheme(app: PolicyAdministration) -> None:
    first = in_force_policy(app)  # M-0001, cover from 25 Apr 2028, renewing
    before = count(app)
    with pytest.raises(Conflict) as err:
        apply_policy(app, application_date=date(2028, 6, 10))  # cover from 25 Aug 2028
    assert err.value.code == "member_already_insured"
    assert err.value.details["policy_ids"] == [str(first)]
    assert count(app) == before
    # Another member, or the same member number in the other scheme, is another insured.
    apply_policy(app, member_number="M-0002", application_date=date(2028, 6, 10))
    apply_policy(
        app, scheme="jcci", member_number="M-0001", application_date=date(2028, 6, 10), industry="printing"
    )


def test_a_member_may_apply_again_for_cover_after_the_old_policy_ends(app: PolicyAdministration) -> None:
    first = in_force_policy(app)  # cover 25 Apr 2028 -> 25 Mar 2029
    app.give_non_renewal_notice(first, received_on=date(2028, 12, 1))
    # Regular enrollment for the next year: cover from 25 Mar 2029, exactly when the old one ends.
    second = apply_policy(app, application_date=date(2028, 12, 20), enrollment="regular")
    assert app.get_policy(second).current_period.start == tokyo(2029, 3, 25, 16)
    # A repeat of an existing application is still "already applied".
    with pytest.raises(Conflict) as err:
        apply_policy(app, application_date=date(2028, 12, 20), enrollment="regular")
    assert err.value.code == "already_applied"


def test_a_cancelled_policy_does_not_block_new_cover_after_its_cancellation(
    app: PolicyAdministration,
) -> None:
    first = in_force_policy(app)
    app.cancel(first, effective_date=date(2028, 6, 1), reason="sold the business")
    second = apply_policy(app, application_date=date(2028, 6, 10))  # cover from 25 Aug 2028
    assert app.get_policy(second).status == "applied"


# --------------------------------------------------------------------------- numbers


def test_policies_and_claims_get_stable_numbers_per_scheme_and_year(app: PolicyAdministration) -> None:
    a = in_force_policy(app)
    b = apply_policy(app, member_number="M-0002")
    c = apply_policy(app, scheme="jcci", member_number="J-1", industry="printing")
    assert app.get_policy(a).number == "CHUOKAI-2028-000001"
    assert app.get_policy(b).number == "CHUOKAI-2028-000002"
    assert app.get_policy(c).number.startswith("JCCI-2028-") and app.get_policy(c).number.endswith("000001")
    claim = app.get_claim(report(app, a))
    assert claim.number == "CHUOKAI-2028-C000001"
    assert app.get_claim(report(app, a, tokyo(2028, 7, 1))).number == "CHUOKAI-2028-C000002"
    # The number is a recorded fact: it does not change with later events.
    app.cancel(a, effective_date=date(2028, 9, 1), reason="closing")
    assert app.get_policy(a).number == "CHUOKAI-2028-000001"
    assert app.history(a)[0].number == "CHUOKAI-2028-000001"


def test_a_refused_application_takes_no_number(app: PolicyAdministration) -> None:
    in_force_policy(app)
    with pytest.raises(Conflict):
        apply_policy(app, application_date=date(2028, 6, 10))
    assert app.get_policy(apply_policy(app, member_number="M-0009")).number == "CHUOKAI-2028-000002"
