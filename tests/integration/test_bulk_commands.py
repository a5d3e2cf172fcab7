"""The bulk commands of the scheduler's runs on real PostgreSQL: many policies read with one
query, renewed and activated many per save, with the same decisions as one at a time."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

import pytest

from policy_core.aggregates.policy import Policy
from policy_core.application import DebitOutcome
from policy_core.personal_data import crypto
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
    monkeypatch.setattr(app, "get_policies", lambda ids, **kw: {i: stale[i] for i in ids})
    done = app.renew_many([(pid, 2) for pid in pids])
    assert (done["renewed"], done["activated"], done["errors"]) == (3, 3, [])
    for pid in pids:
        assert app.get_policy(pid).current_period.number == 2
    # The declared sales (recorded after the stale read) rated the renewal.
    assert app.get_policy(pids[1]).periods[1].basis["annual_sales"] == 200_000_000


def test_get_policies_fetches_the_chunks_data_keys_in_one_query_and_opens_only_what_is_asked(runtime):
    """One member per policy, one data key each: a bulk read of the chunk asks the key store once
    (it made a round trip per policy before), and a debit run opens only the bank accounts."""
    app = runtime.app
    pids = [onboard(app, f"K-{i}", pay=False) for i in range(6)]
    app.vault.forget_cache()
    store = app.vault.store
    calls: list[str] = []
    get, get_many = store.get, store.get_many
    monkeypatch_get = lambda k: (calls.append("get"), get(k))[1]  # noqa: E731
    monkeypatch_many = lambda ks: (calls.append("get_many"), get_many(ks))[1]  # noqa: E731
    store.get, store.get_many = monkeypatch_get, monkeypatch_many
    try:
        found = app.get_policies(pids, personal=("bank_account",))
        assert calls == ["get_many"]
        for pid in pids:
            one = app.get_policy(pid)
            assert found[pid].bank_account == one.bank_account
            assert crypto.is_envelope(found[pid].holder) and not crypto.is_envelope(one.holder)
        calls.clear()
        app.vault.forget_cache()
        assert set(app.get_policies(pids, personal=())) == set(pids)
        assert calls == []  # nothing to open: no key fetched
        everything = app.get_policies(pids)
        assert all(everything[p].holder == app.get_policy(p).holder for p in pids)
    finally:
        store.get, store.get_many = get, get_many


def test_a_debit_batch_with_a_stale_policy_fails_as_a_whole_and_is_redone_one_by_one(runtime):
    """The lean bulk save under optimistic concurrency: one stale aggregate among many (a COPY
    save) fails the whole batch, nothing of it is recorded, and the batch is redone policy by
    policy from fresh reads, each debit recorded exactly once."""
    app = runtime.app
    pids = [onboard(app, f"D-{i}", pay=False) for i in range(70)]
    loaded = app.get_policies(pids, personal=("bank_account",))
    app.declare_sales(pids[35], annual_sales=120_000_000, declared_on=date(2026, 3, 1))  # another writer
    outcomes = []
    for pid in pids:
        p = loaded[pid].current_period
        outcomes.append(DebitOutcome(pid, 1, 1, p.debit_date, True, amount=p.premium, reference=f"r-{pid}"))
    saves: list[int] = []
    save = app.save

    def counting(*objs, **kw):
        saves.append(len(objs))
        return save(*objs, **kw)

    app.save = counting  # type: ignore[method-assign]
    try:
        counts = app.record_debit_results(outcomes, loaded=loaded, batch_size=100)
    finally:
        app.save = save  # type: ignore[method-assign]
    assert counts == {"debited": 70, "failed": 0, "lapsed": 0, "unchanged": 0}
    assert saves[0] == 70 and saves[1:] == [1] * 70  # the batch failed whole, then one by one
    for pid in pids:
        names = [type(e).__name__ for e in app.history(pid)]
        assert names.count("PremiumDebited") == 1
    again = app.record_debit_results(outcomes)  # idempotent
    assert again["unchanged"] == 70
