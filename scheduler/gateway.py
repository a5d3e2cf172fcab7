"""The premium collection port (口座振替) and a simulated bank behind it.

The scheduler hands a batch of ``DebitRequest`` to a ``CollectionGateway`` and
gets one ``DebitResult`` per request back, in the same order. A real adapter
exchanges Zengin 120-byte files with the collecting bank (see
``scheduler.zengin``); ``SimulatedBank`` answers in memory with the same
result codes, deterministically, for tests and demos.

Nothing here logs, and nothing puts a full account number into a message or a
``repr``: ``BankAccount`` masks itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol, runtime_checkable

from policy_core.bank import BankAccount

RESULT_CODES: dict[str, str] = {
    "0": "debited",
    "1": "insufficient_funds",
    "2": "no_such_account",
    "3": "stopped_by_depositor",
    "4": "no_direct_debit_mandate",
    "8": "stopped_by_collector",
    "9": "other",
}
"""Zengin 振替結果コード -> reason.

0 振替済, 1 資金不足, 2 取引なし, 3 預金者の都合による振替停止,
4 預金口座振替依頼書なし, 8 委託者の都合による振替停止, 9 その他.
"""

SUCCESS_CODE = "0"
CUSTOMER_NUMBER_LENGTH = 20


def customer_number_for(policy_id: str | uuid.UUID, period_number: int, attempt: int) -> str:
    """The 20-digit 顧客番号 that identifies one debit attempt in Zengin files.

    Zengin defines 顧客番号 as N(20), digits only, so the policy id's first 12 hex
    digits (48 bits) are written in decimal (15 digits), followed by the period
    (3 digits) and the attempt (2 digits).
    """
    try:  # the debit run passes the UUID itself: no round trip through its text
        prefix = (policy_id if isinstance(policy_id, uuid.UUID) else uuid.UUID(str(policy_id))).hex[:12]
    except ValueError:
        raise ValueError("policy_id must be a UUID to derive a customer number") from None
    if not _is_int(period_number) or not 1 <= period_number <= 999:
        raise ValueError(f"period_number must be an integer from 1 to 999, got {period_number!r}")
    if not _is_int(attempt) or not 1 <= attempt <= 99:
        raise ValueError(f"attempt must be an integer from 1 to 99, got {attempt!r}")
    return f"{int(prefix, 16):015d}{period_number:03d}{attempt:02d}"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class DebitRequest:
    """One premium instalment to debit from the holder's account on ``debit_date``."""

    policy_id: str
    period_number: int
    attempt: int
    amount: int
    debit_date: date
    account: BankAccount
    customer_number: str
    new_code: str = "0"  # Zengin 新規コード: 1 first debit from a new account, 2 account changed, 0 else

    def __post_init__(self) -> None:
        if self.new_code not in ("0", "1", "2"):
            raise ValueError(f"new_code must be 0, 1 or 2, got {self.new_code!r}")
        if not isinstance(self.policy_id, str) or not self.policy_id:
            raise ValueError("policy_id must be a non-empty string")
        if not _is_int(self.period_number) or self.period_number < 1:
            raise ValueError(f"period_number must be a positive integer, got {self.period_number!r}")
        if not _is_int(self.attempt) or self.attempt < 1:
            raise ValueError(f"attempt must be a positive integer, got {self.attempt!r}")
        if not _is_int(self.amount):
            raise ValueError(f"amount must be an integer number of yen, got {type(self.amount).__name__}")
        if self.amount < 1:
            raise ValueError(f"amount must be at least 1 yen, got {self.amount}")
        if isinstance(self.debit_date, datetime) or not isinstance(self.debit_date, date):
            raise ValueError("debit_date must be a date")
        if not isinstance(self.account, BankAccount):
            raise ValueError("account must be a validated BankAccount")
        number = self.customer_number
        if (
            not isinstance(number, str)
            or not 1 <= len(number) <= CUSTOMER_NUMBER_LENGTH
            or not (number.isascii() and number.isdigit())  # ASCII digits only, as "0" <= ch <= "9"
        ):
            raise ValueError(
                f"customer_number must be 1 to {CUSTOMER_NUMBER_LENGTH} digits "
                f"(Zengin 顧客番号 is N(20)), got {number!r}"
            )


@dataclass(frozen=True)
class DebitResult:
    request: DebitRequest
    success: bool
    result_code: str
    reason: str

    @classmethod
    def from_code(cls, request: DebitRequest, result_code: str) -> DebitResult:
        if result_code not in RESULT_CODES:
            raise ValueError(f"unknown Zengin result code {result_code!r}")
        return cls(
            request=request,
            success=result_code == SUCCESS_CODE,
            result_code=result_code,
            reason=RESULT_CODES[result_code],
        )


@runtime_checkable
class CollectionGateway(Protocol):
    def collect(self, requests: Sequence[DebitRequest]) -> list[DebitResult]:
        """Debit every request; one result per request, in the request order."""
        ...


_SIMULATED_FAILURE_CODES = frozenset(RESULT_CODES) - {SUCCESS_CODE}


def simulated_result_code(account_number: str) -> str:
    """The simulated bank's rule: accounts starting with "9" fail with their last digit's code.

    Last digit 1, 2, 3, 4 or 8 is that Zengin code; any other last digit (including 0)
    is 9 (other). Every account not starting with "9" is debited.
    """
    if not account_number.startswith("9"):
        return SUCCESS_CODE
    last = account_number[-1]
    return last if last in _SIMULATED_FAILURE_CODES else "9"


class SimulatedBank:
    """A deterministic, in-memory bank: no I/O, no clock, no randomness."""

    def collect(self, requests: Sequence[DebitRequest]) -> list[DebitResult]:
        return [
            DebitResult.from_code(request, simulated_result_code(request.account.account_number))
            for request in requests
        ]

    def reconcile(self, requests: Sequence[DebitRequest]) -> list[DebitResult]:
        """What became of requests sent before (a status query, not a debit): the simulated bank's
        rule answers it, as a real bank's status enquiry would."""
        return self.collect(requests)
