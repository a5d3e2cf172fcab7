"""Deciding a period: calendar + tariff + limits, in one pure step.

The result is what ``Applied`` and ``Renewed`` events record, so replay never
asks the tariff or the calendar again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from .calendar import TOKYO, CoverTerm, HolidayPredicate, first_term, renewal_term, require_date
from .errors import InvalidInput
from .rating import Rating, prorate, rate
from .scheme import Scheme
from .settlement import SettlementTerms


@dataclass(frozen=True)
class PeriodDecision:
    number: int
    term: CoverTerm
    rating: Rating
    premium: int  # what this period costs (pro rata for a short first period)
    terms: SettlementTerms
    basis: dict[str, Any]  # what was rated: industry, sales, plan, limit, rider, participants
    coinsurers: tuple[tuple[str, int], ...] = ()  # (key, share in basis points), the leader first

    @property
    def annual_premium(self) -> int:
        return self.rating.annual_premium

    def facts(self) -> dict[str, Any]:
        """The period as recorded in an event: decided values only."""
        return {
            "number": self.number,
            "enrollment": self.term.enrollment,
            "start": self.term.start,
            "end": self.term.end,
            "months": self.term.months,
            "nominal_debit_date": self.term.nominal_debit_date,
            "debit_date": self.term.debit_date,
            "annual_premium": self.rating.annual_premium,
            "premium": self.premium,
            "tariff_version": self.rating.tariff_version,
            "rating": self.rating.to_dict(),
            "limits": dict(self.terms.limits),
            "deductible": self.terms.deductible,
            "expense_basic_coinsurance_percent": self.terms.expense_basic_coinsurance_percent,
            "condolence_cap_per_person": self.terms.condolence_cap_per_person,
            "network_rider": self.terms.network_rider,
            "basis": dict(self.basis),
            "coinsurers": [{"key": k, "share_bp": bp} for k, bp in self.coinsurers],
        }


def _check_rider(scheme: Scheme, network_rider: Any) -> None:
    if not isinstance(network_rider, bool):
        raise InvalidInput("network_rider must be true or false", code="invalid_network_rider")
    if network_rider and not scheme.network_rider_available:
        raise InvalidInput(f"scheme {scheme.key} offers no network rider", code="invalid_network_rider")


def _decide(
    scheme: Scheme,
    number: int,
    term: CoverTerm,
    *,
    industry: str,
    annual_sales: int,
    plan: str,
    liability_limit: int | None,
    network_rider: bool,
    participants: int,
) -> PeriodDecision:
    _check_rider(scheme, network_rider)
    scheme.check_plan(plan, liability_limit)
    tariff = scheme.tariff_in_force(term.start.astimezone(TOKYO).date())
    rating = rate(
        tariff,
        industry=industry,
        annual_sales=annual_sales,
        plan=plan,
        liability_limit=liability_limit if plan == "E" else None,
        network_rider=network_rider,
        participants=participants,
        discount_tiers=scheme.discount_tiers,
    )
    premium = (
        rating.annual_premium
        if term.months == 12
        else prorate(rating.annual_premium, term.months, tariff.rounding_unit)
    )
    return PeriodDecision(
        number=number,
        term=term,
        rating=rating,
        premium=premium,
        terms=scheme.settlement_terms(plan, liability_limit if plan == "E" else None, network_rider),
        coinsurers=tuple((c.key, c.share_bp) for c in scheme.coinsurers),
        basis={
            "industry": industry,
            "annual_sales": annual_sales,
            "plan": plan,
            "liability_limit": liability_limit if plan == "E" else None,
            "network_rider": network_rider,
            "participants": participants,
        },
    )


def decide_first_period(
    scheme: Scheme,
    *,
    industry: str,
    annual_sales: int,
    plan: str,
    liability_limit: int | None = None,
    network_rider: bool = False,
    application_date: date,
    enrollment: str | None = None,
    participants: int = 0,
    is_holiday: HolidayPredicate,
) -> PeriodDecision:
    """A quote: the first period for an application made on ``application_date``."""
    require_date(application_date, "application_date")
    term = first_term(scheme.calendar, application_date, is_holiday, enrollment)
    return _decide(
        scheme,
        1,
        term,
        industry=industry,
        annual_sales=annual_sales,
        plan=plan,
        liability_limit=liability_limit,
        network_rider=network_rider,
        participants=participants,
    )


def decide_renewal(
    scheme: Scheme,
    *,
    number: int,
    previous_end: datetime,
    industry: str,
    annual_sales: int,
    plan: str,
    liability_limit: int | None,
    network_rider: bool,
    participants: int,
    is_holiday: HolidayPredicate,
) -> PeriodDecision:
    """The next yearly period, re-rated with the tariff in force at its start."""
    term = renewal_term(scheme.calendar, previous_end, is_holiday)
    return _decide(
        scheme,
        number,
        term,
        industry=industry,
        annual_sales=annual_sales,
        plan=plan,
        liability_limit=liability_limit,
        network_rider=network_rider,
        participants=participants,
    )
