"""The Claim aggregate: one accident reported against one policy.

``ClaimPaid`` carries the whole explained settlement (each section's eligible
loss, condolence cap, deductible, coinsurance, the cap that bound), so an
auditor can explain every yen from the event alone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from ..bounds import MAX_CLAIM_LOSS_YEN, MAX_LOSS_ITEMS_PER_CLAIM
from ..errors import Conflict, InvalidInput
from ..settlement import SECTIONS, LossItem, Settlement

REPORTED, ASSESSED, PAID, DENIED, CLOSED = "reported", "assessed", "paid", "denied", "closed"


class Claim(Aggregate):
    TOPIC = "policy_admin:Claim"

    class Created(Aggregate.Created):
        TOPIC = "policy_admin:Claim.Created"  # not triggered; the library declares it

    class IncidentReported(Created):
        """v2 added the exclusion flags; v1 histories read as 'neither'. v3 added ``number``
        (the claim number, 事故受付番号); older histories read as none."""

        TOPIC = "policy_admin:Claim.IncidentReported"
        class_version = 3
        number: str | None
        policy_id: UUID
        period_number: int | None
        occurred_at: datetime
        discovered_at: datetime
        cause: str
        records_affected: int
        description: str
        own_staff_information: bool
        outside_japan: bool

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.setdefault("own_staff_information", False)
            state.setdefault("outside_japan", False)

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state.setdefault("number", None)

    class LossesAssessed(Aggregate.Event):
        TOPIC = "policy_admin:Claim.LossesAssessed"
        items: list[dict[str, Any]]

    class ClaimPaid(Aggregate.Event):
        TOPIC = "policy_admin:Claim.ClaimPaid"
        payment_number: int
        period_number: int
        total: int
        settlement: dict[str, Any]

    class ClaimDenied(Aggregate.Event):
        TOPIC = "policy_admin:Claim.ClaimDenied"
        reason: str
        message: str

    class ClaimClosed(Aggregate.Event):
        TOPIC = "policy_admin:Claim.ClaimClosed"
        reason: str

    @event(IncidentReported)
    def __init__(
        self,
        id: UUID,  # noqa: A002 - chosen by the application (its claim number is issued to it)
        policy_id: UUID,
        period_number: int | None,
        occurred_at: datetime,
        discovered_at: datetime,
        cause: str,
        records_affected: int,
        description: str,
        own_staff_information: bool,
        outside_japan: bool,
        number: str | None = None,
    ) -> None:
        self.number = number
        self.policy_id = policy_id
        self.period_number = period_number
        self.occurred_at = occurred_at
        self.discovered_at = discovered_at
        self.cause = cause
        self.records_affected = records_affected
        self.description = description
        self.own_staff_information = own_staff_information
        self.outside_japan = outside_japan
        self.losses: list[dict[str, Any]] = []
        self.payments: list[dict[str, Any]] = []
        self.paid: dict[str, int] = {s: 0 for s in SECTIONS}
        self.denial_reason: str | None = None
        self.denial_message: str | None = None
        self.closed_reason: str | None = None

    # ------------------------------------------------------------------ reads
    @property
    def status(self) -> str:
        if self.denial_reason is not None:
            return DENIED
        if self.closed_reason is not None:
            return CLOSED
        if self.payments:
            return PAID
        if self.losses:
            return ASSESSED
        return REPORTED

    @property
    def paid_total(self) -> int:
        return sum(self.paid.values())

    def loss_items(self) -> list[LossItem]:
        return [LossItem(i["category"], i["risk"], i["amount"], i.get("recipients")) for i in self.losses]

    def _check_open(self) -> None:
        if self.denial_reason is not None:
            raise Conflict(f"claim was denied ({self.denial_reason})", code="claim_denied")
        if self.closed_reason is not None:
            raise Conflict("claim is closed", code="claim_closed")

    # ------------------------------------------------------------------ commands
    def assess(self, items: list[LossItem]) -> None:
        self._check_open()
        if not items:
            raise InvalidInput("at least one loss item is needed", code="no_loss_items")
        if len(self.losses) + len(items) > MAX_LOSS_ITEMS_PER_CLAIM:
            raise InvalidInput(
                f"a claim holds at most {MAX_LOSS_ITEMS_PER_CLAIM:,} loss items "
                f"({len(self.losses):,} recorded, {len(items):,} more given)",
                code="too_many_loss_items",
            )
        total = sum(i["amount"] for i in self.losses) + sum(i.amount for i in items)
        if total > MAX_CLAIM_LOSS_YEN:
            raise InvalidInput(
                f"a claim's loss items total at most {MAX_CLAIM_LOSS_YEN:,} yen; these would make {total:,}",
                code="claim_loss_out_of_range",
            )
        self._losses_assessed(
            items=[
                {"category": i.category, "risk": i.risk, "amount": i.amount, "recipients": i.recipients}
                for i in items
            ]
        )

    @event(LossesAssessed)
    def _losses_assessed(self, items: list[dict[str, Any]]) -> None:
        self.losses.extend(dict(i) for i in items)

    def pay(self, settlement: Settlement, period_number: int) -> dict[str, Any]:
        """Record a settlement already decided against the policy's period usage."""
        self._check_open()
        if self.period_number != period_number:
            raise Conflict("payment is for another period than the claim's", code="unexpected_period")
        if settlement.total <= 0:
            raise Conflict(
                "nothing newly payable on this claim", code="nothing_payable", settlement=settlement.to_dict()
            )
        record = settlement.to_dict()
        self._claim_paid(
            payment_number=len(self.payments) + 1,
            period_number=period_number,
            total=settlement.total,
            settlement=record,
        )
        return self.payments[-1]

    @event(ClaimPaid)
    def _claim_paid(
        self, payment_number: int, period_number: int, total: int, settlement: dict[str, Any]
    ) -> None:
        self.payments.append({"payment_number": payment_number, "total": total, "settlement": settlement})
        for section, s in settlement["sections"].items():
            self.paid[section] = self.paid.get(section, 0) + s["paid"]

    def deny(self, reason: str, message: str) -> bool:
        if self.denial_reason is not None:
            return False
        if self.closed_reason is not None:
            raise Conflict("claim is closed", code="claim_closed")
        if self.payments:
            raise Conflict("a claim with payments cannot be denied; close it instead", code="claim_paid")
        self._claim_denied(reason=reason, message=message)
        return True

    @event(ClaimDenied)
    def _claim_denied(self, reason: str, message: str) -> None:
        self.denial_reason = reason
        self.denial_message = message

    def close(self, reason: str) -> bool:
        if self.closed_reason is not None:
            return False
        if self.denial_reason is not None:
            raise Conflict("claim was denied", code="claim_denied")
        self._claim_closed(reason=reason)
        return True

    @event(ClaimClosed)
    def _claim_closed(self, reason: str) -> None:
        self.closed_reason = reason
