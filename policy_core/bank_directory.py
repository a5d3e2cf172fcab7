"""Which bank and branch codes exist: the zengin-code package's directory of Japanese banks.

Kept apart from ``bank.py`` (pure rules) because it reads the package's data files.
A direct-debit mandate for a bank or branch that does not exist cannot be collected, so
the application refuses it at once rather than at the first failed debit.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from .errors import InvalidInput


@cache
def _banks() -> Any:
    from zengin_code import Bank

    return Bank.all


def check_bank_and_branch(bank_code: str, branch_code: str) -> None:
    bank = _banks().get(bank_code)
    if bank is None:
        raise InvalidInput(
            f"bank_code {bank_code} is not a Japanese bank code",
            code="invalid_bank_account",
            field="bank_code",
        )
    if branch_code not in bank.branches:
        raise InvalidInput(
            f"branch_code {branch_code} is not a branch of bank {bank_code}",
            code="invalid_bank_account",
            field="branch_code",
        )


def branch_codes(bank_code: str) -> list[str]:
    return sorted(_banks()[bank_code].branches)
