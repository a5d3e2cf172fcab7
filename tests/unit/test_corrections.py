"""Corrections and reserves (issue 11, sections 2 and 3) through the application in memory:
payment reversal, loss corrections and withdrawals with the recovery due, reopening,
reinstatement, case reserves and incurred; and the property that, for any sequence of
payments, reversals and corrections, paid per section never exceeds its limit and equals the
sum of the unreversed payments."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policy_core.aggregates.claim import Claim
from policy_core.aggregates.policy import Policy
from policy_core.application import PolicyAdministration
from policy_core.errors import Conflict, DomainError, InvalidInput, NotFound
from policy_core.settlement import SECTIONS
from tests.unit.test_model import count, events_of, in_force_policy, make_app, report, tokyo


@pytest.fixture
def app() -> PolicyAdministration:
    return make_app()


DAMAGES = {"category": "damages", "risk": "basic", "amount": 1_000_000}


def paid_claim(app: PolicyAdministration, pid, items=(DAMAGES,)):
    cid = report(app, pid)
    app.assess_losses(cid, list(items))
    app.pay_claim(cid)
    return cid


# --------------------------------------------------------------------------- payment reversal


def test_reversal_restores_the_claims_and_the_periods_used_limits(app: PolicyAdministration) -> None:
    pid = in_force_policy(app)
    cid = paid_claim(app, pid)
    assert app.get_policy(pid).current_period.paid["liability_basic"] == 900_000
    app.reverse_payment(cid, 1, reason="paid to the wrong account")
    claim, policy = app.get_claim(cid), app.get_policy(pid)
    assert claim.paid["liability_basic"] == 0 and claim.payments[0]["reversed"] is True
    assert claim.status == "assessed"
    assert policy.current_period.paid["liability_basic"] == 0
    assert policy.current_period.claim_paid[cid.hex]["liability_basic"] == 0
    # The original payment event stays; the reversal is a new one on both aggregates.
    assert [type(e).__name__ for e in app.history(cid)][-2:] == ["ClaimPaid", "PaymentReversed"]
    assert events_of(app, pid, Policy.ClaimPaymentReversed)[0].total == 900_000
    # Paying again pays what is then payable.
    assert app.pay_claim(cid)["total"] == 900_000


def test_a_reversed_payment_cannot_be_reversed_again(app: PolicyAdministration) -> None:
    pid = in_force_policy(app)
    cid = paid_claim(app, pid)
    app.reverse_payment(cid, 1, reason="wrong amount")
    before = count(app)
    with pytest.raises(Conflict) as err:
        app.reverse_payment(cid, 1, reason="again")
    assert err.value.code == "payment_already_reversed" and count(app) == before
    with pytest.raises(NotFound) as err:
        app.reverse_payment(cid, 2, reason="no such payment")
    assert err.value.code == "payment_not_found" and count(app) == before
    with pytest.raises(InvalidInput):
        app.reverse_payment(cid, 1, reason="  ")


def test_reversal_then_back_dated_cancellation_is_allowed(app: PolicyAdministration) -> None:
    pid = in_force_policy(app)
    cid = paid_claim(app, pid)  # discovered 10 Jun 2028
    with pytest.raises(Conflict):
        app.cancel(pid, effective_date=date(2028, 6, 1), reason="holder asked")
    app.reverse_payment(cid, 1, reason="cancellation agreed back-dated")
    app.cancel(pid, effective_date=date(2028, 6, 1), reason="holder asked")
    assert app.get_policy(pid).status == "cancelled"


# --------------------------------------------------------------------------- loss corrections


def test_loss_items_have_stable_numbers_and_corrections_record_before_and_after(
    app: PolicyAdministration,
) -> None:
    pid = in_force_policy(app)
    cid = report(app, pid)
    app.assess_losses(cid, [DAMAGES, {"category": "advertising", "risk": "basic", "amount": 300_000}])
    app.correct_loss(cid, 2, amount=400_000, reason="invoice corrected")
    claim = app.get_claim(cid)
    assert [(i["number"], i["amount"]) for i in claim.losses] == [(1, 1_000_000), (2, 400_000)]
    corrected = events_of(app, cid, Claim.LossCorrected)[0]
    assert (corrected.item, corrected.before["amount"], corrected.after["amount"]) == (2, 300_000, 400_000)
    app.withdraw_loss(cid, 1, reason="entered twice")
    claim = app.get_claim(cid)
    assert claim.losses[0]["withdrawn"] is True and [i["number"] for i in claim.live_losses()] == [2]
    with pytest.raises(Conflict) as err:
        app.withdraw_loss(cid, 1, reason="again")
    assert err.value.code == "loss_item_withdrawn"
    with pytest.raises(NotFound):
        app.correct_loss(cid, 9, amount=1, reason="no such item")


def test_a_correction_below_what_was_paid_records_a_recovery_due_not_a_negative_payment(
    app: PolicyAdministration,
) -> None:
    pid = in_force_policy(app)
    cid = paid_claim(app, pid)  # 1,000,000 damages -> paid 900,000
    app.correct_loss(cid, 1, amount=600_000, reason="court reduced the damages")
    claim = app.get_claim(cid)
    assert claim.recoveries_due == {**dict.fromkeys(SECTIONS, 0), "liability_basic": 400_000}
    assert claim.paid["liability_basic"] == 900_000  # the payment stands; the insured owes it back
    due = events_of(app, cid, Claim.RecoveryBecameDue)[0]
    assert due.total == 400_000 and "court reduced" in due.reason
    # A further correction downwards makes only the difference newly due.
    app.withdraw_loss(cid, 1, reason="claim withdrawn by the claimant")
    assert app.get_claim(cid).recoveries_due_total == 900_000
    assert sum(e.total for e in events_of(app, cid, Claim.RecoveryBecameDue)) == 900_000


# --------------------------------------------------------------------------- reopening


def test_a_closed_or_denied_claim_reopens_with_a_reason(app: PolicyAdministration) -> None:
    pid = in_force_policy(app)
    cid = paid_claim(app, pid)
    app.close_claim(cid, reason="settled")
    app.reopen_claim(cid, reason="a further invoice arrived")
    claim = app.get_claim(cid)
    assert claim.status == "paid" and claim.closed_reason is None and claim.reopened == 1
    other = report(app, pid, tokyo(2028, 7, 1))
    app.deny_claim(other, reason="excluded_own_staff_information", message="staff data")
    app.reopen_claim(other, reason="the list was of customers after all")
    assert app.get_claim(other).status == "reported"
    with pytest.raises(Conflict) as err:
        app.reopen_claim(other, reason="not closed")
    assert err.value.code == "claim_open"
    assert events_of(app, other, Claim.ClaimReopened)[0].previous_status == "denied"


# --------------------------------------------------------------------------- reinstatement


def test_reinstatement_undoes_a_cancellation_within_the_window(app: PolicyAdministration) -> None:
    pid = in_force_policy(app)
    app.cancel(pid, effective_date=date(2028, 9, 1), reason="holder asked")
    returned = events_of(app, pid, Policy.Cancelled)[0].return_premium
    assert returned > 0
    app.reinstate(pid, reason="cancelled the wrong policy")
    policy = app.get_policy(pid)
    assert policy.status == "active" and policy.cancelled_at is None
    assert policy.in_force_at(tokyo(2028, 10, 1))
    reinstated = events_of(app, pid, Policy.Reinstated)[0]
    assert reinstated.return_premium_withdrawn == returned
    assert reinstated.cancelled_effective_at == tokyo(2028, 9, 1, 16)
    with pytest.raises(Conflict) as err:
        app.reinstate(pid, reason="again")
    assert err.value.code == "not_cancelled"


def test_reinstatement_after_the_window_is_refused(app: PolicyAdministration) -> None:
    pid = in_force_policy(app)
    app.cancel(pid, effective_date=date(2028, 9, 1), reason="holder asked")
    app.reinstatement_window_days = 0  # the window runs in recorded time: 0 days has passed already
    before = count(app)
    with pytest.raises(Conflict) as err:
        app.reinstate(pid, reason="too late")
    assert err.value.code == "reinstatement_window_passed" and count(app) == before


# --------------------------------------------------------------------------- reserves


def test_reserve_is_set_drawn_down_by_payments_and_released_on_closing(app: PolicyAdministration) -> None:
    pid = in_force_policy(app)
    cid = report(app, pid)
    app.set_reserve(cid, sections={"liability_basic": 2_000_000, "expense_basic": 300_000}, reason="estimate")
    claim = app.get_claim(cid)
    assert claim.reserve["liability_basic"] == 2_000_000 and claim.reserve_total == 2_300_000
    assert claim.incurred()["liability_basic"] == 2_000_000
    assert not app.set_reserve(cid, sections={"liability_basic": 2_000_000}, reason="same")  # nothing new
    app.assess_losses(cid, [DAMAGES])
    app.pay_claim(cid)  # pays 900,000 liability_basic
    claim = app.get_claim(cid)
    assert claim.reserve["liability_basic"] == 1_100_000
    assert claim.incurred()["liability_basic"] == 2_000_000
    causes = [e.cause for e in events_of(app, cid, Claim.ReserveChanged)]
    assert causes == ["set", "payment"]
    app.close_claim(cid, reason="settled")
    assert app.get_claim(cid).reserve_total == 0
    assert events_of(app, cid, Claim.ReserveChanged)[-1].cause == "closure"
    with pytest.raises(Conflict):
        app.set_reserve(cid, sections={"liability_basic": 1}, reason="closed")


def test_a_payment_never_draws_the_reserve_below_zero_and_denial_releases_it(
    app: PolicyAdministration,
) -> None:
    pid = in_force_policy(app)
    cid = report(app, pid)
    app.set_reserve(cid, sections={"liability_basic": 100_000}, reason="estimate")
    app.assess_losses(cid, [DAMAGES])
    app.pay_claim(cid)
    assert app.get_claim(cid).reserve["liability_basic"] == 0
    other = report(app, pid, tokyo(2028, 7, 1))
    app.set_reserve(other, sections={"expense_basic": 50_000}, reason="estimate")
    app.deny_claim(other, reason="excluded_outside_japan", message="data held abroad")
    assert app.get_claim(other).reserve_total == 0


def test_bad_reserves_are_refused_and_record_nothing(app: PolicyAdministration) -> None:
    pid = in_force_policy(app)
    cid = report(app, pid)
    before = count(app)
    for sections in (
        {},
        {"bogus": 1},
        {"liability_basic": -1},
        {"liability_basic": True},
        {"expense_basic": 1.5},
    ):
        with pytest.raises(InvalidInput):
            app.set_reserve(cid, sections=sections, reason="x")
    assert count(app) == before


# --------------------------------------------------------------------------- the property


OPS = st.lists(
    st.tuples(
        st.sampled_from(["pay", "reverse", "correct", "withdraw", "assess", "reopen_close"]),
        st.integers(0, 5),
        st.integers(0, 60_000_000),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_paid_never_exceeds_a_limit_and_equals_the_unreversed_payments(ops) -> None:
    app = make_app()
    pid = in_force_policy(app)  # plan B: liability 50,000,000, expense 5,000,000
    claims = [report(app, pid), report(app, pid, tokyo(2028, 8, 1))]
    for i, (op, a, amount) in enumerate(ops):
        cid = claims[a % 2]
        try:
            if op == "assess":
                category = ("damages", "advertising", "defence_costs")[a % 3]
                app.assess_losses(cid, [{"category": category, "risk": "basic", "amount": amount}])
            elif op == "pay":
                app.pay_claim(cid)
            elif op == "reverse":
                app.reverse_payment(cid, 1 + a % 3, reason=f"reversal {i}")
            elif op == "correct":
                app.correct_loss(cid, 1 + a % 3, amount=amount, reason=f"correction {i}")
            elif op == "withdraw":
                app.withdraw_loss(cid, 1 + a % 3, reason=f"withdrawal {i}")
            elif op == "reopen_close":
                if app.get_claim(cid).status == "closed":
                    app.reopen_claim(cid, reason=f"reopened {i}")
                else:
                    app.close_claim(cid, reason=f"closed {i}")
        except DomainError:
            pass
        period = app.get_policy(pid).current_period
        for section in SECTIONS:
            assert 0 <= period.paid[section] <= period.limits[section]
        total = dict.fromkeys(SECTIONS, 0)
        for c in claims:
            claim = app.get_claim(c)
            unreversed = dict.fromkeys(SECTIONS, 0)
            for p in claim.payments:
                if not p["reversed"]:
                    for section, r in p["settlement"]["sections"].items():
                        unreversed[section] += r["paid"]
            assert claim.paid == unreversed
            for section in SECTIONS:
                assert period.claim_paid.get(c.hex, {}).get(section, 0) == unreversed[section]
                assert unreversed[section] <= period.limits[section]
                total[section] += unreversed[section]
        assert period.paid == total
