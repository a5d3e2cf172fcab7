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
from ..errors import Conflict, InvalidInput, NotFound
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

    # ---------------------------------------------------------------- corrections and reserves
    class ReserveChanged(Aggregate.Event):
        """The case reserve (支払備金) per section after the change: set by the handler, drawn
        down by a payment (``cause`` "payment"), released by closing or denying."""

        TOPIC = "policy_admin:Claim.ReserveChanged"
        reserve: dict[str, int]
        cause: str  # set | payment | closure | denial
        reason: str

    class PaymentReversed(Aggregate.Event):
        """A payment reversed in full: what it paid per section no longer counts as paid."""

        TOPIC = "policy_admin:Claim.PaymentReversed"
        payment_number: int
        period_number: int
        sections: dict[str, int]
        total: int
        reason: str

    class LossCorrected(Aggregate.Event):
        TOPIC = "policy_admin:Claim.LossCorrected"
        item: int  # the item's stable number (1-based, in the order assessed)
        before: dict[str, Any]
        after: dict[str, Any]
        reason: str

    class LossWithdrawn(Aggregate.Event):
        TOPIC = "policy_admin:Claim.LossWithdrawn"
        item: int
        before: dict[str, Any]
        reason: str

    class RecoveryBecameDue(Aggregate.Event):
        """Corrections made the claim owe less than was paid: the insured owes it back (求償 /
        回収). Never a negative payment."""

        TOPIC = "policy_admin:Claim.RecoveryBecameDue"
        sections: dict[str, int]  # newly due per section
        total: int
        reason: str

    class ClaimReopened(Aggregate.Event):
        TOPIC = "policy_admin:Claim.ClaimReopened"
        previous_status: str  # closed | denied
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
        self.reserve: dict[str, int] = {s: 0 for s in SECTIONS}
        self.recoveries_due: dict[str, int] = {s: 0 for s in SECTIONS}
        self.reopened: int = 0

    # ------------------------------------------------------------------ reads
    @property
    def status(self) -> str:
        if self.denial_reason is not None:
            return DENIED
        if self.closed_reason is not None:
            return CLOSED
        if any(not p.get("reversed") for p in self.payments):
            return PAID
        if self.live_losses():
            return ASSESSED
        return REPORTED

    @property
    def paid_total(self) -> int:
        return sum(self.paid.values())

    @property
    def reserve_total(self) -> int:
        return sum(self.reserve.values())

    def incurred(self) -> dict[str, int]:
        """Incurred = paid + case reserve, per section."""
        return {s: self.paid.get(s, 0) + self.reserve.get(s, 0) for s in SECTIONS}

    def live_losses(self) -> list[dict[str, Any]]:
        return [i for i in self.losses if not i.get("withdrawn")]

    def loss_items(self) -> list[LossItem]:
        return [
            LossItem(i["category"], i["risk"], i["amount"], i.get("recipients")) for i in self.live_losses()
        ]

    def loss_item(self, number: int) -> dict[str, Any]:
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= len(self.losses):
            raise NotFound(
                f"claim has loss items 1..{len(self.losses)}, not {number!r}", code="loss_item_not_found"
            )
        return self.losses[number - 1]

    def payment(self, number: int) -> dict[str, Any]:
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= len(self.payments):
            raise NotFound(
                f"claim has payments 1..{len(self.payments)}, not {number!r}", code="payment_not_found"
            )
        return self.payments[number - 1]

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
        for i in items:  # items are numbered in the order assessed: the number never changes
            self.losses.append({**i, "number": len(self.losses) + 1, "withdrawn": False})

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
        self.payments.append(
            {"payment_number": payment_number, "total": total, "settlement": settlement, "reversed": False}
        )
        for section, s in settlement["sections"].items():
            self.paid[section] = self.paid.get(section, 0) + s["paid"]

    def draw_down_reserve(self, paid: dict[str, int]) -> bool:
        """After a payment: each section's reserve falls by what it paid, never below 0."""
        after = {s: max(0, self.reserve.get(s, 0) - paid.get(s, 0)) for s in SECTIONS}
        if after == self.reserve:
            return False
        self._reserve_changed(reserve=after, cause="payment", reason="payment drew the reserve down")
        return True

    def set_reserve(self, sections: dict[str, int], reason: str) -> bool:
        """The handler's estimate of what is still to pay, per section (sections not named keep theirs)."""
        self._check_open()
        if not isinstance(sections, dict) or not sections:
            raise InvalidInput("sections must name at least one section", code="invalid_reserve")
        for section, amount in sections.items():
            if section not in SECTIONS:
                raise InvalidInput(f"unknown section {section!r}", code="unknown_section")
            if (
                isinstance(amount, bool)
                or not isinstance(amount, int)
                or not 0 <= amount <= MAX_CLAIM_LOSS_YEN
            ):
                raise InvalidInput(
                    f"reserve for {section} must be yen from 0 to {MAX_CLAIM_LOSS_YEN:,}",
                    code="invalid_amount",
                )
        after = {**self.reserve, **sections}
        if after == self.reserve:
            return False
        self._reserve_changed(reserve=after, cause="set", reason=reason)
        return True

    def _release_reserve(self, cause: str, reason: str) -> None:
        if any(self.reserve.values()):
            self._reserve_changed(reserve={s: 0 for s in SECTIONS}, cause=cause, reason=reason)

    @event(ReserveChanged)
    def _reserve_changed(self, reserve: dict[str, int], cause: str, reason: str) -> None:
        self.reserve = dict(reserve)

    def reverse_payment(self, number: int, reason: str) -> dict[str, Any]:
        payment = self.payment(number)
        if payment.get("reversed"):
            raise Conflict(f"payment {number} is already reversed", code="payment_already_reversed")
        sections = {s: r["paid"] for s, r in payment["settlement"]["sections"].items() if r["paid"]}
        self._payment_reversed(
            payment_number=number,
            period_number=self.period_number,
            sections=sections,
            total=payment["total"],
            reason=reason,
        )
        return self.payments[number - 1]

    @event(PaymentReversed)
    def _payment_reversed(
        self,
        payment_number: int,
        period_number: int | None,
        sections: dict[str, int],
        total: int,
        reason: str,
    ) -> None:
        self.payments[payment_number - 1] = {
            **self.payments[payment_number - 1],
            "reversed": True,
            "reversal_reason": reason,
        }
        for section, amount in sections.items():
            self.paid[section] -= amount

    def correct_loss(self, number: int, item: LossItem, reason: str) -> None:
        self._check_open()
        before = self.loss_item(number)
        if before.get("withdrawn"):
            raise Conflict(f"loss item {number} was withdrawn", code="loss_item_withdrawn")
        after = {
            "category": item.category,
            "risk": item.risk,
            "amount": item.amount,
            "recipients": item.recipients,
        }
        if all(before.get(k) == v for k, v in after.items()):
            raise Conflict(f"loss item {number} already reads so", code="nothing_to_correct")
        total = sum(i["amount"] for i in self.live_losses()) - before["amount"] + item.amount
        if total > MAX_CLAIM_LOSS_YEN:
            raise InvalidInput(
                f"a claim's loss items total at most {MAX_CLAIM_LOSS_YEN:,} yen",
                code="claim_loss_out_of_range",
            )
        self._loss_corrected(item=number, before=_item_fields(before), after=after, reason=reason)

    @event(LossCorrected)
    def _loss_corrected(self, item: int, before: dict[str, Any], after: dict[str, Any], reason: str) -> None:
        self.losses[item - 1] = {**self.losses[item - 1], **after}

    def withdraw_loss(self, number: int, reason: str) -> None:
        self._check_open()
        before = self.loss_item(number)
        if before.get("withdrawn"):
            raise Conflict(f"loss item {number} is already withdrawn", code="loss_item_withdrawn")
        self._loss_withdrawn(item=number, before=_item_fields(before), reason=reason)

    @event(LossWithdrawn)
    def _loss_withdrawn(self, item: int, before: dict[str, Any], reason: str) -> None:
        self.losses[item - 1] = {**self.losses[item - 1], "withdrawn": True}

    def record_recovery_due(self, overpaid: dict[str, int], reason: str) -> bool:
        """``overpaid``: per section, how much more was paid than the claim now owes (decided by
        the settlement rules). What is not yet due becomes due."""
        new = {s: amount - self.recoveries_due.get(s, 0) for s, amount in overpaid.items()}
        new = {s: a for s, a in new.items() if a > 0}
        if not new:
            return False
        self._recovery_became_due(sections=new, total=sum(new.values()), reason=reason)
        return True

    @event(RecoveryBecameDue)
    def _recovery_became_due(self, sections: dict[str, int], total: int, reason: str) -> None:
        for s, amount in sections.items():
            self.recoveries_due[s] = self.recoveries_due.get(s, 0) + amount

    @property
    def recoveries_due_total(self) -> int:
        return sum(self.recoveries_due.values())

    def reopen(self, reason: str) -> None:
        if self.denial_reason is not None:
            previous = DENIED
        elif self.closed_reason is not None:
            previous = CLOSED
        else:
            raise Conflict(
                f"claim is {self.status}; only a closed or denied claim reopens", code="claim_open"
            )
        self._claim_reopened(previous_status=previous, reason=reason)

    @event(ClaimReopened)
    def _claim_reopened(self, previous_status: str, reason: str) -> None:
        self.denial_reason = None
        self.denial_message = None
        self.closed_reason = None
        self.reopened += 1

    def deny(self, reason: str, message: str) -> bool:
        if self.denial_reason is not None:
            return False
        if self.closed_reason is not None:
            raise Conflict("claim is closed", code="claim_closed")
        if any(not p.get("reversed") for p in self.payments):
            raise Conflict("a claim with payments cannot be denied; close it instead", code="claim_paid")
        self._release_reserve("denial", "claim denied")
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
        self._release_reserve("closure", "claim closed")
        self._claim_closed(reason=reason)
        return True

    @event(ClaimClosed)
    def _claim_closed(self, reason: str) -> None:
        self.closed_reason = reason


def _item_fields(item: dict[str, Any]) -> dict[str, Any]:
    return {k: item.get(k) for k in ("category", "risk", "amount", "recipients")}
