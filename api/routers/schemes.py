from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from policy_core.scheme import Scheme, all_schemes

from ..deps import Lister
from ..responses import SchemeList, typed

router = APIRouter(tags=["schemes"])


def scheme_view(s: Scheme) -> dict[str, Any]:
    cal = s.calendar
    return {
        "key": s.key,
        "name": s.name,
        "association": s.association,
        "deductible": s.deductible,
        "expense_basic_coinsurance_percent": s.expense_basic_coinsurance_percent,
        "condolence_cap_per_person": s.condolence_cap_per_person,
        "network_rider_available": s.network_rider_available,
        "lapse_after_failed_debits": s.lapse_after_failed_debits,
        "plan_e_liability_floor": s.plan_e_liability_floor,
        "plans": {k: {"liability": v.liability, "expense": v.expense} for k, v in s.plans.items()},
        "industries": s.industries,
        "calendar": {
            "anniversary": {"month": cal.anniversary.month, "day": cal.anniversary.day},
            "boundary_hour": cal.boundary_hour,
            "timezone": "Asia/Tokyo",
            "enrollments": [
                {
                    "kind": r.kind,
                    "window_start": vars(r.window_start),
                    "window_end": vars(r.window_end),
                    "start_lead_months": r.start_lead_months,
                    "start_day": r.start_day,
                    "debit_lead_months": r.debit_lead_months,
                    "debit_day": r.debit_day,
                }
                for r in cal.enrollments
            ],
            "renewal_debit": {"month_offset": cal.renewal_debit_month_offset, "day": cal.renewal_debit_day},
        },
        "discount_tiers": [vars(t) for t in s.discount_tiers],
        "coinsurers": [c.model_dump() for c in s.coinsurers],
        "tariffs": [{"version": t.version, "effective_from": t.effective_from} for t in s.tariffs],
    }


@router.get("/schemes", **typed(SchemeList))
def list_schemes(key: Lister) -> dict[str, Any]:
    """Every scheme with its plans and limits (yen), industries, calendar (Asia/Tokyo), discount
    tiers, co-insurers (shares in basis points) and tariff versions."""
    return {"items": [scheme_view(s) for s in all_schemes()]}
