"""The bulk read's fold (``aggregates.replay``) against the library's: the same state, event by
event, over histories that hold every Policy event type; the library's errors on a wrong sequence."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from eventsourcing.domain import OriginatorIDError, OriginatorVersionError

from policy_core.aggregates.claim import Claim
from policy_core.aggregates.policy import Policy
from policy_core.aggregates.replay import replay
from policy_core.application import PolicyAdministration
from policy_core.usecases.common import fold
from tests.unit.test_corrections import paid_claim
from tests.unit.test_model import apply_policy, collect, in_force_policy, make_app


def _same(a: Any, b: Any) -> None:
    """Equal values of the same types all the way down, objects by their attributes (private ones
    included: id, version, created/modified times, pending events)."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    elif hasattr(a, "__dict__") and not isinstance(a, type):
        _same(vars(a), vars(b))
    else:
        assert a == b


def _event_classes() -> set[type]:
    """Every Policy event class a history can hold (with its own stable topic; the library's
    Created is declared, never triggered)."""
    return {
        c
        for c in vars(Policy).values()
        if isinstance(c, type)
        and issubclass(c, Policy.Event)
        and c not in (Policy.Event, Policy.Created)
        and getattr(c, "TOPIC", "").startswith("policy_admin:Policy.")
    }


def _histories(app: PolicyAdministration) -> None:
    # applied, activated, three failures and the lapse, then money after the lapse
    pid = apply_policy(app, member_number="M-0001")
    app.activate(pid, 1)
    days = (date(2028, 5, 23), date(2028, 6, 23), date(2028, 7, 24))
    for attempt, day in enumerate(days, start=1):
        app.record_debit_failure(pid, 1, attempt=attempt, debit_date=day, result_code="1", reason="funds")
    p = app.get_policy(pid).period(1)
    app.record_debit_success(pid, 1, attempt=4, amount=p.premium, debit_date=date(2028, 8, 23))
    # sales declared, renewal notice, renewed, non-renewal notice, expired
    pid = in_force_policy(app, member_number="M-0002")
    app.declare_sales(pid, annual_sales=250_000_000, declared_on=date(2028, 6, 1))
    app.issue_renewal_notice(pid, 1, issued_on=date(2029, 1, 20))
    app.renew(pid, 2)
    app.activate(pid, 2)
    collect(app, pid, 2)
    app.give_non_renewal_notice(pid, received_on=date(2029, 6, 1))
    app.expire(pid, 2)
    # a claim paid and its payment reversed, cancelled and reinstated
    pid = in_force_policy(app, member_number="M-0003")
    cid = paid_claim(app, pid)
    app.reverse_payment(cid, 1, reason="paid to the wrong account")
    app.cancel(pid, effective_date=date(2028, 9, 1), reason="holder asked")
    app.reinstate(pid, reason="cancelled the wrong policy")
    # endorsements, one out of sequence: reversed and re-applied
    pid = in_force_policy(app, member_number="M-0004")
    app.endorse(pid, effective_date=date(2028, 8, 1), changes={"network_rider": True}, reason="request")
    app.endorse(pid, effective_date=date(2028, 6, 1), changes={"plan": "C"}, reason="request")


def test_replay_makes_the_librarys_state_for_every_policy_event_type() -> None:
    app = make_app()
    _histories(app)
    seen: set[type] = set()
    aggregates = 0
    for oid in {n.originator_id for n in app.recorder.select_notifications(1, 100_000)}:
        events = app._history(oid)
        cls = Policy if isinstance(fold(None, events[:1]), Policy) else Claim
        aggregates += cls is Policy
        # event by event: every intermediate state equal too (fresh copies of the events each side)
        for n in range(1, len(events) + 1):
            _same(replay(None, app._history(oid)[:n]), fold(None, app._history(oid)[:n]))
        seen.update(type(e) for e in events)
    assert aggregates == 4
    assert len(_event_classes()) == 19  # a new event type: add it to the histories above
    assert _event_classes() <= seen, sorted(c.__name__ for c in _event_classes() - seen)
    assert any(issubclass(c, Claim.Event) for c in seen)  # claims go the same way


def test_replay_continues_from_a_given_state_as_fold_does() -> None:
    app = make_app()
    pid = in_force_policy(app)
    events = app._history(pid)
    _same(replay(fold(None, events[:1]), app._history(pid)[1:]), fold(None, app._history(pid)))


def test_replay_raises_the_librarys_errors_on_a_wrong_sequence() -> None:
    app = make_app()
    a, b = in_force_policy(app, member_number="M-0001"), in_force_policy(app, member_number="M-0002")
    ha, hb = app._history(a), app._history(b)
    with pytest.raises(OriginatorVersionError):
        replay(None, [ha[0], ha[2]])
    with pytest.raises(OriginatorIDError):
        replay(None, [ha[0], hb[1]])
    with pytest.raises(AssertionError):  # a second creating event: the library's assertion
        replay(None, [ha[0], ha[0]])


def test_every_policy_event_type_has_a_plan_of_its_own() -> None:
    """The comparison above runs the planned steps, not the library's ``mutate`` as a fallback."""
    from policy_core.aggregates import replay as module

    for cls in _event_classes():
        assert module._plan(cls) is not module._library, cls.__name__
