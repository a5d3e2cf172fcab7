"""The domain's bounds, in one place: every value the API accepts is storable everywhere.

The API's request models (``api/schemas.py``), the domain's checks (rating, settlement,
the aggregates, the application) and the read-model columns (``projections/views``) all take
their limits from here, so a value that passes the first is never too big for the last. The
read-model columns are sized with :func:`sql_int` from the same constants; a test walks the
maximum of every bound through the API into every view (``tests/integration/test_bounds.py``).

Dates and times are bounded to a plausible range (README, "Bounds"): an incident, a
discovery and an ``as_of`` lie between 2000-01-01 (Asia/Tokyo) and now; an application date
lies within ten years before and two years after today; other business dates (cancellation
effective date, sales declaration, non-renewal notice) between 2000-01-01 and two years
after today. Outside them: 422 ``date_out_of_range``, nothing recorded.

Text: every text field refuses Unicode control and format characters (categories Cc and Cf;
multi-line free text keeps line feeds and tabs), and names refuse a value that is empty
after trimming (``clean_text``). The same function backs the pydantic types and the
application's own checks.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .errors import InvalidInput

TOKYO = ZoneInfo("Asia/Tokyo")

# ---------------------------------------------------------------------------- integers
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1

#: Declared annual sales: 100 trillion yen (above any company's turnover).
MAX_ANNUAL_SALES = 10**14
#: A plan E liability limit: 100 billion yen.
MAX_LIABILITY_LIMIT = 10**11
#: A period's annual premium (a decision above it is refused as out of range).
MAX_ANNUAL_PREMIUM = 10**13
#: One loss item: 1 trillion yen.
MAX_LOSS_ITEM_YEN = 10**12
#: Every loss item of one claim together (all assessments): 10 trillion yen.
MAX_CLAIM_LOSS_YEN = 10**13
#: Loss items in one assessment request, and on one claim in total.
MAX_LOSS_ITEMS_PER_REQUEST = 1_000
MAX_LOSS_ITEMS_PER_CLAIM = 10_000
#: People: records affected by an incident, recipients of condolence items (10 billion).
MAX_PEOPLE = 10**10
#: Any single yen figure on a policy, a claim or a payment is at most this.
MAX_YEN = MAX_CLAIM_LOSS_YEN
#: Policies one scheme year can hold whose sums a portfolio row keeps (headroom of the sums).
PORTFOLIO_HEADROOM_POLICIES = 100_000
#: A portfolio sum (premium, paid) over one scheme year.
MAX_PORTFOLIO_YEN = MAX_ANNUAL_PREMIUM * PORTFOLIO_HEADROOM_POLICIES

# ---------------------------------------------------------------------------- text
MAX_TEXT = 200  # short text: names, codes, reasons
MAX_MEMBER_NUMBER = 50
MAX_LONG_TEXT = 5_000  # free text: a claim's description
MAX_MESSAGE = 2_000  # a denial message
MAX_IDEMPOTENCY_KEY = 200


def sql_int(max_value: int) -> str:
    """The smallest PostgreSQL integer type that holds ``max_value`` (sizing a column from a bound)."""
    if max_value <= INT32_MAX:
        return "integer"
    if max_value <= INT64_MAX:
        return "bigint"
    return "numeric"


def check_int(value: Any, name: str, *, low: int = 0, high: int, code: str = "out_of_range") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{name} must be an integer, got {value!r}", code=code, field=name)
    if not low <= value <= high:
        raise InvalidInput(
            f"{name} must be between {low:,} and {high:,}, got {value:,}", code=code, field=name
        )
    return value


# Multi-line free text keeps these; every other Cc/Cf character is refused everywhere.
_MULTILINE_ALLOWED = frozenset("\n\t")


def bad_character(value: str, *, multiline: bool = False) -> str | None:
    """The first control (Cc) or format (Cf) character in ``value``, or None."""
    for c in value:
        if unicodedata.category(c) in ("Cc", "Cf") and not (multiline and c in _MULTILINE_ALLOWED):
            return c
        if 0xD800 <= ord(c) <= 0xDFFF:  # a lone surrogate (category Cs) is not text either
            return c
    return None


def clean_text(
    value: Any,
    name: str,
    *,
    max_len: int = MAX_TEXT,
    required: bool = True,
    multiline: bool = False,
) -> str:
    """The one text check: a string, no control or format characters, not too long, and (when
    ``required``) not empty after trimming. Returns the trimmed value."""
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string", code="invalid_text", field=name)
    bad = bad_character(value, multiline=multiline)
    if bad is not None:
        raise InvalidInput(
            f"{name} contains a control or format character (U+{ord(bad):04X})",
            code="invalid_text",
            field=name,
        )
    if len(value) > max_len:
        raise InvalidInput(f"{name} is longer than {max_len} characters", code="invalid_text", field=name)
    trimmed = value.strip()
    if required and not trimmed:
        raise InvalidInput(f"{name} must not be empty", code="invalid_text", field=name)
    return trimmed


# ---------------------------------------------------------------------------- dates and times
#: Nothing in this system happened before this moment (incidents, as-of reads, run-due).
EARLIEST = datetime(2000, 1, 1, tzinfo=TOKYO)
EARLIEST_DATE = EARLIEST.date()
#: Applications: within this many years before today ...
APPLICATION_YEARS_BACK = 10
#: ... and this many after.
BUSINESS_YEARS_AHEAD = 2
#: Clock skew tolerated for "not in the future" (a client's clock a little ahead).
FUTURE_SKEW = timedelta(minutes=5)


def _years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


def check_moment(value: datetime, name: str, *, now: datetime) -> datetime:
    """A past moment: between 2000-01-01 (Asia/Tokyo) and now."""
    if value < EARLIEST or value > now + FUTURE_SKEW:
        raise InvalidInput(
            f"{name} {value.isoformat()} is outside {EARLIEST.isoformat()} .. now",
            code="date_out_of_range",
            field=name,
        )
    return value


def check_business_date(value: date, name: str, *, now: datetime, years_back: int | None = None) -> date:
    """A business date: from 2000-01-01 (or ``years_back`` years before today) to two years ahead."""
    today = now.astimezone(TOKYO).date()
    low = EARLIEST_DATE if years_back is None else max(EARLIEST_DATE, _years(today, -years_back))
    high = _years(today, BUSINESS_YEARS_AHEAD)
    if not low <= value <= high:
        raise InvalidInput(
            f"{name} {value.isoformat()} is outside {low.isoformat()} .. {high.isoformat()}",
            code="date_out_of_range",
            field=name,
        )
    return value


def check_application_date(value: date, *, now: datetime) -> date:
    return check_business_date(value, "application_date", now=now, years_back=APPLICATION_YEARS_BACK)


def utc_now() -> datetime:
    return datetime.now(UTC)
