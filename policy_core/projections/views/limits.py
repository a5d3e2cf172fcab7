"""Remaining limits: per policy, period and section; per claim, what the accident used.

Each section limit is both per accident and the aggregate for the period
(domain.md section 3). The aggregates enforce both caps; this view only shows
them. A new period (renewal) starts with full limits.
"""

from __future__ import annotations

from typing import Any

from ...aggregates.policy import Policy
from ...settlement import SECTIONS
from ..tables import Rows, Table, col
from ..view import View, handles

LIMITS = "rm_limits"
CLAIM_LIMITS = "rm_limits_claims"


class LimitsView(View):
    name = "limits"
    version = 1
    tables = (
        Table(
            LIMITS,
            (
                col("policy_id", "uuid", null=False),
                col("period_number", "integer", null=False),
                col("section", "text", null=False),
                col("scheme", "text", null=False),
                col("period_start", "timestamptz", null=False),
                col("period_end", "timestamptz", null=False),
                col("limit_yen", "bigint", null=False),
                col("paid", "bigint", null=False),
                col("remaining", "bigint", null=False),
                col("payments", "integer", null=False),  # payments that used this section
                col("updated_at", "timestamptz", null=False),
            ),
            key=("policy_id", "period_number", "section"),
            owner="policy_id",
        ),
        Table(
            CLAIM_LIMITS,
            (
                col("claim_id", "uuid", null=False),
                col("section", "text", null=False),
                col("policy_id", "uuid", null=False),
                col("period_number", "integer", null=False),
                col("accident_limit", "bigint", null=False),
                col("used", "bigint", null=False),
                col("remaining", "bigint", null=False),
                col("updated_at", "timestamptz", null=False),
            ),
            key=("claim_id", "section"),
            owner="claim_id",
            indexes=(("policy_id", "period_number"),),
        ),
    )

    def _open_period(self, e: Any, scheme: str, period: dict[str, Any], rows: Rows) -> None:
        for section in SECTIONS:
            limit = period["limits"][section]
            rows.new(LIMITS, policy_id=e.originator_id, period_number=period["number"], section=section,
                     scheme=scheme, period_start=period["start"], period_end=period["end"], limit_yen=limit,
                     paid=0, remaining=limit, payments=0, updated_at=e.timestamp)

    @handles(Policy.Applied)
    def on_applied(self, e: Any, rows: Rows) -> None:
        self._open_period(e, e.scheme, e.period, rows)

    @handles(Policy.Renewed)
    def on_renewed(self, e: Any, rows: Rows) -> None:
        first = rows.require(LIMITS, e.originator_id, 1, SECTIONS[0])
        self._open_period(e, first["scheme"], e.period, rows)

    @handles(Policy.ClaimRegistered)
    def on_claim_registered(self, e: Any, rows: Rows) -> None:
        for section in SECTIONS:
            limit = rows.require(LIMITS, e.originator_id, e.period_number, section)["limit_yen"]
            rows.new(CLAIM_LIMITS, claim_id=e.claim_id, section=section, policy_id=e.originator_id,
                     period_number=e.period_number, accident_limit=limit, used=0, remaining=limit,
                     updated_at=e.timestamp)

    @handles(Policy.ClaimPaymentRecorded)
    def on_claim_payment(self, e: Any, rows: Rows) -> None:
        for section, amount in e.sections.items():
            period = rows.require(LIMITS, e.originator_id, e.period_number, section)
            period["paid"] += amount
            period["remaining"] = period["limit_yen"] - period["paid"]
            period["payments"] += 1 if amount else 0
            period["updated_at"] = e.timestamp
            claim = rows.get(CLAIM_LIMITS, e.claim_id, section)
            if claim is None:  # a payment always follows the registration; kept total anyway
                claim = rows.new(CLAIM_LIMITS, claim_id=e.claim_id, section=section,
                                 policy_id=e.originator_id, period_number=e.period_number,
                                 accident_limit=period["limit_yen"], used=0, remaining=period["limit_yen"],
                                 updated_at=e.timestamp)
            claim["used"] += amount
            claim["remaining"] = claim["accident_limit"] - claim["used"]
            claim["updated_at"] = e.timestamp
