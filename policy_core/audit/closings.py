"""Period closings: a signed statement of a scheme year's totals at a chain position.

Closing seals the log up to its head, computes the scheme year's portfolio from the log up to
that position (the portfolio view's handlers replayed into a scratch schema, not today's view),
and signs premium, return premium, claims paid (and reserves, when the portfolio has them) per
co-insurer together with the position and the chain head. Verification later says, per
closing, whether anything sealed before it changed.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

from psycopg import sql
from psycopg.rows import tuple_row

from ..errors import NotFound
from .asof import replayed
from .chain import canonical
from .store import q

CLOSING_KIND = "policy-admin/closing"
COINSURER_FIELDS = ("share_bp", "written_premium", "collected_premium", "return_premium", "paid_total")


def _totals(report: dict[str, Any]) -> dict[str, Any]:
    reserves = {k: v for k, v in report.items() if "reserve" in k}
    out = {
        "written_premium": report["written_premium"],
        "collected_premium": report["collected_premium"],
        "return_premium": report["return_premium"],
        "claims_paid": report["paid_total"],
        "coinsurers": [
            {"coinsurer": c["coinsurer"], **{f: c[f] for f in COINSURER_FIELDS}}
            | {k: v for k, v in c.items() if "reserve" in k}
            for c in report["coinsurers"]
        ],
    }
    if reserves:
        out["reserves"] = reserves
    return out


def close_period(rt: Any, scheme: str, year: int, *, actor: dict[str, str]) -> dict[str, Any]:
    sealer = rt.audit
    sealer.catch_up()
    with (
        sealer._connect(autocommit=True) as conn,
        conn.transaction(),
        conn.cursor(row_factory=tuple_row) as cur,
    ):
        st = sealer._state(cur)  # held FOR UPDATE: the position cannot move under the statement
        with replayed(rt.database, sealer.source, ["portfolio"], st.notification_id) as rm:
            report = rm.portfolio(scheme, year)
        if report is None:
            raise NotFound(
                f"no portfolio for {scheme} scheme year {year} at position {st.notification_id}",
                code="portfolio_not_found",
            )
        closed_at = datetime.now(UTC)
        fp = sealer.signer.fingerprint
        body = {
            "kind": CLOSING_KIND,
            "version": 1,
            "scheme": scheme,
            "year": year,
            "position": st.notification_id,
            "links": st.seq,
            "head": st.head.hex(),
            "closed_at": closed_at.isoformat(),
            "closed_by": actor,
            "key": fp,
            "totals": _totals(report),
        }
        statement = canonical(body)
        signature = sealer.signer.sign(statement)
        cur.execute(
            sql.SQL(
                "INSERT INTO {} (scheme, year, notification_id, seq, head, closed_at, actor, key_fingerprint,"
                " statement, signature) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id"
            ).format(q(sealer.schema, "audit_closings")),
            [
                scheme,
                year,
                st.notification_id,
                st.seq,
                st.head,
                closed_at,
                json.dumps(actor),
                fp,
                statement,
                signature,
            ],
        )
        cid = cur.fetchone()[0]
    return closing_dict(cid, statement, signature)


def closing_dict(cid: int, statement: bytes, signature: bytes) -> dict[str, Any]:
    return {"id": cid, "statement": json.loads(statement), "signature": base64.b64encode(signature).decode()}


def list_closings(rt: Any, *, scheme: str | None = None, year: int | None = None) -> list[dict[str, Any]]:
    sealer = rt.audit
    where: list[str] = []
    params: list[Any] = []
    if scheme is not None:
        where.append("scheme = %s")
        params.append(scheme)
    if year is not None:
        where.append("year = %s")
        params.append(year)
    clause = sql.SQL(" WHERE " + " AND ".join(where) if where else "")
    with sealer._connect(autocommit=True) as conn:
        rows = conn.execute(
            sql.SQL("SELECT id, statement, signature FROM {}{} ORDER BY id").format(
                q(sealer.schema, "audit_closings"), clause
            ),
            params,
        ).fetchall()
    return [closing_dict(cid, bytes(st), bytes(sig)) for cid, st, sig in rows]
