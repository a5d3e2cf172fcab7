"""Settlement rules (domain.md section 4): worked examples, edge cases and invariants."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policy_core.errors import InvalidInput
from policy_core.settlement import (
    CAUSES,
    DISCOVERED_OUTSIDE_COVER,
    EXCLUDED_OUTSIDE_JAPAN,
    EXCLUDED_OWN_STAFF_INFORMATION,
    EXPENSE_CATEGORIES,
    LIABILITY_CATEGORIES,
    NETWORK_CAUSE_WITHOUT_RIDER,
    NETWORK_CAUSES,
    POLICY_NOT_IN_FORCE,
    RISKS,
    SECTIONS,
    Denial,
    LossItem,
    Settlement,
    SettlementTerms,
    coverage_denial,
    section_of,
    settle,
    validate_loss_item,
)

PLANS = {
    "A": (10_000_000, 1_000_000),
    "B": (50_000_000, 5_000_000),
    "C": (100_000_000, 10_000_000),
    "D": (300_000_000, 30_000_000),
}
ZERO = {s: 0 for s in SECTIONS}


def terms_for(plan: str, *, network_rider: bool = False) -> SettlementTerms:
    liability, expense = PLANS[plan]
    return SettlementTerms(
        limits={
            "liability_basic": liability,
            "liability_recourse": liability,
            "expense_basic": expense,
            "expense_recourse": expense,
        },
        deductible=100_000,
        expense_basic_coinsurance_percent=90,
        condolence_cap_per_person=500,
        network_rider=network_rider,
    )


def seed003_losses() -> list[LossItem]:
    return [
        validate_loss_item("damages", "basic", 37_000_000),
        validate_loss_item("defence_costs", "basic", 2_000_000),
        validate_loss_item("condolence", "basic", 1_000_000, recipients=2000),
        validate_loss_item("advertising", "basic", 5_000_000),
    ]


def add(a: dict[str, int], b: Settlement) -> dict[str, int]:
    return {s: a[s] + b.sections[s].paid for s in SECTIONS}


# --------------------------------------------------------------------------- worked examples


def test_seed003_worked_example_plan_b():
    result = settle(terms_for("B"), seed003_losses(), ZERO, ZERO)

    lb = result.sections["liability_basic"]
    assert lb.gross_loss == 39_000_000
    assert lb.deductible == 100_000
    assert lb.coinsurance_percent == 100
    assert lb.paid == 38_900_000
    assert lb.limited_by is None

    eb = result.sections["expense_basic"]
    assert eb.gross_loss == 6_000_000
    assert eb.condolence_cap_reduction == 0
    assert eb.eligible == 6_000_000
    assert eb.after_deductible == 5_900_000
    assert eb.coinsurance_percent == 90
    assert eb.coinsurance_reduction == 590_000
    assert eb.after_coinsurance == 5_310_000
    assert eb.payable_for_accident == 5_310_000
    assert eb.paid == 5_000_000
    assert eb.limited_by == "per_accident_limit"

    for section in ("liability_recourse", "expense_recourse"):
        empty = result.sections[section]
        assert (empty.gross_loss, empty.deductible, empty.paid, empty.limited_by) == (0, 0, 0, None)

    assert result.total == 43_900_000


def test_seed003_worked_example_plan_a():
    result = settle(terms_for("A"), seed003_losses(), ZERO, ZERO)
    assert result.sections["liability_basic"].paid == 10_000_000
    assert result.sections["liability_basic"].limited_by == "per_accident_limit"
    assert result.sections["expense_basic"].paid == 1_000_000
    assert result.sections["expense_basic"].limited_by == "per_accident_limit"
    assert result.total == 11_000_000


def test_seed003_worked_example_plan_c():
    result = settle(terms_for("C"), seed003_losses(), ZERO, ZERO)
    assert result.sections["liability_basic"].paid == 38_900_000
    assert result.sections["expense_basic"].paid == 5_310_000
    assert all(s.limited_by is None for s in result.sections.values())
    assert result.total == 44_210_000


# --------------------------------------------------------------------------- single rules


def test_condolence_capped_at_500_yen_per_recipient():
    losses = [validate_loss_item("condolence", "basic", 2_000_000, recipients=2000)]
    eb = settle(terms_for("C"), losses, ZERO, ZERO).sections["expense_basic"]
    assert eb.gross_loss == 2_000_000
    assert eb.condolence_cap_reduction == 1_000_000
    assert eb.eligible == 1_000_000
    assert eb.paid == (1_000_000 - 100_000) * 90 // 100


def test_condolence_cap_not_applied_in_expense_recourse():
    losses = [validate_loss_item("condolence", "recourse", 2_000_000, recipients=2000)]
    er = settle(terms_for("C"), losses, ZERO, ZERO).sections["expense_recourse"]
    assert er.condolence_cap_reduction == 0
    assert er.paid == 1_900_000


def test_deductible_larger_than_loss_pays_zero():
    losses = [
        validate_loss_item("damages", "basic", 60_000),
        validate_loss_item("incident_response", "basic", 99_999),
    ]
    result = settle(terms_for("B"), losses, ZERO, ZERO)
    for section in ("liability_basic", "expense_basic"):
        sec = result.sections[section]
        assert sec.deductible == sec.eligible
        assert sec.after_deductible == 0
        assert sec.paid == 0
        assert sec.limited_by is None
    assert result.total == 0


def test_coinsurance_rounds_down_to_the_yen():
    losses = [validate_loss_item("consulting", "basic", 100_019)]
    eb = settle(terms_for("B"), losses, ZERO, ZERO).sections["expense_basic"]
    assert eb.after_deductible == 19
    assert eb.paid == 17  # 17.1 rounded down


def test_recourse_sections_pay_100_percent():
    losses = [
        validate_loss_item("damages", "recourse", 3_000_000),
        validate_loss_item("incident_response", "recourse", 2_000_000),
        validate_loss_item("legal_consultation", "recourse", 500_000),
    ]
    result = settle(terms_for("B"), losses, ZERO, ZERO)
    lr = result.sections["liability_recourse"]
    er = result.sections["expense_recourse"]
    assert lr.coinsurance_percent == 100 and lr.paid == 2_900_000
    assert er.coinsurance_percent == 100 and er.coinsurance_reduction == 0
    assert er.paid == 2_400_000
    assert result.total == 5_300_000


def test_interim_payments_pay_only_the_increment_and_deductible_once():
    terms = terms_for("C")
    first_losses = [
        validate_loss_item("damages", "basic", 5_000_000),
        validate_loss_item("advertising", "basic", 1_000_000),
    ]
    first = settle(terms, first_losses, ZERO, ZERO)
    assert first.sections["liability_basic"].paid == 4_900_000
    assert first.sections["expense_basic"].paid == 810_000
    paid = add(ZERO, first)

    all_losses = first_losses + [
        validate_loss_item("damages", "basic", 3_000_000),
        validate_loss_item("incident_response", "basic", 2_000_000),
    ]
    second = settle(terms, all_losses, paid, paid)
    lb = second.sections["liability_basic"]
    assert lb.deductible == 100_000  # on the whole accident, once
    assert lb.previously_paid_on_claim == 4_900_000
    assert lb.paid == 3_000_000
    assert second.sections["expense_basic"].paid == 1_800_000

    single = settle(terms, all_losses, ZERO, ZERO)
    assert first.total + second.total == single.total == 10_510_000
    for section in SECTIONS:
        assert first.sections[section].paid + second.sections[section].paid == single.sections[section].paid


def test_interim_payment_after_per_accident_limit_reached_pays_nothing():
    terms = terms_for("A")
    losses = [validate_loss_item("damages", "basic", 12_000_000)]
    first = settle(terms, losses, ZERO, ZERO)
    assert first.sections["liability_basic"].paid == 10_000_000
    paid = add(ZERO, first)
    second = settle(terms, losses + [validate_loss_item("damages", "basic", 1)], paid, paid)
    lb = second.sections["liability_basic"]
    assert lb.accident_limit_remaining == 0
    assert lb.paid == 0
    assert lb.limited_by == "per_accident_limit"


def test_period_aggregate_across_two_claims_plan_a():
    terms = terms_for("A")
    losses = [validate_loss_item("damages", "basic", 8_000_000)]
    first = settle(terms, losses, ZERO, ZERO)
    assert first.sections["liability_basic"].paid == 7_900_000
    assert first.sections["liability_basic"].limited_by is None
    period = add(ZERO, first)

    second = settle(terms, losses, ZERO, period)
    lb = second.sections["liability_basic"]
    assert lb.accident_limit_remaining == 10_000_000
    assert lb.period_limit_remaining == 2_100_000
    assert lb.paid == 2_100_000
    assert lb.limited_by == "period_aggregate"
    period = add(period, second)
    assert period["liability_basic"] == 10_000_000

    third = settle(terms, losses, ZERO, period)
    assert third.sections["liability_basic"].paid == 0
    assert third.sections["liability_basic"].limited_by == "period_aggregate"


def test_period_aggregate_reported_when_both_limits_bind():
    terms = terms_for("A")
    losses = [validate_loss_item("damages", "basic", 20_000_000)]
    period = {**ZERO, "liability_basic": 9_000_000}
    lb = settle(terms, losses, ZERO, period).sections["liability_basic"]
    assert lb.paid == 1_000_000
    assert lb.limited_by == "period_aggregate"


def test_round_trip_and_explanation():
    result = settle(terms_for("B"), seed003_losses(), ZERO, ZERO)
    data = result.to_dict()
    assert json.loads(json.dumps(data)) == data  # JSON-friendly only
    rebuilt = Settlement.from_dict(json.loads(json.dumps(data)))
    assert rebuilt == result
    assert rebuilt.to_dict() == data

    lines = result.sections["expense_basic"].explain()
    text = "\n".join(lines)
    assert "per-accident limit" in text
    assert "5,310,000 yen" in text
    assert "5,000,000 yen" in text
    assert "limited by the per-accident limit" in lines[-1]


def test_explanation_mentions_period_aggregate():
    terms = terms_for("A")
    losses = [validate_loss_item("damages", "basic", 8_000_000)]
    period = {**ZERO, "liability_basic": 7_900_000}
    lines = settle(terms, losses, ZERO, period).sections["liability_basic"].explain()
    assert "limited by the period aggregate limit" in lines[-1]
    assert "2,100,000 yen" in lines[-1]


def test_from_dict_rejects_tampered_total():
    data = settle(terms_for("B"), seed003_losses(), ZERO, ZERO).to_dict()
    data["total"] += 1
    with pytest.raises(InvalidInput) as exc:
        Settlement.from_dict(data)
    assert exc.value.code == "invalid_settlement_record"


def test_settle_rejects_inconsistent_paid_maps():
    with pytest.raises(InvalidInput) as exc:
        settle(terms_for("B"), seed003_losses(), {"liability_basic": 5}, ZERO)
    assert exc.value.code == "inconsistent_paid"
    with pytest.raises(InvalidInput) as exc:
        settle(terms_for("B"), seed003_losses(), {"bogus": 0}, ZERO)
    assert exc.value.code == "unknown_section"


def test_terms_are_validated_and_copied():
    limits = dict(terms_for("A").limits)
    terms = SettlementTerms(limits, 100_000, 90, 500, False)
    limits["liability_basic"] = 1
    assert terms.limits["liability_basic"] == 10_000_000
    with pytest.raises(InvalidInput) as exc:
        SettlementTerms({"liability_basic": 1}, 100_000, 90, 500, False)
    assert exc.value.code == "invalid_terms"
    with pytest.raises(InvalidInput):
        SettlementTerms(dict(terms.limits), 100_000, 101, 500, False)


def test_section_of():
    assert section_of("damages", "basic") == "liability_basic"
    assert section_of("defence_costs", "recourse") == "liability_recourse"
    assert section_of("condolence", "basic") == "expense_basic"
    assert section_of("incident_response", "recourse") == "expense_recourse"
    with pytest.raises(InvalidInput) as exc:
        section_of("fines", "basic")
    assert exc.value.code == "unknown_loss_category"
    with pytest.raises(InvalidInput) as exc:
        section_of("damages", "other")
    assert exc.value.code == "unknown_risk"


# --------------------------------------------------------------------------- denials


BASE = dict(cause="theft", network_rider=False, discovered_in_cover=True, policy_in_force=True)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"policy_in_force": False}, POLICY_NOT_IN_FORCE),
        ({"discovered_in_cover": False}, DISCOVERED_OUTSIDE_COVER),
        ({"own_staff_information": True}, EXCLUDED_OWN_STAFF_INFORMATION),
        ({"outside_japan": True}, EXCLUDED_OUTSIDE_JAPAN),
        ({"cause": "website"}, NETWORK_CAUSE_WITHOUT_RIDER),
        ({"cause": "email"}, NETWORK_CAUSE_WITHOUT_RIDER),
    ],
)
def test_denial_reasons(overrides, reason):
    denial = coverage_denial(**{**BASE, **overrides})
    assert isinstance(denial, Denial)
    assert denial.reason == reason
    assert denial.message


def test_denial_check_order():
    everything_wrong = dict(
        cause="email",
        network_rider=False,
        discovered_in_cover=False,
        policy_in_force=False,
        own_staff_information=True,
        outside_japan=True,
    )
    expected = [
        ("policy_in_force", True, POLICY_NOT_IN_FORCE),
        ("discovered_in_cover", True, DISCOVERED_OUTSIDE_COVER),
        ("own_staff_information", False, EXCLUDED_OWN_STAFF_INFORMATION),
        ("outside_japan", False, EXCLUDED_OUTSIDE_JAPAN),
        ("network_rider", True, NETWORK_CAUSE_WITHOUT_RIDER),
    ]
    for flag, fixed_value, reason in expected:
        assert coverage_denial(**everything_wrong).reason == reason
        everything_wrong[flag] = fixed_value
    assert coverage_denial(**everything_wrong) is None


@pytest.mark.parametrize("cause", sorted(NETWORK_CAUSES))
def test_network_cause_with_rider_is_covered(cause):
    assert coverage_denial(**{**BASE, "cause": cause, "network_rider": True}) is None


@pytest.mark.parametrize("cause", [c for c in CAUSES if c not in NETWORK_CAUSES])
def test_ordinary_causes_covered_without_rider(cause):
    assert coverage_denial(**{**BASE, "cause": cause}) is None


def test_unknown_cause_is_invalid_input():
    with pytest.raises(InvalidInput) as exc:
        coverage_denial(**{**BASE, "cause": "alien_abduction"})
    assert exc.value.code == "unknown_cause"


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("damages", "basic", -1), "invalid_amount"),
        (("damages", "basic", 1.5), "invalid_amount"),
        (("damages", "basic", 100.0), "invalid_amount"),
        (("damages", "basic", True), "invalid_amount"),
        (("damages", "basic", "1000"), "invalid_amount"),
        (("damages", "basic", Decimal("1000")), "invalid_amount"),
        (("damages", "basic", None), "invalid_amount"),
        (("fines", "basic", 1000), "unknown_loss_category"),
        (("damages", "partner", 1000), "unknown_risk"),
        (("condolence", "basic", 1000), "invalid_recipients"),
        (("condolence", "basic", 1000, 0), "invalid_recipients"),
        (("condolence", "basic", 1000, 2.0), "invalid_recipients"),
        (("condolence", "basic", 1000, True), "invalid_recipients"),
        (("advertising", "basic", 1000, 3), "invalid_recipients"),
    ],
)
def test_validate_loss_item_errors(args, code):
    with pytest.raises(InvalidInput) as exc:
        validate_loss_item(*args)
    assert exc.value.code == code
    assert exc.value.message


def test_validate_loss_item_ok():
    item = validate_loss_item("condolence", "recourse", 0, recipients=1)
    assert item == LossItem("condolence", "recourse", 0, 1)
    assert item.section == "expense_recourse"


# --------------------------------------------------------------------------- properties

PROPERTY_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

amounts = st.one_of(
    st.integers(0, 200_000_000),
    st.integers(0, 300_000),  # around the deductible
)


@st.composite
def loss_items(draw) -> LossItem:
    category = draw(st.sampled_from(LIABILITY_CATEGORIES + EXPENSE_CATEGORIES))
    risk = draw(st.sampled_from(RISKS))
    recipients = draw(st.integers(1, 100_000)) if category == "condolence" else None
    return validate_loss_item(category, risk, draw(amounts), recipients)


plans = st.sampled_from(sorted(PLANS))
item_lists = st.lists(loss_items(), max_size=8)


def assert_within_caps(terms, result, paid_on_claim, period_paid):
    for section in SECTIONS:
        sec = result.sections[section]
        limit = terms.limits[section]
        assert 0 <= sec.paid <= limit
        assert paid_on_claim.get(section, 0) + sec.paid <= limit
        assert sec.paid <= max(0, limit - period_paid.get(section, 0))
        assert sec.paid <= sec.period_limit_remaining
        assert sec.paid <= sec.accident_limit_remaining
    assert result.total == sum(s.paid for s in result.sections.values())


@PROPERTY_SETTINGS
@given(
    plan=plans,
    items=item_lists,
    prior=st.fixed_dictionaries({s: st.integers(0, 400_000_000) for s in SECTIONS}),
    other_claims=st.fixed_dictionaries({s: st.integers(0, 400_000_000) for s in SECTIONS}),
)
def test_no_payment_exceeds_any_cap(plan, items, prior, other_claims):
    terms = terms_for(plan)
    paid_on_claim = {s: min(prior[s], terms.limits[s]) for s in SECTIONS}
    period_paid = {s: paid_on_claim[s] + other_claims[s] for s in SECTIONS}
    result = settle(terms, items, paid_on_claim, period_paid)
    assert_within_caps(terms, result, paid_on_claim, period_paid)
    assert Settlement.from_dict(json.loads(json.dumps(result.to_dict()))) == result


@st.composite
def period_histories(draw):
    """Several claims in one period, each with interim payments, in random interleaving."""
    n_claims = draw(st.integers(1, 4))
    events = draw(
        st.lists(
            st.tuples(st.integers(0, n_claims - 1), st.lists(loss_items(), min_size=0, max_size=3)),
            min_size=1,
            max_size=10,
        )
    )
    return n_claims, events


@PROPERTY_SETTINGS
@given(plan=plans, history=period_histories())
def test_period_total_never_exceeds_limit(plan, history):
    terms = terms_for(plan)
    n_claims, events = history
    claim_losses: list[list[LossItem]] = [[] for _ in range(n_claims)]
    claim_paid = [dict(ZERO) for _ in range(n_claims)]
    period = dict(ZERO)
    for claim, new_items in events:
        claim_losses[claim].extend(new_items)
        result = settle(terms, claim_losses[claim], claim_paid[claim], period)
        assert_within_caps(terms, result, claim_paid[claim], period)
        claim_paid[claim] = add(claim_paid[claim], result)
        period = add(period, result)
        for section in SECTIONS:
            assert period[section] <= terms.limits[section]
            assert claim_paid[claim][section] <= terms.limits[section]
    for section in SECTIONS:
        assert period[section] == sum(p[section] for p in claim_paid)


@PROPERTY_SETTINGS
@given(plan=plans, items=item_lists, splits=st.lists(st.integers(0, 8), max_size=4))
def test_interim_payments_add_up_to_one_payment(plan, items, splits):
    terms = terms_for(plan)
    paid = dict(ZERO)
    for cut in sorted(splits) + [len(items)]:
        paid = add(paid, settle(terms, items[:cut], paid, paid))
    single = settle(terms, items, ZERO, ZERO)
    assert paid == {s: single.sections[s].paid for s in SECTIONS}


@PROPERTY_SETTINGS
@given(
    plan=plans,
    items=st.lists(loss_items(), min_size=1, max_size=8),
    index=st.integers(0, 7),
    increase=st.integers(0, 200_000_000),
    extra=st.one_of(st.none(), loss_items()),
)
def test_more_loss_never_pays_less(plan, items, index, increase, extra):
    terms = terms_for(plan)
    before = settle(terms, items, ZERO, ZERO)
    raised = list(items)
    i = index % len(items)
    raised[i] = LossItem(items[i].category, items[i].risk, items[i].amount + increase, items[i].recipients)
    if extra is not None:
        raised.append(extra)
    after = settle(terms, raised, ZERO, ZERO)
    for section in SECTIONS:
        assert after.sections[section].payable_for_accident >= before.sections[section].payable_for_accident
        assert after.sections[section].paid >= before.sections[section].paid
    assert after.total >= before.total
