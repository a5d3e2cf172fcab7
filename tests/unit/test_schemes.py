"""Scheme presets (domain.md sections 3 and 6): both presets load and validate, plan limits,
plan E, and broken preset texts are rejected at load."""

from __future__ import annotations

from datetime import date
from importlib import resources

import pytest
from pydantic import ValidationError

from policy_core.calendar import MID_TERM, REGULAR, CalendarRules
from policy_core.errors import InvalidInput, NotFound
from policy_core.rating import Tariff
from policy_core.scheme import (
    PLAN_KEYS,
    SCHEME_KEYS,
    Scheme,
    all_schemes,
    get_scheme,
    load_scheme,
    parse_scheme,
)
from policy_core.settlement import SECTIONS

SCHEMES = ["jcci", "chuokai"]

# domain.md section 3 (seed 000): liability limit, expense limit.
PLAN_LIMITS = {
    "A": (10_000_000, 1_000_000),
    "B": (50_000_000, 5_000_000),
    "C": (100_000_000, 10_000_000),
    "D": (300_000_000, 30_000_000),
}

SEED_INDUSTRIES = {
    "construction",  # 建設業 (seed 000)
    "printing",  # 印刷業 (seeds 000, 003)
    "retail",  # 小売業 (seed 000)
    "restaurant",  # 飲食店 (seed 000)
    "lodging",  # 宿泊業 (seed 000)
    "real_estate_leasing",  # 貸家・貸店舗業 (seed 003)
    "clinic",  # 医院・診療所 (seed 003)
    "rental_store",  # レンタル店 (seed 003)
    "car_repair",  # 自動車整備業 (seed 003)
}


def preset_text(key: str) -> str:
    return resources.files("policy_core.schemes").joinpath(f"{key}.toml").read_text(encoding="utf-8")


def broken(key: str, old: str, new: str, count: int = 1) -> str:
    text = preset_text(key)
    assert text.count(old) >= count, f"fixture text {old!r} not found in {key}.toml"
    return text.replace(old, new, count)


# ---------------------------------------------------------------------------
# Both presets load and validate
# ---------------------------------------------------------------------------


def test_scheme_keys_are_jcci_and_chuokai():
    assert SCHEME_KEYS == ("jcci", "chuokai")
    assert [s.key for s in all_schemes()] == ["jcci", "chuokai"]


@pytest.mark.parametrize("key", SCHEMES)
def test_preset_loads_and_is_a_validated_scheme(key):
    scheme = load_scheme(key)
    assert isinstance(scheme, Scheme)
    assert scheme.key == key
    assert scheme.name and scheme.association and scheme.membership
    assert isinstance(scheme.calendar, CalendarRules)
    # The text parses to the same scheme as load_scheme gives.
    assert parse_scheme(preset_text(key)) == scheme


@pytest.mark.parametrize("key", SCHEMES)
def test_load_scheme_is_cached(key):
    assert load_scheme(key) is load_scheme(key)
    assert get_scheme(key) is load_scheme(key)


@pytest.mark.parametrize("key", SCHEMES)
def test_preset_has_plans_a_to_e_with_domain_limits(key):
    scheme = load_scheme(key)
    assert sorted(scheme.plans) == list(PLAN_KEYS) == ["A", "B", "C", "D", "E"]
    for plan, (liability, expense) in PLAN_LIMITS.items():
        assert scheme.plans[plan].liability == liability
        assert scheme.plans[plan].expense == expense
    assert scheme.plans["E"].liability is None
    assert scheme.plans["E"].expense == 30_000_000
    assert scheme.plan_e_liability_floor == 300_000_000


@pytest.mark.parametrize("key", SCHEMES)
@pytest.mark.parametrize("plan", ["A", "B", "C", "D"])
def test_limits_for_fixed_plans_give_the_four_section_limits(key, plan):
    liability, expense = PLAN_LIMITS[plan]
    limits = load_scheme(key).limits_for(plan)
    assert tuple(limits) == SECTIONS
    assert limits == {
        "liability_basic": liability,
        "liability_recourse": liability,
        "expense_basic": expense,
        "expense_recourse": expense,
    }
    # Restating the plan's own liability limit is accepted.
    assert load_scheme(key).limits_for(plan, liability) == limits


@pytest.mark.parametrize("key", SCHEMES)
def test_preset_settlement_terms_from_seed_000(key):
    scheme = load_scheme(key)
    assert scheme.deductible == 100_000
    assert scheme.expense_basic_coinsurance_percent == 90
    assert scheme.condolence_cap_per_person == 500
    assert scheme.network_rider_available is True
    assert scheme.network_rider_inside_liability_limit is True
    terms = scheme.settlement_terms("B", None, network_rider=True)
    assert terms.deductible == 100_000
    assert terms.expense_basic_coinsurance_percent == 90
    assert terms.condolence_cap_per_person == 500
    assert terms.network_rider is True
    assert terms.limits == scheme.limits_for("B")


@pytest.mark.parametrize("key", SCHEMES)
def test_preset_lapses_after_three_failed_debits(key):
    assert load_scheme(key).lapse_after_failed_debits == 3


@pytest.mark.parametrize("key", SCHEMES)
def test_preset_coinsurer_shares_sum_to_10000_bp(key):
    coinsurers = load_scheme(key).coinsurers
    assert coinsurers
    assert sum(c.share_bp for c in coinsurers) == 10_000
    assert len({c.key for c in coinsurers}) == len(coinsurers)
    assert all(c.share_bp > 0 for c in coinsurers)


@pytest.mark.parametrize("key", SCHEMES)
def test_preset_tariffs_present_and_in_force(key):
    scheme = load_scheme(key)
    assert scheme.tariffs
    assert all(isinstance(t, Tariff) for t in scheme.tariffs)
    versions = [t.version for t in scheme.tariffs]
    assert len(set(versions)) == len(versions)
    for t in scheme.tariffs:
        assert set(t.plan_factor_permille) == set(PLAN_KEYS)
        assert set(t.plan_minimum_premium) == set(PLAN_KEYS)
        assert scheme.tariff(t.version) == t
    current = scheme.tariff_in_force(date(2026, 4, 1))
    assert current.version in versions


@pytest.mark.parametrize("key", SCHEMES)
def test_preset_industries_include_every_seed_example(key):
    industries = load_scheme(key).industries
    assert SEED_INDUSTRIES <= set(industries)
    assert industries == sorted(industries)


@pytest.mark.parametrize("key", SCHEMES)
def test_preset_discount_tiers_increase(key):
    tiers = [t.min_participants for t in load_scheme(key).discount_tiers]
    assert tiers == sorted(set(tiers))


def test_jcci_calendar_preset_matches_seed_000_and_its_debit_choice():
    cal = load_scheme("jcci").calendar
    assert (cal.anniversary.month, cal.anniversary.day) == (3, 1)
    assert cal.boundary_hour == 16
    assert (cal.renewal_debit_month_offset, cal.renewal_debit_day) == (0, 27)
    kinds = {r.kind: r for r in cal.enrollments}
    assert set(kinds) == {REGULAR, MID_TERM}
    mid = kinds[MID_TERM]
    assert (mid.start_lead_months, mid.start_day, mid.debit_lead_months, mid.debit_day) == (3, 1, 3, 27)
    # Windows cover the whole year without overlap: Jan-Nov mid-term, Dec regular.
    d = date(2026, 1, 1)
    while d.year == 2026:
        assert [r.accepts(d) for r in cal.enrollments].count(True) == 1
        d = date.fromordinal(d.toordinal() + 1)


def test_chuokai_calendar_preset_matches_seed_003():
    cal = load_scheme("chuokai").calendar
    assert (cal.anniversary.month, cal.anniversary.day) == (3, 25)
    assert cal.boundary_hour == 16
    assert cal.default_enrollment_in_overlap == REGULAR
    assert (cal.renewal_debit_month_offset, cal.renewal_debit_day) == (1, 25)
    kinds = {r.kind: r for r in cal.enrollments}
    regular, mid = kinds[REGULAR], kinds[MID_TERM]
    assert (regular.window_start.key(), regular.window_end.key()) == ((12, 10), (1, 31))
    assert (regular.debit_lead_months, regular.debit_day) == (1, 25)
    assert (mid.window_start.key(), mid.window_end.key()) == ((2, 1), (12, 31))
    assert (mid.start_lead_months, mid.start_day, mid.debit_lead_months, mid.debit_day) == (2, 25, 3, 23)
    # Every day has a window; exactly 10-31 Dec has two.
    d = date(2026, 1, 1)
    while d.year == 2026:
        open_count = [r.accepts(d) for r in cal.enrollments].count(True)
        assert open_count == (2 if (d.month, d.day) >= (12, 10) else 1)
        d = date.fromordinal(d.toordinal() + 1)


# ---------------------------------------------------------------------------
# Plan E and plan errors
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("key", SCHEMES)
def test_plan_e_limits_for_500_million(key):
    limits = load_scheme(key).limits_for("E", 500_000_000)
    assert limits == {
        "liability_basic": 500_000_000,
        "liability_recourse": 500_000_000,
        "expense_basic": 30_000_000,
        "expense_recourse": 30_000_000,
    }


@pytest.mark.parametrize("key", SCHEMES)
def test_plan_e_just_above_300_million_is_accepted(key):
    assert load_scheme(key).limits_for("E", 300_000_001)["liability_basic"] == 300_000_001


@pytest.mark.parametrize("key", SCHEMES)
@pytest.mark.parametrize("limit", [300_000_000, 100_000_000, 0, -1, None, True, 5e8, "500000000"])
def test_plan_e_needs_an_integer_limit_above_300_million(key, limit):
    with pytest.raises(InvalidInput) as err:
        load_scheme(key).limits_for("E", limit)
    assert err.value.code == "invalid_liability_limit"


@pytest.mark.parametrize("key", SCHEMES)
def test_fixed_plan_with_a_different_liability_limit_is_rejected(key):
    with pytest.raises(InvalidInput) as err:
        load_scheme(key).limits_for("A", 50_000_000)
    assert err.value.code == "invalid_liability_limit"


@pytest.mark.parametrize("key", SCHEMES)
@pytest.mark.parametrize("plan", ["F", "a", "", "plan A"])
def test_unknown_plan_is_rejected(key, plan):
    with pytest.raises(InvalidInput) as err:
        load_scheme(key).limits_for(plan)
    assert err.value.code == "unknown_plan"


# ---------------------------------------------------------------------------
# Unknown scheme keys
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["zenkoku", "JCCI", "", None, 1])
def test_get_scheme_unknown_key_is_invalid_input(key):
    with pytest.raises(InvalidInput) as err:
        get_scheme(key)
    assert err.value.code == "unknown_scheme"


def test_load_scheme_unknown_key_is_not_found():
    with pytest.raises(NotFound) as err:
        load_scheme("zenkoku")
    assert err.value.code == "unknown_scheme"


# ---------------------------------------------------------------------------
# Broken presets are rejected by parse_scheme
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("key", SCHEMES)
def test_shares_summing_to_9999_bp_are_rejected(key):
    text = broken(key, "share_bp = 1000", "share_bp = 999")
    with pytest.raises(ValidationError, match="10000 bp"):
        parse_scheme(text)


@pytest.mark.parametrize("key", SCHEMES)
def test_shares_summing_to_10001_bp_are_rejected(key):
    text = broken(key, "share_bp = 1000", "share_bp = 1001")
    with pytest.raises(ValidationError):
        parse_scheme(text)


@pytest.mark.parametrize("key", SCHEMES)
def test_duplicate_coinsurer_keys_are_rejected(key):
    text = broken(key, 'key = "insurer_d"', 'key = "insurer_c"')
    with pytest.raises(ValidationError, match="unique"):
        parse_scheme(text)


@pytest.mark.parametrize("key", SCHEMES)
def test_missing_plan_is_rejected(key):
    text = broken(key, "[plans.C]\nliability = 100_000_000\nexpense = 10_000_000\n", "")
    with pytest.raises(ValidationError, match="plans must be exactly"):
        parse_scheme(text)


@pytest.mark.parametrize("key", SCHEMES)
def test_extra_plan_is_rejected(key):
    text = broken(key, "[plans.A]", "[plans.F]\nliability = 1\nexpense = 1\n[plans.A]")
    with pytest.raises(ValidationError):
        parse_scheme(text)


@pytest.mark.parametrize("key", SCHEMES)
def test_plan_e_with_a_fixed_liability_limit_is_rejected(key):
    text = broken(key, "[plans.E]\n", "[plans.E]\nliability = 500_000_000\n")
    with pytest.raises(ValidationError, match="plan E"):
        parse_scheme(text)


@pytest.mark.parametrize("key", SCHEMES)
def test_fixed_plan_without_liability_limit_is_rejected(key):
    text = broken(key, "[plans.A]\nliability = 10_000_000\n", "[plans.A]\n")
    with pytest.raises(ValidationError, match="plan A"):
        parse_scheme(text)


@pytest.mark.parametrize("key", SCHEMES)
def test_duplicate_tariff_versions_are_rejected(key):
    text = preset_text(key)
    start = text.index("[[tariffs]]")
    duplicated = text + "\n" + text[start:]
    with pytest.raises(ValidationError, match="tariff versions must be unique"):
        parse_scheme(duplicated)


@pytest.mark.parametrize("key", SCHEMES)
def test_second_tariff_version_with_other_industries_is_rejected(key):
    text = preset_text(key)
    block = text[text.index("[[tariffs]]") :]
    block = block.replace('version = "', 'version = "x-', 1).replace("construction = 80\n", "")
    with pytest.raises(ValidationError, match="same industries"):
        parse_scheme(text + "\n" + block)


@pytest.mark.parametrize("key", SCHEMES)
def test_tariff_lacking_a_plan_is_rejected(key):
    text = broken(key, "[tariffs.plan_minimum_premium]\nA = 30_000\n", "[tariffs.plan_minimum_premium]\n")
    with pytest.raises(ValidationError, match="lacks plans"):
        parse_scheme(text)


@pytest.mark.parametrize("key", SCHEMES)
def test_no_tariff_is_rejected(key):
    text = preset_text(key)
    with pytest.raises(ValidationError):
        parse_scheme(text[: text.index("[[tariffs]]")])


@pytest.mark.parametrize("key", SCHEMES)
def test_discount_tiers_out_of_order_are_rejected(key):
    text = broken(key, "min_participants = 1_000\n", "min_participants = 50_000\n")
    with pytest.raises(ValidationError, match="discount tiers"):
        parse_scheme(text)


@pytest.mark.parametrize("key", SCHEMES)
def test_unknown_field_is_rejected(key):
    text = broken(key, "deductible = 100_000", "deductable = 100_000")
    with pytest.raises(ValidationError):
        parse_scheme(text)


@pytest.mark.parametrize("key", SCHEMES)
@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("deductible = 100_000", "deductible = -1"),
        ("expense_basic_coinsurance_percent = 90", "expense_basic_coinsurance_percent = 101"),
        ("condolence_cap_per_person = 500", "condolence_cap_per_person = 0"),
        ("lapse_after_failed_debits = 3", "lapse_after_failed_debits = 0"),
    ],
)
def test_out_of_range_amounts_are_rejected(key, old, new):
    with pytest.raises(ValidationError):
        parse_scheme(broken(key, old, new))


@pytest.mark.parametrize("key", SCHEMES)
@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("anniversary = { month = 3, day = ", "anniversary = { month = 2, day = 29 } # ", "29 February"),
        ('kind = "mid_term"', 'kind = "midterm"', "unknown enrollment kind"),
        ("window_start = { month = 12, day = ", "window_start = { month = 13, day = ", "invalid month/day"),
    ],
)
def test_broken_calendar_is_rejected(key, old, new, message):
    with pytest.raises(ValidationError, match=message):
        parse_scheme(broken(key, old, new))


def test_broken_toml_syntax_is_not_silently_accepted():
    import tomllib

    with pytest.raises(tomllib.TOMLDecodeError):
        parse_scheme(preset_text("jcci").replace('key = "jcci"', "key = jcci", 1))
