"""Premium collection: one debit attempt's result, and the decisions a debit run shares.

A failed debit is retried on the next debit date; the last allowed failure lapses the policy
(and denies the period's open claims). Recording the same result twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ..aggregates.policy import Policy
from ..calendar import debit_date_for_attempt, require_date
from .common import Actor, text
from .lifecycle import lapse_with_claims

if TYPE_CHECKING:
    from ..application import PolicyAdministration


@dataclass(frozen=True)
class DebitOutcome:
    """One debit attempt's result, as the bank reported it."""

    policy_id: UUID
    period_number: int
    attempt: int
    debit_date: date
    success: bool
    amount: int = 0
    result_code: str = "0"
    reason: str = "debited"
    reference: str | None = None


def record_debit_success(
    app: PolicyAdministration,
    policy_id: UUID,
    period_number: int,
    *,
    attempt: int,
    amount: int,
    debit_date: date,
    reference: str | None = None,
    actor: Actor | None = None,
) -> bool:
    require_date(debit_date, "debit_date")
    outcome = DebitOutcome(
        policy_id, period_number, attempt, debit_date, True, amount=amount, reference=reference
    )
    return record_one_debit(app, outcome, actor, "record_debit_success")


def record_debit_failure(
    app: PolicyAdministration,
    policy_id: UUID,
    period_number: int,
    *,
    attempt: int,
    debit_date: date,
    result_code: str,
    reason: str,
    actor: Actor | None = None,
) -> bool:
    """A failed debit is retried on the next debit date; the last allowed failure lapses the policy."""
    require_date(debit_date, "debit_date")
    outcome = DebitOutcome(
        policy_id,
        period_number,
        attempt,
        debit_date,
        False,
        result_code=text(result_code, "result_code", max_len=10),
        reason=text(reason, "reason"),
    )
    return record_one_debit(app, outcome, actor, "record_debit_failure")


def record_one_debit(
    app: PolicyAdministration, outcome: DebitOutcome, actor: Actor | None, command_name: str
) -> bool:
    def command() -> bool:
        aggregates, _ = decide_debits(app, [outcome])
        if not aggregates:
            return False
        app._save(*aggregates, actor=actor, command=command_name)
        return True

    return app._retrying(command)


def decide_debits(
    app: PolicyAdministration,
    outcomes: list[DebitOutcome],
    loaded: dict[UUID, Policy] | None = None,
) -> tuple[list[Any], dict[str, int]]:
    """Record each outcome on its policy (not saved): the aggregates changed and the counts.

    ``loaded`` are policies already read for this run (used instead of reading them again).
    """
    counts = {"debited": 0, "failed": 0, "lapsed": 0, "unchanged": 0}
    touched: dict[UUID, Any] = {}
    loaded = loaded or {}
    for o in outcomes:
        policy = touched.get(o.policy_id) or loaded.get(o.policy_id) or app._get(Policy, o.policy_id)
        touched[policy.id] = policy
        if o.success:
            changed = policy.record_debit(o.period_number, o.attempt, o.amount, o.debit_date, o.reference)
            counts["debited" if changed else "unchanged"] += 1
        else:
            scheme = app.scheme_of(policy)
            period = policy.period(o.period_number)
            # An extra premium (endorsement) has its own retries, counted from its own stream.
            in_stream = o.attempt - period.charge_since
            extra = period.collecting_extra
            last = in_stream >= scheme.lapse_after_failed_debits
            next_date = (
                None
                if last
                else debit_date_for_attempt(
                    scheme.calendar, period.stream_nominal_debit_date, in_stream + 1, app.is_holiday
                )
            )
            changed = policy.record_debit_failure(
                o.period_number, o.attempt, o.debit_date, o.result_code, o.reason, next_date
            )
            counts["failed" if changed else "unchanged"] += 1
            # The last failure of an extra premium leaves it in arrears: the period's own premium
            # was collected and bought its cover (no lapse).
            if changed and last and not extra and not policy.is_terminated:
                for claim in lapse_with_claims(
                    app, policy, o.period_number, f"non_payment: {o.attempt} failed debits"
                ):
                    touched[claim.id] = claim
                counts["lapsed"] += 1
    return [a for a in touched.values() if a.pending_events], counts
