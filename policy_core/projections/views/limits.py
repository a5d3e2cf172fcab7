"""Remaining limits: per policy, period and section; per claim, what the accident used.

Each section limit is both per accident and the aggregate for the period
(domain.md section 3). The aggregates enforce both caps; this view only shows
them. A new period (renewal) starts with full limits.

``rm_limits_docs`` holds, per policy and period, the answer of ``GET
/policies/{id}/limits`` already serialised (the API's most polled read: one
primary-key lookup, no JSON built per request). Two JSON objects as text, kept
by the same handlers as the rows they summarise:

* ``head``: ``{"policy_id", "number", "period", "start", "end", "sections"}`` (``number``: the
  policy number, 証券番号, null for a policy applied before numbers), rendered again from the
  period's section rows whenever they change;
* ``claims``: ``{claim_id: {section: {"accident_limit", "paid", "remaining"}}}``,
  in registration order; a claim's entry is appended when it is registered and
  replaced in place when it is paid (the view never has every claim row of a
  period at hand, so it never re-renders the whole object);
* ``claim_numbers``: ``{claim_id: number}`` (事故受付番号; null for a claim reported before
  numbers), one member per claim reported on the period, added when the claim is reported.

All three are compact JSON made only of UUIDs, section names, ISO timestamps (Tokyo
offset) and integers; the text is a deterministic function of the events, so a
rebuild writes the same bytes.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

from ...aggregates.claim import Claim
from ...aggregates.policy import Policy
from ...bounds import MAX_LIABILITY_LIMIT, sql_int
from ...calendar import TOKYO
from ...settlement import SECTIONS
from ..tables import Rows, Table, col
from ..view import View, handles

LIMITS = "rm_limits"
CLAIM_LIMITS = "rm_limits_claims"
DOCS = "rm_limits_docs"


def _timestamp(value: datetime) -> str:
    return value.astimezone(TOKYO).isoformat()


def render_head(
    policy_id: UUID,
    number: str | None,
    period_number: int,
    start: datetime,
    end: datetime,
    sections: list[dict[str, Any]],
) -> str:
    """The document's head from the period's section rows (``rm_limits``, in ``SECTIONS`` order)."""
    body = ",".join(
        f'"{r["section"]}":{{"limit":{int(r["limit_yen"])},"paid":{int(r["paid"])},'
        f'"remaining":{int(r["remaining"])}}}'
        for r in sections
    )
    return (
        f'{{"policy_id":"{policy_id}","number":{json.dumps(number)},"period":{int(period_number)},'
        f'"start":"{_timestamp(start)}",'
        f'"end":"{_timestamp(end)}","sections":{{{body}}}}}'
    )


def render_claim(claim_id: UUID, sections: list[dict[str, Any]]) -> str:
    """One claim's member of the ``claims`` object, from its ``rm_limits_claims`` rows."""
    if not sections:
        raise ValueError(f"claim {claim_id}: no section rows to render")
    body = ",".join(
        f'"{r["section"]}":{{"accident_limit":{int(r["accident_limit"])},"paid":{int(r["paid"])},'
        f'"remaining":{int(r["remaining"])}}}'
        for r in sections
    )
    return f'"{claim_id}":{{{body}}}'


def put_claim(claims: str, claim_id: UUID, member: str) -> str:
    """``claims`` with the claim's member replaced, or appended when it has none yet.

    A member is ``"<uuid>":{"<section>":{...},...}``: its object holds objects of integers
    only, so it ends at the first ``}}`` after its key."""
    start = claims.find(f'"{claim_id}":')
    if start >= 0:
        end = claims.index("}}", start) + 2
        return claims[:start] + member + claims[end:]
    return "{" + member + "}" if claims == "{}" else claims[:-1] + "," + member + "}"


def put_claim_number(numbers: str, claim_id: UUID, number: str | None) -> str:
    """``claim_numbers`` with the claim's number (kept in the order claims were reported)."""
    found = json.loads(numbers)
    found[str(claim_id)] = number
    return json.dumps(found, separators=(",", ":"), ensure_ascii=False)


class LimitsView(View):
    name = "limits"
    # 3: payment reversals give back what they paid; 4: a claim's "used" is "paid"; 5: cover endorsements;
    # 6: the policy number in the head, the claim numbers
    version = 6
    rebuild_cost = 3.5
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
                col("limit_yen", sql_int(MAX_LIABILITY_LIMIT), null=False),
                col("paid", sql_int(MAX_LIABILITY_LIMIT), null=False),
                col("remaining", sql_int(MAX_LIABILITY_LIMIT), null=False),
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
                col("accident_limit", sql_int(MAX_LIABILITY_LIMIT), null=False),
                col("paid", sql_int(MAX_LIABILITY_LIMIT), null=False),
                col("remaining", sql_int(MAX_LIABILITY_LIMIT), null=False),
                col("updated_at", "timestamptz", null=False),
            ),
            key=("claim_id", "section"),
            owner="claim_id",
            indexes=(("policy_id", "period_number"),),
        ),
        Table(
            DOCS,
            (
                col("policy_id", "uuid", null=False),
                col("period_number", "integer", null=False),
                col("scheme", "text", null=False),
                col("number", "text"),  # the policy number (none before numbers)
                col("head", "text", null=False),  # JSON object, see the module docstring
                col("claims", "text", null=False),  # JSON object, see the module docstring
                col("claim_numbers", "text", null=False),  # JSON object, see the module docstring
            ),
            key=("policy_id", "period_number"),
            owner="policy_id",
        ),
    )

    def _open_period(
        self, e: Any, scheme: str, number: str | None, period: dict[str, Any], rows: Rows
    ) -> None:
        sections = []
        for section in SECTIONS:
            limit = period["limits"][section]
            sections.append(
                rows.new(
                    LIMITS,
                    policy_id=e.originator_id,
                    period_number=period["number"],
                    section=section,
                    scheme=scheme,
                    period_start=period["start"],
                    period_end=period["end"],
                    limit_yen=limit,
                    paid=0,
                    remaining=limit,
                    payments=0,
                    updated_at=e.timestamp,
                )
            )
        head = render_head(
            e.originator_id, number, period["number"], period["start"], period["end"], sections
        )
        rows.new(
            DOCS,
            policy_id=e.originator_id,
            period_number=period["number"],
            scheme=scheme,
            number=number,
            head=head,
            claims="{}",
            claim_numbers="{}",
        )

    @staticmethod
    def _put_claim(rows: Rows, policy_id: UUID, period_number: int, claim_id: UUID) -> None:
        sections = [r for s in SECTIONS if (r := rows.get(CLAIM_LIMITS, claim_id, s)) is not None]
        doc = rows.require(DOCS, policy_id, period_number)
        doc["claims"] = put_claim(doc["claims"], claim_id, render_claim(claim_id, sections))

    @handles(Policy.Applied)
    def on_applied(self, e: Any, rows: Rows) -> None:
        self._open_period(e, e.scheme, e.number, e.period, rows)

    @handles(Policy.Renewed)
    def on_renewed(self, e: Any, rows: Rows) -> None:
        first = rows.require(DOCS, e.originator_id, 1)
        self._open_period(e, first["scheme"], first["number"], e.period, rows)

    @handles(Claim.IncidentReported)
    def on_incident_reported(self, e: Any, rows: Rows) -> None:
        """A claim reported on a period (it is registered on the policy in the same save): its
        number joins the period's ``claim_numbers``."""
        if e.period_number is None:
            return
        doc = rows.get(DOCS, e.policy_id, e.period_number)
        if doc is None:  # a claim against no policy this view knows (not in a consistent store)
            return
        doc["claim_numbers"] = put_claim_number(doc["claim_numbers"], e.originator_id, e.number)

    @handles(Policy.ClaimRegistered)
    def on_claim_registered(self, e: Any, rows: Rows) -> None:
        for section in SECTIONS:
            if e.accident_limits:  # the limits in force at the claim's discovery
                limit = e.accident_limits[section]
            else:
                limit = rows.require(LIMITS, e.originator_id, e.period_number, section)["limit_yen"]
            rows.new(
                CLAIM_LIMITS,
                claim_id=e.claim_id,
                section=section,
                policy_id=e.originator_id,
                period_number=e.period_number,
                accident_limit=limit,
                paid=0,
                remaining=limit,
                updated_at=e.timestamp,
            )
        self._put_claim(rows, e.originator_id, e.period_number, e.claim_id)

    @handles(Policy.ClaimPaymentRecorded)
    def on_claim_payment(self, e: Any, rows: Rows) -> None:
        self._use(e, rows, 1)

    @handles(Policy.ClaimPaymentReversed)
    def on_claim_payment_reversed(self, e: Any, rows: Rows) -> None:
        self._use(e, rows, -1)  # a reversal gives back what the payment used

    @handles(Policy.Endorsed, Policy.EndorsementReapplied)
    def on_endorsed(self, e: Any, rows: Rows) -> None:
        """A cover endorsement: the period's limits are those after it (the last event of an
        out-of-sequence batch carries the terms after every endorsement); the aggregate carries
        over, remaining = new limit - paid so far, never below 0."""
        self._claim_limits(e, rows)
        if not e.terms:
            return
        sections = [rows.require(LIMITS, e.originator_id, e.period_number, s) for s in SECTIONS]
        for row in sections:
            row["limit_yen"] = e.terms["limits"][row["section"]]
            row["remaining"] = max(0, row["limit_yen"] - row["paid"])
            row["updated_at"] = e.timestamp
        doc = rows.require(DOCS, e.originator_id, e.period_number)
        start, end = sections[0]["period_start"], sections[0]["period_end"]
        doc["head"] = render_head(e.originator_id, doc["number"], e.period_number, start, end, sections)

    @handles(Policy.EndorsementReversed)
    def on_endorsement_reversed(self, e: Any, rows: Rows) -> None:
        self._claim_limits(e, rows)

    def _claim_limits(self, e: Any, rows: Rows) -> None:
        """Claims whose limits at discovery a back-dated cover change moved."""
        for hex_id, limits in (e.claim_limits or {}).items():
            claim_id = UUID(hex=hex_id)
            for section in SECTIONS:
                row = rows.get(CLAIM_LIMITS, claim_id, section)
                if row is not None:
                    row["accident_limit"] = limits[section]
                    row["remaining"] = row["accident_limit"] - row["paid"]
                    row["updated_at"] = e.timestamp
            self._put_claim(rows, e.originator_id, e.period_number, claim_id)

    def _use(self, e: Any, rows: Rows, sign: int) -> None:
        for section, raw in e.sections.items():
            amount = sign * raw
            period = rows.require(LIMITS, e.originator_id, e.period_number, section)
            period["paid"] += amount
            period["remaining"] = max(0, period["limit_yen"] - period["paid"])
            period["payments"] += sign if amount else 0
            period["updated_at"] = e.timestamp
            claim = rows.get(CLAIM_LIMITS, e.claim_id, section)
            if claim is None:  # a payment always follows the registration; kept total anyway
                claim = rows.new(
                    CLAIM_LIMITS,
                    claim_id=e.claim_id,
                    section=section,
                    policy_id=e.originator_id,
                    period_number=e.period_number,
                    accident_limit=period["limit_yen"],
                    paid=0,
                    remaining=period["limit_yen"],
                    updated_at=e.timestamp,
                )
            claim["paid"] += amount
            claim["remaining"] = claim["accident_limit"] - claim["paid"]
            claim["updated_at"] = e.timestamp
        sections = [rows.require(LIMITS, e.originator_id, e.period_number, s) for s in SECTIONS]
        doc = rows.require(DOCS, e.originator_id, e.period_number)
        start, end = sections[0]["period_start"], sections[0]["period_end"]
        doc["head"] = render_head(e.originator_id, doc["number"], e.period_number, start, end, sections)
        self._put_claim(rows, e.originator_id, e.period_number, e.claim_id)
