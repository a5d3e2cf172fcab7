"""Japanese bank holidays: the one place that asks the jpholiday package.

The calendar rules take the predicate as an argument so they stay pure.
"""

from __future__ import annotations

from datetime import date

import jpholiday

from .calendar import is_fixed_bank_holiday


def is_national_holiday(d: date) -> bool:
    return jpholiday.is_holiday(d)


def is_bank_holiday(d: date) -> bool:
    return is_fixed_bank_holiday(d) or jpholiday.is_holiday(d)
