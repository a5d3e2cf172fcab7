"""The event-sourced model through the application service (in memory).

Covers the Policy and Claim aggregates as driven by ``PolicyAdministration``:
decided facts in events, bad input recording nothing, idempotent scheduler
commands, debit failures and lapse, claim settlement and denial, the period
aggregate across claims, replay and as-of reads, renewal, cancellation,
upcasting, stable topics and event metadata.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.application import Repository

import policy_core.application as application_module
from policy_core.aggregates.claim import Claim
from policy_core.aggregates.policy import Policy
from policy_core.application import SYSTEM, Actor, PolicyAdministration
from policy_core.calendar import TOKYO
from policy_core.errors import Conflict, InvalidInput, NotFound
from policy_core.scheme import load_scheme
from policy_core.settlement import SECTIONS, Settlement

FIXED_NOW = datetime(2030, 1, 1, tzinfo=UTC)

BANK = {
    "bank_code": "0001",
    "branch_code": "001",
    "account_type": "ordinary",
    "account_number": "1234567",
    "holder_kana": "ﾔﾏﾀﾞ ﾀﾛｳ",
}

# Chuo-kai, printing, 200,000,000 sales, plan B: annual 100,000 yen (seed example).
# Applied on 10 Feb 2028 (mid-term): cover 25 Apr 2028 16:00 -> 25 Mar 2029 16:00
# (11 months), debit 23 May 2028 (a Tuesday).
APPLICATION_DATE = date(2028, 2, 10)
ANNUAL_B = 100_000
PREMIUM_11_MONTHS = 91_660  # 100,000 * 11 / 12 = 91,666.67 -> rounded down to 10 yen

SEED_003_ITEMS = [
    {"category": "damages", "risk": "basic", "amount": 300 * 100_000 + 700 * 10_000},
    {"category": "defence_costs", "risk": "basic", "amount": 2_000_000},
    {"category": "condolence", "risk": "basic", "amount": 1_000_000, "recipients": 2_000},
    {"category": "advertising", "risk": "basic", "amount": 5_000_000},
]


# --------------------------------------------------------------------------- helpers


def make_app() -> PolicyAdministration:
    return PolicyAdministration(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=lambda: FIXED_NOW)


@pytest.fixture
def app() -> PolicyAdministration:
    return make_app()


def tokyo(y: int, m: int, d: int, h: int = 12) -> datetime:
    return datetime(y, m, d, h, tzinfo=TOKYO)


def apply_kwargs(**overrides: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "scheme": "chuokai",
        "member_number": "M-0001",
        "holder": {"name": "山田印刷株式会社"},
        "industry": "printing",
        "annual_sales": 200_000_000,
        "plan": "B",
        "bank_account": dict(BANK),
        "application_date": APPLICATION_DATE,
    }
    kwargs.update(overrides)
    return kwargs


def apply_policy(app: PolicyAdministration, **overrides: Any) -> UUID:
    return app.apply(**apply_kwargs(**overrides))


def collect(app: PolicyAdministration, pid: UUID, period: int = 1) -> None:
    p = app.get_policy(pid).period(period)
    assert app.record_debit_success(
        pid,
        period,
        attempt=len(p.debits) + 1,
        amount=p.premium - p.collected,
        debit_date=p.debit_date,
        reference="ref-1",
    )


def in_force_policy(app: PolicyAdministration, **overrides: Any) -> UUID:
    pid = apply_policy(app, **overrides)
    assert app.activate(pid, 1)
    collect(app, pid)
    return pid


def report(
    app: PolicyAdministration, pid: UUID, discovered: datetime | None = None, **overrides: Any
) -> UUID:
    discovered = discovered or tokyo(2028, 6, 10)
    kwargs: dict[str, Any] = {
        "policy_id": pid,
        "occurred_at": discovered - timedelta(days=3),
        "discovered_at": discovered,
        "cause": "theft",
        "records_affected": 1_000,
        "description": "laptop stolen from a car",
    }
    kwargs.update(overrides)
    return app.report_incident(**kwargs)


def count(app: PolicyAdministration) -> int:
    return app.recorder.max_notification_id() or 0


def all_stored(app: PolicyAdministration) -> list[Any]:
    return list(app.recorder.select_notifications(1, 10_000))


def last_event(app: PolicyAdministration, aggregate_id: UUID) -> Any:
    return app.history(aggregate_id)[-1]


def events_of(app: PolicyAdministration, aggregate_id: UUID, cls: type) -> list[Any]:
    return [e for e in app.history(aggregate_id) if type(e) is cls]


class SaveSpy:
    """Records each batch the application writes (one batch per save)."""

    def __init__(self, app: PolicyAdministration) -> None:
        self.batches: list[list[str]] = []
        original = app.recorder.insert_events

        def insert_events(stored_events: Any, **kwargs: Any) -> Any:
            self.batches.append([s.topic for s in stored_events])
            return original(stored_events, **kwargs)

        app.recorder.insert_events = insert_events  # type: ignore[method-assign]


# --------------------------------------------------------------------------- 1. apply


def test_apply_records_applied_event_with_decided_period_facts(app: PolicyAdministration) -> None:
    pid = apply_policy(app)

    history = app.history(pid)
    assert len(history) == 1
    applied = history[0]
    assert isinstance(applied, Policy.Applied)
    period = applied.period
    assert period["number"] == 1
    assert period["enrollment"] == "mid_term"
    assert period["annual_premium"] == ANNUAL_B
    assert period["premium"] == PREMIUM_11_MONTHS
    assert period["months"] == 11
    assert period["tariff_version"] == "chuokai-2024-04"
    assert period["rating"]["tariff_version"] == "chuokai-2024-04"
    assert period["rating"]["annual_premium"] == ANNUAL_B
    assert period["limits"] == {
        "liability_basic": 50_000_000,
        "liability_recourse": 50_000_000,
        "expense_basic": 5_000_000,
        "expense_recourse": 5_000_000,
    }
    assert period["deductible"] == 100_000
    assert period["expense_basic_coinsurance_percent"] == 90
    assert period["condolence_cap_per_person"] == 500
    assert period["network_rider"] is False
    assert period["start"] == tokyo(2028, 4, 25, 16)
    assert period["end"] == tokyo(2029, 3, 25, 16)
    assert period["nominal_debit_date"] == date(2028, 5, 23)
    assert period["debit_date"] == date(2028, 5, 23)
    assert period["basis"]["annual_sales"] == 200_000_000
    assert period["basis"]["plan"] == "B"

    assert applied.scheme == "chuokai"
    assert applied.member_number == "M-0001"
    assert applied.bank_account == BANK

    policy = app.get_policy(pid)
    assert policy.status == "applied"
    assert policy.current_period.premium == PREMIUM_11_MONTHS
    assert policy.id == Policy.id_for("chuokai", "M-0001", tokyo(2028, 4, 25, 16))


def test_mid_term_premium_is_months_pro_rata_rounded_down_to_10_yen(app: PolicyAdministration) -> None:
    pid = apply_policy(app)
    period = app.get_policy(pid).current_period
    assert period.months == 11
    assert period.premium == ANNUAL_B * 11 // 12 // 10 * 10 == 91_660
    assert period.premium < ANNUAL_B


def test_repeated_apply_is_a_conflict_and_records_nothing(app: PolicyAdministration) -> None:
    pid = apply_policy(app)
    before = count(app)
    with pytest.raises(Conflict) as exc:
        apply_policy(app)
    assert exc.value.code == "already_applied"
    assert exc.value.details["policy_id"] == str(pid)
    assert count(app) == before


# --------------------------------------------------------------------------- 2. bad input

BAD_APPLY = [
    ("unknown_plan", {"plan": "Z"}, "unknown_plan"),
    ("unknown_industry", {"industry": "space_mining"}, "unknown_industry"),
    ("negative_sales", {"annual_sales": -1}, "invalid_amount"),
    ("float_sales_exponent", {"annual_sales": 1.5e8}, "invalid_amount"),
    ("float_sales_integral", {"annual_sales": 100000000.0}, "invalid_amount"),
    ("bool_sales", {"annual_sales": True}, "invalid_amount"),
    ("plan_e_limit_at_floor", {"plan": "E", "liability_limit": 300_000_000}, "invalid_liability_limit"),
    ("plan_e_missing_limit", {"plan": "E"}, "invalid_liability_limit"),
    ("bank_code_3_digits", {"bank_account": {**BANK, "bank_code": "001"}}, "invalid_bank_account"),
    ("branch_code_2_digits", {"bank_account": {**BANK, "branch_code": "01"}}, "invalid_bank_account"),
    (
        "account_number_6_digits",
        {"bank_account": {**BANK, "account_number": "123456"}},
        "invalid_bank_account",
    ),
    ("holder_kana_kanji", {"bank_account": {**BANK, "holder_kana": "山田"}}, "invalid_bank_account"),
    ("empty_member_number", {"member_number": "  "}, "invalid_text"),
    ("unknown_scheme", {"scheme": "nosuchscheme"}, "unknown_scheme"),
    (
        "application_date_datetime",
        {"application_date": datetime(2028, 2, 10, 9, tzinfo=TOKYO)},
        "invalid_date",
    ),
]


@pytest.mark.parametrize(
    ("overrides", "code"), [(o, c) for _, o, c in BAD_APPLY], ids=[n for n, _, _ in BAD_APPLY]
)
def test_apply_bad_input_raises_invalid_input_and_records_nothing(
    app: PolicyAdministration, overrides: dict[str, Any], code: str
) -> None:
    apply_policy(app, member_number="M-BASE")  # a non-empty store to compare against
    before_count, before_events = count(app), len(all_stored(app))
    with pytest.raises(InvalidInput) as exc:
        apply_policy(app, **overrides)
    assert exc.value.code == code
    assert count(app) == before_count
    assert len(all_stored(app)) == before_events


BAD_REPORT = [
    (
        "naive_discovered_at",
        {"discovered_at": datetime(2028, 6, 10, 12), "occurred_at": tokyo(2028, 6, 1)},
        "naive_datetime",
    ),
    ("naive_occurred_at", {"occurred_at": datetime(2028, 6, 1, 12)}, "naive_datetime"),
    ("occurred_after_discovered", {"occurred_at": tokyo(2028, 6, 11)}, "invalid_incident_dates"),
    (
        "discovered_in_future",
        {"discovered_at": FIXED_NOW + timedelta(seconds=1), "occurred_at": tokyo(2029, 12, 1)},
        "invalid_incident_dates",
    ),
    ("unknown_cause", {"cause": "alien_abduction"}, "unknown_cause"),
    ("negative_records", {"records_affected": -1}, "invalid_records_affected"),
    ("bool_records", {"records_affected": True}, "invalid_records_affected"),
    (
        "discovered_outside_cover",
        {"discovered_at": tokyo(2028, 4, 25, 15), "occurred_at": tokyo(2028, 4, 1)},
        "discovered_outside_cover",
    ),
    (
        "discovered_after_cover",
        {"discovered_at": tokyo(2029, 3, 25, 16), "occurred_at": tokyo(2029, 3, 1)},
        "discovered_outside_cover",
    ),
]


@pytest.mark.parametrize(
    ("overrides", "code"), [(o, c) for _, o, c in BAD_REPORT], ids=[n for n, _, _ in BAD_REPORT]
)
def test_report_incident_bad_input_raises_invalid_input_and_records_nothing(
    app: PolicyAdministration, overrides: dict[str, Any], code: str
) -> None:
    pid = in_force_policy(app)
    before_count, before_events = count(app), len(all_stored(app))
    before_version = app.get_policy(pid).version
    with pytest.raises(InvalidInput) as exc:
        report(app, pid, **overrides)
    assert exc.value.code == code
    assert count(app) == before_count
    assert len(all_stored(app)) == before_events
    assert app.get_policy(pid).version == before_version
    assert app.get_policy(pid).current_period.claims == []


BAD_ITEMS = [
    ("negative_amount", {"category": "damages", "risk": "basic", "amount": -1}, "invalid_amount"),
    ("float_amount", {"category": "damages", "risk": "basic", "amount": 1000.0}, "invalid_amount"),
    ("unknown_category", {"category": "fines", "risk": "basic", "amount": 1000}, "unknown_loss_category"),
    (
        "condolence_without_recipients",
        {"category": "condolence", "risk": "basic", "amount": 1000},
        "invalid_recipients",
    ),
]


@pytest.mark.parametrize(
    ("item", "code"), [(i, c) for _, i, c in BAD_ITEMS], ids=[n for n, _, _ in BAD_ITEMS]
)
def test_assess_losses_bad_items_raise_invalid_input_and_record_nothing(
    app: PolicyAdministration, item: dict[str, Any], code: str
) -> None:
    pid = in_force_policy(app)
    cid = report(app, pid)
    good = {"category": "damages", "risk": "basic", "amount": 500_000}
    before_count = count(app)
    with pytest.raises(InvalidInput) as exc:
        app.assess_losses(cid, [good, item])  # one bad item spoils the whole batch
    assert exc.value.code == code
    assert count(app) == before_count
    assert app.get_claim(cid).losses == []


# --------------------------------------------------------------------------- 3. idempotency


def test_activate_twice_records_once(app: PolicyAdministration) -> None:
    pid = apply_policy(app)
    assert app.activate(pid, 1) is True
    n = count(app)
    assert app.activate(pid, 1) is False
    assert count(app) == n
    assert len(events_of(app, pid, Policy.Activated)) == 1
    assert app.get_policy(pid).status == "active"


def test_record_debit_success_twice_records_once(app: PolicyAdministration) -> None:
    pid = apply_policy(app)
    app.activate(pid, 1)
    kwargs = {"attempt": 1, "amount": PREMIUM_11_MONTHS, "debit_date": date(2028, 5, 23), "reference": "r1"}
    assert app.record_debit_success(pid, 1, **kwargs) is True
    n = count(app)
    assert app.record_debit_success(pid, 1, **kwargs) is False
    assert count(app) == n
    period = app.get_policy(pid).period(1)
    assert period.collected == PREMIUM_11_MONTHS
    assert period.is_collected
    assert len(events_of(app, pid, Policy.PremiumDebited)) == 1


def test_record_debit_failure_same_attempt_twice_records_once(app: PolicyAdministration) -> None:
    pid = apply_policy(app)
    app.activate(pid, 1)
    kwargs = {
        "attempt": 1,
        "debit_date": date(2028, 5, 23),
        "result_code": "1",
        "reason": "insufficient_funds",
    }
    assert app.record_debit_failure(pid, 1, **kwargs) is True
    n = count(app)
    assert app.record_debit_failure(pid, 1, **kwargs) is False
    assert count(app) == n
    assert len(events_of(app, pid, Policy.PremiumDebitFailed)) == 1


def test_renew_into_period_2_twice_records_once(app: PolicyAdministration) -> None:
    pid = in_force_policy(app)
    assert app.renew(pid, 2) is True
    n = count(app)
    assert app.renew(pid, 2) is False
    assert count(app) == n
    assert len(app.get_policy(pid).periods) == 2
    assert len(events_of(app, pid, Policy.Renewed)) == 1


def test_lapse_twice_records_once(app: PolicyAdministration) -> None:
    pid = apply_policy(app)
    app.activate(pid, 1)
    assert app.lapse(pid, 1) is True
    n = count(app)
    assert app.lapse(pid, 1) is False
    assert count(app) == n
    assert app.get_policy(pid).status == "lapsed"
    assert len(events_of(app, pid, Policy.Lapsed)) == 1


def test_expire_twice_records_once(app: PolicyAdministration) -> None:
    pid = in_force_policy(app)
    app.give_non_renewal_notice(pid, received_on=date(2029, 2, 1))
    assert app.expire(pid, 1) is True
    n = count(app)
    assert app.expire(pid, 1) is False
    assert count(app) == n
    assert app.get_policy(pid).status == "expired"
    assert len(events_of(app, pid, Policy.Expired)) == 1


def test_give_non_renewal_notice_twice_records_once(app: PolicyAdministration) -> None:
    pid = in_force_policy(app)
    assert app.give_non_renewal_notice(pid, received_on=date(2029, 2, 1)) is True
    n = count(app)
    assert app.give_non_renewal_notice(pid, received_on=date(2029, 2, 2)) is False
    assert count(app) == n
    events = events_of(app, pid, Policy.NonRenewalNoticeGiven)
    assert len(events) == 1
    assert events[0].received_on == date(2029, 2, 1)
    assert events[0].effective_at == tokyo(2029, 3, 25, 16)


# --------------------------------------------------------------------------- 4. debit failures


def test_three_debit_failures_lapse_from_period_start_and_deny_open_claims_in_same_save(
    app: PolicyAdministration,
) -> None:
    # Applied in March 2028: cover from 25 May 2028 16:00, first debit on Fri 23 Jun 2028.
    pid = apply_policy(app, application_date=date(2028, 3, 10))
    app.activate(pid, 1)
    period = app.get_policy(pid).period(1)
    assert period.start == tokyo(2028, 5, 25, 16)
    assert period.debit_date == date(2028, 6, 23)
    cid_before = report(app, pid, discovered=tokyo(2028, 6, 10))
    assert app.get_claim(cid_before).status == "reported"

    failure = {"result_code": "1", "reason": "insufficient_funds"}
    assert app.record_debit_failure(pid, 1, attempt=1, debit_date=date(2028, 6, 23), **failure)
    first = last_event(app, pid)
    assert isinstance(first, Policy.PremiumDebitFailed)
    # Same day next month is Sun 23 Jul 2028: moved to Mon 24 Jul.
    assert first.next_debit_date == date(2028, 7, 24)
    assert first.result_code == "1" and first.reason == "insufficient_funds"
    assert app.get_policy(pid).period(1).next_debit_date == date(2028, 7, 24)

    assert app.record_debit_failure(pid, 1, attempt=2, debit_date=date(2028, 7, 24), **failure)
    second = last_event(app, pid)
    assert second.next_debit_date == date(2028, 8, 23)
    assert app.get_policy(pid).status == "active"

    spy = SaveSpy(app)
    assert app.record_debit_failure(pid, 1, attempt=3, debit_date=date(2028, 8, 23), **failure)
    third, lapsed = app.history(pid)[-2:]
    assert isinstance(third, Policy.PremiumDebitFailed)
    assert third.next_debit_date is None
    assert isinstance(lapsed, Policy.Lapsed)
    assert lapsed.effective_at == period.start
    assert lapsed.reason.startswith("non_payment")

    policy = app.get_policy(pid)
    assert policy.status == "lapsed"
    assert policy.period(1).lapsed_at == period.start
    assert policy.period(1).next_debit_date is None

    claim = app.get_claim(cid_before)
    assert claim.status == "denied"
    assert claim.denial_reason == "policy_not_in_force"
    denied = last_event(app, cid_before)
    assert isinstance(denied, Claim.ClaimDenied)
    assert denied.metadata["command"] == "record_debit_failure"
    # One save: the failure, the lapse and the denial are written together.
    assert spy.batches == [
        [
            "policy_admin:Policy.PremiumDebitFailed",
            "policy_admin:Policy.Lapsed",
            "policy_admin:Claim.ClaimDenied",
        ]
    ]

    cid_after = report(app, pid, discovered=tokyo(2028, 9, 1))
    after = app.get_claim(cid_after)
    assert after.status == "denied"
    assert after.denial_reason == "policy_not_in_force"
    assert after.period_number == 1


def test_debit_failure_attempt_out_of_order_is_a_conflict(app: PolicyAdministration) -> None:
    pid = apply_policy(app)
    n = count(app)
    with pytest.raises(Conflict) as exc:
        app.record_debit_failure(pid, 1, attempt=2, debit_date=date(2028, 5, 23), result_code="1", reason="x")
    assert exc.value.code == "unexpected_debit_attempt"
    assert count(app) == n


def test_lapse_after_a_closed_claim_in_the_period_still_records_the_third_failure(
    app: PolicyAdministration,
) -> None:
    """BUG: PolicyAdministration._lapse denies every claim of the period, closed ones included.

    ``Claim.deny`` raises Conflict("claim_closed") for a closed claim, so the third
    failed debit (and the lapse) can never be recorded once any claim of that period
    was closed. The docstring says only *open* claims are denied.
    """
    pid = apply_policy(app)
    app.activate(pid, 1)
    cid = report(app, pid, discovered=tokyo(2028, 5, 1))
    assert app.close_claim(cid, reason="withdrawn by the holder")
    failure = {"result_code": "1", "reason": "insufficient_funds"}
    app.record_debit_failure(pid, 1, attempt=1, debit_date=date(2028, 5, 23), **failure)
    app.record_debit_failure(pid, 1, attempt=2, debit_date=date(2028, 6, 23), **failure)

    assert app.record_debit_failure(pid, 1, attempt=3, debit_date=date(2028, 7, 24), **failure)
    assert app.get_policy(pid).status == "lapsed"
    assert app.get_claim(cid).status == "closed"


# --------------------------------------------------------------------------- 5. claims


def test_seed_003_worked_example_pays_43_900_000_with_full_settlement(app: PolicyAdministration) -> None:
    pid = in_force_policy(app)
    cid = report(app, pid)
    app.assess_losses(cid, SEED_003_ITEMS)
    assert app.get_claim(cid).status == "assessed"

    payment = app.pay_claim(cid)
    assert payment["total"] == 43_900_000
    assert payment["payment_number"] == 1

    paid = last_event(app, cid)
    assert isinstance(paid, Claim.ClaimPaid)
    assert paid.total == 43_900_000
    assert paid.period_number == 1
    s = paid.settlement
    assert s["total"] == 43_900_000
    assert set(s["sections"]) == set(SECTIONS)
    lb, eb = s["sections"]["liability_basic"], s["sections"]["expense_basic"]
    assert lb["eligible"] == 39_000_000
    assert lb["deductible"] == 100_000
    assert lb["after_deductible"] == 38_900_000
    assert lb["coinsurance_percent"] == 100
    assert lb["coinsurance_reduction"] == 0
    assert lb["paid"] == 38_900_000
    assert lb["limited_by"] is None
    assert eb["gross_loss"] == 6_000_000
    assert eb["condolence_cap_reduction"] == 0
    assert eb["eligible"] == 6_000_000
    assert eb["deductible"] == 100_000
    assert eb["after_deductible"] == 5_900_000
    assert eb["coinsurance_percent"] == 90
    assert eb["coinsurance_reduction"] == 590_000
    assert eb["payable_for_accident"] == 5_310_000
    assert eb["paid"] == 5_000_000
    assert eb["limited_by"] == "per_accident_limit"
    for key in ("liability_recourse", "expense_recourse"):
        assert s["sections"][key]["paid"] == 0
        assert s["sections"][key]["deductible"] == 0
    for sec in s["sections"].values():
        assert isinstance(sec["steps"], list) and sec["steps"]
        assert all(isinstance(step, str) for step in sec["steps"])
    # The recorded decision rebuilds exactly, without recomputation.
    assert Settlement.from_dict(s).to_dict() == s

    claim = app.get_claim(cid)
    assert claim.status == "paid"
    assert claim.paid_total == 43_900_000

    period = app.get_policy(pid).period(1)
    assert period.paid == {
        "liability_basic": 38_900_000,
        "liability_recourse": 0,
        "expense_basic": 5_000_000,
        "expense_recourse": 0,
    }
    recorded = last_event(app, pid)
    assert isinstance(recorded, Policy.ClaimPaymentRecorded)
    assert recorded.claim_id == cid
    assert recorded.total == 43_900_000


def test_interim_payments_pay_only_the_increment(app: PolicyAdministration) -> None:
    pid = in_force_policy(app)
    cid = report(app, pid)
    app.assess_losses(cid, [{"category": "damages", "risk": "basic", "amount": 1_000_000}])
    first = app.pay_claim(cid)
    assert first["total"] == 900_000
    app.assess_losses(cid, [{"category": "damages", "risk": "basic", "amount": 2_000_000}])
    second = app.pay_claim(cid)
    assert second["payment_number"] == 2
    assert second["total"] == 2_000_000  # 3,000,000 - 100,000 deductible once, less 900,000 paid
    lb = second["settlement"]["sections"]["liability_basic"]
    assert lb["previously_paid_on_claim"] == 900_000
    assert lb["deductible"] == 100_000
    assert app.get_claim(cid).paid_total == 2_900_000
    assert app.get_policy(pid).period(1).paid["liability_basic"] == 2_900_000
    assert len(events_of(app, cid, Claim.ClaimPaid)) == 2


def test_pay_with_premium_not_collected_is_conflict_and_records_nothing(app: PolicyAdministration) -> None:
    pid = apply_policy(app)
    app.activate(pid, 1)
    cid = report(app, pid)
    app.assess_losses(cid, [{"category": "damages", "risk": "basic", "amount": 1_000_000}])
    n = count(app)
    with pytest.raises(Conflict) as exc:
        app.pay_claim(cid)
    assert exc.value.code == "premium_not_collected"
    assert count(app) == n
    assert app.get_claim(cid).payments == []
    assert app.get_policy(pid).period(1).paid["liability_basic"] == 0


def test_pay_when_nothing_newly_payable_is_conflict_and_records_nothing(app: PolicyAdministration) -> None:
    pid = in_force_policy(app)
    cid = report(app, pid)
    app.assess_losses(cid, [{"category": "damages", "risk": "basic", "amount": 1_000_000}])
    app.pay_claim(cid)
    n = count(app)
    with pytest.raises(Conflict) as exc:
        app.pay_claim(cid)
    assert exc.value.code == "nothing_payable"
    assert count(app) == n

    # Below the deductible: nothing payable at all.
    cid2 = report(app, pid, discovered=tokyo(2028, 7, 1))
    app.assess_losses(cid2, [{"category": "damages", "risk": "basic", "amount": 100_000}])
    n = count(app)
    with pytest.raises(Conflict) as exc:
        app.pay_claim(cid2)
    assert exc.value.code == "nothing_payable"
    assert count(app) == n


def test_network_cause_without_rider_is_denied(app: PolicyAdministration) -> None:
    pid = in_force_policy(app)
    cid = report(app, pid, cause="website")
    claim = app.get_claim(cid)
    assert claim.status == "denied"
    assert claim.denial_reason == "network_cause_without_rider"
    assert cid.hex in app.get_policy(pid).period(1).claims
    n = count(app)
    with pytest.raises(Conflict) as exc:
        app.assess_losses(cid, [{"category": "damages", "risk": "basic", "amount": 1_000_000}])
    assert exc.value.code == "claim_denied"
    assert count(app) == n


def test_network_cause_with_rider_is_covered_inside_liability_limits(app: PolicyAdministration) -> None:
    pid = in_force_policy(app, network_rider=True)
    period = app.get_policy(pid).period(1)
    assert period.network_rider is True
    assert period.annual_premium == 110_000  # rider loading 10%
    cid = report(app, pid, cause="email")
    claim = app.get_claim(cid)
    assert claim.status == "reported"
    assert claim.denial_reason is None
    app.assess_losses(cid, [{"category": "damages", "risk": "basic", "amount": 60_000_000}])
    payment = app.pay_claim(cid)
    assert payment["total"] == 50_000_000  # no extra limit for network causes
    assert payment["settlement"]["sections"]["liability_basic"]["limited_by"] == "per_accident_limit"


def test_own_staff_information_is_excluded(app: PolicyAdministration) -> None:
    pid = in_force_policy(app)
    cid = report(app, pid, own_staff_information=True)
    claim = app.get_claim(cid)
    assert claim.status == "denied"
    assert claim.denial_reason == "excluded_own_staff_information"
    assert claim.own_staff_information is True


def test_outside_japan_information_is_excluded(app: PolicyAdministration) -> None:
    pid = in_force_policy(app)
    cid = report(app, pid, outside_japan=True)
    assert app.get_claim(cid).denial_reason == "excluded_outside_japan"


def test_record_if_outside_cover_records_a_denied_claim(app: PolicyAdministration) -> None:
    pid = in_force_policy(app)
    policy_version = app.get_policy(pid).version
    cid = report(app, pid, discovered=tokyo(2028, 4, 1), record_if_outside_cover=True)
    claim = app.get_claim(cid)
    assert claim.status == "denied"
    assert claim.denial_reason == "discovered_outside_cover"
    assert claim.period_number is None
    assert [type(e) for e in app.history(cid)] == [Claim.IncidentReported, Claim.ClaimDenied]
    assert app.get_policy(pid).version == policy_version  # no period to register the claim in


# --------------------------------------------------------------------------- 6. period aggregate


def test_period_aggregate_caps_payments_across_claims(app: PolicyAdministration) -> None:
    pid = in_force_policy(app, plan="A", industry="retail", annual_sales=20_000_000)
    damages = [{"category": "damages", "risk": "basic", "amount": 8_000_000}]

    c1 = report(app, pid, discovered=tokyo(2028, 6, 1))
    app.assess_losses(c1, damages)
    assert app.pay_claim(c1)["total"] == 7_900_000

    c2 = report(app, pid, discovered=tokyo(2028, 7, 1))
    app.assess_losses(c2, damages)
    second = app.pay_claim(c2)
    assert second["total"] == 2_100_000
    lb = second["settlement"]["sections"]["liability_basic"]
    assert lb["limited_by"] == "period_aggregate"
    assert lb["period_limit_remaining"] == 2_100_000
    assert app.get_policy(pid).period(1).paid["liability_basic"] == 10_000_000

    c3 = report(app, pid, discovered=tokyo(2028, 8, 1))
    app.assess_losses(c3, damages)
    n = count(app)
    with pytest.raises(Conflict) as exc:
        app.pay_claim(c3)
    assert exc.value.code == "nothing_payable"
    assert count(app) == n
    assert app.get_policy(pid).period(1).paid["liability_basic"] == 10_000_000


def test_racing_payments_on_one_policy_never_exceed_the_period_cap(app: PolicyAdministration) -> None:
    """A payment that loses the optimistic-concurrency race is re-decided against the new usage."""
    pid = in_force_policy(app, plan="A", industry="retail", annual_sales=20_000_000)
    damages = [{"category": "damages", "risk": "basic", "amount": 8_000_000}]
    c1 = report(app, pid, discovered=tokyo(2028, 6, 1))
    c2 = report(app, pid, discovered=tokyo(2028, 7, 1))
    app.assess_losses(c1, damages)
    app.assess_losses(c2, damages)

    original_save = app._save
    raced: list[dict[str, Any]] = []

    def save(*aggregates: Any, actor: Any, command: str) -> None:
        if command == "pay_claim" and not raced:
            # Another writer pays claim 1 after claim 2's payment was decided but before it is saved.
            raced.append({})
            raced[0] = app.pay_claim(c1)
        original_save(*aggregates, actor=actor, command=command)

    app._save = save  # type: ignore[method-assign]
    second = app.pay_claim(c2)

    assert raced[0]["total"] == 7_900_000
    assert second["total"] == 2_100_000
    assert second["settlement"]["sections"]["liability_basic"]["limited_by"] == "period_aggregate"
    period = app.get_policy(pid).period(1)
    assert period.paid["liability_basic"] == 10_000_000
    assert len(events_of(app, c2, Claim.ClaimPaid)) == 1
    assert len(events_of(app, pid, Policy.ClaimPaymentRecorded)) == 2


# --------------------------------------------------------------------------- 7. replay / as-of


def test_get_policy_as_of_returns_state_between_commands(app: PolicyAdministration) -> None:
    pid = apply_policy(app)
    app.activate(pid, 1)
    collect(app, pid)
    applied, activated, debited = app.history(pid)
    assert applied.timestamp < activated.timestamp < debited.timestamp

    at_apply = app.get_policy(pid, as_of=applied.timestamp)
    assert at_apply.status == "applied"
    assert at_apply.version == 1
    at_activate = app.get_policy(pid, as_of=activated.timestamp)
    assert at_activate.status == "active"
    assert at_activate.period(1).collected == 0
    between = app.get_policy(pid, as_of=activated.timestamp + (debited.timestamp - activated.timestamp) / 2)
    assert between.version == 2
    now = app.get_policy(pid)
    assert now.version == 3
    assert now.period(1).collected == PREMIUM_11_MONTHS


def test_get_claim_as_of_returns_state_before_payment(app: PolicyAdministration) -> None:
    pid = in_force_policy(app)
    cid = report(app, pid)
    app.assess_losses(cid, [{"category": "damages", "risk": "basic", "amount": 1_000_000}])
    app.pay_claim(cid)
    reported, assessed, paid = app.history(cid)
    assert app.get_claim(cid, as_of=assessed.timestamp).status == "assessed"
    assert app.get_claim(cid, as_of=reported.timestamp).status == "reported"
    assert app.get_claim(cid, as_of=paid.timestamp).paid_total == 900_000
    with pytest.raises(NotFound) as exc:
        app.get_policy(cid, as_of=paid.timestamp)
    assert exc.value.code == "policy_not_found"


def test_get_policy_as_of_before_creation_is_not_found(app: PolicyAdministration) -> None:
    pid = apply_policy(app)
    created = app.history(pid)[0].timestamp
    with pytest.raises(NotFound) as exc:
        app.get_policy(pid, as_of=created - timedelta(microseconds=1))
    assert exc.value.code == "policy_not_found"
    with pytest.raises(InvalidInput) as exc2:
        app.get_policy(pid, as_of=datetime(2030, 1, 1))  # naive
    assert exc2.value.code == "naive_datetime"


def test_history_lists_events_in_version_order(app: PolicyAdministration) -> None:
    pid = in_force_policy(app)
    report(app, pid)
    app.renew(pid, 2)
    history = app.history(pid)
    assert [e.originator_version for e in history] == list(range(1, len(history) + 1))
    assert [type(e) for e in history] == [
        Policy.Applied,
        Policy.Activated,
        Policy.PremiumDebited,
        Policy.ClaimRegistered,
        Policy.Renewed,
    ]
    assert all(e.originator_id == pid for e in history)
    with pytest.raises(NotFound):
        app.history(pid, cls=Claim)
    with pytest.raises(NotFound):
        app.get_claim(pid)


def test_replay_never_re_rates_after_tariff_change(
    app: PolicyAdministration, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = in_force_policy(app)
    original = load_scheme("chuokai")
    tariff = original.tariffs[0]
    doubled = dataclasses.replace(
        tariff,
        rate_per_million_sales={k: v * 2 for k, v in tariff.rate_per_million_sales.items()},
    )
    patched = original.model_copy(update={"tariffs": [doubled]})
    monkeypatch.setattr(application_module, "load_scheme", lambda key: patched)
    monkeypatch.setattr(application_module, "get_scheme", lambda key: patched)

    # The patch is effective for new decisions ...
    quote = app.quote(
        scheme="chuokai",
        industry="printing",
        annual_sales=200_000_000,
        plan="B",
        application_date=APPLICATION_DATE,
    )
    assert quote.annual_premium == 200_000

    # ... but replay from a fresh repository reads the decided facts.
    fresh = Repository(event_store=app.events)
    replayed = fresh.get(pid)
    assert replayed.period(1).annual_premium == ANNUAL_B
    assert replayed.period(1).premium == PREMIUM_11_MONTHS
    assert replayed.period(1).tariff_version == "chuokai-2024-04"
    assert app.get_policy(pid).period(1).premium == PREMIUM_11_MONTHS

    # Renewal re-rates with today's tariff; period 1 stays as recorded.
    app.renew(pid, 2)
    policy = Repository(event_store=app.events).get(pid)
    assert policy.period(2).annual_premium == 200_000
    assert policy.period(1).premium == PREMIUM_11_MONTHS


# --------------------------------------------------------------------------- 8. renewal


def test_non_renewal_notice_blocks_renewal_and_expire_works(app: PolicyAdministration) -> None:
    pid = in_force_policy(app)
    app.give_non_renewal_notice(pid, received_on=date(2029, 2, 1))
    n = count(app)
    with pytest.raises(Conflict) as exc:
        app.renew(pid, 2)
    assert exc.value.code == "non_renewal_notice"
    assert count(app) == n
    assert app.expire(pid, 1) is True
    policy = app.get_policy(pid)
    assert policy.status == "expired"
    assert policy.expired_at == tokyo(2029, 3, 25, 16)
    assert len(policy.periods) == 1


def test_renewal_re_rates_with_latest_declared_sales(app: PolicyAdministration) -> None:
    pid = in_force_policy(app)
    app.declare_sales(pid, annual_sales=500_000_000, declared_on=date(2029, 1, 15))
    assert app.get_policy(pid).annual_sales == 500_000_000
    assert app.renew(pid, 2) is True

    renewed = last_event(app, pid)
    assert isinstance(renewed, Policy.Renewed)
    facts = renewed.period
    assert facts["number"] == 2
    assert facts["enrollment"] == "renewal"
    assert facts["basis"]["annual_sales"] == 500_000_000
    # printing 400/million * 500,000,000 = 200,000 * plan B 1.25 = 250,000 for a full year
    assert facts["annual_premium"] == 250_000
    assert facts["premium"] == 250_000
    assert facts["months"] == 12
    assert facts["start"] == tokyo(2029, 3, 25, 16)
    assert facts["end"] == tokyo(2030, 3, 25, 16)
    assert facts["nominal_debit_date"] == date(2029, 4, 25)

    policy = app.get_policy(pid)
    assert policy.period(1).premium == PREMIUM_11_MONTHS  # untouched
    assert policy.period(2).premium == 250_000
    assert policy.current_period.number == 2


def test_new_period_starts_with_full_limits_after_a_claim_payment(app: PolicyAdministration) -> None:
    pid = in_force_policy(app)
    cid = report(app, pid)
    app.assess_losses(cid, SEED_003_ITEMS)
    app.pay_claim(cid)
    app.renew(pid, 2)
    policy = app.get_policy(pid)
    assert policy.period(1).paid["expense_basic"] == 5_000_000
    assert policy.period(2).paid == {s: 0 for s in SECTIONS}
    assert policy.period(2).remaining() == policy.period(2).limits
    assert policy.period(2).claims == []


# --------------------------------------------------------------------------- 9. cancellation


def test_cancel_returns_premium_for_whole_months_not_yet_begun(app: PolicyAdministration) -> None:
    pid = in_force_policy(app)
    app.cancel(pid, effective_date=date(2028, 7, 10), reason="business closed")
    cancelled = last_event(app, pid)
    assert isinstance(cancelled, Policy.Cancelled)
    assert cancelled.effective_at == tokyo(2028, 7, 10, 16)
    # Months beginning 25 Jul, 25 Aug, ... 25 Feb have not begun: 8 of 11.
    assert cancelled.unearned_months == 8
    assert cancelled.return_premium == PREMIUM_11_MONTHS * 8 // 11 == 66_661
    assert cancelled.period_number == 1
    policy = app.get_policy(pid)
    assert policy.status == "cancelled"
    assert policy.cancellation_reason == "business closed"


def test_cancel_before_collection_returns_nothing(app: PolicyAdministration) -> None:
    pid = apply_policy(app)
    app.activate(pid, 1)
    app.cancel(pid, effective_date=date(2028, 7, 10), reason="business closed")
    cancelled = last_event(app, pid)
    assert cancelled.unearned_months == 8
    assert cancelled.return_premium == 0


def test_cancel_twice_is_conflict_and_records_nothing(app: PolicyAdministration) -> None:
    pid = in_force_policy(app)
    app.cancel(pid, effective_date=date(2028, 7, 10), reason="business closed")
    n = count(app)
    with pytest.raises(Conflict) as exc:
        app.cancel(pid, effective_date=date(2028, 8, 10), reason="again")
    assert exc.value.code == "already_cancelled"
    assert count(app) == n


def test_claims_discovered_after_cancellation_are_denied(app: PolicyAdministration) -> None:
    pid = in_force_policy(app)
    app.cancel(pid, effective_date=date(2028, 7, 10), reason="business closed")
    after = report(app, pid, discovered=tokyo(2028, 8, 1))
    assert app.get_claim(after).denial_reason == "policy_not_in_force"
    just_after = report(app, pid, discovered=tokyo(2028, 7, 10, 16))
    assert app.get_claim(just_after).denial_reason == "policy_not_in_force"
    # Discovered before the cancellation took effect: still covered.
    before = report(app, pid, discovered=tokyo(2028, 7, 10, 15))
    claim = app.get_claim(before)
    assert claim.status == "reported"
    app.assess_losses(before, [{"category": "damages", "risk": "basic", "amount": 1_100_000}])
    assert app.pay_claim(before)["total"] == 1_000_000


# --------------------------------------------------------------------------- 10. upcasting


def test_incident_reported_v1_is_upcast_with_exclusion_flags_false(app: PolicyAdministration) -> None:
    assert Claim.IncidentReported.class_version == 3
    pid = in_force_policy(app)
    cid = report(app, pid, own_staff_information=True, outside_japan=True)
    reported = app.history(cid)[0]
    assert isinstance(reported, Claim.IncidentReported)

    stored = app.mapper.to_stored_event(reported)
    state = app.mapper.transcoder.decode(stored.state)
    assert state["class_version"] == 3
    assert state["own_staff_information"] is True
    for key in ("own_staff_information", "outside_japan", "class_version", "number"):
        del state[key]
    v1 = dataclasses.replace(stored, state=app.mapper.transcoder.encode(state))

    upcast = app.mapper.to_domain_event(v1)
    assert isinstance(upcast, Claim.IncidentReported)
    assert upcast.own_staff_information is False
    assert upcast.outside_japan is False
    assert upcast.number is None
    assert upcast.cause == reported.cause
    assert upcast.discovered_at == reported.discovered_at
    assert upcast.originator_id == cid

    # A whole v1 history replays to an aggregate with both flags false.
    claim = upcast.mutate(None)
    assert claim.own_staff_information is False
    assert claim.outside_japan is False
    assert claim.policy_id == pid


# --------------------------------------------------------------------------- 11. topics


def test_every_stored_event_topic_is_stable(app: PolicyAdministration) -> None:
    pid = in_force_policy(app)
    cid = report(app, pid)
    app.assess_losses(cid, SEED_003_ITEMS)
    app.pay_claim(cid)
    denied = report(app, pid, cause="website")
    closed = report(app, pid, discovered=tokyo(2028, 7, 1))
    app.close_claim(closed, reason="withdrawn")
    app.declare_sales(pid, annual_sales=300_000_000, declared_on=date(2029, 1, 10))
    app.renew(pid, 2)
    app.give_non_renewal_notice(pid, received_on=date(2029, 6, 1))
    app.cancel(pid, effective_date=date(2029, 7, 1), reason="closing")

    events = [e for agg in (pid, cid, denied, closed) for e in app.history(agg)]
    topics = {app.mapper.to_stored_event(e).topic for e in events}
    assert all(t.startswith("policy_admin:") for t in topics), topics
    assert {
        "policy_admin:Policy.Applied",
        "policy_admin:Policy.Activated",
        "policy_admin:Policy.PremiumDebited",
        "policy_admin:Policy.ClaimRegistered",
        "policy_admin:Policy.ClaimPaymentRecorded",
        "policy_admin:Policy.SalesDeclared",
        "policy_admin:Policy.Renewed",
        "policy_admin:Policy.NonRenewalNoticeGiven",
        "policy_admin:Policy.Cancelled",
        "policy_admin:Claim.IncidentReported",
        "policy_admin:Claim.LossesAssessed",
        "policy_admin:Claim.ClaimPaid",
        "policy_admin:Claim.ClaimDenied",
        "policy_admin:Claim.ClaimClosed",
    } <= topics
    # What the store actually holds, too.
    stored_topics = {n.topic for n in all_stored(app)}
    assert all(t.startswith("policy_admin:") for t in stored_topics), stored_topics
    originators = {e.originator_topic for e in events if hasattr(e, "originator_topic")}
    assert originators == {"policy_admin:Policy", "policy_admin:Claim"}


# --------------------------------------------------------------------------- 12. metadata


def test_every_event_carries_actor_and_command_metadata(app: PolicyAdministration) -> None:
    operator = Actor("operator", "key-1")
    pid = apply_policy(app, actor=operator)
    app.activate(pid, 1)
    collect(app, pid)
    cid = report(app, pid, actor=Actor("claims", "key-2"))
    app.assess_losses(cid, [{"category": "damages", "risk": "basic", "amount": 1_000_000}], actor=operator)
    app.pay_claim(cid, actor=operator)

    for agg in (pid, cid):
        for e in app.history(agg):
            assert set(e.metadata) == {"actor", "command"}
            assert set(e.metadata["actor"]) == {"role", "key_id"}
            assert isinstance(e.metadata["command"], str) and e.metadata["command"]

    policy_meta = [(e.metadata["command"], e.metadata["actor"]) for e in app.history(pid)]
    assert policy_meta == [
        ("apply", {"role": "operator", "key_id": "key-1"}),
        ("activate", SYSTEM.as_metadata()),
        ("record_debit_success", {"role": "system", "key_id": "system"}),
        ("report_incident", {"role": "claims", "key_id": "key-2"}),
        ("pay_claim", {"role": "operator", "key_id": "key-1"}),
    ]
    claim_meta = [(e.metadata["command"], e.metadata["actor"]["role"]) for e in app.history(cid)]
    assert claim_meta == [
        ("report_incident", "claims"),
        ("assess_losses", "operator"),
        ("pay_claim", "operator"),
    ]


def test_expire_without_a_non_renewal_notice_is_a_conflict_and_records_nothing(
    app: PolicyAdministration,
) -> None:
    pid = in_force_policy(app)
    n = count(app)
    with pytest.raises(Conflict) as err:
        app.expire(pid, 1)
    assert err.value.code == "no_non_renewal_notice"
    assert count(app) == n


def test_third_failed_debit_after_cancellation_is_recorded_without_a_lapse(app: PolicyAdministration) -> None:
    pid = apply_policy(app, application_date=date(2028, 3, 10))
    app.activate(pid, 1)
    app.cancel(pid, effective_date=date(2028, 7, 1), reason="business closed")
    failure = {"result_code": "1", "reason": "insufficient_funds"}
    for attempt, day in ((1, date(2028, 6, 23)), (2, date(2028, 7, 24)), (3, date(2028, 8, 23))):
        assert app.record_debit_failure(pid, 1, attempt=attempt, debit_date=day, **failure)
    policy = app.get_policy(pid)
    assert policy.status == "cancelled"
    assert policy.period(1).failed_attempts == 3
    assert not events_of(app, pid, Policy.Lapsed)


def test_a_boolean_is_not_a_period_number(app: PolicyAdministration) -> None:
    pid = apply_policy(app)
    with pytest.raises(InvalidInput) as err:
        app.activate(pid, True)
    assert err.value.code == "unknown_period"


def test_debit_results_are_recorded_many_policies_per_save(app: PolicyAdministration) -> None:
    from policy_core.application import DebitOutcome

    pids = [apply_policy(app, member_number=f"B-{i}") for i in range(5)]
    outcomes = []
    for i, pid in enumerate(pids):
        p = app.get_policy(pid).period(1)
        if i % 2:
            outcomes.append(
                DebitOutcome(pid, 1, 1, p.debit_date, False, result_code="1", reason="insufficient_funds")
            )
        else:
            outcomes.append(DebitOutcome(pid, 1, 1, p.debit_date, True, amount=p.premium, reference="r"))
    spy = SaveSpy(app)
    counts = app.record_debit_results(outcomes, batch_size=3)
    assert counts == {"debited": 3, "failed": 2, "lapsed": 0, "unchanged": 0}
    assert [len(b) for b in spy.batches] == [3, 2]
    again = app.record_debit_results(outcomes)
    assert again == {"debited": 0, "failed": 0, "lapsed": 0, "unchanged": 5}
    assert app.get_policy(pids[0]).period(1).is_collected
    assert app.get_policy(pids[1]).period(1).failed_attempts == 1


def test_renewal_notice_is_issued_once(app: PolicyAdministration) -> None:
    pid = in_force_policy(app)
    n = count(app)
    assert app.issue_renewal_notice(pid, 1, issued_on=date(2029, 2, 20)) is True
    assert app.issue_renewal_notice(pid, 1, issued_on=date(2029, 2, 21)) is False
    assert count(app) == n + 1
    assert app.get_policy(pid).period(1).renewal_notice_on == date(2029, 2, 20)


@pytest.mark.parametrize("bank_code,branch_code", [("0002", "001"), ("0001", "999")])
def test_unknown_bank_or_branch_is_refused_and_records_nothing(
    app: PolicyAdministration, bank_code: str, branch_code: str
) -> None:
    n = count(app)
    with pytest.raises(InvalidInput) as err:
        apply_policy(app, bank_account=dict(BANK, bank_code=bank_code, branch_code=branch_code))
    assert err.value.code == "invalid_bank_account"
    assert count(app) == n


def test_debit_results_use_loaded_policies_once_and_recover_from_stale_copies(
    app: PolicyAdministration,
) -> None:
    from policy_core.application import DebitOutcome

    pid = apply_policy(app)
    stale = app.get_policy(pid)
    app.activate(pid, 1)  # the loaded copy is now one version behind
    p = stale.period(1)
    outcome = DebitOutcome(pid, 1, 1, p.debit_date, True, amount=p.premium, reference="r")
    counts = app.record_debit_results([outcome], loaded={pid: stale})
    assert counts == {"debited": 1, "failed": 0, "lapsed": 0, "unchanged": 0}
    assert [type(e).__name__ for e in app.history(pid)] == ["Applied", "Activated", "PremiumDebited"]
