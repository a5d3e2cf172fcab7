"""Collections: what is due by date (the scheduler's work list), failed debits, arrears, lapses.

* ``rm_collections_debits``: one row per policy period with its premium, what was
  collected, the next attempt number and date. ``state`` is ``due``, ``collected``
  or ``lapsed`` (the period's own facts); ``policy_status`` is the policy's status,
  so the scheduler can decide what to do with a cancelled policy's unpaid period.
* ``rm_collections_attempts``: every debit attempt with its outcome and bank result code.
* ``rm_collections_lapses``: every lapse for non-payment with the premium left unpaid.

Debit and lapse rows carry the policy number (証券番号, ``policy_number``: what the collections
staff say on the phone; null for a policy applied before numbers).

Arrears are the ``due`` rows with at least one failed attempt.
"""

from __future__ import annotations

from typing import Any

from ...aggregates.policy import Policy
from ...bounds import MAX_ANNUAL_PREMIUM, sql_int
from ..tables import Rows, Table, col
from ..view import View, handles

DEBITS = "rm_collections_debits"
ATTEMPTS = "rm_collections_attempts"
LAPSES = "rm_collections_lapses"
POLICY_STATE = "rm_collections_policies"


def _status(p: dict[str, Any]) -> str:
    if p["cancelled"]:
        return "cancelled"
    if p["lapsed"]:
        return "lapsed"
    if p["expired"]:
        return "expired"
    return "active" if p["activated"] else "applied"


class CollectionsView(View):
    name = "collections"
    # 2: a lapse ends the later periods too; debits received after a lapse (refund_due); 3: reinstatement;
    # 4: endorsement premium deltas (an extra premium's own debit stream, returns); 5: policy numbers
    version = 5
    rebuild_cost = 4.0
    tables = (
        Table(
            DEBITS,
            (
                col("policy_id", "uuid", null=False),
                col("policy_number", "text"),
                col("period_number", "integer", null=False),
                col("scheme", "text", null=False),
                col("premium", sql_int(MAX_ANNUAL_PREMIUM), null=False),
                col("collected", sql_int(MAX_ANNUAL_PREMIUM), null=False),
                col("outstanding", sql_int(MAX_ANNUAL_PREMIUM), null=False),
                col("debit_date", "date", null=False),  # first scheduled debit (business day)
                col("nominal_debit_date", "date", null=False),
                col("attempts", "integer", null=False),
                col("failed_attempts", "integer", null=False),
                col("next_attempt", "integer", null=False),
                col("next_debit_date", "date"),
                col("last_result_code", "text"),
                col("last_reason", "text"),
                col("state", "text", null=False),  # due | collected | lapsed
                col("policy_status", "text", null=False),
                col("updated_at", "timestamptz", null=False),
            ),
            key=("policy_id", "period_number"),
            owner="policy_id",
            indexes=(("state", "next_debit_date"),),
        ),
        Table(
            ATTEMPTS,
            (
                col("policy_id", "uuid", null=False),
                col("period_number", "integer", null=False),
                col("attempt", "integer", null=False),
                col("scheme", "text", null=False),
                col("debit_date", "date", null=False),
                col("outcome", "text", null=False),  # debited | failed | refund_due (after a lapse)
                col("amount", sql_int(MAX_ANNUAL_PREMIUM), null=False),
                col("reference", "text"),
                col("result_code", "text"),
                col("reason", "text"),
                col("next_debit_date", "date"),
                col("recorded_at", "timestamptz", null=False),
            ),
            key=("policy_id", "period_number", "attempt"),
            owner="policy_id",
            indexes=(("outcome", "debit_date"),),
        ),
        Table(
            LAPSES,
            (
                col("policy_id", "uuid", null=False),
                col("policy_number", "text"),
                col("period_number", "integer", null=False),
                col("scheme", "text", null=False),
                col("effective_at", "timestamptz", null=False),
                col("reason", "text", null=False),
                col("unpaid_premium", sql_int(MAX_ANNUAL_PREMIUM), null=False),
                col("failed_attempts", "integer", null=False),
                col("recorded_at", "timestamptz", null=False),
            ),
            key=("policy_id",),
            owner="policy_id",
            indexes=(("recorded_at",),),
        ),
        Table(
            POLICY_STATE,
            (
                col("policy_id", "uuid", null=False),
                col("policy_number", "text"),
                col("scheme", "text", null=False),
                col("periods", "integer", null=False),
                col("activated", "boolean", null=False),
                col("lapsed", "boolean", null=False),
                col("cancelled", "boolean", null=False),
                col("expired", "boolean", null=False),
            ),
            key=("policy_id",),
            owner="policy_id",
        ),
    )

    # ------------------------------------------------------------------ helpers
    def _open_period(self, e: Any, policy: dict[str, Any], period: dict[str, Any], rows: Rows) -> None:
        rows.new(
            DEBITS,
            policy_id=e.originator_id,
            policy_number=policy["policy_number"],
            period_number=period["number"],
            scheme=policy["scheme"],
            premium=period["premium"],
            collected=0,
            outstanding=period["premium"],
            debit_date=period["debit_date"],
            nominal_debit_date=period["nominal_debit_date"],
            attempts=0,
            failed_attempts=0,
            next_attempt=1,
            next_debit_date=period["debit_date"] if period["premium"] > 0 else None,
            state="due" if period["premium"] > 0 else "collected",
            policy_status=_status(policy),
            updated_at=e.timestamp,
        )

    def _policy_changed(self, e: Any, policy: dict[str, Any], rows: Rows) -> None:
        status = _status(policy)
        for n in range(1, policy["periods"] + 1):
            debit = rows.require(DEBITS, e.originator_id, n)
            if debit["policy_status"] != status:
                debit["policy_status"] = status
                debit["updated_at"] = e.timestamp

    def _debit(self, e: Any, rows: Rows) -> dict[str, Any]:
        row = rows.require(DEBITS, e.originator_id, e.period_number)
        row["attempts"] += 1
        row["next_attempt"] = row["attempts"] + 1
        row["updated_at"] = e.timestamp
        return row

    # ------------------------------------------------------------------ handlers
    @handles(Policy.Applied)
    def on_applied(self, e: Any, rows: Rows) -> None:
        policy = rows.new(
            POLICY_STATE,
            policy_id=e.originator_id,
            policy_number=e.number,
            scheme=e.scheme,
            periods=1,
            activated=False,
            lapsed=False,
            cancelled=False,
            expired=False,
        )
        self._open_period(e, policy, e.period, rows)

    @handles(Policy.Renewed)
    def on_renewed(self, e: Any, rows: Rows) -> None:
        policy = rows.require(POLICY_STATE, e.originator_id)
        policy["periods"] = e.period["number"]
        self._open_period(e, policy, e.period, rows)

    @handles(Policy.Activated)
    def on_activated(self, e: Any, rows: Rows) -> None:
        policy = rows.require(POLICY_STATE, e.originator_id)
        policy["activated"] = True
        self._policy_changed(e, policy, rows)

    @handles(Policy.PremiumDebited)
    def on_debited(self, e: Any, rows: Rows) -> None:
        row = self._debit(e, rows)
        row["collected"] += e.amount
        row["outstanding"] = max(0, row["premium"] - row["collected"])
        row["next_debit_date"] = None
        row["state"] = "collected" if row["outstanding"] <= 0 else row["state"]
        rows.new(
            ATTEMPTS,
            policy_id=e.originator_id,
            period_number=e.period_number,
            attempt=e.attempt,
            scheme=row["scheme"],
            debit_date=e.debit_date,
            outcome="debited",
            amount=e.amount,
            reference=e.reference,
            recorded_at=e.timestamp,
        )

    @handles(Policy.PremiumDebitFailed)
    def on_debit_failed(self, e: Any, rows: Rows) -> None:
        row = self._debit(e, rows)
        row["failed_attempts"] += 1
        row["next_debit_date"] = e.next_debit_date
        row["last_result_code"] = e.result_code
        row["last_reason"] = e.reason
        rows.new(
            ATTEMPTS,
            policy_id=e.originator_id,
            period_number=e.period_number,
            attempt=e.attempt,
            scheme=row["scheme"],
            debit_date=e.debit_date,
            outcome="failed",
            amount=0,
            result_code=e.result_code,
            reason=e.reason,
            next_debit_date=e.next_debit_date,
            recorded_at=e.timestamp,
        )

    @handles(Policy.Lapsed)
    def on_lapsed(self, e: Any, rows: Rows) -> None:
        policy = rows.require(POLICY_STATE, e.originator_id)
        policy["lapsed"] = True
        row = rows.require(DEBITS, e.originator_id, e.period_number)
        row["state"] = "lapsed"
        row["next_debit_date"] = None
        row["updated_at"] = e.timestamp
        for later in e.later_periods:  # their cover ends too: nothing more is collected for them
            q = rows.require(DEBITS, e.originator_id, later["number"])
            q["state"] = "lapsed"
            q["next_debit_date"] = None
            q["updated_at"] = e.timestamp
        rows.new(
            LAPSES,
            policy_id=e.originator_id,
            policy_number=policy["policy_number"],
            period_number=e.period_number,
            scheme=policy["scheme"],
            effective_at=e.effective_at,
            reason=e.reason,
            unpaid_premium=row["outstanding"],
            failed_attempts=row["failed_attempts"],
            recorded_at=e.timestamp,
        )
        self._policy_changed(e, policy, rows)

    @handles(Policy.PremiumReceivedAfterLapse)
    def on_received_after_lapse(self, e: Any, rows: Rows) -> None:
        row = self._debit(e, rows)
        rows.new(
            ATTEMPTS,
            policy_id=e.originator_id,
            period_number=e.period_number,
            attempt=e.attempt,
            scheme=row["scheme"],
            debit_date=e.debit_date,
            outcome="refund_due",
            amount=e.amount,
            reference=e.reference,
            recorded_at=e.timestamp,
        )

    @handles(Policy.Cancelled)
    def on_cancelled(self, e: Any, rows: Rows) -> None:
        policy = rows.require(POLICY_STATE, e.originator_id)
        policy["cancelled"] = True
        self._policy_changed(e, policy, rows)

    @handles(Policy.Expired)
    def on_expired(self, e: Any, rows: Rows) -> None:
        policy = rows.require(POLICY_STATE, e.originator_id)
        policy["expired"] = True
        self._policy_changed(e, policy, rows)

    @handles(Policy.Endorsed, Policy.EndorsementReapplied)
    def on_endorsed(self, e: Any, rows: Rows) -> None:
        self._endorsement(e, rows, e.premium_delta)

    @handles(Policy.EndorsementReversed)
    def on_endorsement_reversed(self, e: Any, rows: Rows) -> None:
        self._endorsement(e, rows, -e.premium_delta)

    def _endorsement(self, e: Any, rows: Rows, delta: int) -> None:
        """``premium`` is the period's premium as endorsed, ``collected`` net of return premium; an
        extra premium after the period was collected is due on its own first debit date."""
        if not delta and not e.refund and e.charge is None:
            return
        row = rows.require(DEBITS, e.originator_id, e.period_number)
        row["premium"] += delta
        row["collected"] -= e.refund
        row["outstanding"] = max(0, row["premium"] - row["collected"])
        if row["state"] != "lapsed":
            if e.charge is not None:
                row["next_debit_date"] = e.charge.get("next_debit_date", e.charge["debit_date"])
            if row["outstanding"] > 0:
                row["state"] = "due"
            else:
                row["state"], row["next_debit_date"] = "collected", None
        row["updated_at"] = e.timestamp

    @handles(Policy.Reinstated)
    def on_reinstated(self, e: Any, rows: Rows) -> None:
        policy = rows.require(POLICY_STATE, e.originator_id)
        policy["cancelled"] = False
        self._policy_changed(e, policy, rows)
