"""Quotes: what a first period would cost and cover, decided without recording anything."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from ..bounds import check_application_date
from ..calendar import require_date
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
    scheme_ = app.scheme(scheme)
    check_application_date(require_date(application_date, "application_date"), now=app.clock())
    return decide_first_period(
        scheme_,
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
