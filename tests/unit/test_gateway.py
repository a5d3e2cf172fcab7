"""The collection port and the simulated bank."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date, datetime

import pytest

from policy_core.bank import validate_bank_account
from scheduler.gateway import (
    RESULT_CODES,
    CollectionGateway,
    DebitRequest,
    DebitResult,
    SimulatedBank,
    customer_number_for,
    simulated_result_code,
)

POLICY_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "policy-gateway"))


def _request(account_number: str = "1234567", *, attempt: int = 1, amount: int = 10_000) -> DebitRequest:
    return DebitRequest(
        policy_id=POLICY_ID,
        period_number=2,
        attempt=attempt,
        amount=amount,
        debit_date=date(2025, 4, 28),
        account=validate_bank_account("0001", "123", "ordinary", account_number, "ﾔﾏﾀﾞ ﾀﾛｳ"),
        customer_number=customer_number_for(POLICY_ID, 2, attempt),
    )


def test_result_codes_are_the_zengin_list() -> None:
    assert RESULT_CODES == {
        "0": "debited",
        "1": "insufficient_funds",
        "2": "no_such_account",
        "3": "stopped_by_depositor",
        "4": "no_direct_debit_mandate",
        "8": "stopped_by_collector",
        "9": "other",
    }


@pytest.mark.parametrize(
    ("account_number", "code"),
    [
        ("9000001", "1"),
        ("9000002", "2"),
        ("9000003", "3"),
        ("9000004", "4"),
        ("9000005", "9"),
        ("9000006", "9"),
        ("9000007", "9"),
        ("9000008", "8"),
        ("9000009", "9"),
        ("9000000", "9"),  # starts with 9, last digit 0: still a failure, "other"
    ],
)
def test_simulated_bank_fails_accounts_starting_with_9(account_number: str, code: str) -> None:
    [result] = SimulatedBank().collect([_request(account_number)])
    assert result.success is False
    assert result.result_code == code
    assert result.reason == RESULT_CODES[code]
    assert simulated_result_code(account_number) == code


@pytest.mark.parametrize("account_number", ["1234567", "0000001", "8999999", "1000009", "0900001"])
def test_simulated_bank_debits_every_other_account(account_number: str) -> None:
    request = _request(account_number)
    [result] = SimulatedBank().collect([request])
    assert result == DebitResult(request=request, success=True, result_code="0", reason="debited")


def test_results_keep_request_order_and_are_deterministic() -> None:
    requests = [_request(n, attempt=i) for i, n in enumerate(["9000001", "1234567", "9000008", "2222222"], 1)]
    first = SimulatedBank().collect(requests)
    again = SimulatedBank().collect(requests)
    assert first == again
    assert [r.request for r in first] == requests
    assert [r.result_code for r in first] == ["1", "0", "8", "0"]
    assert SimulatedBank().collect([]) == []


def test_simulated_bank_satisfies_the_port() -> None:
    assert isinstance(SimulatedBank(), CollectionGateway)


def test_debit_result_from_code_refuses_unknown_codes() -> None:
    assert DebitResult.from_code(_request(), "4").reason == "no_direct_debit_mandate"
    with pytest.raises(ValueError, match="unknown Zengin result code '5'"):
        DebitResult.from_code(_request(), "5")


def test_customer_number_is_20_digits_and_distinct_per_attempt() -> None:
    first = customer_number_for(POLICY_ID, 2, 1)
    assert len(first) == 20 and first.isdigit()
    assert first == customer_number_for(POLICY_ID, 2, 1)
    assert first.endswith("00201")
    assert first[:15] == f"{int(uuid.UUID(POLICY_ID).hex[:12], 16):015d}"
    assert customer_number_for(POLICY_ID, 2, 2) != first
    assert customer_number_for(POLICY_ID, 3, 1) != first
    assert customer_number_for(uuid.UUID(POLICY_ID).hex, 2, 1) == first
    assert customer_number_for(uuid.UUID(POLICY_ID), 2, 1) == first  # the UUID itself
    with pytest.raises(ValueError, match="attempt"):
        customer_number_for(POLICY_ID, 2, 100)
    with pytest.raises(ValueError, match="UUID"):
        customer_number_for("not-a-uuid", 2, 1)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("amount", 1000.0, "integer"),
        ("amount", True, "integer"),
        ("amount", 0, "at least 1 yen"),
        ("attempt", 0, "attempt"),
        ("period_number", -1, "period_number"),
        ("customer_number", "ABC123", "customer_number"),
        ("customer_number", "1" * 21, "customer_number"),
        ("customer_number", "１２３", "customer_number"),  # full-width digits are not N(20)
        ("customer_number", "12²", "customer_number"),  # nor other Unicode digits
        ("customer_number", "", "customer_number"),
        ("debit_date", datetime(2025, 4, 28, 9, 0), "debit_date"),
    ],
)
def test_debit_request_refuses_bad_values(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        replace(_request(), **{field: value})


def test_debit_request_repr_masks_the_account_number() -> None:
    text = repr(_request("1234567")) + repr(SimulatedBank().collect([_request("1234567")]))
    assert "1234567" not in text
    assert "****567" in text
