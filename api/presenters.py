"""Aggregates to JSON-ready dicts. Bank account numbers are always masked.

One offset convention for every moment the API answers: Asia/Tokyo, ``+09:00`` (scheme dates
are Tokyo dates; recorded event times are stored in UTC and shown in Tokyo time). ``tokyo``
applies it to any answer (lists, single reads, reports)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from policy_core.aggregates.claim import Claim
from policy_core.aggregates.policy import Period, Policy
from policy_core.bank import BankAccount
from policy_core.calendar import TOKYO


def tokyo(value: Any) -> Any:
    """``value`` with every aware datetime in it shown at the Tokyo offset (UUIDs as text)."""
    if isinstance(value, datetime):
        return value.astimezone(TOKYO) if value.tzinfo is not None else value
    if isinstance(value, dict):
        return {k: tokyo(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [tokyo(v) for v in value]
    if isinstance(value, UUID):
        return str(value)
    return value


def period_view(p: Period) -> dict[str, Any]:
    return tokyo(
        {
            "number": p.number,
            "enrollment": p.enrollment,
            "start": p.start,
            "end": p.end,
            "months": p.months,
            "annual_premium": p.annual_premium,
            "premium": p.premium,
            "collected": p.collected,
            "tariff_version": p.tariff_version,
            "debit_date": p.debit_date,
            "next_debit_date": p.next_debit_date,
            "failed_debits": p.failed_attempts,
            "activated_at": p.activated_at,
            "lapsed_at": p.lapsed_at,
            "refund_due": p.refund_due,
            "outstanding": p.outstanding,
            "endorsement_refund": p.refunded,  # return premium decided by endorsements
            "network_rider": p.network_rider,
            "limits": dict(p.limits),
            "paid": dict(p.paid),
            "remaining": p.remaining(),
            "rating": p.rating,
        }
    )


def masked_account(account: dict[str, Any]) -> dict[str, Any]:
    if account.get("erased") is True:  # the member's data key is destroyed
        return {"erased": True}
    return BankAccount.from_dict(account).masked()


def policy_view(policy: Policy) -> dict[str, Any]:
    current = policy.current_period
    first = policy.periods[0]
    return tokyo(
        {
            "id": str(policy.id),
            "number": policy.number,
            "version": policy.version,
            "scheme": policy.scheme,
            "member_number": policy.member_number,
            "holder": policy.holder,
            "industry": policy.industry,
            "annual_sales": policy.annual_sales,
            "plan": policy.plan,
            "liability_limit": current.limits["liability_basic"],
            "network_rider": policy.network_rider,
            "bank_account": masked_account(policy.bank_account),
            "application_date": policy.application_date,
            "enrollment": policy.enrollment,
            "status": policy.status,
            "coverage_start": first.start,
            "coverage_end": current.end,
            "premium": first.premium,
            "debit_date": first.debit_date,
            "tariff_version": first.tariff_version,
            "current_period": period_view(current),
            "periods": [period_view(p) for p in policy.periods],
            "non_renewal_notice_on": policy.non_renewal_notice_on,
            "lapsed_at": policy.lapsed_at,
            "lapse_reason": policy.lapse_reason,
            "cancelled_at": policy.cancelled_at,
            "cancellation_reason": policy.cancellation_reason,
            "expired_at": policy.expired_at,
            "endorsements": [dict(e) for e in getattr(policy, "endorsements", [])],
            "modified_on": policy.modified_on,
        }
    )


def claim_view(claim: Claim) -> dict[str, Any]:
    return tokyo(
        {
            "id": str(claim.id),
            "number": claim.number,
            "version": claim.version,
            "policy_id": str(claim.policy_id),
            "period": claim.period_number,
            "status": claim.status,
            "occurred_at": claim.occurred_at,
            "discovered_at": claim.discovered_at,
            "cause": claim.cause,
            "records_affected": claim.records_affected,
            "description": claim.description,
            "own_staff_information": claim.own_staff_information,
            "outside_japan": claim.outside_japan,
            "losses": [{"withdrawn": False, **i, "number": n} for n, i in enumerate(claim.losses, start=1)],
            "paid": dict(claim.paid),
            "paid_total": claim.paid_total,
            "reserve": dict(claim.reserve),
            "reserve_total": claim.reserve_total,
            "incurred": claim.incurred(),
            "incurred_total": claim.paid_total + claim.reserve_total,
            "recoveries_due": dict(claim.recoveries_due),
            "recoveries_due_total": claim.recoveries_due_total,
            "payments": [dict(p, reversed=bool(p.get("reversed"))) for p in claim.payments],
            "denial_reason": claim.denial_reason,
            "denial_message": claim.denial_message,
            "closed_reason": claim.closed_reason,
            "modified_on": claim.modified_on,
        }
    )


_HIDDEN = {"originator_id", "originator_version", "timestamp", "originator_topic", "metadata"}


def event_view(e: Any) -> dict[str, Any]:
    data = {k: v for k, v in vars(e).items() if k not in _HIDDEN}
    if data.get("bank_account") is not None:  # an endorsement without a new account has None
        data["bank_account"] = masked_account(data["bank_account"])
    return tokyo(
        {
            "version": e.originator_version,
            "type": type(e).__name__,
            "recorded_at": e.timestamp,
            "metadata": getattr(e, "metadata", None),
            "data": data,
        }
    )


def payment_view(claim: Claim, payment: dict[str, Any], paid_at: datetime | None) -> dict[str, Any]:
    """One recorded payment of a claim: its settlement as decided then, section by section, with
    the recorded explanation (``steps``) of each section."""
    return tokyo(
        {
            "number": payment["payment_number"],
            "claim_id": claim.id,
            "period": claim.period_number,
            "total": payment["total"],
            "reversed": bool(payment.get("reversed")),
            "paid_at": paid_at,
            "sections": payment["settlement"]["sections"],
        }
    )
