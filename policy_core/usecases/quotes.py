"""Quotes: what a first period would cost and cover, decided without recording anything."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from ..quoting import PeriodDecision, decide_first_period

if TYPE_CHECKING:
    from ..application import PolicyAdministration


def quote(
    app: PolicyAdministration,
    *,
    scheme: str,
    industry: str,
    annual_sales: int,
    plan: str,
    liability_limit: int | None = None,
    network_rider: bool = False,
    application_date: date,
    enrollment: str | None = None,
) -> PeriodDecision:
    return decide_first_period(
        app.scheme(scheme),
        industry=industry,
        annual_sales=annual_sales,
        plan=plan,
        liability_limit=liability_limit,
        network_rider=network_rider,
        application_date=application_date,
        enrollment=enrollment,
        participants=app.participants(scheme),
        is_holiday=app.is_holiday,
    )
