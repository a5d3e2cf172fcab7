"""Premium rating.

A tariff is versioned data (loaded elsewhere, e.g. from TOML); every quote
records the tariff version it used so that it can be reproduced exactly
later. All amounts are integer yen and all factors integers (per mille or
percent): rounding is explicit (always down) so that two runs can never
disagree by a yen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any, TypeGuard

from policy_core.bounds import MAX_ANNUAL_PREMIUM, MAX_ANNUAL_SALES, MAX_LIABILITY_LIMIT
from policy_core.errors import InvalidInput

PLANS: tuple[str, ...] = ("A", "B", "C", "D", "E")
"""Plans of seed 000; E is the free plan with a chosen limit above D's."""

PLAN_E_THRESHOLD = 300_000_000
"""Plan E's liability limit must exceed this (plan D's limit)."""

PLAN_E_STEP = 100_000_000
"""Plan E's factor and minimum rise per started step of this size."""


@dataclass(frozen=True)
class DiscountTier:
    """Group discount reached once the scheme has ``min_participants``."""

    min_participants: int
    percent: int


@dataclass(frozen=True)
class Tariff:
    """One version of the rating tables (plain types so pydantic can validate it)."""

    version: str
    effective_from: date
    rate_per_million_sales: dict[str, int]
    plan_factor_permille: dict[str, int]
    plan_minimum_premium: dict[str, int]
    plan_e_factor_step_permille: int
    plan_e_minimum_step: int
    network_rider_loading_percent: int
    rounding_unit: int = 10


@dataclass(frozen=True)
class RatingBreakdown:
    """Every intermediate figure, so a quote can be explained and audited."""

    industry: str
    annual_sales: int
    plan: str
    liability_limit: int | None
    rate_per_million_sales: int
    sales_premium: int
    plan_factor_permille: int
    factored_premium: int
    minimum_premium: int
    minimum_applied: bool
    base_premium: int
    network_rider: bool
    rider_loading_percent: int
    rider_loading: int
    participants: int
    discount_percent: int
    discount: int
    premium_before_rounding: int
    rounding_unit: int
    annual_premium: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly; ``liability_limit`` is left out when there is none.

        Every field is a plain value (str, int, bool, None), so the dict of the fields in their
        order is what ``dataclasses.asdict`` makes, without its recursive deep copy (a fifth of
        the renewal run's CPU went there)."""
        data = {name: getattr(self, name) for name in _BREAKDOWN_FIELDS}
        if data["liability_limit"] is None:
            del data["liability_limit"]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RatingBreakdown:
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name == "liability_limit":
                value = data.get("liability_limit")
                if value is not None and not _is_int(value):
                    raise InvalidInput(
                        "rating breakdown field 'liability_limit' must be an integer",
                        code="invalid_rating",
                    )
                values[f.name] = value
                continue
            if f.name not in data:
                raise InvalidInput(f"rating breakdown is missing field {f.name!r}", code="invalid_rating")
            value = data[f.name]
            expected = {"industry": str, "plan": str}.get(f.name)
            if f.name in ("minimum_applied", "network_rider"):
                ok = isinstance(value, bool)
            elif expected is str:
                ok = isinstance(value, str)
            else:
                ok = _is_int(value)
            if not ok:
                raise InvalidInput(
                    f"rating breakdown field {f.name!r} has the wrong type", code="invalid_rating"
                )
            values[f.name] = value
        return cls(**values)


_BREAKDOWN_FIELDS = tuple(f.name for f in fields(RatingBreakdown))


@dataclass(frozen=True)
class Rating:
    """The result of rating: the premium, the tariff version, and how it was reached."""

    annual_premium: int
    tariff_version: str
    breakdown: RatingBreakdown

    def to_dict(self) -> dict[str, Any]:
        return {
            "annual_premium": self.annual_premium,
            "tariff_version": self.tariff_version,
            "breakdown": self.breakdown.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Rating:
        try:
            annual_premium = data["annual_premium"]
            version = data["tariff_version"]
            breakdown = data["breakdown"]
        except (KeyError, TypeError):
            raise InvalidInput(
                "rating needs annual_premium, tariff_version and breakdown",
                code="invalid_rating",
            ) from None
        if not _is_int(annual_premium) or not isinstance(version, str):
            raise InvalidInput("rating has fields of the wrong type", code="invalid_rating")
        if not isinstance(breakdown, Mapping):
            raise InvalidInput("rating breakdown must be an object", code="invalid_rating")
        parsed = RatingBreakdown.from_dict(breakdown)
        if parsed.annual_premium != annual_premium:
            raise InvalidInput("rating annual_premium disagrees with its breakdown", code="invalid_rating")
        return cls(annual_premium=annual_premium, tariff_version=version, breakdown=parsed)


def _is_int(value: object) -> TypeGuard[int]:
    # bool is an int subclass but never a meaningful amount.
    return isinstance(value, int) and not isinstance(value, bool)


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def _round_down(amount: int, unit: int) -> int:
    return amount // unit * unit


def _plan_e_steps(liability_limit: int) -> int:
    return _ceil_div(liability_limit - PLAN_E_THRESHOLD, PLAN_E_STEP)


def rate(
    tariff: Tariff,
    *,
    industry: str,
    annual_sales: int,
    plan: str,
    liability_limit: int | None = None,
    network_rider: bool = False,
    participants: int = 0,
    discount_tiers: Sequence[DiscountTier] = (),
) -> Rating:
    """Rate one annual premium under ``tariff``; all rounding is down, to the yen then the unit."""
    if not isinstance(industry, str) or industry not in tariff.rate_per_million_sales:
        known = ", ".join(sorted(tariff.rate_per_million_sales))
        raise InvalidInput(
            f"unknown industry {industry!r} for tariff {tariff.version}; known industries: {known}",
            code="unknown_industry",
        )
    if (
        not isinstance(plan, str)
        or plan not in PLANS
        or plan not in tariff.plan_factor_permille
        or plan not in tariff.plan_minimum_premium
    ):
        raise InvalidInput(f"unknown plan {plan!r}; plans are {', '.join(PLANS)}", code="unknown_plan")
    if not _is_int(annual_sales) or not 0 <= annual_sales <= MAX_ANNUAL_SALES:
        raise InvalidInput(
            f"annual_sales must be an integer number of yen from 0 to {MAX_ANNUAL_SALES:,}, "
            f"got {annual_sales!r}",
            code="invalid_amount",
        )
    if plan == "E":
        if (
            not _is_int(liability_limit)
            or liability_limit <= PLAN_E_THRESHOLD
            or liability_limit > MAX_LIABILITY_LIMIT
        ):
            raise InvalidInput(
                "plan E needs an integer liability_limit above "
                f"{PLAN_E_THRESHOLD:,} yen and at most {MAX_LIABILITY_LIMIT:,}, got {liability_limit!r}",
                code="invalid_liability_limit",
            )
    elif liability_limit is not None:
        raise InvalidInput(
            f"plan {plan} has a fixed liability limit; liability_limit must not be given",
            code="invalid_liability_limit",
        )
    if not isinstance(network_rider, bool):
        raise InvalidInput("network_rider must be true or false", code="invalid_input")
    if not _is_int(participants) or participants < 0:
        raise InvalidInput(
            f"participants must be a non-negative integer, got {participants!r}",
            code="invalid_participants",
        )
    for tier in discount_tiers:
        if not (_is_int(tier.percent) and 0 <= tier.percent <= 100) or not _is_int(tier.min_participants):
            raise InvalidInput(
                f"discount tier {tier!r} needs an integer min_participants and a percent in 0..100",
                code="invalid_discount_tier",
            )
    if tariff.rounding_unit <= 0:
        raise InvalidInput(f"tariff {tariff.version} has a non-positive rounding_unit", code="invalid_tariff")

    rate_per_million = tariff.rate_per_million_sales[industry]
    sales_premium = annual_sales * rate_per_million // 1_000_000

    factor = tariff.plan_factor_permille[plan]
    minimum = tariff.plan_minimum_premium[plan]
    if plan == "E":
        assert liability_limit is not None
        steps = _plan_e_steps(liability_limit)
        factor += tariff.plan_e_factor_step_permille * steps
        minimum += tariff.plan_e_minimum_step * steps
    factored = sales_premium * factor // 1000

    minimum_applied = factored < minimum
    base = minimum if minimum_applied else factored

    rider_pct = tariff.network_rider_loading_percent if network_rider else 0
    rider = base * rider_pct // 100

    reached = [t.percent for t in discount_tiers if t.min_participants <= participants]
    discount_pct = max(reached, default=0)
    discount = (base + rider) * discount_pct // 100

    before_rounding = base + rider - discount
    annual = _round_down(before_rounding, tariff.rounding_unit)
    if annual > MAX_ANNUAL_PREMIUM:
        raise InvalidInput(
            f"the annual premium {annual:,} yen is above the {MAX_ANNUAL_PREMIUM:,} yen this system holds",
            code="premium_out_of_range",
        )

    breakdown = RatingBreakdown(
        industry=industry,
        annual_sales=annual_sales,
        plan=plan,
        liability_limit=liability_limit,
        rate_per_million_sales=rate_per_million,
        sales_premium=sales_premium,
        plan_factor_permille=factor,
        factored_premium=factored,
        minimum_premium=minimum,
        minimum_applied=minimum_applied,
        base_premium=base,
        network_rider=network_rider,
        rider_loading_percent=rider_pct,
        rider_loading=rider,
        participants=participants,
        discount_percent=discount_pct,
        discount=discount,
        premium_before_rounding=before_rounding,
        rounding_unit=tariff.rounding_unit,
        annual_premium=annual,
    )
    return Rating(annual_premium=annual, tariff_version=tariff.version, breakdown=breakdown)


def tariff_in_force(tariffs: Sequence[Tariff], on: date) -> Tariff:
    """The version with the latest ``effective_from`` on or before ``on`` (a cover-start date, JST)."""
    if isinstance(on, datetime) or not isinstance(on, date):
        # A datetime's calendar day depends on its zone; make the caller choose.
        raise InvalidInput(
            f"tariff_in_force needs a calendar date (Asia/Tokyo), got {on!r}",
            code="invalid_date",
        )
    candidates = [t for t in tariffs if t.effective_from <= on]
    if not candidates:
        raise InvalidInput(f"no tariff is in force on {on.isoformat()}", code="no_tariff_in_force")
    latest = max(t.effective_from for t in candidates)
    chosen = [t for t in candidates if t.effective_from == latest]
    if len(chosen) > 1:
        versions = ", ".join(t.version for t in chosen)
        raise InvalidInput(
            f"tariffs {versions} all take effect on {latest.isoformat()}; cannot choose",
            code="ambiguous_tariff",
        )
    return chosen[0]


def tariff_by_version(tariffs: Sequence[Tariff], version: str) -> Tariff:
    """The exact version an old quote or policy recorded, to reproduce it."""
    matches = [t for t in tariffs if t.version == version]
    if not matches:
        known = ", ".join(t.version for t in tariffs)
        raise InvalidInput(
            f"unknown tariff version {version!r}; known versions: {known}",
            code="unknown_tariff_version",
        )
    if len(matches) > 1:
        raise InvalidInput(f"tariff version {version!r} is defined more than once", code="ambiguous_tariff")
    return matches[0]


def prorate(annual_premium: int, months: int, rounding_unit: int = 10) -> int:
    """Monthly pro rata for a mid-term joiner's whole months of cover up to the anniversary."""
    if not _is_int(months) or not 1 <= months <= 12:
        raise InvalidInput(f"months must be an integer 1..12, got {months!r}", code="invalid_months")
    if not _is_int(annual_premium) or annual_premium < 0:
        raise InvalidInput(
            f"annual_premium must be a non-negative integer, got {annual_premium!r}",
            code="invalid_amount",
        )
    if not _is_int(rounding_unit) or rounding_unit <= 0:
        raise InvalidInput(
            f"rounding_unit must be a positive integer, got {rounding_unit!r}",
            code="invalid_amount",
        )
    return _round_down(annual_premium * months // 12, rounding_unit)


SAMPLE_TARIFF_2024 = Tariff(
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
    plan_minimum_premium={"A": 30_000, "B": 100_000, "C": 150_000, "D": 250_000, "E": 250_000},
    plan_e_factor_step_permille=200,
    plan_e_minimum_step=25_000,
    network_rider_loading_percent=10,
    rounding_unit=10,
)
"""Calibrated so that every seed premium example (domain.md section 5) rounds to its figure."""
