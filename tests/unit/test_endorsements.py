"""Endorsements of holder details and the direct-debit account (issue 11, section 1, part), and
the Zengin 新規コード that follows a new account."""

from __future__ import annotations

from datetime import date

import pytest

from policy_core.aggregates.policy import Policy
from policy_core.application import PolicyAdministration
from policy_core.errors import Conflict, InvalidInput
from tests.unit.test_model import (
    BANK,
    apply_policy,
    collect,
    count,
    events_of,
    in_force_policy,
    make_app,
    tokyo,
)

NEW_BANK = dict(BANK, account_number="7654321", holder_kana="ﾔﾏﾀﾞ ﾊﾅｺ")


@pytest.fixture
def app() -> PolicyAdministration:
    return make_app()


def test_holder_and_bank_account_change_by_endorsement(app: PolicyAdministration) -> None:
    pid = in_force_policy(app)  # cover 25 Apr 2028 -> 25 Mar 2029
    done = app.endorse(
        pid,
        effective_date=date(2028, 6, 1),
        changes={"holder": {"address": "東京都千代田区1-1"}, "bank_account": NEW_BANK},
        reason="moved office and bank",
    )
    assert done["number"] == 1 and done["premium_delta"] == 0
    policy = app.get_policy(pid)
    assert policy.holder == {"name": "山田印刷株式会社", "address": "東京都千代田区1-1"}
    assert policy.bank_account["account_number"] == "7654321"
    e = events_of(app, pid, Policy.Endorsed)[0]
    assert e.effective_at == tokyo(2028, 6, 1, 16) and e.changed == ["holder", "bank_account"]
    assert e.holder["address"] == "東京都千代田区1-1" and e.bank_account["account_number"] == "7654321"
    # Back-dating within the period is allowed for these changes.
    app.endorse(
        pid, effective_date=date(2028, 4, 26), changes={"holder": {"phone": "03-0000-0000"}}, reason="x"
    )
    assert [e.number for e in events_of(app, pid, Policy.Endorsed)] == [1, 2]


def test_bad_endorsements_are_refused_and_record_nothing(app: PolicyAdministration) -> None:
    pid = in_force_policy(app)
    before = count(app)
    cases = [
        ({"holder": {"name": "山田印刷株式会社"}}, date(2028, 6, 1), "nothing_to_endorse"),
        ({}, date(2028, 6, 1), "nothing_to_endorse"),
        ({"holder": {"address": "x"}}, date(2028, 4, 1), "invalid_effective_date"),  # before cover start
        ({"holder": {"address": "x"}}, date(2029, 4, 1), "invalid_effective_date"),
        ({"plan": "Z"}, date(2028, 6, 1), "unknown_plan"),
        ({"plan": "B"}, date(2028, 6, 1), "nothing_to_endorse"),  # the plan it has
        ({"liability_limit": 500_000_000}, date(2028, 6, 1), "invalid_liability_limit"),  # not plan E
        ({"plan": "E"}, date(2028, 6, 1), "invalid_liability_limit"),
        ({"annual_sales": -1}, date(2028, 6, 1), "invalid_amount"),
        ({"network_rider": "yes"}, date(2028, 6, 1), "invalid_network_rider"),
        ({"plan": "C"}, date(2028, 4, 1), "invalid_effective_date"),  # before cover start
        ({"bank_account": dict(BANK, account_number="12")}, date(2028, 6, 1), None),
        ({"holder": {"shoe_size": "27"}}, date(2028, 6, 1), "invalid_holder"),
    ]
    for changes, day, code in cases:
        with pytest.raises(InvalidInput) as err:
            app.endorse(pid, effective_date=day, changes=changes, reason="test")
        if code:
            assert err.value.code == code
    assert count(app) == before
    app.cancel(pid, effective_date=date(2028, 9, 1), reason="closing")
    with pytest.raises(Conflict):
        app.endorse(pid, effective_date=date(2028, 6, 1), changes={"holder": {"address": "y"}}, reason="late")


def test_zengin_new_account_code_follows_the_mandate(app: PolicyAdministration) -> None:
    pid = apply_policy(app)
    assert app.get_policy(pid).zengin_new_code == "1"  # first debit from a new mandate
    app.activate(pid, 1)
    app.endorse(pid, effective_date=date(2028, 5, 1), changes={"bank_account": NEW_BANK}, reason="new bank")
    assert app.get_policy(pid).zengin_new_code == "2"  # first debit after the account changed
    collect(app, pid)
    assert app.get_policy(pid).zengin_new_code == "0"
