"""Coverage calendar: when cover starts and ends, and when the premium is debited.

Pure functions (standard library only) so that they are trivially testable and
safe to call when deciding; what they decide is recorded in events and never
recomputed on replay.

Both schemes (domain.md §6) are expressed with the same few parameters:

- an anniversary (month, day) at which every period ends and renews, at 16:00
  Asia/Tokyo;
- enrollment windows. A ``regular`` enrollment starts cover at the next
  anniversary; a ``mid_term`` enrollment starts cover on ``start_day`` of the
  month ``start_lead_months`` after the application month. Both take their
  debit on ``debit_day`` of a month counted from the application month
  (mid-term) or from the anniversary month (regular);
- a renewal debit (months after the anniversary month, day of month);
- failed debits are retried on the same day of the following months.

Debit dates that fall on a bank holiday move to the next business day.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .errors import InvalidInput

TOKYO = ZoneInfo("Asia/Tokyo")

REGULAR = "regular"
MID_TERM = "mid_term"
RENEWAL = "renewal"
ENROLLMENT_KINDS = (REGULAR, MID_TERM)

HolidayPredicate = Callable[[date], bool]


@dataclass(frozen=True)
class MonthDay:
    month: int
    day: int

    def __post_init__(self) -> None:
        if not (1 <= self.month <= 12) or not (1 <= self.day <= _days_in_month(2000, self.month)):
            raise ValueError(f"invalid month/day {self.month}/{self.day}")

    def key(self) -> tuple[int, int]:
        return (self.month, self.day)


@dataclass(frozen=True)
class EnrollmentRule:
    kind: str  # "regular" | "mid_term"
    window_start: MonthDay  # first application day (inclusive)
    window_end: MonthDay  # last application day (inclusive); may wrap past 31 Dec
    debit_lead_months: int  # from the application month (mid_term) or the anniversary month (regular)
    debit_day: int
    start_lead_months: int = 0  # mid_term only
    start_day: int = 1  # mid_term only

    def __post_init__(self) -> None:
        if self.kind not in ENROLLMENT_KINDS:
            raise ValueError(f"unknown enrollment kind {self.kind!r}")

    def accepts(self, d: date) -> bool:
        k = (d.month, d.day)
        lo, hi = self.window_start.key(), self.window_end.key()
        if lo <= hi:
            return lo <= k <= hi
        return k >= lo or k <= hi


@dataclass(frozen=True)
class CalendarRules:
    anniversary: MonthDay
    enrollments: tuple[EnrollmentRule, ...]
    renewal_debit_month_offset: int
    renewal_debit_day: int
    boundary_hour: int = 16
    # Where windows overlap (Chuo-kai: 10-31 Dec) and the application names none.
    default_enrollment_in_overlap: str = REGULAR
    retry_interval_months: int = 1

    def __post_init__(self) -> None:
        # A yearly boundary must exist every year, so no 29 February.
        if self.anniversary.key() == (2, 29):
            raise ValueError("the anniversary cannot be 29 February")
        if not self.enrollments:
            raise ValueError("a calendar needs at least one enrollment window")


@dataclass(frozen=True)
class CoverTerm:
    """One period of cover as decided: recorded in events as it stands."""

    enrollment: str
    start: datetime  # aware, Asia/Tokyo, at the boundary hour
    end: datetime
    months: int
    nominal_debit_date: date  # the rule's day, before the business-day shift
    debit_date: date  # the day the bank actually debits


def require_date(value: object, name: str) -> date:
    """A calendar date, not a datetime (whose day would depend on a time zone)."""
    if not isinstance(value, date) or isinstance(value, datetime):
        raise InvalidInput(f"{name} must be a calendar date", code="invalid_date")
    return value


def add_months(d: date, months: int) -> date:
    """Same day ``months`` later, clamped to the month's last day."""
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    day = min(d.day, _days_in_month(year, month))
    return date(year, month, day)


def _days_in_month(year: int, month: int) -> int:
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    return (nxt - timedelta(days=1)).day


def is_fixed_bank_holiday(d: date) -> bool:
    """Weekends and the banks' year-end closure (31 Dec - 3 Jan)."""
    return d.weekday() >= 5 or (d.month == 12 and d.day == 31) or (d.month == 1 and d.day <= 3)


def next_business_day(d: date, is_holiday: HolidayPredicate) -> date:
    """The first bank business day on or after ``d`` (direct debit moves forward)."""
    while is_fixed_bank_holiday(d) or is_holiday(d):
        d += timedelta(days=1)
    return d


def boundary(d: date, rules: CalendarRules) -> datetime:
    return datetime.combine(d, time(rules.boundary_hour), tzinfo=TOKYO)


def scheme_year_bounds(rules: CalendarRules, year: int) -> tuple[datetime, datetime]:
    """The boundaries of scheme year ``year``: its anniversary and the next one."""
    a = rules.anniversary
    return boundary(date(year, a.month, a.day), rules), boundary(date(year + 1, a.month, a.day), rules)


def months_between(start: date, end: date) -> int:
    return (end.year - start.year) * 12 + end.month - start.month


def anniversary_after(rules: CalendarRules, start: datetime) -> datetime:
    """The first anniversary boundary strictly after ``start``."""
    _require_aware(start)
    local = start.astimezone(TOKYO)
    a = rules.anniversary
    candidate = boundary(date(local.year, a.month, a.day), rules)
    if candidate <= local:
        candidate = boundary(date(local.year + 1, a.month, a.day), rules)
    return candidate


def choose_enrollment(rules: CalendarRules, application_date: date, requested: str | None) -> EnrollmentRule:
    if requested is not None and requested not in ENROLLMENT_KINDS:
        raise InvalidInput(
            f"unknown enrollment {requested!r}: expected one of {', '.join(ENROLLMENT_KINDS)}",
            code="unknown_enrollment",
        )
    open_rules = [r for r in rules.enrollments if r.accepts(application_date)]
    if requested is not None:
        for r in open_rules:
            if r.kind == requested:
                return r
        raise InvalidInput(
            f"{requested} enrollment is not open on {application_date.isoformat()}"
            f" (open: {', '.join(r.kind for r in open_rules) or 'none'})",
            code="outside_enrollment_window",
        )
    if not open_rules:
        raise InvalidInput(
            f"no enrollment window is open on {application_date.isoformat()}",
            code="outside_enrollment_window",
        )
    if len(open_rules) > 1:
        for r in open_rules:
            if r.kind == rules.default_enrollment_in_overlap:
                return r
    return open_rules[0]


def first_term(
    rules: CalendarRules,
    application_date: date,
    is_holiday: HolidayPredicate,
    enrollment: str | None = None,
) -> CoverTerm:
    """The first period for an application made on ``application_date`` (Tokyo date)."""
    rule = choose_enrollment(rules, application_date, enrollment)
    month_start = application_date.replace(day=1)
    if rule.kind == REGULAR:
        start = anniversary_after(rules, boundary(application_date, rules))
        nominal_debit = add_months(start.date().replace(day=1), rule.debit_lead_months).replace(
            day=rule.debit_day
        )
    else:
        start_day = add_months(month_start, rule.start_lead_months).replace(day=rule.start_day)
        start = boundary(start_day, rules)
        nominal_debit = add_months(month_start, rule.debit_lead_months).replace(day=rule.debit_day)
    end = anniversary_after(rules, start)
    return CoverTerm(
        enrollment=rule.kind,
        start=start,
        end=end,
        months=months_between(start.date(), end.date()),
        nominal_debit_date=nominal_debit,
        debit_date=next_business_day(nominal_debit, is_holiday),
    )


def renewal_term(rules: CalendarRules, previous_end: datetime, is_holiday: HolidayPredicate) -> CoverTerm:
    """The next yearly period, starting where the previous one ended."""
    _require_aware(previous_end)
    start = previous_end.astimezone(TOKYO)
    end = anniversary_after(rules, start)
    nominal_debit = add_months(start.date().replace(day=1), rules.renewal_debit_month_offset).replace(
        day=rules.renewal_debit_day
    )
    return CoverTerm(
        enrollment=RENEWAL,
        start=start,
        end=end,
        months=months_between(start.date(), end.date()),
        nominal_debit_date=nominal_debit,
        debit_date=next_business_day(nominal_debit, is_holiday),
    )


def debit_date_for_attempt(
    rules: CalendarRules, nominal_first: date, attempt: int, is_holiday: HolidayPredicate
) -> date:
    """Attempt 1 is the first debit; a failed debit is retried on the next debit date."""
    if attempt < 1:
        raise ValueError("attempts count from 1")
    nominal = add_months(nominal_first, (attempt - 1) * rules.retry_interval_months)
    return next_business_day(nominal, is_holiday)


def in_cover(start: datetime, end: datetime, moment: datetime) -> bool:
    """Cover runs from the start boundary (inclusive) to the end boundary (exclusive)."""
    _require_aware(moment)
    return start <= moment < end


def _require_aware(moment: datetime) -> None:
    # A naive time would be read as the server's local time: refuse it.
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInput("timestamps must carry a timezone offset", code="naive_datetime")


def scheme_year(rules: CalendarRules, moment: datetime) -> int:
    """The calendar year of the anniversary that opened the scheme year containing ``moment``."""
    nxt = anniversary_after(rules, moment)
    return nxt.year - 1
