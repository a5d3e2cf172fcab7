"""Claims: status, cause, dates, what was paid to date in each section, why denied.

The incident description is free text that may name individuals: it stays in
the Claim aggregate and is not copied here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

from ...aggregates.claim import Claim
from ...bounds import MAX_CLAIM_LOSS_YEN, MAX_LOSS_ITEMS_PER_CLAIM, MAX_PEOPLE, MAX_YEN, sql_int
from ...calendar import TOKYO
from ...settlement import SECTIONS
from ..tables import Rows, Table, col
from ..view import View, handles

CLAIMS = "rm_claims"


def claim_status(row: dict[str, Any]) -> str:
    """The aggregate's precedence: denied, closed, paid, assessed, reported."""
    if row["denial_reason"] is not None:
        return "denied"
    if row["closed_reason"] is not None:
        return "closed"
    if row["payments"] - row.get("payments_reversed", 0):
        return "paid"
    if row["loss_items"]:
        return "assessed"
    return "reported"


class ClaimsView(View):
    name = "claims"
    # 2: columns sized from policy_core.bounds (records_affected bigint); 3: number;
    # 4: reserves, incurred, recoveries due, reversals, loss corrections, reopening
    version = 4
    rebuild_cost = 0.5
    tables = (
        Table(
            CLAIMS,
            (
                col("claim_id", "uuid", null=False),
                col("number", "text"),  # the claim number (none for claims reported before numbers)
                col("policy_id", "uuid", null=False),
                col("period_number", "integer"),
                col("status", "text", null=False),
                col("cause", "text", null=False),
                col("occurred_at", "timestamptz", null=False),
                col("discovered_at", "timestamptz", null=False),
                col("discovered_on", "date", null=False),  # Asia/Tokyo date
                col("records_affected", sql_int(MAX_PEOPLE), null=False),
                col("own_staff_information", "boolean", null=False),
                col("outside_japan", "boolean", null=False),
                col("loss_items", sql_int(MAX_LOSS_ITEMS_PER_CLAIM), null=False),
                col("assessed_loss", sql_int(MAX_CLAIM_LOSS_YEN), null=False),
                col("payments", "integer", null=False),
                *(col(f"paid_{s}", sql_int(MAX_YEN), null=False) for s in SECTIONS),
                col("paid_total", sql_int(MAX_YEN), null=False),
                col("payments_reversed", sql_int(MAX_LOSS_ITEMS_PER_CLAIM), null=False),
                *(col(f"reserve_{s}", sql_int(MAX_CLAIM_LOSS_YEN), null=False) for s in SECTIONS),
                col("reserve_total", sql_int(MAX_YEN), null=False),
                col("incurred_total", sql_int(MAX_YEN), null=False),  # paid + reserve
                col("recoveries_due", sql_int(MAX_YEN), null=False),
                col("reopened", sql_int(MAX_LOSS_ITEMS_PER_CLAIM), null=False),
                col("denial_reason", "text"),
                col("closed_reason", "text"),
                col("reported_at", "timestamptz", null=False),
                col("last_paid_at", "timestamptz"),
                col("updated_at", "timestamptz", null=False),
                col("version", "integer", null=False),
            ),
            key=("claim_id",),
            owner="claim_id",
            indexes=(("policy_id",), ("status",), ("discovered_on",), ("number",)),
        ),
    )

    def ids(self, event: Any) -> Iterator[UUID]:
        yield event.originator_id  # rows are the claim's own: no need to prefetch by policy

    def _touch(self, e: Any, rows: Rows) -> dict[str, Any]:
        row = rows.require(CLAIMS, e.originator_id)
        row["updated_at"] = e.timestamp
        row["version"] = e.originator_version
        return row

    @handles(Claim.IncidentReported)
    def on_reported(self, e: Any, rows: Rows) -> None:
        row = rows.new(
            CLAIMS,
            claim_id=e.originator_id,
            number=e.number,
            policy_id=e.policy_id,
            period_number=e.period_number,
            cause=e.cause,
            occurred_at=e.occurred_at,
            discovered_at=e.discovered_at,
            discovered_on=e.discovered_at.astimezone(TOKYO).date(),
            records_affected=e.records_affected,
            own_staff_information=e.own_staff_information,
            outside_japan=e.outside_japan,
            loss_items=0,
            assessed_loss=0,
            payments=0,
            paid_total=0,
            payments_reversed=0,
            reserve_total=0,
            incurred_total=0,
            recoveries_due=0,
            reopened=0,
            reported_at=e.timestamp,
            updated_at=e.timestamp,
            version=e.originator_version,
            **{f"paid_{s}": 0 for s in SECTIONS},
            **{f"reserve_{s}": 0 for s in SECTIONS},
        )
        row["status"] = claim_status(row)

    @handles(Claim.LossesAssessed)
    def on_assessed(self, e: Any, rows: Rows) -> None:
        row = self._touch(e, rows)
        row["loss_items"] += len(e.items)
        row["assessed_loss"] += sum(i["amount"] for i in e.items)
        row["status"] = claim_status(row)

    @handles(Claim.ClaimPaid)
    def on_paid(self, e: Any, rows: Rows) -> None:
        row = self._touch(e, rows)
        for section, s in e.settlement["sections"].items():
            row[f"paid_{section}"] += s["paid"]
        row["paid_total"] += e.total
        row["incurred_total"] = row["paid_total"] + row["reserve_total"]
        row["payments"] += 1
        row["last_paid_at"] = e.timestamp
        row["status"] = claim_status(row)

    @handles(Claim.ClaimDenied)
    def on_denied(self, e: Any, rows: Rows) -> None:
        row = self._touch(e, rows)
        row["denial_reason"] = e.reason
        row["status"] = claim_status(row)

    @handles(Claim.ClaimClosed)
    def on_closed(self, e: Any, rows: Rows) -> None:
        row = self._touch(e, rows)
        row["closed_reason"] = e.reason
        row["status"] = claim_status(row)

    @handles(Claim.ReserveChanged)
    def on_reserve(self, e: Any, rows: Rows) -> None:
        row = self._touch(e, rows)
        for section in SECTIONS:
            row[f"reserve_{section}"] = e.reserve.get(section, 0)
        row["reserve_total"] = sum(e.reserve.values())
        row["incurred_total"] = row["paid_total"] + row["reserve_total"]

    @handles(Claim.PaymentReversed)
    def on_reversed(self, e: Any, rows: Rows) -> None:
        row = self._touch(e, rows)
        for section, amount in e.sections.items():
            row[f"paid_{section}"] -= amount
        row["paid_total"] -= e.total
        row["incurred_total"] = row["paid_total"] + row["reserve_total"]
        row["payments_reversed"] += 1
        row["status"] = claim_status(row)

    @handles(Claim.LossCorrected)
    def on_loss_corrected(self, e: Any, rows: Rows) -> None:
        row = self._touch(e, rows)
        row["assessed_loss"] += e.after["amount"] - e.before["amount"]

    @handles(Claim.LossWithdrawn)
    def on_loss_withdrawn(self, e: Any, rows: Rows) -> None:
        row = self._touch(e, rows)
        row["assessed_loss"] -= e.before["amount"]
        row["loss_items"] -= 1
        row["status"] = claim_status(row)

    @handles(Claim.RecoveryBecameDue)
    def on_recovery_due(self, e: Any, rows: Rows) -> None:
        self._touch(e, rows)["recoveries_due"] += e.total

    @handles(Claim.ClaimReopened)
    def on_reopened(self, e: Any, rows: Rows) -> None:
        row = self._touch(e, rows)
        row["denial_reason"] = None
        row["closed_reason"] = None
        row["reopened"] += 1
        row["status"] = claim_status(row)
