"""The ``reporting`` schema: stable, documented SQL views over the read models, for BI tools.

Metabase, Superset or Excel connect as the read-only role ``policy_reporting`` and see
only this schema: one SQL view per subject, with column names that are a contract
(documented in ``docs/reporting.md``, one table per view; a test reads every documented
column through the role). The read models (``rm_*``) may change shape from one version
to the next; these views are where the names stay put.

No personal data: the holder's name, kana, address, contacts and bank account are in no
view, nor the member number (the key of the data subject); policies and claims are
identified by their ids.

The views are (re)created by the start-up step's table provider "reporting views"
(``policy_core.ddl``: ``policy-admin db init``, ``serve`` start-up), after the read models' own
provider, from the one column table below (``VIEWS``, which also writes ``docs/reporting.md``);
preparing new read-model tables puts back the views it had to drop, and every blue/green
rebuild of a view does too: the rebuild's
swap drops the views that depend on the tables it replaces and recreates them in the
same transaction, so a BI tool never sees a missing view. A view whose read model is not
built at this code's version yet is skipped with a warning and made by the rebuild.

The schema is ``reporting`` for the default deployment (tables in ``public``) and
``<schema>_reporting`` when ``POLICY_DB_SCHEMA`` puts a deployment in its own schema.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from .ddl import READ_MODELS, table_provider
from .settlement import SECTIONS

log = logging.getLogger("policy_core.reporting")

ROLE = "policy_reporting"
ROLE_PASSWORD_ENV = "POLICY_REPORTING_PASSWORD"


@dataclass(frozen=True)
class Col:
    name: str
    expr: str  # SQL over the view's FROM clause
    unit: str  # yen, count, date (Asia/Tokyo), timestamp (UTC), text, boolean, id, ratio
    meaning: str


@dataclass(frozen=True)
class ReportView:
    name: str
    source: str  # FROM clause; {t:rm_x} is replaced by the qualified read-model table
    key: tuple[str, ...]
    meaning: str
    columns: tuple[Col, ...]


def _c(name: str, unit: str, meaning: str, expr: str | None = None) -> Col:
    return Col(name, expr or name, unit, meaning)


_SECTION_NAMES = {
    "liability_basic": "liability (basic)",
    "liability_recourse": "liability (recourse)",
    "expense_basic": "expenses (basic)",
    "expense_recourse": "expenses (recourse)",
}


def _paid(prefix: str = "") -> tuple[Col, ...]:
    return tuple(
        _c(f"paid_{s}", "yen", f"claims paid in the {_SECTION_NAMES[s]} section", f"{prefix}paid_{s}")
        for s in SECTIONS
    )


VIEWS: tuple[ReportView, ...] = (
    ReportView(
        "policies",
        "{t:rm_policies} p",
        ("policy_id",),
        "One row per policy: its current period, collection state and claims to date.",
        (
            _c("policy_id", "id", "the policy's id (uuid)"),
            _c(
                "policy_number",
                "text",
                "policy number (`CHUOKAI-2026-000001`; NULL: applied before numbers)",
                "p.number",
            ),
            _c("scheme", "text", "scheme key (`jcci`, `chuokai`)"),
            _c("industry", "text", "industry class of the tariff"),
            _c("plan", "text", "plan (A-E)"),
            _c("liability_limit", "yen", "liability limit of the plan (plan E: as chosen)"),
            _c("network_rider", "boolean", "network (website/e-mail) rider taken"),
            _c("annual_sales", "yen", "annual sales declared, the rating basis"),
            _c("application_date", "date", "date of the application"),
            _c("enrollment", "text", "`regular` or `mid_term`"),
            _c("status", "text", "applied, active, lapsed, cancelled or expired"),
            _c("current_period", "count", "number of the current period (1 = first year)"),
            _c("period_start", "timestamp", "cover start of the current period (16:00 Tokyo)"),
            _c("period_end", "timestamp", "cover end of the current period (16:00 Tokyo)"),
            _c("premium", "yen", "premium of the current period"),
            _c("annual_premium", "yen", "annual premium of the current period (before pro rata)"),
            _c("tariff_version", "text", "tariff version that rated the current period"),
            _c("collected", "yen", "premium collected on the current period"),
            _c("next_debit_date", "date", "next scheduled direct debit, if any"),
            _c("arrears", "yen", "premium due on periods with a failed debit"),
            _c("failed_debits", "count", "failed debit attempts on the periods in arrears"),
            _c("claims", "count", "claims registered on the policy"),
            _c("claims_paid", "yen", "claim payments on the policy, all periods"),
            _c("refund_due", "yen", "premium received for periods without cover (to be refunded)"),
            _c("renewal_notice_on", "date", "renewal notice issued for the current period on"),
            _c("non_renewal_notice_on", "date", "non-renewal notice received on"),
            _c("lapsed_at", "timestamp", "lapse effective from (no cover from then)"),
            _c("lapse_reason", "text", "why it lapsed (e.g. non-payment)"),
            _c("cancelled_at", "timestamp", "cancellation effective at"),
            _c("expired_at", "timestamp", "expiry (not renewed) effective at"),
            _c("created_at", "timestamp", "when the application was recorded"),
            _c("updated_at", "timestamp", "when the last event on it was recorded"),
        ),
    ),
    ReportView(
        "claims",
        "{t:rm_claims} c LEFT JOIN {t:rm_policies} p ON p.policy_id = c.policy_id",
        ("claim_id",),
        "One row per claim: status, cause, dates and what was paid, per section. No description.",
        (
            _c("claim_id", "id", "the claim's id (uuid)", "c.claim_id"),
            _c("claim_number", "text", "claim number (NULL: reported before numbers)", "c.number"),
            _c("policy_id", "id", "the policy it is made on", "c.policy_id"),
            _c("scheme", "text", "scheme of the policy", "p.scheme"),
            _c("industry", "text", "industry class of the policy", "p.industry"),
            _c("period_number", "count", "policy period the incident falls in (NULL: outside cover)"),
            _c("status", "text", "reported, assessed, paid, denied or closed", "c.status"),
            _c("cause", "text", "cause of the leak (insider, website, email, loss, theft, ...)"),
            _c("occurred_at", "timestamp", "when the leak happened"),
            _c("discovered_at", "timestamp", "when it was discovered"),
            _c("discovered_on", "date", "discovery date (Asia/Tokyo)"),
            _c("records_affected", "count", "personal-information records affected"),
            _c("own_staff_information", "boolean", "the records were the insured's own staff's"),
            _c("outside_japan", "boolean", "the leak happened outside Japan"),
            _c("loss_items", "count", "loss items assessed"),
            _c("assessed_loss", "yen", "gross loss assessed (before deductible and limits)"),
            _c("payments", "count", "payments made"),
            *_paid("c."),
            _c("paid_total", "yen", "claims paid, all sections", "c.paid_total"),
            _c("reserve_total", "yen", "case reserve outstanding", "c.reserve_total"),
            _c("incurred_total", "yen", "paid + reserve", "c.incurred_total"),
            _c("recoveries_due", "yen", "paid amounts to be recovered", "c.recoveries_due"),
            _c("denial_reason", "text", "why it was denied (NULL: not denied)"),
            _c("closed_reason", "text", "why it was closed (NULL: open)"),
            _c("reported_at", "timestamp", "when the report was recorded"),
            _c("last_paid_at", "timestamp", "when the last payment was recorded"),
            _c("updated_at", "timestamp", "when the last event on it was recorded", "c.updated_at"),
        ),
    ),
    ReportView(
        "portfolio",
        "{t:rm_portfolio} r",
        ("scheme", "scheme_year"),
        "Per scheme and scheme year (the year a period starts in); the JSON portfolio report's totals.",
        (
            _c("scheme", "text", "scheme key"),
            _c("scheme_year", "count", "scheme year (calendar year of the anniversary that opens it)"),
            _c("new_policies", "count", "first periods written (new business)"),
            _c("renewals", "count", "renewal periods written"),
            _c(
                "policies_in_force",
                "count",
                "periods in force: activated, not lapsed, not cancelled from start",
                "participants",
            ),
            _c("written_premium", "yen", "premium of the periods written"),
            _c("lapsed_premium", "yen", "premium of the periods that lapsed"),
            _c("return_premium", "yen", "premium returned on cancellation"),
            _c("collected_premium", "yen", "premium collected by direct debit"),
            _c("claims_reported", "count", "claims reported"),
            _c("claims_denied", "count", "claims denied"),
            _c("claims_paid", "count", "claims with at least one payment"),
            *_paid(),
            _c("paid_total", "yen", "claims paid, all sections"),
            _c("outstanding_reserve", "yen", "case reserves still outstanding on the year's claims"),
            _c("incurred", "yen", "paid_total + outstanding_reserve", "paid_total + outstanding_reserve"),
            _c("recoveries_due", "yen", "amounts paid that are to be recovered (loss corrections)"),
            _c(
                "loss_ratio_paid",
                "ratio",
                "paid_total / collected_premium, 4 decimals (NULL: nothing collected)",
                "round(paid_total::numeric / NULLIF(collected_premium, 0), 4)",
            ),
        ),
    ),
    ReportView(
        "portfolio_coinsurers",
        "{t:rm_portfolio_coinsurers} r",
        ("scheme", "scheme_year", "coinsurer"),
        "Each co-insurer's part of every amount of the year, allocated by the shares recorded per period.",
        (
            _c("scheme", "text", "scheme key"),
            _c("scheme_year", "count", "scheme year"),
            _c("coinsurer", "text", "co-insurer key (the leader first by share)"),
            _c(
                "share_bp",
                "count",
                "share in basis points (NULL: the year's periods recorded different shares)",
            ),
            _c("written_premium", "yen", "its part of the written premium"),
            _c("collected_premium", "yen", "its part of the collected premium"),
            _c("return_premium", "yen", "its part of the return premium"),
            *_paid(),
            _c("paid_total", "yen", "its part of the claims paid"),
            _c("outstanding_reserve", "yen", "its part of the outstanding reserves"),
            _c("recoveries_due", "yen", "its part of the recoveries due"),
        ),
    ),
    ReportView(
        "portfolio_mix",
        "{t:rm_portfolio_mix} r",
        ("scheme", "scheme_year", "plan", "industry"),
        "The scheme year split by plan and industry.",
        (
            _c("scheme", "text", "scheme key"),
            _c("scheme_year", "count", "scheme year"),
            _c("plan", "text", "plan"),
            _c("industry", "text", "industry class"),
            _c("periods_written", "count", "periods written"),
            _c("policies_in_force", "count", "periods in force"),
            _c("written_premium", "yen", "premium written"),
            _c("collected_premium", "yen", "premium collected"),
        ),
    ),
    ReportView(
        "collections_debits",
        "{t:rm_collections_debits} d",
        ("policy_id", "period_number"),
        "One row per policy period: premium due, collected, and the next direct debit.",
        (
            _c("policy_id", "id", "the policy"),
            _c("policy_number", "text", "the policy number (証券番号; NULL: applied before numbers)"),
            _c("period_number", "count", "the period"),
            _c("scheme", "text", "scheme key"),
            _c("premium", "yen", "premium of the period"),
            _c("collected", "yen", "collected so far"),
            _c("outstanding", "yen", "premium - collected"),
            _c("debit_date", "date", "first scheduled debit (bank business day)"),
            _c("attempts", "count", "debit attempts made"),
            _c("failed_attempts", "count", "failed attempts"),
            _c("next_attempt", "count", "number of the next attempt"),
            _c("next_debit_date", "date", "date of the next attempt (NULL: none due)"),
            _c("last_result_code", "text", "Zengin result code of the last failure"),
            _c("last_reason", "text", "reason of the last failure (insufficient_funds, no_account, ...)"),
            _c("state", "text", "`due`, `collected` or `lapsed`"),
            _c("policy_status", "text", "the policy's status"),
            _c("updated_at", "timestamp", "last change recorded"),
        ),
    ),
    ReportView(
        "collections_attempts",
        "{t:rm_collections_attempts} a",
        ("policy_id", "period_number", "attempt"),
        "Every direct-debit attempt and its outcome.",
        (
            _c("policy_id", "id", "the policy"),
            _c("period_number", "count", "the period"),
            _c("attempt", "count", "attempt number (1-3)"),
            _c("scheme", "text", "scheme key"),
            _c("debit_date", "date", "debit date of the attempt"),
            _c("outcome", "text", "`debited` or `failed`"),
            _c("amount", "yen", "amount debited (0 on failure)"),
            _c("result_code", "text", "Zengin result code (failures)"),
            _c("reason", "text", "reason of the failure"),
            _c("next_debit_date", "date", "retry date set by the failure"),
            _c("recorded_at", "timestamp", "when the outcome was recorded"),
        ),
    ),
    ReportView(
        "collections_lapses",
        "{t:rm_collections_lapses} l",
        ("policy_id",),
        "Every lapse for non-payment, with the premium left unpaid.",
        (
            _c("policy_id", "id", "the policy"),
            _c("policy_number", "text", "the policy number (証券番号; NULL: applied before numbers)"),
            _c("period_number", "count", "the period that lapsed"),
            _c("scheme", "text", "scheme key"),
            _c("effective_at", "timestamp", "lapse effective from"),
            _c("reason", "text", "reason"),
            _c("unpaid_premium", "yen", "premium left unpaid"),
            _c("failed_attempts", "count", "failed debit attempts before the lapse"),
            _c("recorded_at", "timestamp", "when the lapse was recorded"),
        ),
    ),
    ReportView(
        "limits",
        "{t:rm_limits} l",
        ("policy_id", "period_number", "section"),
        "Limit, paid and remaining per policy, period and section (each limit is per accident and period).",
        (
            _c("policy_id", "id", "the policy"),
            _c("period_number", "count", "the period"),
            _c("section", "text", "liability_basic, liability_recourse, expense_basic, expense_recourse"),
            _c("scheme", "text", "scheme key"),
            _c("period_start", "timestamp", "cover start of the period"),
            _c("period_end", "timestamp", "cover end of the period"),
            _c("limit_yen", "yen", "the section's limit"),
            _c("paid", "yen", "paid in the section in the period"),
            _c("remaining", "yen", "limit - paid"),
            _c(
                "remaining_ratio",
                "ratio",
                "remaining / limit, 4 decimals (NULL: no limit)",
                "round(remaining::numeric / NULLIF(limit_yen, 0), 4)",
            ),
            _c("payments", "count", "payments that used the section"),
        ),
    ),
    ReportView(
        "freshness",
        "{t:rm_tracking} t",
        ("view_name",),
        "How far each read model has applied the event log: compare `position` with `log_head`.",
        (
            _c("view_name", "text", "read model (limits, policies, claims, collections, portfolio)"),
            _c("position", "count", "last event-log position (notification id) applied"),
            _c(
                "log_head",
                "count",
                "last position in the event log",
                "(SELECT coalesce(max(notification_id), 0) FROM {t:policy_admin_events})",
            ),
            _c("updated_at", "timestamp", "when the read model last applied events"),
            _c("rebuilt_at", "timestamp", "when it was last rebuilt from event zero"),
        ),
    ),
)


def reporting_schema(live: str | None) -> str:
    live = live or "public"
    return "reporting" if live == "public" else f"{live}_reporting"[:63]


def _qualify(text: str, live: str) -> sql.Composable:
    """Replace each ``{t:name}`` with the schema-qualified read-model table."""
    parts: list[sql.Composable] = []
    rest = text
    while "{t:" in rest:
        before, _, after = rest.partition("{t:")
        name, _, rest = after.partition("}")
        parts.append(sql.SQL(before.replace("{", "{{").replace("}", "}}")))
        parts.append(sql.SQL("{}.{}").format(sql.Identifier(live), sql.Identifier(name)))
    parts.append(sql.SQL(rest.replace("{", "{{").replace("}", "}}")))
    return sql.Composed(parts)


def view_sql(view: ReportView, live: str) -> sql.Composed:
    target = sql.SQL("{}.{}").format(sql.Identifier(reporting_schema(live)), sql.Identifier(view.name))
    columns = sql.SQL(", ").join(
        sql.SQL("{} AS {}").format(_qualify(c.expr, live), sql.Identifier(c.name)) for c in view.columns
    )
    return sql.SQL("CREATE VIEW {} AS SELECT {} FROM {}").format(target, columns, _qualify(view.source, live))


def drop_views(cur: psycopg.Cursor[Any], live: str | None) -> None:
    """Drop the reporting views (before the read-model tables they read are replaced)."""
    schema = reporting_schema(live)
    for view in VIEWS:
        cur.execute(
            sql.SQL("DROP VIEW IF EXISTS {}.{}").format(sql.Identifier(schema), sql.Identifier(view.name))
        )


def ensure_role(cur: psycopg.Cursor[Any]) -> None:
    """The read-only role, created once per cluster (NOLOGIN unless a password is configured)."""
    password = os.environ.get(ROLE_PASSWORD_ENV)
    cur.execute(
        "DO $$ BEGIN CREATE ROLE policy_reporting NOLOGIN; "
        "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
    )
    if password:
        cur.execute(
            sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(ROLE), sql.Literal(password))
        )


def install(cur: psycopg.Cursor[Any], live: str | None) -> list[str]:
    """(Re)create the reporting schema's views and the role's grants. Returns the views made.

    Run inside the caller's transaction. A view whose read-model table or column is not
    there yet (a view awaiting its rebuild) is skipped: the rebuild's swap installs it."""
    live = live or "public"
    schema = reporting_schema(live)
    ensure_role(cur)
    cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    drop_views(cur, live)
    made = []
    for view in VIEWS:
        cur.execute("SAVEPOINT reporting_view")
        try:
            cur.execute(view_sql(view, live))
        except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn) as exc:
            cur.execute("ROLLBACK TO SAVEPOINT reporting_view")
            log.warning("reporting view not made yet", extra={"view": view.name, "error": type(exc).__name__})
            continue
        cur.execute("RELEASE SAVEPOINT reporting_view")
        made.append(view.name)
    role = sql.Identifier(ROLE)
    cur.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(schema), role))
    cur.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(sql.Identifier(schema), role))
    return made


@table_provider(
    "reporting views",
    tables=("<schema>_reporting views (VIEWS)", f"role {ROLE} and its grants"),
    order=READ_MODELS + 1,
)
def create_reporting_views(runtime: Any) -> None:
    """The reporting schema's views over the read models just prepared (none without them)."""
    if getattr(runtime, "projections", None) is None:
        return
    with psycopg.connect(runtime.database.dsn, autocommit=True) as conn:
        with conn.transaction(), conn.cursor() as cur:
            install(cur, runtime.projections.schema)


def drop_schema(cur: psycopg.Cursor[Any], live: str | None) -> None:
    cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(reporting_schema(live))))


def markdown() -> str:
    """The per-view tables of ``docs/reporting.md`` (``python -m policy_core.reporting``)."""
    out = []
    for view in VIEWS:
        out.append(f"### `reporting.{view.name}`\n\n{view.meaning} Key: {', '.join(view.key)}.\n")
        out.append("| column | unit | meaning |\n|---|---|---|")
        out.extend(f"| `{c.name}` | {c.unit} | {c.meaning} |" for c in view.columns)
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":  # pragma: no cover
    print(markdown())
