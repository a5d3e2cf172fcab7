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
* ``rm_portfolio_coinsurers``: every premium and every claim payment allocated to
  each co-insurer by its share in basis points, amount by amount, rounding down;
  the leader (listed first in the preset) takes the remainder, so the parts of
  each amount always add up to it.
* ``rm_portfolio_schemes``: policies applied and currently active per scheme: the
  participants count that feeds the group discount.

The co-insurer shares and calendars come from the scheme presets, not from events:
their fingerprint is part of the schema version, so changing a preset rebuilds
this view (and only it).
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from typing import Any

from ...aggregates.claim import Claim
from ...aggregates.policy import Policy
from ...calendar import scheme_year
from ...scheme import SCHEME_KEYS, Scheme, load_scheme
from ...settlement import SECTIONS
from ..tables import Rows, Table, col
from ..view import View, handles

TOTALS = "rm_portfolio"
MIX = "rm_portfolio_mix"
COINSURERS = "rm_portfolio_coinsurers"
SCHEMES = "rm_portfolio_schemes"
POLICIES = "rm_portfolio_policies"
PERIODS = "rm_portfolio_periods"
CLAIMS = "rm_portfolio_claims"

_PAID = tuple(f"paid_{s}" for s in SECTIONS)


def allocate(amount: int, scheme: Scheme) -> dict[str, int]:
    """Split one amount by share (basis points), rounding down; the leader (first) takes the rest."""
    parts = {c.key: amount * c.share_bp // 10_000 for c in scheme.coinsurers[1:]}
    leader = scheme.coinsurers[0].key
    return {leader: amount - sum(parts.values()), **parts}


@cache  # the presets are loaded once per process (load_scheme is cached too)
def presets_fingerprint() -> str:
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
    version = 1
    tables = (
        Table(
            TOTALS,
            (
                col("scheme", "text", null=False),
                col("scheme_year", "integer", null=False),
                col("new_policies", "integer", null=False),
                col("renewals", "integer", null=False),
                col("participants", "integer", null=False),
                col("written_premium", "bigint", null=False),
                col("lapsed_premium", "bigint", null=False),
                col("return_premium", "bigint", null=False),
                col("collected_premium", "bigint", null=False),
                col("claims_reported", "integer", null=False),
                col("claims_denied", "integer", null=False),
                col("claims_paid", "integer", null=False),
                *(col(c, "bigint", null=False) for c in _PAID),
                col("paid_total", "bigint", null=False),
            ),
            key=("scheme", "scheme_year"),
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
                col("written_premium", "bigint", null=False),
                col("collected_premium", "bigint", null=False),
            ),
            key=("scheme", "scheme_year", "plan", "industry"),
        ),
        Table(
            COINSURERS,
            (
                col("scheme", "text", null=False),
                col("scheme_year", "integer", null=False),
                col("coinsurer", "text", null=False),
                col("share_bp", "integer", null=False),
                col("written_premium", "bigint", null=False),
                col("collected_premium", "bigint", null=False),
                col("return_premium", "bigint", null=False),
                *(col(c, "bigint", null=False) for c in _PAID),
                col("paid_total", "bigint", null=False),
            ),
            key=("scheme", "scheme_year", "coinsurer"),
        ),
        Table(
            SCHEMES,
            (
                col("scheme", "text", null=False),
                col("policies", "integer", null=False),
                col("policies_active", "integer", null=False),
            ),
            key=("scheme",),
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
                col("premium", "bigint", null=False),
                col("collected", "bigint", null=False),
                col("activated", "boolean", null=False),
                col("lapsed", "boolean", null=False),
                col("in_force", "boolean", null=False),
            ),
            key=("policy_id", "period_number"),
            owner="policy_id",
        ),
        Table(
            CLAIMS,
            (
                col("claim_id", "uuid", null=False),
                col("policy_id", "uuid", null=False),
                col("scheme", "text", null=False),
                col("scheme_year", "integer", null=False),
            ),
            key=("claim_id",),
            owner="claim_id",
        ),
    )

    def schema_version(self) -> str:
        return f"{self.version}+presets.{presets_fingerprint()}"

    # ------------------------------------------------------------------ rows
    def _totals(self, rows: Rows, scheme: str, year: int) -> dict[str, Any]:
        return rows.get(TOTALS, scheme, year) or rows.new(
            TOTALS, scheme=scheme, scheme_year=year, new_policies=0, renewals=0, participants=0,
            written_premium=0, lapsed_premium=0, return_premium=0, collected_premium=0, claims_reported=0,
            claims_denied=0, claims_paid=0, paid_total=0, **dict.fromkeys(_PAID, 0),
        )

    def _mix(self, rows: Rows, policy: dict[str, Any], year: int) -> dict[str, Any]:
        key = (policy["scheme"], year, policy["plan"], policy["industry"])
        return rows.get(MIX, *key) or rows.new(
            MIX, **dict(zip(("scheme", "scheme_year", "plan", "industry"), key, strict=True)),
            periods_written=0, policies_in_force=0, written_premium=0, collected_premium=0)

    def _allocate(self, rows: Rows, scheme: str, year: int, column: str, amount: int) -> None:
        s = load_scheme(scheme)
        paid = column in _PAID
        for c, part in zip(s.coinsurers, allocate(amount, s).values(), strict=True):
            row = rows.get(COINSURERS, scheme, year, c.key) or rows.new(
                COINSURERS, scheme=scheme, scheme_year=year, coinsurer=c.key, share_bp=c.share_bp,
                written_premium=0, collected_premium=0, return_premium=0, paid_total=0,
                **dict.fromkeys(_PAID, 0))
            row[column] += part
            if paid:
                row["paid_total"] += part

    def _scheme(self, rows: Rows, scheme: str) -> dict[str, Any]:
        return rows.get(SCHEMES, scheme) or rows.new(SCHEMES, scheme=scheme, policies=0, policies_active=0)

    # ------------------------------------------------------------------ state changes
    def _open_period(self, e: Any, policy: dict[str, Any], period: dict[str, Any], rows: Rows) -> None:
        year = scheme_year(load_scheme(policy["scheme"]).calendar, period["start"])
        rows.new(PERIODS, policy_id=e.originator_id, period_number=period["number"], scheme_year=year,
                 start=period["start"], premium=period["premium"], collected=0, activated=False, lapsed=False,
                 in_force=False)
        totals = self._totals(rows, policy["scheme"], year)
        totals["written_premium"] += period["premium"]
        mix = self._mix(rows, policy, year)
        mix["periods_written"] += 1
        mix["written_premium"] += period["premium"]
        self._allocate(rows, policy["scheme"], year, "written_premium", period["premium"])
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
        active = (policy["activated"] and not policy["lapsed"] and policy["cancelled_at"] is None
                  and not policy["expired"])
        if active != policy["active"]:
            policy["active"] = active
            self._scheme(rows, policy["scheme"])["policies_active"] += 1 if active else -1

    def _period_of(self, e: Any, rows: Rows) -> tuple[dict[str, Any], dict[str, Any]]:
        policy = rows.require(POLICIES, e.originator_id)
        return policy, rows.require(PERIODS, e.originator_id, e.period_number)

    # ------------------------------------------------------------------ policy events
    @handles(Policy.Applied)
    def on_applied(self, e: Any, rows: Rows) -> None:
        policy = rows.new(POLICIES, policy_id=e.originator_id, scheme=e.scheme, plan=e.plan,
                          industry=e.industry, periods=1, activated=False, lapsed=False, cancelled_at=None,
                          expired=False, active=False)
        self._scheme(rows, e.scheme)["policies"] += 1
        self._open_period(e, policy, e.period, rows)

    @handles(Policy.Renewed)
    def on_renewed(self, e: Any, rows: Rows) -> None:
        policy = rows.require(POLICIES, e.originator_id)
        policy["periods"] = e.period["number"]
        self._open_period(e, policy, e.period, rows)

    @handles(Policy.Activated)
    def on_activated(self, e: Any, rows: Rows) -> None:
        policy, period = self._period_of(e, rows)
        period["activated"] = True
        policy["activated"] = True
        self._recount(policy, period, rows)
        self._reactivate(policy, rows)

    @handles(Policy.PremiumDebited)
    def on_debited(self, e: Any, rows: Rows) -> None:
        policy, period = self._period_of(e, rows)
        period["collected"] += e.amount
        self._totals(rows, policy["scheme"], period["scheme_year"])["collected_premium"] += e.amount
        self._mix(rows, policy, period["scheme_year"])["collected_premium"] += e.amount
        self._allocate(rows, policy["scheme"], period["scheme_year"], "collected_premium", e.amount)

    @handles(Policy.Lapsed)
    def on_lapsed(self, e: Any, rows: Rows) -> None:
        policy, period = self._period_of(e, rows)
        period["lapsed"] = True
        policy["lapsed"] = True
        self._totals(rows, policy["scheme"], period["scheme_year"])["lapsed_premium"] += period["premium"]
        self._recount(policy, period, rows)
        self._reactivate(policy, rows)

    @handles(Policy.Cancelled)
    def on_cancelled(self, e: Any, rows: Rows) -> None:
        policy, period = self._period_of(e, rows)
        policy["cancelled_at"] = e.effective_at
        self._totals(rows, policy["scheme"], period["scheme_year"])["return_premium"] += e.return_premium
        self._allocate(rows, policy["scheme"], period["scheme_year"], "return_premium", e.return_premium)
        self._recount(policy, period, rows)
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
        for section, amount in e.sections.items():
            totals[f"paid_{section}"] += amount
            self._allocate(rows, policy["scheme"], period["scheme_year"], f"paid_{section}", amount)
        totals["paid_total"] += e.total
        if e.payment_number == 1:
            totals["claims_paid"] += 1

    # ------------------------------------------------------------------ claim events
    @handles(Claim.IncidentReported)
    def on_reported(self, e: Any, rows: Rows) -> None:
        policy = rows.require(POLICIES, e.policy_id)
        if e.period_number is not None:
            year = rows.require(PERIODS, e.policy_id, e.period_number)["scheme_year"]
        else:  # discovered outside every period: counted in the year of discovery
            year = scheme_year(load_scheme(policy["scheme"]).calendar, e.discovered_at)
        rows.new(CLAIMS, claim_id=e.originator_id, policy_id=e.policy_id, scheme=policy["scheme"],
                 scheme_year=year)
        self._totals(rows, policy["scheme"], year)["claims_reported"] += 1

    @handles(Claim.ClaimDenied)
    def on_denied(self, e: Any, rows: Rows) -> None:
        claim = rows.require(CLAIMS, e.originator_id)
        self._totals(rows, claim["scheme"], claim["scheme_year"])["claims_denied"] += 1
