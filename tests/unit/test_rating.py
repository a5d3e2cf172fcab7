"""Premium rating: seed examples, tariff versions, validation and monotonicity."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policy_core.errors import InvalidInput
from policy_core.rating import (
    SAMPLE_TARIFF_2024,
    DiscountTier,
    Rating,
    RatingBreakdown,
    Tariff,
    prorate,
    rate,
    tariff_by_version,
    tariff_in_force,
)


@pytest.fixture
def tariff() -> Tariff:
    """The project's calibrated sample tariff, spelled out so a change to the module shows here."""
    return Tariff(
        version="sample-2024-04",
        effective_from=date(2024, 4, 1),
        rate_per_million_sales={
            "construction": 80,
            "printing": 400,
            "retail": 400,
            "restaurant": 400,
            "lodging": 500,
            "real_estate_leasing": 300,
            "clinic": 400,
            "rental_store": 400,
            "car_repair": 300,
            "wholesale": 300,
            "manufacturing": 200,
            "information_services": 800,
            "professional_services": 500,
            "education": 600,
            "finance_insurance": 700,
            "other": 500,
        },
        plan_factor_permille={"A": 1000, "B": 1250, "C": 1500, "D": 2000, "E": 2000},
        plan_minimum_premium={
            "A": 30_000,
            "B": 100_000,
            "C": 150_000,
            "D": 250_000,
            "E": 250_000,
        },
        plan_e_factor_step_permille=200,
        plan_e_minimum_step=25_000,
        network_rider_loading_percent=10,
        rounding_unit=10,
    )


def test_fixture_matches_module_sample(tariff: Tariff) -> None:
    assert SAMPLE_TARIFF_2024 == tariff


def _nearest_10k(amount: int) -> int:
    return (amount + 5_000) // 10_000 * 10_000


def _check_seed(tariff: Tariff, industry: str, sales: int, plan: str, expected: int) -> Rating:
    rating = rate(tariff, industry=industry, annual_sales=sales, plan=plan)
    assert _nearest_10k(rating.annual_premium) == expected
    assert rating.tariff_version == "sample-2024-04"
    assert rating.breakdown.participants == 0
    assert rating.breakdown.discount_percent == 0
    return rating


# --- seed 000 (JCCI) -------------------------------------------------------


def test_seed000_construction_1bn_plan_b_about_100k(tariff: Tariff) -> None:
    r = _check_seed(tariff, "construction", 1_000_000_000, "B", 100_000)
    assert r.breakdown.sales_premium == 80_000
    assert r.breakdown.minimum_applied is False


def test_seed000_printing_200m_plan_b_about_100k(tariff: Tariff) -> None:
    _check_seed(tariff, "printing", 200_000_000, "B", 100_000)


def test_seed000_retail_20m_plan_a_about_30k(tariff: Tariff) -> None:
    r = _check_seed(tariff, "retail", 20_000_000, "A", 30_000)
    assert r.breakdown.minimum_applied is True


def test_seed000_restaurant_15m_plan_a_about_30k(tariff: Tariff) -> None:
    _check_seed(tariff, "restaurant", 15_000_000, "A", 30_000)


def test_seed000_lodging_30m_plan_b_about_100k(tariff: Tariff) -> None:
    r = _check_seed(tariff, "lodging", 30_000_000, "B", 100_000)
    assert r.breakdown.minimum_applied is True


# --- seed 003 (Chuo-kai) ---------------------------------------------------


def test_seed003_printing_100m_plan_a_about_40k(tariff: Tariff) -> None:
    r = _check_seed(tariff, "printing", 100_000_000, "A", 40_000)
    assert r.breakdown.minimum_applied is False


def test_seed003_real_estate_leasing_50m_plan_a_about_30k(tariff: Tariff) -> None:
    _check_seed(tariff, "real_estate_leasing", 50_000_000, "A", 30_000)


def test_seed003_clinic_300m_plan_b_about_150k(tariff: Tariff) -> None:
    _check_seed(tariff, "clinic", 300_000_000, "B", 150_000)


def test_seed003_rental_store_50m_plan_b_about_100k(tariff: Tariff) -> None:
    _check_seed(tariff, "rental_store", 50_000_000, "B", 100_000)


def test_seed003_car_repair_100m_plan_b_about_100k(tariff: Tariff) -> None:
    _check_seed(tariff, "car_repair", 100_000_000, "B", 100_000)


# --- breakdown -------------------------------------------------------------


def test_breakdown_records_every_step(tariff: Tariff) -> None:
    r = rate(tariff, industry="clinic", annual_sales=300_000_000, plan="B")
    b = r.breakdown
    assert (b.rate_per_million_sales, b.sales_premium) == (400, 120_000)
    assert (b.plan_factor_permille, b.factored_premium) == (1250, 150_000)
    assert (b.minimum_premium, b.minimum_applied, b.base_premium) == (100_000, False, 150_000)
    assert (b.network_rider, b.rider_loading_percent, b.rider_loading) == (False, 0, 0)
    assert (b.discount_percent, b.discount) == (0, 0)
    assert b.premium_before_rounding == 150_000
    assert b.rounding_unit == 10
    assert b.annual_premium == r.annual_premium == 150_000


def test_sales_premium_and_rounding_round_down(tariff: Tariff) -> None:
    # 123,456,789 * 400 / 1e6 = 49,382.7 -> 49,382; factor 1.0; rounded down to 49,380.
    r = rate(tariff, industry="printing", annual_sales=123_456_789, plan="A")
    assert r.breakdown.sales_premium == 49_382
    assert r.breakdown.premium_before_rounding == 49_382
    assert r.annual_premium == 49_380


def test_zero_sales_pays_the_minimum(tariff: Tariff) -> None:
    r = rate(tariff, industry="retail", annual_sales=0, plan="C")
    assert r.annual_premium == 150_000
    assert r.breakdown.minimum_applied is True


# --- rider and discount ----------------------------------------------------


def test_network_rider_loading(tariff: Tariff) -> None:
    r = rate(tariff, industry="clinic", annual_sales=300_000_000, plan="B", network_rider=True)
    assert r.breakdown.rider_loading_percent == 10
    assert r.breakdown.rider_loading == 15_000
    assert r.annual_premium == 165_000


def test_network_rider_loads_the_minimum_premium(tariff: Tariff) -> None:
    r = rate(tariff, industry="retail", annual_sales=20_000_000, plan="A", network_rider=True)
    assert r.breakdown.base_premium == 30_000
    assert r.annual_premium == 33_000


TIERS = (
    DiscountTier(min_participants=100, percent=5),
    DiscountTier(min_participants=1000, percent=15),  # deliberately out of order
    DiscountTier(min_participants=500, percent=10),
)


@pytest.mark.parametrize(
    ("participants", "percent"),
    [(0, 0), (99, 0), (100, 5), (499, 5), (500, 10), (999, 10), (1000, 15), (50_000, 15)],
)
def test_group_discount_uses_highest_tier_reached(tariff: Tariff, participants: int, percent: int) -> None:
    r = rate(
        tariff,
        industry="clinic",
        annual_sales=300_000_000,
        plan="B",
        participants=participants,
        discount_tiers=TIERS,
    )
    assert r.breakdown.participants == participants
    assert r.breakdown.discount_percent == percent
    assert r.breakdown.discount == 150_000 * percent // 100
    assert r.annual_premium == 150_000 - 150_000 * percent // 100


def test_no_tiers_no_discount(tariff: Tariff) -> None:
    r = rate(tariff, industry="clinic", annual_sales=300_000_000, plan="B", participants=10_000)
    assert r.breakdown.discount_percent == 0
    assert r.annual_premium == 150_000


def test_discount_applies_to_base_plus_rider_then_rounds_down(tariff: Tariff) -> None:
    # base 49,382 + rider 4,938 = 54,320; 5% = 2,716; 51,604 -> 51,600.
    r = rate(
        tariff,
        industry="printing",
        annual_sales=123_456_789,
        plan="A",
        network_rider=True,
        participants=100,
        discount_tiers=TIERS,
    )
    b = r.breakdown
    assert (b.base_premium, b.rider_loading, b.discount) == (49_382, 4_938, 2_716)
    assert b.premium_before_rounding == 51_604
    assert r.annual_premium == 51_600


@pytest.mark.parametrize("percent", [-1, 101])
def test_discount_tier_percent_out_of_range(tariff: Tariff, percent: int) -> None:
    with pytest.raises(InvalidInput) as exc:
        rate(
            tariff,
            industry="retail",
            annual_sales=1,
            plan="A",
            discount_tiers=(DiscountTier(0, percent),),
        )
    assert exc.value.code == "invalid_discount_tier"


# --- plan E ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "steps"),
    [
        (300_000_001, 1),
        (400_000_000, 1),
        (400_000_001, 2),
        (500_000_000, 2),
        (1_000_000_000, 7),
    ],
)
def test_plan_e_steps_per_started_100m(tariff: Tariff, limit: int, steps: int) -> None:
    r = rate(
        tariff,
        industry="construction",
        annual_sales=10_000_000_000,
        plan="E",
        liability_limit=limit,
    )
    b = r.breakdown
    assert b.liability_limit == limit
    assert b.plan_factor_permille == 2000 + 200 * steps
    assert b.minimum_premium == 250_000 + 25_000 * steps
    # sales premium 800,000
    assert b.factored_premium == 800_000 * (2000 + 200 * steps) // 1000
    assert r.annual_premium == b.factored_premium


def test_plan_e_minimum_is_stepped(tariff: Tariff) -> None:
    r = rate(tariff, industry="retail", annual_sales=1_000_000, plan="E", liability_limit=500_000_000)
    assert r.breakdown.minimum_applied is True
    assert r.annual_premium == 300_000


def test_plan_e_is_never_cheaper_than_plan_d(tariff: Tariff) -> None:
    d = rate(tariff, industry="clinic", annual_sales=300_000_000, plan="D")
    e = rate(tariff, industry="clinic", annual_sales=300_000_000, plan="E", liability_limit=300_000_001)
    assert e.annual_premium > d.annual_premium


@pytest.mark.parametrize(
    "limit", [None, 300_000_000, 100_000_000, 0, -1, 400_000_000.0, "400000000", True, Decimal(400_000_000)]
)
def test_plan_e_bad_liability_limit(tariff: Tariff, limit: object) -> None:
    with pytest.raises(InvalidInput) as exc:
        rate(tariff, industry="retail", annual_sales=1, plan="E", liability_limit=limit)  # type: ignore[arg-type]
    assert exc.value.code == "invalid_liability_limit"


@pytest.mark.parametrize("plan", ["A", "B", "C", "D"])
@pytest.mark.parametrize("limit", [10_000_000, 300_000_000, 500_000_000])
def test_fixed_plans_reject_a_liability_limit(tariff: Tariff, plan: str, limit: int) -> None:
    with pytest.raises(InvalidInput) as exc:
        rate(tariff, industry="retail", annual_sales=1, plan=plan, liability_limit=limit)
    assert exc.value.code == "invalid_liability_limit"


# --- validation ------------------------------------------------------------


def test_unknown_industry_lists_known_ones(tariff: Tariff) -> None:
    with pytest.raises(InvalidInput) as exc:
        rate(tariff, industry="space_mining", annual_sales=1, plan="A")
    assert exc.value.code == "unknown_industry"
    assert "space_mining" in exc.value.message
    for known in tariff.rate_per_million_sales:
        assert known in exc.value.message


@pytest.mark.parametrize("plan", ["F", "a", "", "AB", None, 1])
def test_unknown_plan(tariff: Tariff, plan: object) -> None:
    with pytest.raises(InvalidInput) as exc:
        rate(tariff, industry="retail", annual_sales=1, plan=plan)  # type: ignore[arg-type]
    assert exc.value.code == "unknown_plan"


def test_plan_missing_from_tariff_tables_is_unknown(tariff: Tariff) -> None:
    partial = replace(tariff, plan_factor_permille={"A": 1000})
    with pytest.raises(InvalidInput) as exc:
        rate(partial, industry="retail", annual_sales=1, plan="B")
    assert exc.value.code == "unknown_plan"


@pytest.mark.parametrize(
    "sales",
    [
        100_000_000.0,  # float
        1e8,
        True,  # bool is an int subclass
        False,
        "100000000",  # str
        Decimal("100000000"),
        None,
        -1,
        -100_000_000,
    ],
)
def test_invalid_sales(tariff: Tariff, sales: object) -> None:
    with pytest.raises(InvalidInput) as exc:
        rate(tariff, industry="printing", annual_sales=sales, plan="A")  # type: ignore[arg-type]
    assert exc.value.code == "invalid_amount"


@pytest.mark.parametrize("participants", [-1, 1.0, True, "10", None])
def test_invalid_participants(tariff: Tariff, participants: object) -> None:
    with pytest.raises(InvalidInput) as exc:
        rate(tariff, industry="printing", annual_sales=1, plan="A", participants=participants)  # type: ignore[arg-type]
    assert exc.value.code == "invalid_participants"


# --- tariff versions -------------------------------------------------------


def _tariff_2025(tariff: Tariff) -> Tariff:
    rates = dict(tariff.rate_per_million_sales, clinic=500)
    minimums = dict(tariff.plan_minimum_premium, B=120_000)
    return replace(
        tariff,
        version="sample-2025-04",
        effective_from=date(2025, 4, 1),
        rate_per_million_sales=rates,
        plan_minimum_premium=minimums,
    )


def test_tariff_in_force_picks_by_date(tariff: Tariff) -> None:
    new = _tariff_2025(tariff)
    tariffs = [new, tariff]  # order must not matter
    assert tariff_in_force(tariffs, date(2024, 4, 1)) is tariff
    assert tariff_in_force(tariffs, date(2025, 3, 31)) is tariff
    assert tariff_in_force(tariffs, date(2025, 4, 1)) is new
    assert tariff_in_force(tariffs, date(2030, 1, 1)) is new


def test_no_tariff_in_force_before_the_first(tariff: Tariff) -> None:
    with pytest.raises(InvalidInput) as exc:
        tariff_in_force([tariff], date(2024, 3, 31))
    assert exc.value.code == "no_tariff_in_force"
    with pytest.raises(InvalidInput) as exc:
        tariff_in_force([], date(2024, 4, 1))
    assert exc.value.code == "no_tariff_in_force"


def test_tariff_in_force_rejects_datetime(tariff: Tariff) -> None:
    with pytest.raises(InvalidInput) as exc:
        tariff_in_force([tariff], datetime(2024, 5, 1, 16, 0))  # type: ignore[arg-type]
    assert exc.value.code == "invalid_date"


def test_two_tariffs_same_effective_date_is_ambiguous(tariff: Tariff) -> None:
    twin = replace(tariff, version="sample-2024-04b")
    with pytest.raises(InvalidInput) as exc:
        tariff_in_force([tariff, twin], date(2024, 5, 1))
    assert exc.value.code == "ambiguous_tariff"


def test_old_quote_reproduced_exactly_after_new_version(tariff: Tariff) -> None:
    tariffs = [tariff]
    quote = rate(
        tariff_in_force(tariffs, date(2025, 3, 1)),
        industry="clinic",
        annual_sales=300_000_000,
        plan="B",
    )
    stored = json.loads(json.dumps(quote.to_dict()))

    tariffs.append(_tariff_2025(tariff))
    current = rate(
        tariff_in_force(tariffs, date(2025, 4, 1)),
        industry="clinic",
        annual_sales=300_000_000,
        plan="B",
    )
    assert current.tariff_version == "sample-2025-04"
    assert current.annual_premium != quote.annual_premium

    old = Rating.from_dict(stored)
    again = rate(
        tariff_by_version(tariffs, old.tariff_version),
        industry=old.breakdown.industry,
        annual_sales=old.breakdown.annual_sales,
        plan=old.breakdown.plan,
    )
    assert again == quote == old


def test_unknown_tariff_version(tariff: Tariff) -> None:
    with pytest.raises(InvalidInput) as exc:
        tariff_by_version([tariff], "jcci-1999-01")
    assert exc.value.code == "unknown_tariff_version"
    assert "sample-2024-04" in exc.value.message


# --- pro rata --------------------------------------------------------------


def test_prorate_twelve_months_is_annual() -> None:
    assert prorate(150_000, 12) == 150_000


def test_prorate_one_month() -> None:
    assert prorate(150_000, 1) == 12_500
    assert prorate(100_000, 1) == 8_330  # 8,333 rounded down to 10


def test_prorate_eleven_months() -> None:
    assert prorate(100_000, 11) == 91_660  # 91,666 -> 91,660
    assert prorate(30_000, 11) == 27_500


def test_prorate_rounding_unit() -> None:
    assert prorate(100_000, 1, rounding_unit=1) == 8_333
    assert prorate(100_000, 1, rounding_unit=100) == 8_300


@pytest.mark.parametrize("months", [0, 13, -1, 6.0, True, "6", None])
def test_prorate_bad_months(months: object) -> None:
    with pytest.raises(InvalidInput) as exc:
        prorate(100_000, months)  # type: ignore[arg-type]
    assert exc.value.code == "invalid_months"


@pytest.mark.parametrize("annual", [-1, 1.5, "100"])
def test_prorate_bad_amount(annual: object) -> None:
    with pytest.raises(InvalidInput) as exc:
        prorate(annual, 6)  # type: ignore[arg-type]
    assert exc.value.code == "invalid_amount"


# --- serialisation ---------------------------------------------------------


def _json_scalars_only(value: object) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_scalars_only(v) for k, v in value.items())
    return isinstance(value, (int, str, bool))


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(industry="clinic", annual_sales=300_000_000, plan="B"),
        dict(
            industry="printing",
            annual_sales=123_456_789,
            plan="A",
            network_rider=True,
            participants=100,
            discount_tiers=TIERS,
        ),
        dict(industry="construction", annual_sales=10**10, plan="E", liability_limit=450_000_000),
    ],
)
def test_to_dict_from_dict_round_trip(tariff: Tariff, kwargs: dict) -> None:
    r = rate(tariff, **kwargs)
    data = r.to_dict()
    assert _json_scalars_only(data)
    assert Rating.from_dict(json.loads(json.dumps(data))) == r
    assert RatingBreakdown.from_dict(data["breakdown"]) == r.breakdown
    assert data["tariff_version"] == "sample-2024-04"
    assert data["breakdown"]["discount_percent"] == r.breakdown.discount_percent
    assert data["breakdown"]["participants"] == r.breakdown.participants


def test_from_dict_rejects_incomplete_or_inconsistent(tariff: Tariff) -> None:
    data = rate(tariff, industry="clinic", annual_sales=300_000_000, plan="B").to_dict()
    missing = json.loads(json.dumps(data))
    del missing["breakdown"]["sales_premium"]
    with pytest.raises(InvalidInput) as exc:
        Rating.from_dict(missing)
    assert exc.value.code == "invalid_rating"

    mismatched = dict(data, annual_premium=1)
    with pytest.raises(InvalidInput) as exc:
        Rating.from_dict(mismatched)
    assert exc.value.code == "invalid_rating"

    wrong_type = json.loads(json.dumps(data))
    wrong_type["breakdown"]["base_premium"] = "150000"
    with pytest.raises(InvalidInput) as exc:
        Rating.from_dict(wrong_type)
    assert exc.value.code == "invalid_rating"


def test_tariff_is_loadable_by_pydantic(tariff: Tariff) -> None:
    pydantic = pytest.importorskip("pydantic")
    adapter = pydantic.TypeAdapter(Tariff)
    dumped = adapter.dump_python(tariff, mode="json")
    assert adapter.validate_python(dumped) == tariff
    tiers = pydantic.TypeAdapter(tuple[DiscountTier, ...]).validate_python(
        [{"min_participants": 100, "percent": 5}]
    )
    assert tiers == (DiscountTier(100, 5),)


# --- properties ------------------------------------------------------------

industries = st.sampled_from(sorted(SAMPLE_TARIFF_2024.rate_per_million_sales))
sales_st = st.integers(min_value=0, max_value=10**12)
options = st.fixed_dictionaries(
    {
        "network_rider": st.booleans(),
        "participants": st.integers(min_value=0, max_value=5_000),
    }
)


@given(
    industry=industries,
    plan=st.sampled_from("ABCD"),
    sales=sales_st,
    more=st.integers(min_value=0, max_value=10**11),
    opts=options,
)
def test_premium_never_falls_when_sales_rise(
    industry: str, plan: str, sales: int, more: int, opts: dict
) -> None:
    low = rate(
        SAMPLE_TARIFF_2024, industry=industry, annual_sales=sales, plan=plan, discount_tiers=TIERS, **opts
    )
    high = rate(
        SAMPLE_TARIFF_2024,
        industry=industry,
        annual_sales=sales + more,
        plan=plan,
        discount_tiers=TIERS,
        **opts,
    )
    assert high.annual_premium >= low.annual_premium


@given(
    industry=industries,
    sales=sales_st,
    limit=st.integers(min_value=300_000_001, max_value=5_000_000_000),
    opts=options,
)
def test_premium_never_falls_moving_up_the_plans(industry: str, sales: int, limit: int, opts: dict) -> None:
    premiums = [
        rate(
            SAMPLE_TARIFF_2024, industry=industry, annual_sales=sales, plan=p, discount_tiers=TIERS, **opts
        ).annual_premium
        for p in "ABCD"
    ]
    premiums.append(
        rate(
            SAMPLE_TARIFF_2024,
            industry=industry,
            annual_sales=sales,
            plan="E",
            liability_limit=limit,
            discount_tiers=TIERS,
            **opts,
        ).annual_premium
    )
    assert premiums == sorted(premiums)


@given(
    industry=industries,
    sales=sales_st,
    low=st.integers(min_value=300_000_001, max_value=5_000_000_000),
    more=st.integers(min_value=0, max_value=5_000_000_000),
)
def test_plan_e_premium_never_falls_as_limit_rises(industry: str, sales: int, low: int, more: int) -> None:
    a = rate(SAMPLE_TARIFF_2024, industry=industry, annual_sales=sales, plan="E", liability_limit=low)
    b = rate(SAMPLE_TARIFF_2024, industry=industry, annual_sales=sales, plan="E", liability_limit=low + more)
    assert b.annual_premium >= a.annual_premium


@given(annual=st.integers(min_value=0, max_value=10**9), months=st.integers(min_value=1, max_value=11))
def test_prorate_never_exceeds_annual_and_grows_with_months(annual: int, months: int) -> None:
    assert prorate(annual, months) <= prorate(annual, months + 1) <= prorate(annual, 12) <= annual


@pytest.mark.parametrize(
    ("plan", "limit", "rider"), [("B", None, False), ("C", None, True), ("E", 500_000_000, True)]
)
def test_breakdown_to_dict_is_asdict_of_its_plain_fields(
    tariff: Tariff, plan: str, limit: int | None, rider: bool
) -> None:
    """to_dict builds the dict from the fields without dataclasses.asdict's deep copy: the same
    dict (keys in field order, the same values and types) as long as every field is a plain value."""
    import dataclasses

    r = rate(
        tariff,
        industry="clinic",
        annual_sales=300_000_000,
        plan=plan,
        liability_limit=limit,
        network_rider=rider,
    )
    expected = dataclasses.asdict(r.breakdown)
    if expected["liability_limit"] is None:
        del expected["liability_limit"]
    got = r.breakdown.to_dict()
    assert list(got) == list(expected) and got == expected
    assert [type(v) for v in got.values()] == [type(v) for v in expected.values()]
    for f in dataclasses.fields(RatingBreakdown):
        assert f.type in ("str", "int", "bool", "int | None"), f  # a container field needs a copy
    assert RatingBreakdown.from_dict(got) == r.breakdown
