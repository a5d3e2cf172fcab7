"""The read side used by the HTTP layer, the scheduler and reports.

Every query is schema-qualified and parameterised; filters are a fixed whitelist.
Results are plain dicts (UUIDs, dates and datetimes as Python objects). A read
model may lag the event log by a moment: answers that matter for a decision
carry the view's ``position`` so a caller can tell; caps are enforced by the
aggregates, never from here.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from typing import Any, Self
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.rows import dict_row, tuple_row
from psycopg_pool import ConnectionPool

from ..database import Database
from .lag import EVENTS_TABLE, view_lag
from .maintenance import live_schema
from .views import all_views

log = logging.getLogger("policy_core.projections")

MAX_PAGE = 500


class ReadModels:
    def __init__(
        self,
        database: Database,
        *,
        mapper: Any | None = None,
        max_connections: int = 4,
        events_schema: str | None = None,
    ) -> None:
        self.database = database
        self.schema = live_schema(database.schema)
        self.events_schema = events_schema or self.schema
        self.mapper = mapper
        self.pool = ConnectionPool(
            database.dsn,
            min_size=1,
            max_size=max_connections,
            kwargs={"autocommit": True, "row_factory": dict_row, "connect_timeout": database.timeout},
            timeout=database.timeout,  # waiting for a connection: the database away fails fast
            open=True,
            name="read-models",
        )
        # The limits statement, composed once: for the latest period (True) and for a given one.
        self._limits_sql = {
            latest: sql.SQL(self._LIMITS_SQL)
            .format(
                docs=self.table("rm_limits_docs"),
                tracking=self.table("rm_tracking"),
                period=sql.SQL("" if latest else " AND d.period_number = %s"),
            )
            .as_string()
            for latest in (True, False)
        }
        self._limits_warned = False

    def close(self) -> None:
        self.pool.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ helpers
    def table(self, name: str) -> sql.Composed:
        """A read-model table's schema-qualified name, for callers composing their own query."""
        return sql.SQL("{}.{}").format(sql.Identifier(self.schema), sql.Identifier(name))

    def query(self, query: sql.Composed | sql.SQL, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """Run a read-only query on the read models' pool; rows as dicts."""
        with self.pool.connection() as conn:
            return conn.execute(query, list(params)).fetchall()  # type: ignore[return-value]

    _t = table  # the scheduler's jobs use these two names
    _all = query

    def _one(self, query: sql.Composed | sql.SQL, params: Iterable[Any] = ()) -> dict[str, Any] | None:
        rows = self._all(query, params)
        return rows[0] if rows else None

    def position(self, view: str) -> int:
        row = self._one(
            sql.SQL("SELECT position FROM {} WHERE view_name = %s").format(self._t("rm_tracking")), [view]
        )
        return row["position"] if row else 0

    @staticmethod
    def _page(limit: int, offset: int) -> tuple[int, int]:
        if not 1 <= limit <= MAX_PAGE or offset < 0:
            raise ValueError(f"limit must be 1..{MAX_PAGE} and offset >= 0")
        return limit, offset

    # ------------------------------------------------------------------ limits
    # The limits view keeps each period's answer as pre-rendered JSON (rm_limits_docs): one
    # primary-key lookup, with the view's position from its tracking row (also by key).
    _LIMITS_SQL = """
SELECT d.period_number, d.scheme, d.head, d.claims, d.claim_numbers,
       coalesce((SELECT position FROM {tracking} WHERE view_name = 'limits'), 0) AS position
  FROM {docs} d
 WHERE d.policy_id = %s{period}
 ORDER BY d.period_number DESC
 LIMIT 1
"""

    def _limits_row(self, policy_id: UUID, period: int | None) -> tuple[Any, ...] | None:
        query = self._limits_sql[period is None]
        params = [policy_id] if period is None else [policy_id, period]
        try:
            with self.pool.connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
                return cur.execute(query, params).fetchone()
        except psycopg.errors.UndefinedTable:
            # The view is not built at this code's version yet (the runner rebuilds it at start-up,
            # blue/green): answer "not there", and the caller replays the aggregate meanwhile.
            if not self._limits_warned:
                log.warning("limits view not built yet: limits are replayed from the events")
                self._limits_warned = True
            return None

    def limits(self, policy_id: UUID, period: int | None = None) -> dict[str, Any] | None:
        """Limit, paid and remaining per section for one period (the latest when None), and per claim.

        One primary-key lookup (one round trip)."""
        found = self._limits_row(policy_id, period)
        if found is None:
            return None
        period_number, scheme, head, claims, claim_numbers, position = found
        doc = json.loads(head)
        return {
            "policy_id": policy_id,
            "number": doc["number"],
            "period_number": period_number,
            "scheme": scheme,
            "period_start": datetime.fromisoformat(doc["start"]),
            "period_end": datetime.fromisoformat(doc["end"]),
            "sections": doc["sections"],
            "claims": json.loads(claims),
            "claim_numbers": json.loads(claim_numbers),
            "position": position,
        }

    def limits_json(self, policy_id: UUID, period: int | None = None) -> bytes | None:
        """The body of ``GET /policies/{id}/limits`` from the read model, ready to send (None: not there).

        ``{"policy_id", "number", "period", "start", "end", "sections", "claims", "claim_numbers",
        "source": "read_model", "position"}``, as :meth:`limits` but serialised by the view, not
        per request."""
        found = self._limits_row(policy_id, period)
        if found is None:
            return None
        _, _, head, claims, numbers, position = found
        return (
            f'{head[:-1]},"claims":{claims},"claim_numbers":{numbers},'
            f'"source":"read_model","position":{int(position)}}}'
        ).encode()

    # ------------------------------------------------------------------ policies
    _POLICY_FILTERS: Mapping[str, str] = {
        "scheme": "scheme = %s",
        "plan": "plan = %s",
        "industry": "industry = %s",
        "member_number": "member_number = %s",
        "number": "number = %s",
        "status": "status = ANY(%s)",
        "holder_name": "holder_name_index = %s",
        "in_arrears": "(arrears > 0) = %s",
        "next_debit_on_or_before": "next_debit_date <= %s",
        "current_period": "current_period = %s",
    }

    def _policy_where(self, filters: Mapping[str, Any] | None) -> tuple[sql.Composable, list[Any]]:
        filters = dict(filters or {})
        unknown = set(filters) - set(self._POLICY_FILTERS)
        if unknown:
            raise ValueError(f"unknown filters {sorted(unknown)}: expected {sorted(self._POLICY_FILTERS)}")
        clauses: list[Any] = []
        params: list[Any] = []
        for name, value in filters.items():
            if value is None:
                continue
            if name == "status":
                value = [value] if isinstance(value, str) else list(value)
            elif name == "holder_name":  # exact match on the normalised name, through the blind index
                value = self._name_index(str(value))
            clauses.append(sql.SQL(self._POLICY_FILTERS[name]))
            params.append(value)
        where = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(clauses) if clauses else sql.SQL("")
        return where, params

    @property
    def vault(self) -> Any:
        vault = getattr(self.mapper, "vault", None)
        if vault is None:
            raise RuntimeError("these read models were built without the application's mapper (no keys)")
        return vault

    def _name_index(self, name: str) -> str:
        from ..personal_data.crypto import blind_index
        from ..personal_data.keys import SYSTEM_BLIND_INDEX

        return blind_index(self.vault.system_key(SYSTEM_BLIND_INDEX), name)

    def holder_name(self, row: Mapping[str, Any]) -> str:
        """The sealed name of a policies row opened for display ("[erased]" once the key is gone)."""
        from ..personal_data.crypto import ERASED, open_envelope

        sealed = row.get("holder_name_sealed")
        if not sealed:
            return ERASED
        envelope = json.loads(sealed)
        key = self.vault.key(UUID(envelope["kid"]))
        return ERASED if key is None else open_envelope(key, "holder_name", envelope)

    def _policy_out(self, row: dict[str, Any], reveal: bool) -> dict[str, Any]:
        sealed = {"holder_name_sealed": row.pop("holder_name_sealed", None)}
        row.pop("holder_name_index", None)
        if reveal:
            row["holder_name"] = self.holder_name(sealed)
        return row

    def list_policies(
        self,
        filters: Mapping[str, Any] | None = None,
        limit: int = 50,
        offset: int = 0,
        *,
        reveal_personal: bool = False,
    ) -> list[dict[str, Any]]:
        """Policies rows; the holder's name only with ``reveal_personal`` (operator, auditor),
        opened from its sealed copy; the blind index and the sealed copy are never returned."""
        limit, offset = self._page(limit, offset)
        where, params = self._policy_where(filters)
        rows = self._all(
            sql.SQL("SELECT * FROM {}{} ORDER BY created_at, policy_id LIMIT %s OFFSET %s").format(
                self._t("rm_policies"), where
            ),
            [*params, limit, offset],
        )
        return [self._policy_out(r, reveal_personal) for r in rows]

    def count_policies(self, filters: Mapping[str, Any] | None = None) -> int:
        where, params = self._policy_where(filters)
        row = self._one(
            sql.SQL("SELECT count(*) AS n FROM {}{}").format(self._t("rm_policies"), where), params
        )
        return row["n"] if row else 0

    def get_policy_row(self, policy_id: UUID, *, reveal_personal: bool = False) -> dict[str, Any] | None:
        row = self._one(
            sql.SQL("SELECT * FROM {} WHERE policy_id = %s").format(self._t("rm_policies")), [policy_id]
        )
        return None if row is None else self._policy_out(row, reveal_personal)

    # ------------------------------------------------------------------ claims
    def get_claim_row(self, claim_id: UUID) -> dict[str, Any] | None:
        return self._one(
            sql.SQL("SELECT * FROM {} WHERE claim_id = %s").format(self._t("rm_claims")), [claim_id]
        )

    def list_claims(
        self,
        *,
        policy_id: UUID | None = None,
        status: str | None = None,
        number: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        limit, offset = self._page(limit, offset)
        clauses: list[Any] = []
        params: list[Any] = []
        if number is not None:
            clauses.append(sql.SQL("number = %s"))
            params.append(number)
        if policy_id is not None:
            clauses.append(sql.SQL("policy_id = %s"))
            params.append(policy_id)
        if status is not None:
            clauses.append(sql.SQL("status = %s"))
            params.append(status)
        where = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(clauses) if clauses else sql.SQL("")
        return self._all(
            sql.SQL("SELECT * FROM {}{} ORDER BY reported_at, claim_id LIMIT %s OFFSET %s").format(
                self._t("rm_claims"), where
            ),
            [*params, limit, offset],
        )

    # ------------------------------------------------------------------ collections
    def debits_due(
        self, on_or_before: date, *, scheme: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Periods with premium due whose next debit date is on or before the day: the scheduler's list.

        Each row carries ``next_attempt`` (the attempt number to record) and ``policy_status``.
        """
        if not isinstance(on_or_before, date) or isinstance(on_or_before, datetime):
            raise TypeError("on_or_before must be a date")
        params: list[Any] = [on_or_before]
        extra = sql.SQL("")
        if scheme is not None:
            extra = sql.SQL(" AND scheme = %s")
            params.append(scheme)
        tail = sql.SQL("")
        if limit is not None:
            tail = sql.SQL(" LIMIT %s")
            params.append(limit)
        return self._all(
            sql.SQL(
                "SELECT * FROM {} WHERE state = 'due' AND next_debit_date <= %s{} "
                "ORDER BY next_debit_date, policy_id, period_number{}"
            ).format(self._t("rm_collections_debits"), extra, tail),
            params,
        )

    def failed_debits(self, *, since: date | None = None, scheme: str | None = None) -> list[dict[str, Any]]:
        clauses: list[Any] = [sql.SQL("outcome = 'failed'")]
        params: list[Any] = []
        if since is not None:
            clauses.append(sql.SQL("debit_date >= %s"))
            params.append(since)
        if scheme is not None:
            clauses.append(sql.SQL("scheme = %s"))
            params.append(scheme)
        return self._all(
            sql.SQL("SELECT * FROM {} WHERE {} ORDER BY debit_date, policy_id, attempt").format(
                self._t("rm_collections_attempts"), sql.SQL(" AND ").join(clauses)
            ),
            params,
        )

    def erasures_due(self, on_or_before: date) -> list[tuple[str, str]]:
        """(scheme, member number) of the pending erasure requests lawful on or before the day."""
        rows = self._all(
            sql.SQL(
                "SELECT scheme, member_number FROM {} WHERE status = 'pending' AND lawful_from <= %s "
                "ORDER BY lawful_from, subject_id"
            ).format(self._t("rm_erasures")),
            [on_or_before],
        )
        return [(r["scheme"], r["member_number"]) for r in rows]

    def arrears(self, *, scheme: str | None = None) -> list[dict[str, Any]]:
        params: list[Any] = []
        extra = sql.SQL("")
        if scheme is not None:
            extra = sql.SQL(" AND scheme = %s")
            params.append(scheme)
        return self._all(
            sql.SQL(
                "SELECT * FROM {} WHERE state = 'due' AND failed_attempts > 0{} ORDER BY policy_id, "
                "period_number"
            ).format(self._t("rm_collections_debits"), extra),
            params,
        )

    def lapses(self, *, scheme: str | None = None) -> list[dict[str, Any]]:
        params: list[Any] = []
        extra = sql.SQL("")
        if scheme is not None:
            extra = sql.SQL(" WHERE scheme = %s")
            params.append(scheme)
        return self._all(
            sql.SQL("SELECT * FROM {}{} ORDER BY recorded_at, policy_id").format(
                self._t("rm_collections_lapses"), extra
            ),
            params,
        )

    # ------------------------------------------------------------------ portfolio
    def portfolio(self, scheme: str, year: int) -> dict[str, Any] | None:
        totals = self._one(
            sql.SQL("SELECT * FROM {} WHERE scheme = %s AND scheme_year = %s").format(
                self._t("rm_portfolio")
            ),
            [scheme, year],
        )
        if totals is None:
            return None
        mix = self._all(
            sql.SQL(
                "SELECT plan, industry, periods_written, policies_in_force, written_premium, "
                "collected_premium "
                "FROM {} WHERE scheme = %s AND scheme_year = %s ORDER BY plan, industry"
            ).format(self._t("rm_portfolio_mix")),
            [scheme, year],
        )
        coinsurers = self._all(
            sql.SQL(
                "SELECT * FROM {} WHERE scheme = %s AND scheme_year = %s"
                " ORDER BY share_bp DESC NULLS LAST, written_premium DESC, coinsurer"
            ).format(self._t("rm_portfolio_coinsurers")),
            [scheme, year],
        )
        out = dict(totals) | claims_figures(totals)
        out["loss_ratio"] = loss_ratio(totals["paid_total"], totals["collected_premium"])
        out["mix"] = mix
        out["coinsurers"] = [
            dict(c) | claims_figures(c) | {"loss_ratio": loss_ratio(c["paid_total"], c["collected_premium"])}
            for c in coinsurers
        ]
        out["position"] = self.position("portfolio")
        return out

    def participants(self, scheme: str) -> int:
        row = self._one(
            sql.SQL("SELECT policies_active FROM {} WHERE scheme = %s").format(
                self._t("rm_portfolio_schemes")
            ),
            [scheme],
        )
        return int(row["policies_active"]) if row else 0

    # ------------------------------------------------------------------ health
    def lag(self) -> dict[str, dict[str, Any]]:
        with self.pool.connection() as conn:
            conn.row_factory = tuple_row
            try:
                return view_lag(
                    conn,
                    self.schema,
                    views={v.name: v.schema_version() for v in all_views()},
                    events_schema=self.events_schema,
                    events_table=EVENTS_TABLE,
                    mapper=self.mapper,
                )
            finally:
                conn.row_factory = dict_row  # type: ignore[assignment]

    def ready(self, *, max_seconds_behind: float = 60.0) -> tuple[bool, dict[str, dict[str, Any]]]:
        """Readiness: every view built at this code's version, none failing, none too far behind."""
        lag = self.lag()
        ok = all(
            v["built"]
            and v["schema_version"] == v["expected_version"]
            and not v["last_error"]
            and v["seconds_behind"] is not None
            and v["seconds_behind"] <= max_seconds_behind
            for v in lag.values()
        )
        return ok, lag


def claims_figures(row: Mapping[str, Any]) -> dict[str, Any]:
    """Paid, outstanding reserves, incurred (paid + reserves) and recoveries due, in yen, and both
    loss ratios in percent of collected premium (None with nothing collected)."""
    paid, reserve, collected = row["paid_total"], row["outstanding_reserve"], row["collected_premium"]
    incurred = paid + reserve

    def percent(amount: int) -> float | None:
        return None if not collected else round(amount * 100 / collected, 2)

    return {
        "paid_yen": paid,
        "outstanding_reserve_yen": reserve,
        "incurred_yen": incurred,
        "recoveries_due_yen": row["recoveries_due"],
        "paid_loss_ratio_percent": percent(paid),
        "incurred_loss_ratio_percent": percent(incurred),
    }


def loss_ratio(paid: int, premium: int) -> float | None:
    """Paid claims over collected premium, to 4 decimals; None before any premium is collected."""
    return round(paid / premium, 4) if premium else None


class ParticipantsCounter:
    """``participants(scheme) -> int`` for the application: policies in force now, from the portfolio view.

    Before the portfolio view exists the count is 0 (no group discount), with a warning.
    """

    def __init__(self, database: Database, *, ttl_seconds: float = 30.0) -> None:
        self.database = database
        self.schema = live_schema(database.schema)
        # The discount tier moves with thousands of participants: a count up to ttl_seconds old
        # is good enough, and saves a round trip on every quote and application.
        self.ttl_seconds = ttl_seconds
        self._cache: dict[str, tuple[int, float]] = {}
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()
        self._warned = False

    def __call__(self, scheme: str) -> int:
        with self._lock:
            cached = self._cache.get(scheme)
            if cached is not None and cached[1] > time.monotonic():
                return cached[0]  # (a renewal run asks once per policy: nothing else is done here)
            query = sql.SQL("SELECT policies_active FROM {}.{} WHERE scheme = %s").format(
                sql.Identifier(self.schema), sql.Identifier("rm_portfolio_schemes")
            )
            for attempt in (1, 2):
                try:
                    if self._conn is None or self._conn.closed:
                        self._conn = psycopg.connect(self.database.dsn, autocommit=True)
                    row = self._conn.execute(query, [scheme]).fetchone()
                    count = int(row[0]) if row else 0
                    self._cache[scheme] = (count, time.monotonic() + self.ttl_seconds)
                    return count
                except psycopg.errors.UndefinedTable:
                    if not self._warned:
                        log.warning(
                            "portfolio view not built yet: participants counted as 0",
                            extra={"scheme": scheme},
                        )
                        self._warned = True
                    return 0
                except psycopg.OperationalError:
                    self._conn = None
                    if attempt == 2:
                        raise
        return 0

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def participants_counter(database: Database) -> Callable[[str], int]:
    return ParticipantsCounter(database)
