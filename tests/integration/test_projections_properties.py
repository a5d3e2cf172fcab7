"""Random histories (hypothesis): every read model agrees with the aggregates read back.

The oracle below computes each view's rows from ``app.get_policy`` / ``app.get_claim``
(the aggregates' own state), independently of the projection code; the return
premium of a cancellation, which the aggregate does not keep, is read from the
policy's own history. Histories are driven through the application, so they are
only ever what the use cases allow; projection runs at random points with random
batch sizes, so rows are built across many transactions.
"""

# ruff: noqa: C408 - the oracle builds rows with keyword dicts, the views' column names

from __future__ import annotations

import json
import tempfile
import uuid
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.rows import dict_row

from policy_core.bootstrap import bootstrap
from policy_core.calendar import TOKYO, scheme_year
from policy_core.database import Database
from policy_core.errors import DomainError
from policy_core.personal_data.crypto import blind_index
from policy_core.personal_data.keys import SYSTEM_BLIND_INDEX
from policy_core.projections import EventSource, all_views, verify
from policy_core.projections.engine import Projector
from policy_core.projections.maintenance import prepare
from policy_core.projections.views.portfolio import allocate
from policy_core.scheme import load_scheme
from policy_core.settings import Settings
from policy_core.settlement import CAUSES, DENIAL_REASONS, SECTIONS
from tests.conftest import BANK, FIXED_NOW

pytestmark = pytest.mark.postgres

INDUSTRIES = ("printing", "retail", "construction", "clinic")


# ---------------------------------------------------------------------------- oracle


def aggregate_ids(database: Database) -> tuple[list[UUID], list[UUID]]:
    with database.connect() as conn:
        rows = conn.execute(
            "SELECT originator_id, topic FROM policy_admin_events "
            "WHERE originator_version = 1 ORDER BY notification_id"
        ).fetchall()
    return (
        [r[0] for r in rows if r[1] == "policy_admin:Policy.Applied"],
        [r[0] for r in rows if r[1] == "policy_admin:Claim.IncidentReported"],
    )


def expected_views(app: Any, database: Database) -> dict[str, dict[tuple[Any, ...], dict[str, Any]]]:
    policy_ids, claim_ids = aggregate_ids(database)
    policies = {pid: app.get_policy(pid) for pid in policy_ids}
    claims = {cid: app.get_claim(cid) for cid in claim_ids}
    out: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = defaultdict(dict)
    totals: dict[tuple[str, int], Counter[str]] = defaultdict(Counter)
    mix: dict[tuple[str, int, str, str], Counter[str]] = defaultdict(Counter)
    coins: dict[tuple[str, int, str], Counter[str]] = defaultdict(Counter)
    schemes: dict[str, Counter[str]] = defaultdict(Counter)
    years: dict[tuple[UUID, int], int] = {}
    shares: dict[tuple[UUID, int], list[tuple[str, int]]] = {}

    def share(
        scheme: str, year: int, split: list[tuple[str, int]], column: str, amount: int, sign: int = 1
    ) -> None:
        # A withdrawal (sign -1) takes back exactly the parts its amount was allocated in: the
        # positive amount is split and negated, never a negative amount split (floor division
        # would round the others' parts away from zero and leave the leader a remainder).
        parts = allocate(amount, split)
        assert sum(parts.values()) == amount
        for key, part in parts.items():
            coins[(scheme, year, key)][column] += sign * part
            if column.startswith("paid_"):
                coins[(scheme, year, key)]["paid_total"] += sign * part

    for pid, pol in policies.items():
        cal = load_scheme(pol.scheme).calendar
        schemes[pol.scheme]["policies"] += 1
        schemes[pol.scheme]["policies_active"] += pol.status == "active"
        for p in pol.periods:
            for s in SECTIONS:
                out["rm_limits"][(pid, p.number, s)] = dict(
                    scheme=pol.scheme,
                    period_start=p.start,
                    period_end=p.end,
                    limit_yen=p.limits[s],
                    paid=p.paid[s],
                    remaining=p.remaining()[s],
                )
            # A claim's accident limits are those in force at its discovery (cover endorsements).
            acc = {h: p.limits_at(claims[UUID(h)].discovered_at) for h in p.claims}
            for claim_hex in p.claims:
                for s in SECTIONS:
                    used = p.claim_paid.get(claim_hex, {}).get(s, 0)
                    out["rm_limits_claims"][(UUID(claim_hex), s)] = dict(
                        policy_id=pid,
                        period_number=p.number,
                        accident_limit=acc[claim_hex][s],
                        paid=used,
                        remaining=acc[claim_hex][s] - used,
                    )
            # the pre-rendered answer of GET /policies/{id}/limits (compared parsed: see actual_views)
            out["rm_limits_docs"][(pid, p.number)] = dict(
                scheme=pol.scheme,
                number=pol.number,
                head={
                    "policy_id": str(pid),
                    "number": pol.number,
                    "period": p.number,
                    "start": p.start.astimezone(TOKYO).isoformat(),
                    "end": p.end.astimezone(TOKYO).isoformat(),
                    "sections": {
                        s: {"limit": p.limits[s], "paid": p.paid[s], "remaining": p.remaining()[s]}
                        for s in SECTIONS
                    },
                },
                claims={
                    str(UUID(claim_hex)): {
                        s: {
                            "accident_limit": acc[claim_hex][s],
                            "paid": p.claim_paid.get(claim_hex, {}).get(s, 0),
                            "remaining": acc[claim_hex][s] - p.claim_paid.get(claim_hex, {}).get(s, 0),
                        }
                        for s in SECTIONS
                    }
                    for claim_hex in p.claims
                },
                claim_numbers={str(UUID(h)): claims[UUID(h)].number for h in p.claims},
            )
            # A lapsed period is lapsed even when its premium had been collected (a later period
            # whose cover the lapse ended: that money is refund due, never cover).
            state = "lapsed" if p.lapsed_at is not None else "collected" if p.is_collected else "due"
            out["rm_collections_debits"][(pid, p.number)] = dict(
                policy_number=pol.number,
                scheme=pol.scheme,
                premium=p.premium,
                collected=p.net_collected,
                outstanding=p.outstanding,
                debit_date=p.debit_date,
                attempts=len(p.debits),
                failed_attempts=p.failed_attempts,
                next_attempt=len(p.debits) + 1,
                next_debit_date=p.next_debit_date,
                state=state,
                policy_status=pol.status,
            )
            for d in p.debits:
                out["rm_collections_attempts"][(pid, p.number, d.attempt)] = dict(
                    debit_date=d.debit_date,
                    outcome=d.outcome,
                    amount=d.amount,
                    reference=d.reference,
                    result_code=d.result_code,
                    reason=d.reason,
                    next_debit_date=d.next_debit_date,
                )
            if p.lapsed_at is not None and (pid,) not in out["rm_collections_lapses"]:
                # The lapse is of the first lapsed period (the unpaid one); the later periods it
                # ended are lapsed too, but the lapse row names the unpaid period.
                out["rm_collections_lapses"][(pid,)] = dict(
                    policy_number=pol.number,
                    period_number=p.number,
                    effective_at=p.lapsed_at,
                    reason=pol.lapse_reason,
                    unpaid_premium=p.premium - p.collected,
                    failed_attempts=p.failed_attempts,
                )
            # portfolio
            year = years[(pid, p.number)] = scheme_year(cal, p.start)
            # The shares the period recorded; the preset's for a period recorded without them.
            split = shares[(pid, p.number)] = [(c["key"], c["share_bp"]) for c in p.coinsurers] or [
                (c.key, c.share_bp) for c in load_scheme(pol.scheme).coinsurers
            ]
            t = totals[(pol.scheme, year)]
            t["new_policies" if p.number == 1 else "renewals"] += 1
            in_force = (
                p.activated_at is not None
                and p.lapsed_at is None
                and not (pol.cancelled_at is not None and pol.cancelled_at <= p.start)
            )
            t["participants"] += in_force
            t["written_premium"] += p.premium
            t["lapsed_premium"] += p.premium if p.lapsed_at is not None else 0
            t["collected_premium"] += p.collected
            t["claims_paid"] += len(p.claim_paid)
            for s in SECTIONS:
                t[f"paid_{s}"] += p.paid[s]
                t["paid_total"] += p.paid[s]
            m = mix[(pol.scheme, year, p.basis["plan"], pol.industry)]  # the plan it was written under
            m["periods_written"] += 1
            m["policies_in_force"] += in_force
            m["written_premium"] += p.premium
            m["collected_premium"] += p.collected
            # The period's premium and each endorsement's delta are allocated one by one.
            base = p.premium - sum(x["premium_delta"] for x in p.cover_stack)
            share(pol.scheme, year, split, "written_premium", base)
            for x in p.cover_stack:
                d = x["premium_delta"]
                share(pol.scheme, year, split, "written_premium", abs(d), sign=1 if d >= 0 else -1)
            for d in p.debits:
                if d.outcome == "debited":
                    share(pol.scheme, year, split, "collected_premium", d.amount)
        for e in app.history(pid):
            if type(e).__name__ == "Cancelled":  # the aggregate keeps no return premium: its event does
                year = years[(pid, e.period_number)]
                totals[(pol.scheme, year)]["return_premium"] += e.return_premium
                share(pol.scheme, year, shares[(pid, e.period_number)], "return_premium", e.return_premium)
            if getattr(e, "refund", 0):  # an endorsement's return premium
                year = years[(pid, e.period_number)]
                totals[(pol.scheme, year)]["return_premium"] += e.refund
                share(pol.scheme, year, shares[(pid, e.period_number)], "return_premium", e.refund)
            if type(e).__name__ == "Reinstated":  # the return premium withdrawn again
                year = years[(pid, e.period_number)]
                totals[(pol.scheme, year)]["return_premium"] -= e.return_premium_withdrawn
                share(
                    pol.scheme,
                    year,
                    shares[(pid, e.period_number)],
                    "return_premium",
                    e.return_premium_withdrawn,
                    sign=-1,
                )
        due = [p.next_debit_date for p in pol.periods if p.next_debit_date is not None]
        arrears = [p for p in pol.periods if p.failed_attempts and not p.is_collected and p.lapsed_at is None]
        cur = pol.current_period
        out["rm_policies"][(pid,)] = dict(
            scheme=pol.scheme,
            member_number=pol.member_number,
            holder_name_index=blind_index(app.vault.system_key(SYSTEM_BLIND_INDEX), pol.holder["name"]),
            industry=pol.industry,
            plan=pol.plan,
            annual_sales=pol.annual_sales,
            status=pol.status,
            current_period=cur.number,
            period_start=cur.start,
            period_end=cur.end,
            premium=cur.premium,
            annual_premium=cur.annual_premium,
            tariff_version=cur.tariff_version,
            collected=cur.net_collected,
            next_debit_date=min(due) if due else None,
            arrears=sum(p.outstanding for p in arrears),
            failed_debits=sum(p.failed_attempts for p in arrears),
            claims=sum(len(p.claims) for p in pol.periods),
            claims_paid=sum(sum(p.paid.values()) for p in pol.periods),
            renewal_notice_on=cur.renewal_notice_on,
            non_renewal_notice_on=pol.non_renewal_notice_on,
            lapsed_at=pol.lapsed_at,
            lapse_reason=pol.lapse_reason,
            cancelled_at=pol.cancelled_at,
            cancellation_reason=pol.cancellation_reason,
            expired_at=pol.expired_at,
            version=pol.version,
        )

    for cid, c in claims.items():
        pol = policies[c.policy_id]
        out["rm_claims"][(cid,)] = dict(
            policy_id=c.policy_id,
            period_number=c.period_number,
            status=c.status,
            cause=c.cause,
            occurred_at=c.occurred_at,
            discovered_at=c.discovered_at,
            discovered_on=c.discovered_at.astimezone(TOKYO).date(),
            records_affected=c.records_affected,
            own_staff_information=c.own_staff_information,
            outside_japan=c.outside_japan,
            loss_items=len(c.live_losses()),
            assessed_loss=sum(i["amount"] for i in c.live_losses()),
            payments=len(c.payments),
            payments_reversed=sum(1 for p in c.payments if p.get("reversed")),
            **{f"paid_{s}": c.paid[s] for s in SECTIONS},
            paid_total=c.paid_total,
            **{f"reserve_{s}": c.reserve[s] for s in SECTIONS},
            reserve_total=c.reserve_total,
            incurred_total=c.paid_total + c.reserve_total,
            recoveries_due=c.recoveries_due_total,
            reopened=c.reopened,
            denial_reason=c.denial_reason,
            closed_reason=c.closed_reason,
            version=c.version,
        )
        if c.period_number is not None:
            year = years[(c.policy_id, c.period_number)]
        else:
            year = scheme_year(load_scheme(pol.scheme).calendar, c.discovered_at)
        totals[(pol.scheme, year)]["claims_reported"] += 1
        totals[(pol.scheme, year)]["claims_denied"] += c.denial_reason is not None
        totals[(pol.scheme, year)]["outstanding_reserve"] += c.reserve_total
        totals[(pol.scheme, year)]["recoveries_due"] += c.recoveries_due_total
        for payment in c.payments:
            if payment.get("reversed"):  # a reversal takes back exactly what its payment allocated
                continue
            for s, sec in payment["settlement"]["sections"].items():
                period = (c.policy_id, c.period_number)
                share(pol.scheme, years[period], shares[period], f"paid_{s}", sec["paid"])

    paid = tuple(f"paid_{s}" for s in SECTIONS)
    total_cols = (
        "new_policies",
        "renewals",
        "participants",
        "written_premium",
        "lapsed_premium",
        "return_premium",
        "collected_premium",
        "claims_reported",
        "claims_denied",
        "claims_paid",
        *paid,
        "paid_total",
        "outstanding_reserve",
        "recoveries_due",
    )
    mix_cols = ("periods_written", "policies_in_force", "written_premium", "collected_premium")
    coin_cols = ("written_premium", "collected_premium", "return_premium", *paid, "paid_total")
    for key, t in totals.items():
        out["rm_portfolio"][key] = {c: t[c] for c in total_cols}
    for key, m in mix.items():
        out["rm_portfolio_mix"][key] = {c: m[c] for c in mix_cols}
    for key, co in coins.items():
        out["rm_portfolio_coinsurers"][key] = {c: co[c] for c in coin_cols}
    for key, sc in schemes.items():
        out["rm_portfolio_schemes"][(key,)] = {c: sc[c] for c in ("policies", "policies_active")}
    return out


def actual_views(database: Database, tables: list[str]) -> dict[str, dict[tuple[Any, ...], dict[str, Any]]]:
    keys = {t.name: t.key for v in all_views() for t in v.tables}
    out = {}
    with psycopg.connect(database.dsn, row_factory=dict_row) as conn:
        for name in tables:
            rows = conn.execute(f'SELECT * FROM "{database.schema}"."{name}"').fetchall()
            if name == "rm_limits_docs":  # JSON kept as text: compared as the values it denotes
                rows = [
                    r
                    | {
                        "head": json.loads(r["head"]),
                        "claims": json.loads(r["claims"]),
                        "claim_numbers": json.loads(r["claim_numbers"]),
                    }
                    for r in rows
                ]
            out[name] = {tuple(r[k] for k in keys[name]): r for r in rows}
    return out


def kept_sums_from_periods(database: Database) -> tuple[dict[tuple[Any, ...], dict[str, Any]], ...]:
    """The portfolio's cohorts and months as the dashboard aggregated them per request before they
    were kept: its period sets (``YEAR_SETS``) over the view's periods, and the debited attempts."""
    from api.dashboard.queries import YEAR_SETS, year_bounds

    s = f'"{database.schema}"'
    cohorts: dict[tuple[Any, ...], dict[str, Any]] = {}
    kept: dict[tuple[Any, ...], dict[str, Any]] = {}
    with psycopg.connect(database.dsn, row_factory=dict_row) as conn:
        years = conn.execute(
            f"SELECT DISTINCT pol.scheme, pp.scheme_year FROM {s}.rm_portfolio_periods pp"
            f" JOIN {s}.rm_portfolio_policies pol USING (policy_id)"
        ).fetchall()
        counts = ", ".join(f"count(*) FILTER (WHERE {cond}) AS {name}" for name, cond in YEAR_SETS.items())
        for y in years:
            for r in conn.execute(
                f"SELECT pp.start, pol.cancelled_at, {counts},"
                " coalesce(sum(pp.premium) FILTER (WHERE pp.in_force), 0) AS premium_in_force"
                f" FROM {s}.rm_portfolio_periods pp JOIN {s}.rm_portfolio_policies pol USING (policy_id)"
                " WHERE pp.scheme_year = %(year)s AND pol.scheme = %(scheme)s GROUP BY 1, 2",
                {
                    "year": y["scheme_year"],
                    "scheme": y["scheme"],
                    "year_end": year_bounds(y["scheme"], y["scheme_year"])[1],
                },
            ):
                cohorts[(y["scheme"], y["scheme_year"], r.pop("start"), r.pop("cancelled_at"))] = r
        names = ", ".join(f"periods_{name} AS {name}" for name in YEAR_SETS)
        for table, cancelled in (
            ("rm_portfolio_cohorts", "NULL::timestamptz"),
            ("rm_portfolio_cohorts_cancelled", "cancelled_at"),
        ):
            for r in conn.execute(
                f"SELECT scheme, scheme_year, start, {cancelled} AS cancelled_at, {names}, premium_in_force"
                f" FROM {s}.{table}"
            ):
                key = (r.pop("scheme"), r.pop("scheme_year"), r.pop("start"), r.pop("cancelled_at"))
                if r["new"] + r["renewal"]:
                    kept[key] = r
                else:  # a group all of whose periods moved on (cancelled, reinstated): all zero
                    assert not any(r.values()), f"an empty cohort with counts: {key} {r}"
        debited = conn.execute(
            "SELECT a.scheme, pp.scheme_year, date_trunc('month', a.debit_date)::date AS month,"
            " sum(a.amount) AS premium"
            f" FROM {s}.rm_collections_attempts a"
            f" JOIN {s}.rm_portfolio_periods pp USING (policy_id, period_number)"
            " WHERE a.outcome = 'debited' GROUP BY 1, 2, 3"
        ).fetchall()
        months = conn.execute(
            f"SELECT scheme, scheme_year, month, collected_premium AS premium FROM {s}.rm_portfolio_months"
        ).fetchall()
    return (
        cohorts,
        kept,
        {(r["scheme"], r["scheme_year"], r["month"]): int(r["premium"]) for r in debited},
        {(r["scheme"], r["scheme_year"], r["month"]): r["premium"] for r in months},
    )


def assert_kept_sums_match(database: Database) -> None:
    cohorts, kept, debited, months = kept_sums_from_periods(database)
    assert kept == cohorts
    assert months == debited


def assert_views_match(app: Any, database: Database) -> None:
    assert_kept_sums_match(database)
    expected = expected_views(app, database)
    actual = actual_views(database, sorted(expected) + ["rm_portfolio_mix", "rm_claims"])
    for table, rows in expected.items():
        got = actual[table]
        assert set(got) == set(rows), (
            f"{table}: keys differ: missing {set(rows) - set(got)}, extra {set(got) - set(rows)}"
        )
        for key, want in rows.items():
            have = {c: got[key][c] for c in want}
            assert have == want, f"{table} {key}: view {have} != aggregates {want}"


# ---------------------------------------------------------------------------- random histories


OPS = (
    "apply",
    "activate",
    "debit_ok",
    "debit_fail",
    "lapse",
    "renew",
    "notice",
    "expire",
    "cancel",
    "sales",
    "report",
    "assess",
    "pay",
    "deny",
    "close",
    "project",
    "onboard",
    "claim",
    "renew_cycle",
    "default",
    "leave",
    "renewal_notice",
    # corrections and reserves (issue 11)
    "reverse",
    "correct",
    "withdraw",
    "reopen",
    "reinstate",
    "reserve",
)


class History:
    """Drives the application with small integers; refused commands are part of the game."""

    def __init__(self, app: Any, projector: Projector) -> None:
        self.app = app
        self.projector = projector
        self.policies: list[UUID] = []
        self.claims: list[UUID] = []
        self.members = 0

    def run(self, op: str, a: int, b: int) -> None:
        try:
            getattr(self, op)(a, b)
        except DomainError:
            pass

    def _policy(self, a: int) -> Any:
        if not self.policies:
            raise _Skip
        pid = self.policies[a % len(self.policies)]
        return pid, self.app.get_policy(pid)

    def _period(self, pol: Any, b: int) -> Any:
        return pol.periods[-1] if b % 3 else pol.periods[b % len(pol.periods)]

    def apply(self, a: int, b: int) -> None:
        self.members += 1
        self.policies.append(
            self.app.apply(
                scheme=("jcci", "chuokai")[a % 2],
                member_number=f"M-{self.members}",
                holder={"name": f"Holder {a}{b}"},
                industry=INDUSTRIES[(a + b) % len(INDUSTRIES)],
                annual_sales=(20_000_000, 100_000_000)[b % 2],
                plan="ABCD"[b % 4],
                bank_account=BANK,
                application_date=date(2026, 2 + a % 8, 1 + 3 * b),
            )
        )

    def activate(self, a: int, b: int) -> None:
        pid, pol = self._policy(a)
        self.app.activate(pid, self._period(pol, b).number)

    def debit_ok(self, a: int, b: int) -> None:
        pid, pol = self._policy(a)
        p = self._period(pol, b)
        self.app.record_debit_success(
            pid,
            p.number,
            attempt=len(p.debits) + 1,
            amount=p.premium - p.collected,
            debit_date=p.next_debit_date or p.debit_date,
            reference=f"R{a}{b}",
        )

    def debit_fail(self, a: int, b: int) -> None:
        pid, pol = self._policy(a)
        p = self._period(pol, b)
        self.app.record_debit_failure(
            pid,
            p.number,
            attempt=len(p.debits) + 1,
            debit_date=p.next_debit_date or p.debit_date,
            result_code=str(1 + b % 3),
            reason="insufficient funds",
        )

    def lapse(self, a: int, b: int) -> None:
        pid, pol = self._policy(a)
        self.app.lapse(pid, self._period(pol, b).number)

    def renew(self, a: int, b: int) -> None:
        pid, pol = self._policy(a)
        self.app.renew(pid, len(pol.periods) + 1)

    def renewal_notice(self, a: int, b: int) -> None:
        pid, pol = self._policy(a)
        self.app.issue_renewal_notice(pid, len(pol.periods) - b % 2, issued_on=date(2027, 2, 1 + b))

    def notice(self, a: int, b: int) -> None:
        pid, _ = self._policy(a)
        self.app.give_non_renewal_notice(pid, received_on=date(2026, 12, 1))

    def expire(self, a: int, b: int) -> None:
        pid, pol = self._policy(a)
        self.app.expire(pid, len(pol.periods))

    def cancel(self, a: int, b: int) -> None:
        pid, pol = self._policy(a)
        start = pol.current_period.start.astimezone(TOKYO).date()
        self.app.cancel(
            pid, effective_date=start + timedelta(days=45 * (b % 4) - 10), reason="closing business"
        )

    def sales(self, a: int, b: int) -> None:
        pid, _ = self._policy(a)
        self.app.declare_sales(pid, annual_sales=30_000_000 + b * 10_000_000, declared_on=date(2026, 11, 1))

    def report(self, a: int, b: int, cause: str | None = None) -> None:
        pid, pol = self._policy(a)
        p = self._period(pol, b)
        discovered = p.start + timedelta(days=3 + 20 * a)
        self.claims.append(
            self.app.report_incident(
                policy_id=pid,
                occurred_at=discovered - timedelta(days=1),
                discovered_at=discovered,
                cause=cause or CAUSES[(a * 3 + b) % len(CAUSES)],
                records_affected=10 * (b + 1),
                description="slip lost",
                own_staff_information=cause is None and a == 7,
                record_if_outside_cover=b == 7,
            )
        )

    def _claim(self, a: int) -> UUID:
        if not self.claims:
            raise _Skip
        return self.claims[a % len(self.claims)]

    def assess(self, a: int, b: int) -> None:
        items = [{"category": "damages", "risk": ("basic", "recourse")[a % 2], "amount": (b + 1) * 1_300_000}]
        if b % 2:
            items.append({"category": "condolence", "risk": "basic", "amount": 900_000, "recipients": 1000})
        if a % 3 == 0:
            items.append({"category": "advertising", "risk": "basic", "amount": 2_500_000})
        self.app.assess_losses(self._claim(a), items)

    def pay(self, a: int, b: int) -> None:
        self.app.pay_claim(self._claim(a))

    def deny(self, a: int, b: int) -> None:
        self.app.deny_claim(
            self._claim(a), reason=DENIAL_REASONS[b % len(DENIAL_REASONS)], message="not covered"
        )

    def close(self, a: int, b: int) -> None:
        self.app.close_claim(self._claim(a), reason="settled")

    def reverse(self, a: int, b: int) -> None:
        self.app.reverse_payment(self._claim(a), 1 + b % 2, reason="paid in error")

    def correct(self, a: int, b: int) -> None:
        self.app.correct_loss(self._claim(a), 1 + b % 2, amount=b * 400_000, reason="invoice corrected")

    def withdraw(self, a: int, b: int) -> None:
        self.app.withdraw_loss(self._claim(a), 1 + b % 3, reason="entered twice")

    def reopen(self, a: int, b: int) -> None:
        self.app.reopen_claim(self._claim(a), reason="new information")

    def reinstate(self, a: int, b: int) -> None:
        pid, _ = self._policy(a)
        self.app.reinstate(pid, reason="cancelled in error")

    def reserve(self, a: int, b: int) -> None:
        self.app.set_reserve(
            self._claim(a),
            sections={SECTIONS[b % 4]: b * 700_000, SECTIONS[(b + 1) % 4]: 100_000 * a},
            reason="estimate",
        )

    def project(self, a: int, b: int) -> None:
        self.projector.catch_up((1, 3, 1000)[b % 3])

    # Sequences that get past the guards: collected policies, paid claims, renewed years.
    def onboard(self, a: int, b: int) -> None:
        self.apply(a, b)
        self.a_last = len(self.policies) - 1
        self.activate(self.a_last, 1)
        if b % 3 == 0:
            self.run("debit_fail", self.a_last, 1)
        self.debit_ok(self.a_last, 1)

    def claim(self, a: int, b: int) -> None:
        before = len(self.claims)
        try:  # a covered cause, in the current period mostly
            self.report(
                a, b + 1 if b % 3 == 0 else b, cause=("insider", "theft", "lost_media", "misdelivery")[b % 4]
            )
        except DomainError:
            return
        assert len(self.claims) == before + 1
        self.run("assess", len(self.claims) - 1 if self.claims else 0, b)
        self.run("pay", len(self.claims) - 1 if self.claims else 0, b)
        if b >= 5:  # an interim payment after a further assessment
            self.run("assess", len(self.claims) - 1 if self.claims else 0, 7 - b)
            self.run("pay", len(self.claims) - 1 if self.claims else 0, b)

    def default(self, a: int, b: int) -> None:
        """A member who never pays: failed debits until the policy lapses (with its open claims)."""
        self.apply(a, b)
        last = len(self.policies) - 1
        self.run("activate", last, 1)
        if b % 2:
            self.run("claim", last, 1)
        for _ in range(3):
            self.run("debit_fail", last, 1)

    def leave(self, a: int, b: int) -> None:
        self.notice(a, b)
        self.expire(a, b)

    def renew_cycle(self, a: int, b: int) -> None:
        self.renew(a, b)
        self.activate(a, 1)
        self.debit_ok(a, 1)


class _Skip(DomainError):
    def __init__(self) -> None:
        super().__init__("nothing to act on", code="skip")


# Weighted towards what makes histories interesting: policies, money, claims.
op_strategy = st.sampled_from(
    OPS + ("onboard", "onboard", "claim", "claim", "claim", "renew_cycle", "debit_fail", "reverse", "reserve")
)
steps = st.lists(st.tuples(op_strategy, st.integers(0, 7), st.integers(0, 7)), min_size=6, max_size=30)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(history=steps)
def test_every_view_agrees_with_the_aggregates(pg_dsn: str, history: list[tuple[str, int, int]]) -> None:
    database = Database(dsn=pg_dsn, schema=f"h_{uuid.uuid4().hex[:16]}")
    database.ensure_schema()
    rt = bootstrap(Settings(POLICY_DATA_DIR=tempfile.mkdtemp()), database=database, clock=lambda: FIXED_NOW)
    try:
        source = EventSource.from_app(rt.app)
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            prepare(conn, database.schema, all_views())
            projector = Projector(source, all_views(), conn, database.schema)
            driver = History(rt.app, projector)
            for op, a, b in [("onboard", 0, 1), *history]:
                driver.run(op, a, b)
            projector.catch_up(1000)
            assert_views_match(rt.app, database)
        report = verify(pg_dsn, source, database.schema, all_views())
        assert report.ok, report.to_dict()
    finally:
        rt.close()
        database.drop_schema()


def test_the_oracle_sees_a_known_history(runtime: Any, database: Database) -> None:
    """A fixed history checked by hand, so a wrong oracle cannot pass the property silently."""
    app = runtime.app
    pid = app.apply(
        scheme="chuokai",
        member_number="K-1",
        holder={"name": "Kato Shoten"},
        industry="printing",
        annual_sales=100_000_000,
        plan="B",
        bank_account=BANK,
        application_date=date(2026, 1, 10),
    )
    app.activate(pid, 1)
    p = app.get_policy(pid).current_period
    app.record_debit_success(pid, 1, attempt=1, amount=p.premium, debit_date=p.debit_date)
    cid = app.report_incident(
        policy_id=pid,
        occurred_at=datetime(2026, 6, 1, tzinfo=TOKYO),
        discovered_at=datetime(2026, 6, 2, tzinfo=TOKYO),
        cause="insider",
        records_affected=1000,
        description="list taken",
    )
    # The worked example of domain.md section 4 (plan B): 43,900,000 paid.
    app.assess_losses(
        cid,
        [
            {"category": "damages", "risk": "basic", "amount": 37_000_000},
            {"category": "defence_costs", "risk": "basic", "amount": 2_000_000},
            {"category": "condolence", "risk": "basic", "amount": 1_000_000, "recipients": 2000},
            {"category": "advertising", "risk": "basic", "amount": 5_000_000},
        ],
    )
    app.pay_claim(cid)
    with psycopg.connect(database.dsn, autocommit=True) as conn:
        prepare(conn, database.schema, all_views())
        Projector(EventSource.from_app(app), all_views(), conn, database.schema).catch_up()
    expected = expected_views(app, database)
    assert expected["rm_limits"][(pid, 1, "liability_basic")]["paid"] == 38_900_000
    assert expected["rm_limits"][(pid, 1, "expense_basic")]["remaining"] == 0
    assert expected["rm_portfolio"][("chuokai", 2026)]["paid_total"] == 43_900_000
    coins = {k[2]: v for k, v in expected["rm_portfolio_coinsurers"].items()}
    assert sum(c["paid_total"] for c in coins.values()) == 43_900_000
    assert coins["insurer_b"]["paid_total"] == 43_900_000 * 3000 // 10_000
    assert_views_match(app, database)
