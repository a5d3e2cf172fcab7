"""The bulk commands of the scheduler's runs on real PostgreSQL: many policies read with one
query, renewed and activated many per save, with the same decisions as one at a time."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

import pytest

from policy_core.aggregates.policy import Policy
from tests.integration.test_projections import onboard, paid_claim

pytestmark = pytest.mark.postgres


def _state(policy: Policy) -> list[tuple]:
    return [
        (p.number, p.start, p.end, p.premium, p.rating, dict(p.limits), p.activated_at is not None)
        for p in policy.periods
    ]


def test_get_policies_reads_many_with_one_query_and_leaves_out_what_is_not_a_policy(runtime):
    app = runtime.app
    pids = [onboard(app, f"G-{i}") for i in range(3)]
    claim = paid_claim(app, pids[0])
    found = app.get_policies([*pids, claim, uuid4(), "not-a-uuid", pids[1]])
    assert set(found) == set(pids)
    for pid in pids:
        one = app.get_policy(pid)
        assert found[pid].version == one.version and found[pid].periods == one.periods
        assert found[pid].bank_account == one.bank_account
    assert app.get_policies([]) == {}


def test_renew_many_makes_the_same_periods_as_renew_then_activate_and_is_idempotent(runtime):
    app = runtime.app
    one_by_one, bulk = onboard(app, "R-1"), onboard(app, "R-2")
    refused = onboard(app, "R-3")
    app.give_non_renewal_notice(refused, received_on=date(2026, 2, 1))
    before = app.get_policy(refused).version

    assert app.renew(one_by_one, 2) and app.activate(one_by_one, 2)
    done = app.renew_many([(bulk, 2), (refused, 2)], batch_size=10)
    assert (done["renewed"], done["activated"]) == (1, 1)
    assert [(e["job"], e["policy_id"], e["code"]) for e in done["errors"]] == [
        ("anniversary", str(refused), "non_renewal_notice")
    ]
    a, b = app.get_policy(one_by_one), app.get_policy(bulk)
    assert [s[1:] for s in _state(a)] == [s[1:] for s in _state(b)]
    assert b.current_period.number == 2 and b.current_period.activated_at is not None
    assert app.get_policy(refused).version == before  # the refused policy changed nothing

    again = app.renew_many([(bulk, 2)])
    assert (again["renewed"], again["activated"], again["unchanged"]) == (0, 0, 2)
    assert app.get_policy(bulk).version == b.version


def test_renew_many_redoes_a_batch_that_lost_a_race_one_policy_at_a_time(runtime, monkeypatch):
    app = runtime.app
    pids = [onboard(app, f"S-{i}") for i in range(3)]
    stale = app.get_policies(pids)  # read before another writer changes one of them
    app.declare_sales(pids[1], annual_sales=200_000_000, declared_on=date(2026, 3, 1))
    monkeypatch.setattr(app, "get_policies", lambda ids: {i: stale[i] for i in ids})
    done = app.renew_many([(pid, 2) for pid in pids])
    assert (done["renewed"], done["activated"], done["errors"]) == (3, 3, [])
    for pid in pids:
        assert app.get_policy(pid).current_period.number == 2
    # The declared sales (recorded after the stale read) rated the renewal.
    assert app.get_policy(pids[1]).periods[1].basis["annual_sales"] == 200_000_000
