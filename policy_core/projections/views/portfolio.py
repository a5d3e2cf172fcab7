"""The portfolio per scheme and scheme year, and each co-insurer's part of it.

A period belongs to the scheme year in which it starts (``calendar.scheme_year``);
everything that happens to a period (premium collected, claims paid on it, its
lapse or cancellation) is counted in that year, whenever it happens.

* ``rm_portfolio``: per scheme and year: new policies, renewals, participants
  (periods in force: activated, not lapsed, not cancelled from their start),
  written / lapsed / returned / collected premium, claims reported, denied and
  paid, and the amounts paid per section. The loss ratio (paid / collected) is
  computed by the reader from these integers.
* ``rm_portfolio_mix``: the same year split by plan and industry.
* ``rm_portfolio_coinsurers``: every amount of a period (its written premium, each
  premium collected, its return premium, each claim payment per section)
  allocated to each co-insurer by the shares in basis points RECORDED for that
  period (``coinsurers`` in the period facts of ``Applied`` / ``Renewed``),
  amount by amount, rounding down; the leader (listed first) takes the
  remainder, so the parts of each amount always add up to it. Events are facts:
  a later change of the preset's shares never re-allocates a past period.
  ``share_bp`` is the co-insurer's share when every period of that year recorded
  the same shares, and NULL when they differ (the shares changed within the
  year; the amounts are still allocated period by period).
* ``rm_portfolio_schemes``: policies applied and currently active per scheme: the
  participants count that feeds the group discount.
* ``rm_portfolio_periods`` keeps, per period, its year and the shares it is
  allocated by (JSON ``[[key, share_bp], ...]``, leader first), so that the
  handlers of later events (premium debited, cancelled, claim payment) find them;
  ``rm_portfolio_years`` keeps the shares common to a year's periods (NULL once
  they differ), which is what ``share_bp`` is derived from.
* ``rm_portfolio_cohorts`` (periods of policies not cancelled) and
  ``rm_portfolio_cohorts_cancelled`` (periods of cancelled policies, by the policy's
  cancellation time): per scheme, year and period start, the year's periods counted
  by the dashboard's sets (in force, new, renewal, lapsed, cancelled within the year)
  and the premium of those in force. The overview's year summary (counts and earned
  premium, which depends on the time of reading) reads these few rows instead of
  aggregating every period of the year; a cancellation or reinstatement moves each of
  the policy's periods to its new group.
* ``rm_portfolio_months``: premium debited per scheme, year and month of the debit
  date (the dashboard's monthly chart).

Presets: the calendar (anniversary, boundary hour) decides each period's scheme
year, and periods recorded before the shares were part of the period facts (no
``coinsurers``) fall back to the preset's current shares. Both therefore come
from the scheme presets, and their fingerprint is part of the schema version, so
changing a preset rebuilds this view (and only it); a rebuild re-allocates only
those old periods: every period that recorded its shares keeps them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache, lru_cache
from typing import Any

from ...aggregates.claim import Claim
from ...aggregates.policy import Policy
from ...bounds import MAX_PORTFOLIO_YEN, sql_int
from ...calendar import scheme_year, scheme_year_bounds
from ...scheme import SCHEME_KEYS, load_scheme
from ...settlement import SECTIONS
from ..tables import Rows, Table, col
from ..view import View, handles

TOTALS = "rm_portfolio"
MIX = "rm_portfolio_mix"
COINSURERS = "rm_portfolio_coinsurers"
SCHEMES = "rm_portfolio_schemes"
POLICIES = "rm_portfolio_policies"
PERIODS = "rm_portfolio_periods"
YEARS = "rm_portfolio_years"
CLAIMS = "rm_portfolio_claims"
COHORTS = "rm_portfolio_cohorts"
COHORTS_CANCELLED = "rm_portfolio_cohorts_cancelled"
MONTHS = "rm_portfolio_months"

# The dashboard's sets of a year's periods (api/dashboard/queries.YEAR_SETS), kept per cohort.
COHORT_COUNTS = ("in_force", "new", "renewal", "lapsed", "cancelled")
_COHORT_VALUES = (
    *(col(f"periods_{c}", "integer", null=False) for c in COHORT_COUNTS),
    col("premium_in_force", sql_int(MAX_PORTFOLIO_YEN), null=False),
)
_COHORT_ZERO = {**{f"periods_{c}": 0 for c in COHORT_COUNTS}, "premium_in_force": 0}

_PAID = tuple(f"paid_{s}" for s in SECTIONS)

Shares = tuple[tuple[str, int], ...]  # (co-insurer key, share in basis points), the leader first


def allocate(amount: int, shares: Sequence[tuple[str, int]]) -> dict[str, int]:
    """Split one amount by share (basis points), rounding down; the leader (first) takes the rest."""
    (leader, _), *others = shares
    parts = {key: amount * bp // 10_000 for key, bp in others}
    return {leader: amount - sum(parts.values()), **parts}


def preset_shares(scheme: str) -> Shares:
    """The shares the scheme's preset sets now: only for periods recorded without theirs."""
    return tuple((c.key, c.share_bp) for c in load_scheme(scheme).coinsurers)


def period_shares(scheme: str, period: Mapping[str, Any]) -> Shares:
    """The shares recorded in a period's facts; the preset's for a period recorded without them."""
    recorded = period.get("coinsurers")
    if recorded:
        return tuple((str(c["key"]), int(c["share_bp"])) for c in recorded)
    return preset_shares(scheme)


def encode_shares(shares: Shares) -> str:
    return json.dumps([[key, bp] for key, bp in shares], separators=(",", ":"))


@lru_cache(maxsize=256)  # a handful of distinct share lists, parsed once each
def decode_shares(text: str) -> Shares:
    return tuple((str(key), int(bp)) for key, bp in json.loads(text))


@lru_cache(maxsize=256)
def year_end(scheme: str, year: int) -> datetime:
    """The end of a scheme year (the next anniversary boundary), by the scheme's calendar."""
    return scheme_year_bounds(load_scheme(scheme).calendar, year)[1]


@cache  # the presets are loaded once per process (load_scheme is cached too)
def presets_fingerprint() -> str:
    """Calendars (scheme years) and shares (the fallback for periods recorded without shares)."""
    data = {
        key: {
            "anniversary": [s.calendar.anniversary.month, s.calendar.anniversary.day],
            "boundary_hour": s.calendar.boundary_hour,
            "coinsurers": [[c.key, c.share_bp] for c in s.coinsurers],
        }
        for key in SCHEME_KEYS
        for s in (load_scheme(key),)
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


class PortfolioView(View):
    name = "portfolio"
    # 2: amounts allocated by the shares recorded for each period; 3: lapse ends later periods;
    # 4: outstanding reserves, recoveries due, payment reversals, reinstatements, reopenings;
    # 5: endorsement premium deltas (written) and returns; 6: cohorts and months (the dashboard's
    # year summary and monthly premium kept, not aggregated over the year's periods per request)
    version = 6
    rebuild_cost = 4.0
    tables = (
        Table(
            TOTALS,
            (
                col("scheme", "text", null=False),
                col("scheme_year", "integer", null=False),
                col("new_policies", "integer", null=False),
                col("renewals", "integer", null=False),
                col("participants", "integer", null=False),
                col("written_premium", sql_int(MAX_PORTFOLIO_YEN), null=False),
                col("lapsed_premium", sql_int(MAX_PORTFOLIO_YEN), null=False),
                col("return_premium", sql_int(MAX_PORTFOLIO_YEN), null=False),
                col("collected_premium", sql_int(MAX_PORTFOLIO_YEN), null=False),
                col("claims_reported", "integer", null=False),
                col("claims_denied", "integer", null=False),
                col("claims_paid", "integer", null=False),
                *(col(c, sql_int(MAX_PORTFOLIO_YEN), null=False) for c in _PAID),
                col("paid_total", sql_int(MAX_PORTFOLIO_YEN), null=False),
                col("outstanding_reserve", sql_int(MAX_PORTFOLIO_YEN), null=False),
                col("recoveries_due", sql_int(MAX_PORTFOLIO_YEN), null=False),
            ),
            key=("scheme", "scheme_year"),
            whole=True,
        ),
        Table(
            MIX,
            (
                col("scheme", "text", null=False),
                col("scheme_year", "integer", null=False),
                col("plan", "text", null=False),
                col("industry", "text", null=False),
                col("periods_written", "integer", null=False),
                col("policies_in_force", "integer", null=False),
                col("written_premium", sql_int(MAX_PORTFOLIO_YEN), null=False),
                col("collected_premium", sql_int(MAX_PORTFOLIO_YEN), null=False),
            ),
            key=("scheme", "scheme_year", "plan", "industry"),
            whole=True,
        ),
        Table(
            COINSURERS,
            (
                col("scheme", "text", null=False),
                col("scheme_year", "integer", null=False),
                col("coinsurer", "text", null=False),
                col("share_bp", "integer"),  # NULL: the year's periods recorded different shares
                col("written_premium", sql_int(MAX_PORTFOLIO_YEN), null=False),
                col("collected_premium", sql_int(MAX_PORTFOLIO_YEN), null=False),
                col("return_premium", sql_int(MAX_PORTFOLIO_YEN), null=False),
                *(col(c, sql_int(MAX_PORTFOLIO_YEN), null=False) for c in _PAID),
                col("paid_total", sql_int(MAX_PORTFOLIO_YEN), null=False),
                col("outstanding_reserve", sql_int(MAX_PORTFOLIO_YEN), null=False),
                col("recoveries_due", sql_int(MAX_PORTFOLIO_YEN), null=False),
            ),
            key=("scheme", "scheme_year", "coinsurer"),
            whole=True,
        ),
        Table(
            SCHEMES,
            (
                col("scheme", "text", null=False),
                col("policies", "integer", null=False),
                col("policies_active", "integer", null=False),
            ),
            key=("scheme",),
            whole=True,
        ),
        Table(
            POLICIES,
            (
                col("policy_id", "uuid", null=False),
                col("scheme", "text", null=False),
                col("plan", "text", null=False),
                col("industry", "text", null=False),
                col("periods", "integer", null=False),
                col("activated", "boolean", null=False),
                col("lapsed", "boolean", null=False),
                col("cancelled_at", "timestamptz"),
                col("expired", "boolean", null=False),
                col("active", "boolean", null=False),
            ),
            key=("policy_id",),
            owner="policy_id",
        ),
        Table(
            PERIODS,
            (
                col("policy_id", "uuid", null=False),
                col("period_number", "integer", null=False),
                col("scheme_year", "integer", null=False),
                col("start", "timestamptz", null=False),
                col("premium", sql_int(MAX_PORTFOLIO_YEN), null=False),
                col("collected", sql_int(MAX_PORTFOLIO_YEN), null=False),
                col("activated", "boolean", null=False),
                col("lapsed", "boolean", null=False),
                col("in_force", "boolean", null=False),
                col("coinsurers", "text", null=False),  # JSON [[key, share_bp], ...], the leader first
            ),
            key=("policy_id", "period_number"),
            owner="policy_id",
        ),
        Table(
            YEARS,
            (
                col("scheme", "text", null=False),
                col("scheme_year", "integer", null=False),
                col("coinsurers", "text"),  # the shares every period of the year recorded; NULL: they differ
            ),
            key=("scheme", "scheme_year"),
            whole=True,
        ),
        Table(
            CLAIMS,
            (
                col("claim_id", "uuid", null=False),
                col("policy_id", "uuid", null=False),
                col("scheme", "text", null=False),
                col("scheme_year", "integer", null=False),
                col("period_number", "integer"),
                col("reserve", sql_int(MAX_PORTFOLIO_YEN), null=False),  # the claim's case reserve now
            ),
            key=("claim_id",),
            owner="claim_id",
        ),
        Table(
            COHORTS,
            (
                col("scheme", "text", null=False),
                col("scheme_year", "integer", null=False),
                col("start", "timestamptz", null=False),
                *_COHORT_VALUES,
            ),
            key=("scheme", "scheme_year", "start"),
            whole=True,  # a row per period start: a dozen per year
        ),
        Table(
            COHORTS_CANCELLED,
            (
                col("scheme", "text", null=False),
                col("scheme_year", "integer", null=False),
                col("start", "timestamptz", null=False),
                col("cancelled_at", "timestamptz", null=False),
                *_COHORT_VALUES,
            ),
            key=("scheme", "scheme_year", "start", "cancelled_at"),
        ),
        Table(
            MONTHS,
            (
                col("scheme", "text", null=False),
                col("scheme_year", "integer", null=False),
                col("month", "date", null=False),  # the first day of the debit date's month
                col("collected_premium", sql_int(MAX_PORTFOLIO_YEN), null=False),
            ),
            key=("scheme", "scheme_year", "month"),
            whole=True,
        ),
    )

    def schema_version(self) -> str:
        # The presets' calendars decide scheme years; their shares serve only periods recorded without shares.
        return f"{self.version}+presets.{presets_fingerprint()}"

    # ------------------------------------------------------------------ rows
    def _totals(self, rows: Rows, scheme: str, year: int) -> dict[str, Any]:
        return rows.get(TOTALS, scheme, year) or rows.new(
            TOTALS,
            scheme=scheme,
            scheme_year=year,
            new_policies=0,
            renewals=0,
            participants=0,
            written_premium=0,
            lapsed_premium=0,
            return_premium=0,
            collected_premium=0,
            claims_reported=0,
            claims_denied=0,
            claims_paid=0,
            paid_total=0,
            outstanding_reserve=0,
            recoveries_due=0,
            **dict.fromkeys(_PAID, 0),
        )

    def _mix(self, rows: Rows, policy: dict[str, Any], year: int) -> dict[str, Any]:
        key = (policy["scheme"], year, policy["plan"], policy["industry"])
        return rows.get(MIX, *key) or rows.new(
            MIX,
            **dict(zip(("scheme", "scheme_year", "plan", "industry"), key, strict=True)),
            periods_written=0,
            policies_in_force=0,
            written_premium=0,
            collected_premium=0,
        )

    def _coinsurer(self, rows: Rows, scheme: str, year: int, key: str) -> dict[str, Any]:
        return rows.get(COINSURERS, scheme, year, key) or rows.new(
            COINSURERS,
            scheme=scheme,
            scheme_year=year,
            coinsurer=key,
            share_bp=None,
            written_premium=0,
            collected_premium=0,
            return_premium=0,
            paid_total=0,
            outstanding_reserve=0,
            recoveries_due=0,
            **dict.fromkeys(_PAID, 0),
        )

    def _allocate(self, rows: Rows, scheme: str, year: int, shares: Shares, column: str, amount: int) -> None:
        paid = column in _PAID
        for key, part in allocate(amount, shares).items():
            row = self._coinsurer(rows, scheme, year, key)
            row[column] += part
            if paid:
                row["paid_total"] += part

    def _note_shares(self, rows: Rows, scheme: str, year: int, shares: Shares) -> None:
        """Keep ``share_bp`` the year's common share, or NULL once the year's periods differ."""
        text = encode_shares(shares)
        seen = rows.get(YEARS, scheme, year)
        if seen is None:  # the first period of the year: its shares are the year's
            rows.new(YEARS, scheme=scheme, scheme_year=year, coinsurers=text)
            for key, bp in shares:
                self._coinsurer(rows, scheme, year, key)["share_bp"] = bp
        elif seen["coinsurers"] is not None and seen["coinsurers"] != text:
            # Co-insurers first seen later in a mixed year are created with NULL already.
            for key, _ in (*decode_shares(seen["coinsurers"]), *shares):
                self._coinsurer(rows, scheme, year, key)["share_bp"] = None
            seen["coinsurers"] = None

    def _count(
        self, rows: Rows, policy: dict[str, Any], periods: Sequence[dict[str, Any]], sign: int
    ) -> None:
        """Add (``sign`` 1) or take back (-1) the periods' part of their cohorts' counts: taken back
        before a change of what they count by, added again after it."""
        scheme, cancelled_at = policy["scheme"], policy["cancelled_at"]
        for p in periods:
            year, start = p["scheme_year"], p["start"]
            if cancelled_at is None:
                row = rows.get(COHORTS, scheme, year, start) or rows.new(
                    COHORTS, scheme=scheme, scheme_year=year, start=start, **_COHORT_ZERO
                )
            else:
                row = rows.get(COHORTS_CANCELLED, scheme, year, start, cancelled_at) or rows.new(
                    COHORTS_CANCELLED,
                    scheme=scheme,
                    scheme_year=year,
                    start=start,
                    cancelled_at=cancelled_at,
                    **_COHORT_ZERO,
                )
            new = p["period_number"] == 1
            row["periods_new"] += sign * new
            row["periods_renewal"] += sign * (not new)
            row["periods_lapsed"] += sign * p["lapsed"]
            if p["in_force"]:
                row["periods_in_force"] += sign
                row["premium_in_force"] += sign * p["premium"]
            if cancelled_at is not None and start <= cancelled_at < year_end(scheme, year):
                row["periods_cancelled"] += sign

    def _all_periods(self, policy: dict[str, Any], rows: Rows) -> list[dict[str, Any]]:
        pid = policy["policy_id"]
        return [rows.require(PERIODS, pid, n) for n in range(1, policy["periods"] + 1)]

    def _scheme(self, rows: Rows, scheme: str) -> dict[str, Any]:
        return rows.get(SCHEMES, scheme) or rows.new(SCHEMES, scheme=scheme, policies=0, policies_active=0)

    # ------------------------------------------------------------------ state changes
    def _open_period(self, e: Any, policy: dict[str, Any], period: dict[str, Any], rows: Rows) -> None:
        year = scheme_year(load_scheme(policy["scheme"]).calendar, period["start"])
        shares = period_shares(policy["scheme"], period)
        row = rows.new(
            PERIODS,
            policy_id=e.originator_id,
            period_number=period["number"],
            scheme_year=year,
            start=period["start"],
            premium=period["premium"],
            collected=0,
            activated=False,
            lapsed=False,
            in_force=False,
            coinsurers=encode_shares(shares),
        )
        self._count(rows, policy, (row,), 1)
        self._note_shares(rows, policy["scheme"], year, shares)
        totals = self._totals(rows, policy["scheme"], year)
        totals["written_premium"] += period["premium"]
        mix = self._mix(rows, policy, year)
        mix["periods_written"] += 1
        mix["written_premium"] += period["premium"]
        self._allocate(rows, policy["scheme"], year, shares, "written_premium", period["premium"])
        if period["number"] == 1:
            totals["new_policies"] += 1
        else:
            totals["renewals"] += 1

    def _recount(self, policy: dict[str, Any], period: dict[str, Any], rows: Rows) -> None:
        """A period is in force in its year when activated, not lapsed, not cancelled from its start."""
        cancelled = policy["cancelled_at"] is not None and policy["cancelled_at"] <= period["start"]
        in_force = period["activated"] and not period["lapsed"] and not cancelled
        if in_force != period["in_force"]:
            period["in_force"] = in_force
            step = 1 if in_force else -1
            self._totals(rows, policy["scheme"], period["scheme_year"])["participants"] += step
            self._mix(rows, policy, period["scheme_year"])["policies_in_force"] += step

    def _reactivate(self, policy: dict[str, Any], rows: Rows) -> None:
        active = (
            policy["activated"]
            and not policy["lapsed"]
            and policy["cancelled_at"] is None
            and not policy["expired"]
        )
        if active != policy["active"]:
            policy["active"] = active
            self._scheme(rows, policy["scheme"])["policies_active"] += 1 if active else -1

    def _period_of(self, e: Any, rows: Rows) -> tuple[dict[str, Any], dict[str, Any]]:
        policy = rows.require(POLICIES, e.originator_id)
        return policy, rows.require(PERIODS, e.originator_id, e.period_number)

    # ------------------------------------------------------------------ policy events
    @handles(Policy.Applied)
    def on_applied(self, e: Any, rows: Rows) -> None:
        policy = rows.new(
            POLICIES,
            policy_id=e.originator_id,
            scheme=e.scheme,
            plan=e.plan,
            industry=e.industry,
            periods=1,
            activated=False,
            lapsed=False,
            cancelled_at=None,
            expired=False,
            active=False,
        )
        self._scheme(rows, e.scheme)["policies"] += 1
        self._open_period(e, policy, e.period, rows)

    @handles(Policy.Renewed)
    def on_renewed(self, e: Any, rows: Rows) -> None:
        policy = rows.require(POLICIES, e.originator_id)
        policy["periods"] = e.period["number"]
        policy["plan"] = e.period["basis"]["plan"]  # a plan endorsed in the last period renews
        self._open_period(e, policy, e.period, rows)

    @handles(Policy.Activated)
    def on_activated(self, e: Any, rows: Rows) -> None:
        policy, period = self._period_of(e, rows)
        self._count(rows, policy, (period,), -1)
        period["activated"] = True
        policy["activated"] = True
        self._recount(policy, period, rows)
        self._count(rows, policy, (period,), 1)
        self._reactivate(policy, rows)

    @handles(Policy.PremiumDebited)
    def on_debited(self, e: Any, rows: Rows) -> None:
        policy, period = self._period_of(e, rows)
        period["collected"] += e.amount
        self._totals(rows, policy["scheme"], period["scheme_year"])["collected_premium"] += e.amount
        month = e.debit_date.replace(day=1)
        key = (policy["scheme"], period["scheme_year"], month)
        (
            rows.get(MONTHS, *key)
            or rows.new(MONTHS, scheme=key[0], scheme_year=key[1], month=month, collected_premium=0)
        )["collected_premium"] += e.amount
        self._mix(rows, policy, period["scheme_year"])["collected_premium"] += e.amount
        self._allocate(
            rows,
            policy["scheme"],
            period["scheme_year"],
            decode_shares(period["coinsurers"]),
            "collected_premium",
            e.amount,
        )

    @handles(Policy.Lapsed)
    def on_lapsed(self, e: Any, rows: Rows) -> None:
        policy, period = self._period_of(e, rows)
        # a lapse ends cover for every later period too
        later_periods = [rows.require(PERIODS, e.originator_id, later["number"]) for later in e.later_periods]
        self._count(rows, policy, (period, *later_periods), -1)
        period["lapsed"] = True
        policy["lapsed"] = True
        self._totals(rows, policy["scheme"], period["scheme_year"])["lapsed_premium"] += period["premium"]
        self._recount(policy, period, rows)
        for q in later_periods:
            q["lapsed"] = True
            self._totals(rows, policy["scheme"], q["scheme_year"])["lapsed_premium"] += q["premium"]
            self._recount(policy, q, rows)
        self._count(rows, policy, (period, *later_periods), 1)
        self._reactivate(policy, rows)

    @handles(Policy.Cancelled)
    def on_cancelled(self, e: Any, rows: Rows) -> None:
        policy, period = self._period_of(e, rows)
        periods = self._all_periods(policy, rows)
        self._count(rows, policy, periods, -1)
        policy["cancelled_at"] = e.effective_at
        self._totals(rows, policy["scheme"], period["scheme_year"])["return_premium"] += e.return_premium
        self._allocate(
            rows,
            policy["scheme"],
            period["scheme_year"],
            decode_shares(period["coinsurers"]),
            "return_premium",
            e.return_premium,
        )
        self._recount(policy, period, rows)
        self._count(rows, policy, periods, 1)
        self._reactivate(policy, rows)

    @handles(Policy.Expired)
    def on_expired(self, e: Any, rows: Rows) -> None:
        policy = rows.require(POLICIES, e.originator_id)
        policy["expired"] = True
        self._reactivate(policy, rows)

    @handles(Policy.ClaimPaymentRecorded)
    def on_claim_payment(self, e: Any, rows: Rows) -> None:
        policy, period = self._period_of(e, rows)
        totals = self._totals(rows, policy["scheme"], period["scheme_year"])
        shares = decode_shares(period["coinsurers"])
        for section, amount in e.sections.items():
            totals[f"paid_{section}"] += amount
            self._allocate(rows, policy["scheme"], period["scheme_year"], shares, f"paid_{section}", amount)
        totals["paid_total"] += e.total
        if e.payment_number == 1:
            totals["claims_paid"] += 1

    @handles(Policy.ClaimPaymentReversed)
    def on_claim_payment_reversed(self, e: Any, rows: Rows) -> None:
        """Takes back exactly what the payment added (the same amounts, allocated the same way)."""
        policy, period = self._period_of(e, rows)
        totals = self._totals(rows, policy["scheme"], period["scheme_year"])
        shares = decode_shares(period["coinsurers"])
        for section, amount in e.sections.items():
            totals[f"paid_{section}"] -= amount
            self._unallocate(rows, policy["scheme"], period["scheme_year"], shares, f"paid_{section}", amount)
        totals["paid_total"] -= e.total

    @handles(Policy.Endorsed, Policy.EndorsementReapplied)
    def on_endorsed(self, e: Any, rows: Rows) -> None:
        self._endorsement(e, rows, e.premium_delta)

    @handles(Policy.EndorsementReversed)
    def on_endorsement_reversed(self, e: Any, rows: Rows) -> None:
        self._endorsement(e, rows, -e.premium_delta)

    def _endorsement(self, e: Any, rows: Rows, delta: int) -> None:
        """An endorsement's premium delta adjusts the period's written premium (an extra premium
        adds, a return takes off), allocated to co-insurers like any premium, a reversal taking
        back exactly what it added; the money returned out of what was collected is return
        premium, as a cancellation's."""
        if not delta and not e.refund:
            return
        policy, period = self._period_of(e, rows)
        year, shares = period["scheme_year"], decode_shares(period["coinsurers"])
        self._count(rows, policy, (period,), -1)
        period["premium"] += delta
        self._count(rows, policy, (period,), 1)
        self._totals(rows, policy["scheme"], year)["written_premium"] += delta
        self._mix(rows, policy, year)["written_premium"] += delta
        if delta > 0:
            self._allocate(rows, policy["scheme"], year, shares, "written_premium", delta)
        elif delta < 0:
            self._unallocate(rows, policy["scheme"], year, shares, "written_premium", -delta)
        if e.refund:
            self._totals(rows, policy["scheme"], year)["return_premium"] += e.refund
            self._allocate(rows, policy["scheme"], year, shares, "return_premium", e.refund)

    @handles(Policy.Reinstated)
    def on_reinstated(self, e: Any, rows: Rows) -> None:
        policy, period = self._period_of(e, rows)
        periods = self._all_periods(policy, rows)
        self._count(rows, policy, periods, -1)
        policy["cancelled_at"] = None
        totals = self._totals(rows, policy["scheme"], period["scheme_year"])
        totals["return_premium"] -= e.return_premium_withdrawn
        shares = decode_shares(period["coinsurers"])
        self._unallocate(
            rows,
            policy["scheme"],
            period["scheme_year"],
            shares,
            "return_premium",
            e.return_premium_withdrawn,
        )
        self._recount(policy, period, rows)
        self._count(rows, policy, periods, 1)
        self._reactivate(policy, rows)

    def _unallocate(
        self, rows: Rows, scheme: str, year: int, shares: Shares, column: str, amount: int
    ) -> None:
        paid = column in _PAID
        for key, part in allocate(amount, shares).items():
            row = self._coinsurer(rows, scheme, year, key)
            row[column] -= part
            if paid:
                row["paid_total"] -= part

    def _claim_shares(self, claim: dict[str, Any], rows: Rows) -> Shares:
        if claim["period_number"] is None:
            return preset_shares(claim["scheme"])
        return decode_shares(rows.require(PERIODS, claim["policy_id"], claim["period_number"])["coinsurers"])

    # ------------------------------------------------------------------ claim events
    @handles(Claim.ReserveChanged)
    def on_reserve(self, e: Any, rows: Rows) -> None:
        claim = rows.require(CLAIMS, e.originator_id)
        new = sum(e.reserve.values())
        old = claim["reserve"]
        claim["reserve"] = new
        totals = self._totals(rows, claim["scheme"], claim["scheme_year"])
        totals["outstanding_reserve"] += new - old
        shares = self._claim_shares(claim, rows)
        before, after = allocate(old, shares), allocate(new, shares)
        for key in after:  # the parts of the new level minus those of the old: exact, never drifting
            self._coinsurer(rows, claim["scheme"], claim["scheme_year"], key)["outstanding_reserve"] += (
                after[key] - before[key]
            )

    @handles(Claim.RecoveryBecameDue)
    def on_recovery_due(self, e: Any, rows: Rows) -> None:
        claim = rows.require(CLAIMS, e.originator_id)
        self._totals(rows, claim["scheme"], claim["scheme_year"])["recoveries_due"] += e.total
        for key, part in allocate(e.total, self._claim_shares(claim, rows)).items():
            self._coinsurer(rows, claim["scheme"], claim["scheme_year"], key)["recoveries_due"] += part

    @handles(Claim.ClaimReopened)
    def on_reopened(self, e: Any, rows: Rows) -> None:
        if e.previous_status == "denied":
            claim = rows.require(CLAIMS, e.originator_id)
            self._totals(rows, claim["scheme"], claim["scheme_year"])["claims_denied"] -= 1

    @handles(Claim.IncidentReported)
    def on_reported(self, e: Any, rows: Rows) -> None:
        policy = rows.require(POLICIES, e.policy_id)
        if e.period_number is not None:
            year = rows.require(PERIODS, e.policy_id, e.period_number)["scheme_year"]
        else:  # discovered outside every period: counted in the year of discovery
            year = scheme_year(load_scheme(policy["scheme"]).calendar, e.discovered_at)
        rows.new(
            CLAIMS,
            claim_id=e.originator_id,
            policy_id=e.policy_id,
            scheme=policy["scheme"],
            scheme_year=year,
            period_number=e.period_number,
            reserve=0,
        )
        self._totals(rows, policy["scheme"], year)["claims_reported"] += 1

    @handles(Claim.ClaimDenied)
    def on_denied(self, e: Any, rows: Rows) -> None:
        claim = rows.require(CLAIMS, e.originator_id)
        self._totals(rows, claim["scheme"], claim["scheme_year"])["claims_denied"] += 1
