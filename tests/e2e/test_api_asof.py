"""Reports as the system knew them: portfolio and collections as of a recorded moment, stamped
with the log position, checked against figures computed by hand."""

from __future__ import annotations

from datetime import date, datetime

from tests.conftest import BANK
from tests.e2e.conftest import auth
from tests.integration.test_audit_chain import _policy

PORTFOLIO = {"scheme": "chuokai", "year": 2026}


def _get(client, path, **params):
    r = client.get(f"/api/v1{path}", params=params, headers=auth("auditor"))
    assert r.status_code == 200, r.text
    return r.json()


def _shares(report, field):
    return {c["coinsurer"]: c[field] for c in report["coinsurers"]}


def test_portfolio_as_of_a_recorded_moment(client, runtime, settle):
    app = runtime.app
    first = _policy(app, "M-1")  # printing, 100M sales, plan A: 40,000 yen, debited
    debited_at = app.history(first)[-1].timestamp
    second = app.apply(
        scheme="chuokai",
        member_number="M-2",
        holder={"name": "Sato"},
        industry="printing",
        annual_sales=100_000_000,
        plan="A",
        bank_account=BANK,
        application_date=date(2026, 1, 10),
    )
    app.activate(second, 1)  # written, not collected
    settle()

    then = _get(client, "/reports/portfolio", **PORTFOLIO, as_of=debited_at.isoformat())
    assert then["as_of"].endswith("+09:00")  # shown at the Tokyo offset, whatever offset was asked
    # By hand: one policy of 40,000 written and collected, split 40/30/20/10 between the co-insurers.
    assert (then["new_policies"], then["written_premium"], then["collected_premium"]) == (1, 40_000, 40_000)
    assert _shares(then, "collected_premium") == {
        "leader": 16_000,
        "insurer_b": 12_000,
        "insurer_c": 8_000,
        "insurer_d": 4_000,
    }
    with runtime.database.connect() as conn:
        position = conn.execute(
            "SELECT max(notification_id) FROM policy_admin_events WHERE originator_id = %s", [first]
        ).fetchone()[0]
    assert then["position"] == position and datetime.fromisoformat(then["as_of"]) == debited_at

    now = _get(client, "/reports/portfolio", **PORTFOLIO)
    # Two policies of 40,000 written, one collected.
    assert (now["new_policies"], now["written_premium"], now["collected_premium"]) == (2, 80_000, 40_000)
    assert _shares(now, "written_premium") == {
        "leader": 32_000,
        "insurer_b": 24_000,
        "insurer_c": 16_000,
        "insurer_d": 8_000,
    }
    replayed_now = _get(client, "/reports/portfolio", **PORTFOLIO, as_of=runtime.clock.now().isoformat())
    assert replayed_now.pop("as_of")
    assert replayed_now == now  # the position too

    r = client.get(
        "/api/v1/reports/portfolio",
        params={**PORTFOLIO, "as_of": "2026-01-01T00:00:00"},
        headers=auth("auditor"),
    )
    assert r.status_code == 422  # a moment without an offset


def test_collections_as_of_before_and_after_a_failed_debit(client, runtime, settle):
    app = runtime.app
    pid = app.apply(
        scheme="chuokai",
        member_number="M-3",
        holder={"name": "Sato"},
        industry="printing",
        annual_sales=100_000_000,
        plan="A",
        bank_account=BANK,
        application_date=date(2026, 1, 10),
    )
    app.activate(pid, 1)
    before = app.history(pid)[-1].timestamp
    period = app.get_policy(pid).current_period
    app.record_debit_failure(
        pid, 1, attempt=1, debit_date=period.debit_date, result_code="1", reason="insufficient_funds"
    )
    settle()
    now = _get(client, "/reports/collections")
    assert [(a["policy_id"], a["failed_attempts"]) for a in now["arrears"]] == [(str(pid), 1)]
    then = _get(client, "/reports/collections", as_of=before.isoformat())
    assert then["arrears"] == [] and then["lapses"] == []
    assert then["position"] < now["position"]
    replayed_now = _get(client, "/reports/collections", as_of=runtime.clock.now().isoformat())
    assert replayed_now.pop("as_of")
    assert replayed_now == now
