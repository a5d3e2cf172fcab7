"""The dashboard's reads: SQL over the read models (``rm_*``), parameterised and schema-qualified.

The figures that the JSON reports also give come from the same ``ReadModels`` methods
(portfolio, arrears, lapses); what only the dashboard shows (counts behind the figures,
earned premium, monthly series, claims and limits breakdowns) is read here. A list and
the figure that links to it agree: the list selects the year's periods by ``YEAR_SETS``, and
the portfolio view counts the same sets per cohort (``views/portfolio.COHORT_COUNTS``; the
integration tests check the kept counts against these conditions).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from psycopg import sql

from policy_core.calendar import TOKYO, months_between, scheme_year_bounds
from policy_core.scheme import load_scheme

YEAR_SETS: dict[str, str] = {
    "in_force": "pp.in_force",
    "new": "pp.period_number = 1",
    "renewal": "pp.period_number > 1",
    "lapsed": "pp.lapsed",
    "cancelled": (
        "pol.cancelled_at IS NOT NULL AND pol.cancelled_at >= pp.start AND pol.cancelled_at < %(year_end)s"
    ),
}
CLAIM_OPEN = "c.status NOT IN ('denied', 'closed')"
AGE_BUCKETS = ((0, 30), (30, 90), (90, 180), (180, None))
PAGE = 100


def _run(rm: Any, query: sql.Composable, params: dict[str, Any]) -> list[dict[str, Any]]:
    with rm.pool.connection() as conn:
        return conn.execute(query, params).fetchall()


def _sql(rm: Any, text: str, **tables: str) -> sql.Composed:
    return sql.SQL(text).format(**{k: rm.table(v) for k, v in tables.items()})


def year_bounds(scheme: str, year: int) -> tuple[datetime, datetime]:
    return scheme_year_bounds(load_scheme(scheme).calendar, year)


def current_year(scheme: str, now: datetime) -> int:
    from policy_core.calendar import scheme_year

    return scheme_year(load_scheme(scheme).calendar, now)


def whole_months(start: datetime, stop: datetime) -> int:
    """Whole months of cover from ``start`` to ``stop`` (Tokyo dates and 16:00 boundaries)."""
    if stop <= start:
        return 0
    s, e = start.astimezone(TOKYO), stop.astimezone(TOKYO)
    months = months_between(s.date(), e.date())
    if (e.day, e.time()) < (s.day, s.time()):
        months -= 1
    return max(0, months)


# ---------------------------------------------------------------------------- overview
# The year's periods grouped by start and the policy's cancellation, with the counts of
# YEAR_SETS and the premium in force: kept by the portfolio view per group (a few dozen rows).
_COHORTS = (
    "SELECT start, NULL::timestamptz AS cancelled_at, {counts}, premium_in_force FROM {cohorts}"
    " WHERE scheme = %(scheme)s AND scheme_year = %(year)s"
    " UNION ALL SELECT start, cancelled_at, {counts}, premium_in_force FROM {cancelled}"
    " WHERE scheme = %(scheme)s AND scheme_year = %(year)s"
)


def year_summary(rm: Any, scheme: str, year: int, now: datetime) -> dict[str, Any]:
    """Counts behind the overview's figures and the earned premium, from the year's cohorts.

    Earned premium: each period in force earns its premium pro rata by the whole months of cover
    elapsed (up to now, the period's end, or its cancellation) over its months; lapsed periods
    (no cover from their start) earn nothing. Rounded down per group of periods that start
    together and end together (the same start and the same cancellation)."""
    start, end = year_bounds(scheme, year)
    counts = ", ".join(f"periods_{name} AS {name}" for name in YEAR_SETS)
    rows = _run(
        rm,
        sql.SQL(_COHORTS).format(
            counts=sql.SQL(counts),
            cohorts=rm.table("rm_portfolio_cohorts"),
            cancelled=rm.table("rm_portfolio_cohorts_cancelled"),
        ),
        {"year": year, "scheme": scheme},
    )
    out: dict[str, Any] = dict.fromkeys(YEAR_SETS, 0)
    earned = 0
    for r in rows:
        for name in YEAR_SETS:
            out[name] += r[name]
        total = whole_months(r["start"], end)
        if not total or not r["premium_in_force"]:
            continue
        stop = min(now, end, r["cancelled_at"] or end)
        earned += r["premium_in_force"] * min(total, whole_months(r["start"], stop)) // total
    out["earned_premium"] = earned
    out["year_start"], out["year_end"] = start, end
    return out


def monthly(rm: Any, scheme: str, year: int) -> list[dict[str, Any]]:
    """Premium collected (by debit month) and claims paid (by month of the last payment), per month."""
    premium = _run(
        rm,
        _sql(
            rm,
            "SELECT month, collected_premium AS premium FROM {months}"
            " WHERE scheme = %(scheme)s AND scheme_year = %(year)s",
            months="rm_portfolio_months",
        ),
        {"year": year, "scheme": scheme},
    )
    claims = _run(
        rm,
        _sql(
            rm,
            "SELECT date_trunc('month', c.last_paid_at AT TIME ZONE 'Asia/Tokyo')::date AS month,"
            " sum(c.paid_total) AS claims FROM {claims} c JOIN {pc} pc ON pc.claim_id = c.claim_id"
            " WHERE pc.scheme_year = %(year)s AND pc.scheme = %(scheme)s AND c.paid_total > 0 GROUP BY 1",
            claims="rm_claims",
            pc="rm_portfolio_claims",
        ),
        {"year": year, "scheme": scheme},
    )
    months: dict[date, dict[str, Any]] = {}
    for r in premium:
        months.setdefault(r["month"], {"month": r["month"], "premium": 0, "claims": 0})["premium"] = int(
            r["premium"]
        )
    for r in claims:
        months.setdefault(r["month"], {"month": r["month"], "premium": 0, "claims": 0})["claims"] = int(
            r["claims"]
        )
    return [months[m] for m in sorted(months)]


def years_with_data(rm: Any, scheme: str) -> list[int]:
    rows = _run(
        rm,
        _sql(rm, "SELECT scheme_year FROM {t} WHERE scheme = %(scheme)s ORDER BY 1", t="rm_portfolio"),
        {"scheme": scheme},
    )
    return [r["scheme_year"] for r in rows]


# ---------------------------------------------------------------------------- policy lists
_POLICY_COLUMNS = (
    "rp.policy_id, rp.number, rp.scheme, rp.member_number, rp.plan, rp.industry, rp.status,"
    " rp.current_period, rp.premium, rp.collected, rp.arrears, rp.next_debit_date, rp.claims, rp.claims_paid"
)


def policies(
    rm: Any, *, scheme: str, year: int | None, set_name: str | None, debit_on: date | None, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """A page of the policies behind a figure, and how many there are in all."""
    params: dict[str, Any] = {"scheme": scheme, "offset": offset, "limit": PAGE}
    if set_name is not None and year is not None:
        params["year"] = year
        params["year_end"] = year_bounds(scheme, year)[1]
        base = (
            " FROM {periods} pp JOIN {pol} pol ON pol.policy_id = pp.policy_id"
            " JOIN {rp} rp ON rp.policy_id = pp.policy_id"
            f" WHERE pp.scheme_year = %(year)s AND pol.scheme = %(scheme)s AND {YEAR_SETS[set_name]}"
        )
    elif debit_on is not None:
        params["debit_on"] = debit_on
        base = (
            " FROM {debits} d JOIN {rp} rp ON rp.policy_id = d.policy_id"
            " WHERE d.scheme = %(scheme)s AND d.state = 'due' AND d.next_debit_date = %(debit_on)s"
            " AND d.policy_status IN ('applied', 'active')"
        )
    else:
        base = " FROM {rp} rp WHERE rp.scheme = %(scheme)s"
    tables = {
        "periods": "rm_portfolio_periods",
        "pol": "rm_portfolio_policies",
        "rp": "rm_policies",
        "debits": "rm_collections_debits",
    }
    total = _run(rm, _sql(rm, "SELECT count(*) AS n" + base, **tables), params)[0]["n"]
    rows = _run(
        rm,
        _sql(
            rm,
            f"SELECT DISTINCT {_POLICY_COLUMNS}, rp.created_at{base}"
            " ORDER BY rp.created_at, rp.policy_id LIMIT %(limit)s OFFSET %(offset)s",
            **tables,
        ),
        params,
    )
    return rows, total


# ---------------------------------------------------------------------------- collections
def next_debits(rm: Any, scheme: str) -> list[dict[str, Any]]:
    return _run(
        rm,
        _sql(
            rm,
            "SELECT next_debit_date AS debit_date, count(*) AS count, sum(outstanding) AS amount"
            " FROM {d} WHERE scheme = %(scheme)s AND state = 'due' AND next_debit_date IS NOT NULL"
            " AND policy_status IN ('applied', 'active') GROUP BY 1 ORDER BY 1 LIMIT 12",
            d="rm_collections_debits",
        ),
        {"scheme": scheme},
    )


def last_runs(rm: Any, scheme: str, runs: int = 3) -> list[dict[str, Any]]:
    return _run(
        rm,
        _sql(
            rm,
            "SELECT a.debit_date, coalesce(a.result_code, '0') AS result_code, count(*) AS count,"
            " sum(a.amount) AS amount FROM {a} a"
            " WHERE a.scheme = %(scheme)s AND a.debit_date IN"
            " (SELECT DISTINCT debit_date FROM {a} WHERE scheme = %(scheme)s ORDER BY 1 DESC LIMIT %(runs)s)"
            " GROUP BY 1, 2 ORDER BY 1 DESC, 2",
            a="rm_collections_attempts",
        ),
        {"scheme": scheme, "runs": runs},
    )


# ---------------------------------------------------------------------------- claims
_CLAIMS_FROM = " FROM {c} c JOIN {rp} rp ON rp.policy_id = c.policy_id WHERE rp.scheme = %(scheme)s"


def _claims(rm: Any, text: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    return _run(rm, _sql(rm, text, c="rm_claims", rp="rm_policies", pc="rm_portfolio_claims"), params)


def age_bucket_sql() -> str:
    days = "(%(today)s::date - c.discovered_on)"
    parts = [
        f"WHEN {days} >= {lo}" + (f" AND {days} < {hi}" if hi else "") + f" THEN '{lo}-{hi or ''}'"
        for lo, hi in AGE_BUCKETS
    ]
    return "CASE " + " ".join(parts) + " END"


def claims_open_by_status_age(rm: Any, scheme: str, today: date) -> list[dict[str, Any]]:
    return _claims(
        rm,
        f"SELECT c.status, {age_bucket_sql()} AS age, count(*) AS count,"
        " sum(c.assessed_loss) AS assessed_loss"
        f"{_CLAIMS_FROM} AND {CLAIM_OPEN} GROUP BY 1, 2 ORDER BY 1, min(%(today)s::date - c.discovered_on)",
        {"scheme": scheme, "today": today},
    )


def claims_by(rm: Any, scheme: str, column: str) -> list[dict[str, Any]]:
    expr = {"cause": "c.cause", "industry": "rp.industry"}[column]
    return _claims(
        rm,
        f"SELECT {expr} AS {column}, count(*) AS count, count(*) FILTER (WHERE {CLAIM_OPEN}) AS open,"
        f" sum(c.paid_total) AS paid_total{_CLAIMS_FROM} GROUP BY 1 ORDER BY 2 DESC, 1",
        {"scheme": scheme},
    )


def paid_by_section(rm: Any, scheme: str, sections: tuple[str, ...]) -> list[dict[str, Any]]:
    sums = ", ".join(f"coalesce(sum(c.paid_{s}), 0) AS {s}" for s in sections)
    (row,) = _claims(rm, f"SELECT {sums}{_CLAIMS_FROM}", {"scheme": scheme})
    return [{"section": s, "paid_total": int(row[s])} for s in sections]


_CLAIM_COLUMNS = (
    "c.claim_id, c.number, c.policy_id, c.status, c.cause, rp.industry, c.discovered_on, c.records_affected,"
    " c.assessed_loss, c.paid_total"
)


def largest_claims(rm: Any, scheme: str, n: int = 10) -> list[dict[str, Any]]:
    return _claims(
        rm,
        f"SELECT {_CLAIM_COLUMNS}{_CLAIMS_FROM}"
        " ORDER BY c.paid_total DESC, c.assessed_loss DESC, c.claim_id LIMIT %(n)s",
        {"scheme": scheme, "n": n},
    )


def claims_list(
    rm: Any, scheme: str, filters: dict[str, Any], offset: int
) -> tuple[list[dict[str, Any]], int]:
    where, params = [], {"scheme": scheme, "offset": offset, "limit": PAGE}
    base = _CLAIMS_FROM
    if filters.get("year") is not None:
        base = (
            " FROM {c} c JOIN {rp} rp ON rp.policy_id = c.policy_id JOIN {pc} pc ON pc.claim_id = c.claim_id"
        )
        base += " WHERE pc.scheme = %(scheme)s AND pc.scheme_year = %(year)s"
        params["year"] = filters["year"]
    for name, expr in (("status", "c.status"), ("cause", "c.cause"), ("industry", "rp.industry")):
        if filters.get(name):
            where.append(f"{expr} = %({name})s")
            params[name] = filters[name]
    if filters.get("open"):
        where.append(CLAIM_OPEN)
    if filters.get("paid"):
        where.append("c.payments > 0")
    if filters.get("age") and filters.get("today"):
        where.append(f"{age_bucket_sql()} = %(age)s")
        params["age"], params["today"] = filters["age"], filters["today"]
    tail = "".join(f" AND {w}" for w in where)
    total = _claims(rm, f"SELECT count(*) AS n{base}{tail}", params)[0]["n"]
    rows = _claims(
        rm,
        f"SELECT {_CLAIM_COLUMNS}{base}{tail}"
        " ORDER BY c.discovered_on, c.claim_id LIMIT %(limit)s OFFSET %(offset)s",
        params,
    )
    return rows, total


# ---------------------------------------------------------------------------- limits
def limits_under(rm: Any, scheme: str, threshold_pct: int) -> list[dict[str, Any]]:
    return _run(
        rm,
        _sql(
            rm,
            "SELECT l.policy_id, rp.plan, rp.industry, l.period_number, l.section, l.limit_yen, l.paid,"
            " l.remaining, round(l.remaining::numeric / NULLIF(l.limit_yen, 0), 4) AS remaining_ratio"
            " FROM {l} l JOIN {rp} rp ON rp.policy_id = l.policy_id AND rp.current_period = l.period_number"
            " WHERE rp.scheme = %(scheme)s AND rp.status = 'active'"
            " AND l.remaining * 100 < %(t)s * l.limit_yen"
            " ORDER BY remaining_ratio, l.policy_id, l.section LIMIT 500",
            l="rm_limits",
            rp="rm_policies",
        ),
        {"scheme": scheme, "t": threshold_pct},
    )


def claims_of_policy(rm: Any, policy_id: UUID) -> list[dict[str, Any]]:
    return _claims(
        rm,
        f"SELECT {_CLAIM_COLUMNS} FROM {{c}} c JOIN {{rp}} rp ON rp.policy_id = c.policy_id"
        " WHERE c.policy_id = %(pid)s ORDER BY c.reported_at, c.claim_id",
        {"pid": policy_id},
    )
