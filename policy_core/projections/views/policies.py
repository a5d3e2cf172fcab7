"""The searchable list of policies for the back office.

One row per policy (``rm_policies``) with what a list screen filters and shows,
plus the per-period collection state it is derived from (``rm_policies_periods``)
so that next debit date and arrears follow the aggregate's own rules:

* a period's next debit date: none once collected or lapsed; its first debit date
  before any attempt; else the retry date recorded with the last failure;
* the policy's next debit date: the earliest among its periods;
* arrears: premium still due on periods with a failed debit that neither got
  collected nor lapsed (a lapsed period's premium is no longer collected).

The holder's name is personal data and is not stored here in plain text: the row keeps
a keyed blind index of the normalised name (exact-match search) and the name sealed under
the member's data key (deterministic envelope, so a rebuild reproduces it byte for byte),
opened at read time for the roles that may see it. Both are cleared when the member's data is
erased (and are empty on a rebuild after it: the name reads as erased).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any
from uuid import UUID

from ...aggregates.policy import Policy
from ...aggregates.subject import DataSubject
from ...bounds import MAX_ANNUAL_PREMIUM, MAX_ANNUAL_SALES, MAX_LIABILITY_LIMIT, MAX_PORTFOLIO_YEN, sql_int
from ...personal_data.crypto import blind_index, seal, subject_id
from ...personal_data.keys import SYSTEM_BLIND_INDEX
from ...personal_data.mapper import is_erased_marker
from ..tables import Rows, Table, col
from ..view import View, handles

POLICIES = "rm_policies"
PERIODS = "rm_policies_periods"


def policy_status(row: dict[str, Any]) -> str:
    """The aggregate's precedence: cancelled, lapsed, expired, active, applied."""
    if row["cancelled_at"] is not None:
        return "cancelled"
    if row["lapsed_at"] is not None:
        return "lapsed"
    if row["expired_at"] is not None:
        return "expired"
    if row["activated"]:
        return "active"
    return "applied"


_APPLIED = Policy.Applied.TOPIC


def _holder_name(holder: Any) -> Any:
    """The holder's name to index and seal, or None (no name, or the data is erased)."""
    name = holder.get("name") if isinstance(holder, dict) else None
    if not name or is_erased_marker(holder):
        return None
    return name


class PoliciesView(View):
    name = "policies"
    # 2: renewal_notice_on; 3: number, refund_due, a lapse ends the later periods too;
    # 4: payment reversals and reinstatements; 5: endorsements (the holder's name follows);
    # 6: holder name as blind index + sealed copy (no plain name); 7: cover endorsements
    version = 7
    rebuild_cost = 5.0
    tables = (
        Table(
            POLICIES,
            (
                col("policy_id", "uuid", null=False),
                col("number", "text"),  # the policy number (none for policies applied before numbers)
                col("scheme", "text", null=False),
                col("member_number", "text", null=False),
                col("holder_name_index", "text", personal=True),  # HMAC of the normalised name
                col("holder_name_sealed", "text", personal=True),  # envelope under the member's key
                col("industry", "text", null=False),
                col("plan", "text", null=False),
                col("liability_limit", sql_int(MAX_LIABILITY_LIMIT)),
                col("network_rider", "boolean", null=False),
                col("annual_sales", sql_int(MAX_ANNUAL_SALES), null=False),
                col("application_date", "date", null=False),
                col("enrollment", "text", null=False),
                col("status", "text", null=False),
                col("activated", "boolean", null=False),
                col("current_period", "integer", null=False),
                col("period_start", "timestamptz", null=False),
                col("period_end", "timestamptz", null=False),
                col("premium", sql_int(MAX_ANNUAL_PREMIUM), null=False),  # current period
                col("annual_premium", sql_int(MAX_ANNUAL_PREMIUM), null=False),
                col("tariff_version", "text", null=False),
                col("collected", sql_int(MAX_ANNUAL_PREMIUM), null=False),  # current period
                col("next_debit_date", "date"),
                col("arrears", sql_int(MAX_PORTFOLIO_YEN), null=False),
                col("failed_debits", "integer", null=False),  # failed attempts on periods in arrears
                col("claims", "integer", null=False),
                col("claims_paid", sql_int(MAX_PORTFOLIO_YEN), null=False),
                col("refund_due", sql_int(MAX_PORTFOLIO_YEN), null=False),  # premium received without cover
                col("renewal_notice_on", "date"),  # renewal notice issued for the current period
                col("non_renewal_notice_on", "date"),
                col("lapsed_at", "timestamptz"),
                col("lapse_reason", "text"),
                col("cancelled_at", "timestamptz"),
                col("cancellation_reason", "text"),
                col("expired_at", "timestamptz"),
                col("created_at", "timestamptz", null=False),
                col("updated_at", "timestamptz", null=False),
                col("version", "integer", null=False),  # the aggregate version this row reflects
            ),
            key=("policy_id",),
            owner="policy_id",
            indexes=(
                ("holder_name_index",),
                ("scheme", "status"),
                ("number",),
                ("member_number",),
                ("next_debit_date",),
                ("industry",),
                ("plan",),
            ),
        ),
        Table(
            PERIODS,
            (
                col("policy_id", "uuid", null=False),
                col("period_number", "integer", null=False),
                col("premium", sql_int(MAX_ANNUAL_PREMIUM), null=False),
                col("collected", sql_int(MAX_ANNUAL_PREMIUM), null=False),
                col("debit_date", "date", null=False),
                col("attempts", "integer", null=False),
                col("failed_attempts", "integer", null=False),
                col("next_debit_date", "date"),
                col("lapsed", "boolean", null=False),
            ),
            key=("policy_id", "period_number"),
            owner="policy_id",
        ),
    )

    vault: Any = None
    # The current data keys of the members a batch applies for, by (scheme, member number):
    # fetched with one key-store query per batch (prepare) instead of one per Applied event.
    _keys: dict[tuple[str, str], tuple[Any, bytes] | None] = {}

    def bind(self, source: Any) -> None:
        self.vault = getattr(getattr(source, "mapper", None), "vault", None)

    def prepare(self, events: Iterable[tuple[str, Any]]) -> None:
        self._keys = {}
        if self.vault is None:
            return
        members = {
            (e.scheme, e.member_number)
            for topic, e in events
            if topic == _APPLIED and _holder_name(e.holder) is not None
        }
        if members:
            subjects = {subject_id(*m): m for m in members}
            found = self.vault.existing_keys_for_subjects(subjects)
            self._keys = {m: found.get(s) for s, m in subjects.items()}

    # ------------------------------------------------------------------ helpers
    def set_holder(
        self, row: dict[str, Any], scheme: str, member_number: str, holder: dict[str, Any]
    ) -> None:
        """The holder's name as the row keeps it: blind index and sealed copy (None once erased).

        For any event that records a new holder (an endorsement), not only ``Applied``."""
        name = _holder_name(holder)
        if name is None or self.vault is None:
            row["holder_name_index"] = row["holder_name_sealed"] = None
            return
        member = (scheme, member_number)
        if member in self._keys:
            found = self._keys[member]
        else:  # not an application of this batch (an endorsement's new name)
            found = self.vault.existing_key_for_subject(subject_id(*member))
        if found is None:  # the member's key is destroyed: nothing to index or show
            row["holder_name_index"] = row["holder_name_sealed"] = None
            return
        kid, key = found
        row["holder_name_index"] = blind_index(self.vault.system_key(SYSTEM_BLIND_INDEX), name)
        row["holder_name_sealed"] = json.dumps(
            seal(key, str(kid), "holder_name", name, deterministic=True), sort_keys=True
        )

    def _new_period(self, policy_id: Any, period: dict[str, Any], rows: Rows) -> None:
        rows.new(
            PERIODS,
            policy_id=policy_id,
            period_number=period["number"],
            premium=period["premium"],
            collected=0,
            debit_date=period["debit_date"],
            attempts=0,
            failed_attempts=0,
            next_debit_date=period["debit_date"] if period["premium"] > 0 else None,
            lapsed=False,
        )

    def _touch(self, e: Any, rows: Rows) -> dict[str, Any]:
        row = rows.require(POLICIES, e.originator_id)
        row["updated_at"] = e.timestamp
        row["version"] = e.originator_version
        return row

    def _refresh(self, row: dict[str, Any], rows: Rows) -> None:
        """The policy's figures from its periods' rows, in one pass (run after most events)."""
        pid, require = row["policy_id"], rows.require
        due, arrears, failed = None, 0, 0
        p: dict[str, Any] = {}
        for n in range(1, row["current_period"] + 1):
            p = require(PERIODS, pid, n)
            when = p["next_debit_date"]
            if when is not None and (due is None or when < due):
                due = when
            if p["failed_attempts"] and p["collected"] < p["premium"] and not p["lapsed"]:
                arrears += p["premium"] - p["collected"]
                failed += p["failed_attempts"]
        row["collected"] = p["collected"]  # the current period's
        row["next_debit_date"] = due
        row["arrears"] = arrears
        row["failed_debits"] = failed
        row["status"] = policy_status(row)

    # ------------------------------------------------------------------ handlers
    @handles(Policy.Applied)
    def on_applied(self, e: Any, rows: Rows) -> None:
        p = e.period
        row = rows.new(
            POLICIES,
            policy_id=e.originator_id,
            number=e.number,
            scheme=e.scheme,
            member_number=e.member_number,
            industry=e.industry,
            plan=e.plan,
            liability_limit=e.liability_limit,
            network_rider=e.network_rider,
            annual_sales=e.annual_sales,
            application_date=e.application_date,
            enrollment=e.enrollment,
            status="applied",
            activated=False,
            current_period=p["number"],
            period_start=p["start"],
            period_end=p["end"],
            premium=p["premium"],
            annual_premium=p["annual_premium"],
            tariff_version=p["tariff_version"],
            collected=0,
            next_debit_date=None,
            arrears=0,
            failed_debits=0,
            claims=0,
            claims_paid=0,
            refund_due=0,
            created_at=e.timestamp,
            updated_at=e.timestamp,
            version=e.originator_version,
        )
        self.set_holder(row, e.scheme, e.member_number, e.holder)
        self._new_period(e.originator_id, p, rows)
        self._refresh(row, rows)

    def ids(self, event: Any) -> Iterator[UUID]:
        yield from super().ids(event)
        yield from getattr(event, "policies", None) or ()  # PersonalDataErased: the member's policies

    @handles(DataSubject.PersonalDataErased)
    def on_personal_data_erased(self, e: Any, rows: Rows) -> None:
        """The name's blind index and sealed copy go with the key (a rebuild makes none)."""
        for pid in e.policies:
            row = rows.get(POLICIES, pid)
            if row is not None:
                row["holder_name_index"] = row["holder_name_sealed"] = None

    @handles(Policy.Activated)
    def on_activated(self, e: Any, rows: Rows) -> None:
        row = self._touch(e, rows)
        row["activated"] = True
        self._refresh(row, rows)

    @handles(Policy.PremiumDebited)
    def on_debited(self, e: Any, rows: Rows) -> None:
        row = self._touch(e, rows)
        p = rows.require(PERIODS, e.originator_id, e.period_number)
        p["collected"] += e.amount
        p["attempts"] += 1
        p["next_debit_date"] = None  # a success debits all that is due (the aggregate checks the amount)
        self._refresh(row, rows)

    @handles(Policy.PremiumDebitFailed)
    def on_debit_failed(self, e: Any, rows: Rows) -> None:
        row = self._touch(e, rows)
        p = rows.require(PERIODS, e.originator_id, e.period_number)
        p["attempts"] += 1
        p["failed_attempts"] += 1
        p["next_debit_date"] = e.next_debit_date
        self._refresh(row, rows)

    @handles(Policy.Lapsed)
    def on_lapsed(self, e: Any, rows: Rows) -> None:
        row = self._touch(e, rows)
        p = rows.require(PERIODS, e.originator_id, e.period_number)
        p["lapsed"] = True
        p["next_debit_date"] = None
        for later in e.later_periods:  # a lapse ends cover for every later period too
            q = rows.require(PERIODS, e.originator_id, later["number"])
            q["lapsed"] = True
            q["next_debit_date"] = None
            row["refund_due"] += later["refund_due"]
        row["lapsed_at"] = e.effective_at
        row["lapse_reason"] = e.reason
        self._refresh(row, rows)

    @handles(Policy.PremiumReceivedAfterLapse)
    def on_received_after_lapse(self, e: Any, rows: Rows) -> None:
        row = self._touch(e, rows)
        rows.require(PERIODS, e.originator_id, e.period_number)["attempts"] += 1
        row["refund_due"] += e.amount

    @handles(Policy.Renewed)
    def on_renewed(self, e: Any, rows: Rows) -> None:
        row = self._touch(e, rows)
        p = e.period
        self._new_period(e.originator_id, p, rows)
        row.update(
            current_period=p["number"],
            period_start=p["start"],
            period_end=p["end"],
            premium=p["premium"],
            annual_premium=p["annual_premium"],
            tariff_version=p["tariff_version"],
            annual_sales=p["basis"]["annual_sales"],
            renewal_notice_on=None,
        )
        self._refresh(row, rows)

    @handles(Policy.RenewalNoticeIssued)
    def on_renewal_notice(self, e: Any, rows: Rows) -> None:
        row = self._touch(e, rows)
        if e.period_number == row["current_period"]:
            row["renewal_notice_on"] = e.issued_on

    @handles(Policy.NonRenewalNoticeGiven)
    def on_non_renewal(self, e: Any, rows: Rows) -> None:
        self._touch(e, rows)["non_renewal_notice_on"] = e.received_on

    @handles(Policy.Expired)
    def on_expired(self, e: Any, rows: Rows) -> None:
        row = self._touch(e, rows)
        row["expired_at"] = e.effective_at
        self._refresh(row, rows)

    @handles(Policy.Cancelled)
    def on_cancelled(self, e: Any, rows: Rows) -> None:
        row = self._touch(e, rows)
        row["cancelled_at"] = e.effective_at
        row["cancellation_reason"] = e.reason
        self._refresh(row, rows)

    @handles(Policy.SalesDeclared)
    def on_sales_declared(self, e: Any, rows: Rows) -> None:
        self._touch(e, rows)["annual_sales"] = e.annual_sales

    @handles(Policy.ClaimRegistered)
    def on_claim_registered(self, e: Any, rows: Rows) -> None:
        self._touch(e, rows)["claims"] += 1

    @handles(Policy.ClaimPaymentRecorded)
    def on_claim_payment(self, e: Any, rows: Rows) -> None:
        self._touch(e, rows)["claims_paid"] += e.total

    @handles(Policy.ClaimPaymentReversed)
    def on_claim_payment_reversed(self, e: Any, rows: Rows) -> None:
        self._touch(e, rows)["claims_paid"] -= e.total

    @handles(Policy.Reinstated)
    def on_reinstated(self, e: Any, rows: Rows) -> None:
        row = self._touch(e, rows)
        row["cancelled_at"] = None
        row["cancellation_reason"] = None
        self._refresh(row, rows)

    @handles(Policy.Endorsed)
    def on_endorsed(self, e: Any, rows: Rows) -> None:
        row = self._touch(e, rows)
        if isinstance(e.holder, dict) and "name" in e.holder:  # the new name: indexed and sealed again
            self.set_holder(row, row["scheme"], row["member_number"], e.holder)
        self._endorsement(e, row, rows, e.premium_delta)

    @handles(Policy.EndorsementReversed)
    def on_endorsement_reversed(self, e: Any, rows: Rows) -> None:
        self._endorsement(e, self._touch(e, rows), rows, -e.premium_delta)

    @handles(Policy.EndorsementReapplied)
    def on_endorsement_reapplied(self, e: Any, rows: Rows) -> None:
        self._endorsement(e, self._touch(e, rows), rows, e.premium_delta)

    def _endorsement(self, e: Any, row: dict[str, Any], rows: Rows, delta: int) -> None:
        """Premium deltas and returns of an endorsement; the terms after it (the last event of an
        out-of-sequence batch carries those after every endorsement)."""
        p = rows.require(PERIODS, e.originator_id, e.period_number)
        p["premium"] += delta
        p["collected"] -= e.refund  # what was collected, net of the return premium
        if e.charge is not None:  # an extra premium after the premium was collected: its own debits
            p["next_debit_date"] = e.charge.get("next_debit_date", e.charge["debit_date"])
            if e.charge["since"] == p["attempts"]:  # a new stream: its failures count afresh
                p["failed_attempts"] = 0
        if p["premium"] <= p["collected"]:
            p["next_debit_date"] = None
        terms = getattr(e, "terms", None)
        if e.period_number == row["current_period"]:
            row["premium"] = p["premium"]
            if terms:
                row["plan"] = terms["plan"]
                row["liability_limit"] = terms["liability_limit"]
                row["network_rider"] = terms["network_rider"]
                row["annual_sales"] = terms["annual_sales"]
                row["annual_premium"] = terms["annual_premium"]
        self._refresh(row, rows)
