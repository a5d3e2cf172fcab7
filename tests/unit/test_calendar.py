"""Coverage calendar (domain.md section 6): the seed rules of both schemes, 16:00 JST
boundaries, bank business days, retries, renewals, leap years and year ends.

Seed 003 (Chuo-kai, "お申し込みと加入期間"):
    通常加入: 2004-12-10 ~ 1月31日, 振替日 2005-04-25, 2005-03-25 16:00 ~ 2006-03-25 16:00
    中途加入: 2005-02-01 ~ 12月末, 振替日 申込月の3ヶ月後の23日,
              申込月の2ヶ月後の25日 16:00 ~ 2006-03-25 16:00
    例: 申込月 2月 -> 振替日 5月23日, 4月25日 16:00 ~ 2006-03-25 16:00
Seed 000 (JCCI, last paragraph):
    申込月の3ヵ月後の月の1日午後4時から翌年3月1日午後4時まで; renewed yearly.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from policy_core.calendar import (
    MID_TERM,
    REGULAR,
    RENEWAL,
    TOKYO,
    CalendarRules,
    CoverTerm,
    EnrollmentRule,
    MonthDay,
    add_months,
    anniversary_after,
    choose_enrollment,
    debit_date_for_attempt,
    first_term,
    in_cover,
    is_fixed_bank_holiday,
    next_business_day,
    renewal_term,
    scheme_year,
)
from policy_core.errors import InvalidInput
from policy_core.holidays import is_bank_holiday, is_national_holiday
from policy_core.scheme import load_scheme

JST = timezone(timedelta(hours=9))


@pytest.fixture(scope="module")
def chuokai() -> CalendarRules:
    return load_scheme("chuokai").calendar


@pytest.fixture(scope="module")
def jcci() -> CalendarRules:
    return load_scheme("jcci").calendar


def never(_: date) -> bool:
    """A holiday predicate with no national holidays (weekends and 31 Dec - 3 Jan still apply)."""
    return False


def holidays_on(*days: date):
    marked = set(days)
    return lambda d: d in marked


def at16(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, 16, 0, tzinfo=TOKYO)


def assert_term(
    term: CoverTerm,
    *,
    enrollment: str,
    start: date,
    end: date,
    months: int,
    nominal_debit: date,
    debit: date,
) -> None:
    assert term.enrollment == enrollment
    assert term.start == at16(start.year, start.month, start.day)
    assert term.end == at16(end.year, end.month, end.day)
    assert term.months == months
    assert term.nominal_debit_date == nominal_debit
    assert term.debit_date == debit


def last_day_of_month(y: int, m: int) -> date:
    return add_months(date(y, m, 1), 1) - timedelta(days=1)


# ---------------------------------------------------------------------------
# Chuo-kai: regular enrollment (10 Dec - 31 Jan)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "applied",
    [date(2004, 12, 10), date(2004, 12, 24), date(2004, 12, 31), date(2005, 1, 1), date(2005, 1, 31)],
)
def test_seed003_regular_enrollment_cover_25_march_to_25_march_debit_25_april(chuokai, applied):
    term = first_term(chuokai, applied, is_bank_holiday)
    assert_term(
        term,
        enrollment=REGULAR,
        start=date(2005, 3, 25),
        end=date(2006, 3, 25),
        months=12,
        nominal_debit=date(2005, 4, 25),
        debit=date(2005, 4, 25),  # a Monday
    )


def test_seed003_regular_enrollment_window_bounds_are_10_december_and_31_january(chuokai):
    # 9 Dec is before the regular window; 1 Feb is after it.
    assert choose_enrollment(chuokai, date(2004, 12, 9), None).kind == MID_TERM
    assert choose_enrollment(chuokai, date(2004, 12, 10), None).kind == REGULAR
    assert choose_enrollment(chuokai, date(2005, 1, 31), None).kind == REGULAR
    assert choose_enrollment(chuokai, date(2005, 2, 1), None).kind == MID_TERM


def test_seed003_regular_enrollment_requested_explicitly_in_january(chuokai):
    term = first_term(chuokai, date(2005, 1, 15), is_bank_holiday, enrollment="regular")
    assert term.enrollment == REGULAR
    assert term.start == at16(2005, 3, 25)


def test_chuokai_regular_debit_on_sunday_25_april_2027_moves_to_monday(chuokai):
    term = first_term(chuokai, date(2027, 1, 10), is_bank_holiday)
    assert date(2027, 4, 25).weekday() == 6  # Sunday
    assert_term(
        term,
        enrollment=REGULAR,
        start=date(2027, 3, 25),
        end=date(2028, 3, 25),
        months=12,
        nominal_debit=date(2027, 4, 25),
        debit=date(2027, 4, 26),
    )


# ---------------------------------------------------------------------------
# Chuo-kai: mid-term enrollment (1 Feb - 31 Dec)
# ---------------------------------------------------------------------------


def test_seed003_february_application_debits_23_may_cover_from_25_april(chuokai):
    term = first_term(chuokai, date(2005, 2, 14), is_bank_holiday)
    assert_term(
        term,
        enrollment=MID_TERM,
        start=date(2005, 4, 25),
        end=date(2006, 3, 25),
        months=11,
        nominal_debit=date(2005, 5, 23),
        debit=date(2005, 5, 23),  # a Monday
    )


@pytest.mark.parametrize("month", range(2, 13))
@pytest.mark.parametrize("day", ["first", "last"])
def test_seed003_mid_term_month_m_starts_25th_of_m_plus_2_debits_23rd_of_m_plus_3(chuokai, month, day):
    applied = date(2005, month, 1) if day == "first" else last_day_of_month(2005, month)
    term = first_term(chuokai, applied, never, enrollment="mid_term")
    start = add_months(date(2005, month, 25), 2)
    nominal = add_months(date(2005, month, 23), 3)
    assert term.enrollment == MID_TERM
    assert term.start == at16(start.year, start.month, start.day)
    assert term.end == at16(2006, 3, 25)
    assert term.months == 13 - month  # Feb -> 11 months ... Dec -> 1 month
    assert term.nominal_debit_date == nominal
    assert term.debit_date == next_business_day(nominal, never)


@pytest.mark.parametrize(
    ("applied", "start", "months", "nominal", "debit"),
    [
        # Real 2005 calendar: 2005-07-23 Sat, 2005-09-23 Autumnal Equinox (Fri),
        # 2005-11-23 Labour Thanksgiving (Wed), 2005-12-23 Emperor's Birthday (Fri, then).
        (date(2005, 2, 1), date(2005, 4, 25), 11, date(2005, 5, 23), date(2005, 5, 23)),
        (date(2005, 3, 1), date(2005, 5, 25), 10, date(2005, 6, 23), date(2005, 6, 23)),
        (date(2005, 4, 1), date(2005, 6, 25), 9, date(2005, 7, 23), date(2005, 7, 25)),
        (date(2005, 5, 1), date(2005, 7, 25), 8, date(2005, 8, 23), date(2005, 8, 23)),
        (date(2005, 6, 1), date(2005, 8, 25), 7, date(2005, 9, 23), date(2005, 9, 26)),
        (date(2005, 7, 1), date(2005, 9, 25), 6, date(2005, 10, 23), date(2005, 10, 24)),
        (date(2005, 8, 1), date(2005, 10, 25), 5, date(2005, 11, 23), date(2005, 11, 24)),
        (date(2005, 9, 1), date(2005, 11, 25), 4, date(2005, 12, 23), date(2005, 12, 26)),
        (date(2005, 10, 1), date(2005, 12, 25), 3, date(2006, 1, 23), date(2006, 1, 23)),
        (date(2005, 11, 1), date(2006, 1, 25), 2, date(2006, 2, 23), date(2006, 2, 23)),
        (date(2005, 12, 1), date(2006, 2, 25), 1, date(2006, 3, 23), date(2006, 3, 23)),
    ],
)
def test_seed003_fiscal_2005_mid_term_schedule_with_real_holidays(
    chuokai, applied, start, months, nominal, debit
):
    term = first_term(chuokai, applied, is_bank_holiday)
    assert_term(
        term,
        enrollment=MID_TERM,
        start=start,
        end=date(2006, 3, 25),
        months=months,
        nominal_debit=nominal,
        debit=debit,
    )


def test_chuokai_december_mid_term_covers_25_february_to_25_march_one_month(chuokai):
    term = first_term(chuokai, date(2026, 12, 15), is_bank_holiday, enrollment="mid_term")
    assert_term(
        term,
        enrollment=MID_TERM,
        start=date(2027, 2, 25),
        end=date(2027, 3, 25),
        months=1,
        nominal_debit=date(2027, 3, 23),
        debit=date(2027, 3, 23),  # a Tuesday
    )


def test_chuokai_mid_term_debit_on_saturday_23_may_2026_moves_to_monday(chuokai):
    term = first_term(chuokai, date(2026, 2, 10), is_bank_holiday)
    assert date(2026, 5, 23).weekday() == 5
    assert term.nominal_debit_date == date(2026, 5, 23)
    assert term.debit_date == date(2026, 5, 25)


def test_chuokai_mid_term_debit_on_labour_thanksgiving_2026_moves_to_next_day(chuokai):
    term = first_term(chuokai, date(2026, 8, 3), is_bank_holiday)
    assert is_national_holiday(date(2026, 11, 23))  # 勤労感謝の日, a Monday
    assert term.nominal_debit_date == date(2026, 11, 23)
    assert term.debit_date == date(2026, 11, 24)


def test_chuokai_debit_uses_the_holiday_predicate_it_is_given(chuokai):
    # 2005-05-23 is an ordinary Monday; a fake holiday there moves the debit to Tuesday.
    term = first_term(chuokai, date(2005, 2, 14), holidays_on(date(2005, 5, 23)))
    assert term.nominal_debit_date == date(2005, 5, 23)
    assert term.debit_date == date(2005, 5, 24)


# ---------------------------------------------------------------------------
# Chuo-kai: the 10-31 December overlap and enrollment choice errors
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("day", [10, 20, 31])
def test_chuokai_december_overlap_defaults_to_regular_for_next_year(chuokai, day):
    term = first_term(chuokai, date(2026, 12, day), is_bank_holiday)
    assert term.enrollment == REGULAR
    assert term.start == at16(2027, 3, 25)
    assert term.end == at16(2028, 3, 25)
    assert term.months == 12
    assert term.nominal_debit_date == date(2027, 4, 25)


@pytest.mark.parametrize("day", [10, 20, 31])
def test_chuokai_december_overlap_mid_term_on_request(chuokai, day):
    term = first_term(chuokai, date(2026, 12, day), is_bank_holiday, enrollment="mid_term")
    assert term.enrollment == MID_TERM
    assert term.start == at16(2027, 2, 25)
    assert term.end == at16(2027, 3, 25)
    assert term.months == 1


@pytest.mark.parametrize("day", [10, 31])
def test_chuokai_december_overlap_regular_on_request(chuokai, day):
    term = first_term(chuokai, date(2026, 12, day), is_bank_holiday, enrollment="regular")
    assert term.enrollment == REGULAR
    assert term.start == at16(2027, 3, 25)


@pytest.mark.parametrize("day", [1, 5, 9])
def test_chuokai_1_to_9_december_is_mid_term_only(chuokai, day):
    applied = date(2026, 12, day)
    term = first_term(chuokai, applied, is_bank_holiday)
    assert term.enrollment == MID_TERM
    assert term.start == at16(2027, 2, 25)
    assert term.end == at16(2027, 3, 25)
    with pytest.raises(InvalidInput) as err:
        first_term(chuokai, applied, is_bank_holiday, enrollment="regular")
    assert err.value.code == "outside_enrollment_window"


@pytest.mark.parametrize("applied", [date(2027, 1, 1), date(2027, 1, 15), date(2027, 1, 31)])
def test_chuokai_january_rejects_mid_term(chuokai, applied):
    with pytest.raises(InvalidInput) as err:
        first_term(chuokai, applied, is_bank_holiday, enrollment="mid_term")
    assert err.value.code == "outside_enrollment_window"


@pytest.mark.parametrize("applied", [date(2027, 2, 1), date(2027, 6, 30), date(2027, 11, 30)])
def test_chuokai_february_to_november_rejects_regular(chuokai, applied):
    with pytest.raises(InvalidInput) as err:
        first_term(chuokai, applied, is_bank_holiday, enrollment="regular")
    assert err.value.code == "outside_enrollment_window"


@pytest.mark.parametrize("name", ["renewal", "Regular", "midterm", ""])
def test_unknown_enrollment_name_is_rejected(chuokai, jcci, name):
    for rules in (chuokai, jcci):
        with pytest.raises(InvalidInput) as err:
            first_term(rules, date(2026, 12, 15), is_bank_holiday, enrollment=name)
        assert err.value.code == "unknown_enrollment"


def test_choose_enrollment_with_no_open_window_is_outside_enrollment_window():
    rules = CalendarRules(
        anniversary=MonthDay(4, 1),
        enrollments=(EnrollmentRule(REGULAR, MonthDay(1, 1), MonthDay(1, 31), 0, 27),),
        renewal_debit_month_offset=0,
        renewal_debit_day=27,
    )
    with pytest.raises(InvalidInput) as err:
        choose_enrollment(rules, date(2026, 6, 1), None)
    assert err.value.code == "outside_enrollment_window"


# ---------------------------------------------------------------------------
# JCCI: application month M -> 1st of M+3 until the next 1 March
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("month", "start", "months", "enrollment"),
    [
        (1, date(2026, 4, 1), 11, MID_TERM),
        (2, date(2026, 5, 1), 10, MID_TERM),
        (3, date(2026, 6, 1), 9, MID_TERM),
        (4, date(2026, 7, 1), 8, MID_TERM),
        (5, date(2026, 8, 1), 7, MID_TERM),
        (6, date(2026, 9, 1), 6, MID_TERM),
        (7, date(2026, 10, 1), 5, MID_TERM),
        (8, date(2026, 11, 1), 4, MID_TERM),
        (9, date(2026, 12, 1), 3, MID_TERM),
        (10, date(2027, 1, 1), 2, MID_TERM),
        (11, date(2027, 2, 1), 1, MID_TERM),
        (12, date(2027, 3, 1), 12, REGULAR),
    ],
)
@pytest.mark.parametrize("day", ["first", "mid", "last"])
def test_seed000_jcci_month_m_covers_from_1st_of_m_plus_3_to_next_1_march(
    jcci, month, start, months, enrollment, day
):
    applied = {
        "first": date(2026, month, 1),
        "mid": date(2026, month, 15),
        "last": last_day_of_month(2026, month),
    }[day]
    term = first_term(jcci, applied, never)
    end = date(2028, 3, 1) if month == 12 else date(2027, 3, 1)
    assert term.enrollment == enrollment
    assert term.start == at16(start.year, start.month, start.day)
    assert term.end == at16(end.year, end.month, end.day)
    assert term.months == months
    # The preset's stated choice: debit on the 27th of the month cover starts.
    assert term.nominal_debit_date == start.replace(day=27)


def test_seed000_jcci_applied_15_january_2026(jcci):
    assert_term(
        first_term(jcci, date(2026, 1, 15), is_bank_holiday),
        enrollment=MID_TERM,
        start=date(2026, 4, 1),
        end=date(2027, 3, 1),
        months=11,
        nominal_debit=date(2026, 4, 27),
        debit=date(2026, 4, 27),  # a Monday
    )


def test_seed000_jcci_applied_november_2026_one_month_debit_saturday_moves_to_monday(jcci):
    assert date(2027, 2, 27).weekday() == 5
    assert_term(
        first_term(jcci, date(2026, 11, 20), is_bank_holiday),
        enrollment=MID_TERM,
        start=date(2027, 2, 1),
        end=date(2027, 3, 1),
        months=1,
        nominal_debit=date(2027, 2, 27),
        debit=date(2027, 3, 1),
    )


def test_seed000_jcci_applied_december_2026_full_year_regular(jcci):
    assert date(2027, 3, 27).weekday() == 5
    assert_term(
        first_term(jcci, date(2026, 12, 10), is_bank_holiday),
        enrollment=REGULAR,
        start=date(2027, 3, 1),
        end=date(2028, 3, 1),
        months=12,
        nominal_debit=date(2027, 3, 27),
        debit=date(2027, 3, 29),
    )


@pytest.mark.parametrize(
    ("applied", "nominal", "debit"),
    [
        (date(2026, 3, 2), date(2026, 6, 27), date(2026, 6, 29)),  # Saturday -> Monday
        (date(2026, 6, 2), date(2026, 9, 27), date(2026, 9, 28)),  # Sunday -> Monday
        (date(2026, 9, 2), date(2026, 12, 27), date(2026, 12, 28)),  # Sunday -> Monday
        (date(2026, 4, 2), date(2026, 7, 27), date(2026, 7, 27)),  # ordinary Monday
    ],
)
def test_jcci_debit_27th_of_start_month_next_business_day(jcci, applied, nominal, debit):
    term = first_term(jcci, applied, is_bank_holiday)
    assert term.nominal_debit_date == nominal
    assert term.debit_date == debit


def test_jcci_december_rejects_mid_term_and_january_rejects_regular(jcci):
    with pytest.raises(InvalidInput) as err:
        first_term(jcci, date(2026, 12, 1), is_bank_holiday, enrollment="mid_term")
    assert err.value.code == "outside_enrollment_window"
    with pytest.raises(InvalidInput) as err:
        first_term(jcci, date(2027, 1, 1), is_bank_holiday, enrollment="regular")
    assert err.value.code == "outside_enrollment_window"


# ---------------------------------------------------------------------------
# 16:00 Asia/Tokyo boundaries and in_cover
# ---------------------------------------------------------------------------


def test_term_boundaries_are_aware_at_16_00_plus_09_00(jcci, chuokai):
    for rules, applied in (
        (jcci, date(2026, 1, 15)),
        (chuokai, date(2026, 2, 15)),
        (chuokai, date(2026, 1, 5)),
    ):
        term = first_term(rules, applied, is_bank_holiday)
        for moment in (term.start, term.end):
            assert moment.tzinfo is not None
            assert moment.utcoffset() == timedelta(hours=9)
            assert moment.timetz().replace(tzinfo=None) == time(16, 0)
            assert moment.astimezone(UTC).hour == 7


def test_in_cover_inclusive_at_start_exclusive_at_end(jcci):
    term = first_term(jcci, date(2026, 1, 15), is_bank_holiday)
    start, end = term.start, term.end
    assert not in_cover(start, end, datetime(2026, 4, 1, 15, 59, 59, tzinfo=TOKYO))
    assert not in_cover(start, end, datetime(2026, 4, 1, 15, 59, 59, 999999, tzinfo=TOKYO))
    assert in_cover(start, end, datetime(2026, 4, 1, 16, 0, tzinfo=TOKYO))
    assert in_cover(start, end, datetime(2026, 10, 1, 0, 0, tzinfo=TOKYO))
    assert in_cover(start, end, datetime(2027, 3, 1, 15, 59, 59, tzinfo=TOKYO))
    assert not in_cover(start, end, datetime(2027, 3, 1, 16, 0, tzinfo=TOKYO))
    assert not in_cover(start, end, datetime(2027, 3, 2, 0, 0, tzinfo=TOKYO))


def test_in_cover_compares_utc_inputs_correctly(chuokai):
    term = first_term(chuokai, date(2005, 1, 10), is_bank_holiday)  # 2005-03-25 16:00 JST
    utc = UTC
    assert datetime(2005, 3, 25, 7, 0, tzinfo=utc) == term.start
    assert in_cover(term.start, term.end, datetime(2005, 3, 25, 7, 0, tzinfo=utc))
    assert not in_cover(term.start, term.end, datetime(2005, 3, 25, 6, 59, 59, tzinfo=utc))
    assert in_cover(term.start, term.end, datetime(2006, 3, 25, 6, 59, 59, tzinfo=utc))
    assert not in_cover(term.start, term.end, datetime(2006, 3, 25, 7, 0, tzinfo=utc))
    # Same instant written in a fixed +09:00 offset and in another zone.
    assert in_cover(term.start, term.end, datetime(2005, 3, 25, 16, 0, tzinfo=JST))
    # New York is on EST (UTC-5) on 25 March 2005: 16:00 JST is 02:00 there.
    assert not in_cover(
        term.start, term.end, datetime(2005, 3, 25, 1, 59, tzinfo=ZoneInfo("America/New_York"))
    )
    assert in_cover(term.start, term.end, datetime(2005, 3, 25, 2, 0, tzinfo=ZoneInfo("America/New_York")))


def test_in_cover_rejects_naive_datetime(jcci):
    term = first_term(jcci, date(2026, 1, 15), is_bank_holiday)
    with pytest.raises(InvalidInput) as err:
        in_cover(term.start, term.end, datetime(2026, 6, 1, 12, 0))
    assert err.value.code == "naive_datetime"


# ---------------------------------------------------------------------------
# Bank business days
# ---------------------------------------------------------------------------


def test_fixed_bank_holidays_are_weekends_and_31_december_to_3_january():
    assert is_fixed_bank_holiday(date(2026, 12, 31))  # Thursday
    assert is_fixed_bank_holiday(date(2027, 1, 1))
    assert is_fixed_bank_holiday(date(2026, 1, 2))  # Friday
    assert is_fixed_bank_holiday(date(2030, 1, 3))  # Thursday
    assert is_fixed_bank_holiday(date(2026, 4, 25))  # Saturday
    assert is_fixed_bank_holiday(date(2026, 4, 26))  # Sunday
    assert not is_fixed_bank_holiday(date(2030, 1, 4))  # Friday
    assert not is_fixed_bank_holiday(date(2026, 12, 30))  # Wednesday
    assert not is_fixed_bank_holiday(date(2026, 11, 23))  # national holiday: not a *fixed* one


def test_bank_holiday_predicate_combines_fixed_and_national_holidays():
    assert is_bank_holiday(date(2026, 11, 23))  # 勤労感謝の日
    assert is_bank_holiday(date(2026, 12, 31))
    assert is_bank_holiday(date(2027, 4, 25))
    assert not is_bank_holiday(date(2026, 11, 24))
    assert not is_national_holiday(date(2026, 12, 31))


def test_next_business_day_keeps_a_business_day():
    assert next_business_day(date(2026, 11, 24), is_bank_holiday) == date(2026, 11, 24)
    assert next_business_day(date(2005, 4, 25), never) == date(2005, 4, 25)


def test_next_business_day_weekend_moves_to_monday():
    assert next_business_day(date(2027, 4, 25), is_bank_holiday) == date(2027, 4, 26)  # Sunday
    assert next_business_day(date(2027, 4, 24), never) == date(2027, 4, 26)  # Saturday, fake predicate


def test_next_business_day_national_holiday_labour_thanksgiving():
    assert next_business_day(date(2026, 11, 23), is_bank_holiday) == date(2026, 11, 24)


def test_next_business_day_golden_week_2026():
    for d in (date(2026, 5, 2), date(2026, 5, 3), date(2026, 5, 4), date(2026, 5, 5), date(2026, 5, 6)):
        assert next_business_day(d, is_bank_holiday) == date(2026, 5, 7)
    # 2026-04-29 (Showa Day, Wednesday) is a single holiday.
    assert next_business_day(date(2026, 4, 29), is_bank_holiday) == date(2026, 4, 30)


@pytest.mark.parametrize(
    ("nominal", "expected"),
    [
        (date(2026, 12, 31), date(2027, 1, 4)),  # Thu 31 Dec, Fri 1 Jan, weekend -> Mon 4 Jan
        (date(2027, 1, 1), date(2027, 1, 4)),
        (date(2027, 1, 2), date(2027, 1, 4)),
        (date(2027, 1, 3), date(2027, 1, 4)),
        (date(2025, 12, 31), date(2026, 1, 5)),  # Wed 31 Dec; 1-3 Jan closed; 4 Jan Sunday
        (date(2026, 1, 2), date(2026, 1, 5)),
        (date(2029, 12, 31), date(2030, 1, 4)),  # Mon 31 Dec; 1-3 Jan Tue-Thu closed -> Fri 4 Jan
    ],
)
def test_next_business_day_year_end_closure(nominal, expected):
    assert next_business_day(nominal, is_bank_holiday) == expected
    # The closure applies even with a predicate that knows no national holidays.
    assert next_business_day(nominal, never) == expected


def test_next_business_day_holiday_followed_by_weekend():
    # 2026-03-20 Vernal Equinox Day is a Friday.
    assert is_national_holiday(date(2026, 3, 20))
    assert next_business_day(date(2026, 3, 20), is_bank_holiday) == date(2026, 3, 23)


def test_next_business_day_weekend_followed_by_holidays_silver_week_2026():
    # Sat 19, Sun 20, Mon 21 Respect for the Aged, Tue 22 citizens' holiday, Wed 23 Equinox.
    assert next_business_day(date(2026, 9, 19), is_bank_holiday) == date(2026, 9, 24)


def test_next_business_day_fake_holiday_chain():
    # Fake holidays Thu 2026-07-09 and Fri 2026-07-10, then the weekend.
    pred = holidays_on(date(2026, 7, 9), date(2026, 7, 10))
    assert next_business_day(date(2026, 7, 9), pred) == date(2026, 7, 13)


# ---------------------------------------------------------------------------
# Retries
# ---------------------------------------------------------------------------


def test_retry_attempt_1_is_the_first_debit(jcci):
    assert debit_date_for_attempt(jcci, date(2026, 4, 27), 1, is_bank_holiday) == date(2026, 4, 27)
    assert debit_date_for_attempt(jcci, date(2027, 3, 27), 1, is_bank_holiday) == date(2027, 3, 29)


def test_retry_attempts_2_and_3_same_day_following_months_business_day_shifted(jcci, chuokai):
    # JCCI: 27 Apr 2026 (Mon) -> 27 May (Wed) -> 27 Jun (Sat -> Mon 29 Jun).
    assert debit_date_for_attempt(jcci, date(2026, 4, 27), 2, is_bank_holiday) == date(2026, 5, 27)
    assert debit_date_for_attempt(jcci, date(2026, 4, 27), 3, is_bank_holiday) == date(2026, 6, 29)
    # Chuo-kai renewal 25 Apr 2027 (Sun -> Mon 26) -> 25 May (Tue) -> 25 Jun (Fri).
    assert debit_date_for_attempt(chuokai, date(2027, 4, 25), 1, is_bank_holiday) == date(2027, 4, 26)
    assert debit_date_for_attempt(chuokai, date(2027, 4, 25), 2, is_bank_holiday) == date(2027, 5, 25)
    assert debit_date_for_attempt(chuokai, date(2027, 4, 25), 3, is_bank_holiday) == date(2027, 6, 25)


def test_retry_counts_from_the_nominal_day_not_the_shifted_one(jcci):
    # 27 Jun 2026 is a Saturday (debited Mon 29); the retry is on 27 Jul, not 29 Jul.
    assert debit_date_for_attempt(jcci, date(2026, 6, 27), 1, is_bank_holiday) == date(2026, 6, 29)
    assert debit_date_for_attempt(jcci, date(2026, 6, 27), 2, is_bank_holiday) == date(2026, 7, 27)


def test_retry_crossing_year_end_moves_past_the_closure(chuokai):
    # Chuo-kai mid-term applied Sep 2026: nominal 23 Dec 2026 -> retries 23 Jan (Sat -> 25 Jan),
    # 23 Feb (holiday).
    assert debit_date_for_attempt(chuokai, date(2026, 12, 23), 1, is_bank_holiday) == date(2026, 12, 23)
    assert debit_date_for_attempt(chuokai, date(2026, 12, 23), 2, is_bank_holiday) == date(2027, 1, 25)
    assert is_national_holiday(date(2027, 2, 23))  # Emperor's Birthday
    assert debit_date_for_attempt(chuokai, date(2026, 12, 23), 3, is_bank_holiday) == date(2027, 2, 24)
    # A nominal 31 October retried twice lands on 31 December: closed, so 4 January 2027.
    assert debit_date_for_attempt(chuokai, date(2026, 10, 31), 3, is_bank_holiday) == date(2027, 1, 4)


@pytest.mark.parametrize("attempt", [0, -1])
def test_retry_attempt_below_1_is_a_value_error(jcci, attempt):
    with pytest.raises(ValueError):
        debit_date_for_attempt(jcci, date(2026, 4, 27), attempt, is_bank_holiday)


# ---------------------------------------------------------------------------
# Renewal
# ---------------------------------------------------------------------------


def test_jcci_renewal_next_12_months_debit_27_march_shifted(jcci):
    first = first_term(jcci, date(2026, 1, 15), is_bank_holiday)
    renewed = renewal_term(jcci, first.end, is_bank_holiday)
    assert_term(
        renewed,
        enrollment=RENEWAL,
        start=date(2027, 3, 1),
        end=date(2028, 3, 1),
        months=12,
        nominal_debit=date(2027, 3, 27),  # Saturday
        debit=date(2027, 3, 29),
    )
    again = renewal_term(jcci, renewed.end, is_bank_holiday)
    assert again.start == at16(2028, 3, 1)
    assert again.end == at16(2029, 3, 1)
    assert again.nominal_debit_date == date(2028, 3, 27)
    assert again.debit_date == date(2028, 3, 27)  # Monday


def test_chuokai_renewal_next_12_months_debit_25_april_shifted(chuokai):
    first = first_term(chuokai, date(2026, 6, 10), is_bank_holiday)
    assert first.end == at16(2027, 3, 25)
    renewed = renewal_term(chuokai, first.end, is_bank_holiday)
    assert_term(
        renewed,
        enrollment=RENEWAL,
        start=date(2027, 3, 25),
        end=date(2028, 3, 25),
        months=12,
        nominal_debit=date(2027, 4, 25),  # Sunday
        debit=date(2027, 4, 26),
    )


def test_chuokai_renewal_of_fiscal_2005_period(chuokai):
    renewed = renewal_term(chuokai, at16(2006, 3, 25), is_bank_holiday)
    assert renewed.start == at16(2006, 3, 25)
    assert renewed.end == at16(2007, 3, 25)
    assert renewed.nominal_debit_date == date(2006, 4, 25)
    assert renewed.debit_date == date(2006, 4, 25)  # Tuesday


def test_renewal_from_utc_end_starts_at_16_00_tokyo(jcci):
    end_utc = datetime(2027, 3, 1, 7, 0, tzinfo=UTC)
    renewed = renewal_term(jcci, end_utc, is_bank_holiday)
    assert renewed.start == at16(2027, 3, 1)
    assert renewed.start.utcoffset() == timedelta(hours=9)
    assert renewed.end == at16(2028, 3, 1)


def test_renewal_starts_exactly_where_previous_term_ended(jcci, chuokai):
    for rules, applied in (
        (jcci, date(2026, 7, 7)),
        (chuokai, date(2026, 7, 7)),
        (chuokai, date(2026, 1, 7)),
    ):
        term = first_term(rules, applied, is_bank_holiday)
        for _ in range(5):
            nxt = renewal_term(rules, term.end, is_bank_holiday)
            assert nxt.start == term.end
            assert nxt.months == 12
            assert nxt.debit_date >= nxt.nominal_debit_date
            term = nxt


# ---------------------------------------------------------------------------
# Leap years, add_months, anniversary_after, scheme_year
# ---------------------------------------------------------------------------


def test_jcci_term_spanning_29_february_2028_is_12_months(jcci):
    term = first_term(jcci, date(2026, 12, 1), is_bank_holiday)
    renewed = renewal_term(jcci, term.end, is_bank_holiday)
    assert term.start == at16(2027, 3, 1)
    assert term.end == at16(2028, 3, 1)
    assert term.months == 12
    assert in_cover(term.start, term.end, datetime(2028, 2, 29, 23, 0, tzinfo=TOKYO))
    assert renewed.start == at16(2028, 3, 1)
    assert renewed.months == 12


def test_jcci_november_2027_application_ends_on_1_march_2028_after_29_february(jcci):
    term = first_term(jcci, date(2027, 11, 30), is_bank_holiday)
    assert_term(
        term,
        enrollment=MID_TERM,
        start=date(2028, 2, 1),
        end=date(2028, 3, 1),
        months=1,
        nominal_debit=date(2028, 2, 27),  # Sunday
        debit=date(2028, 2, 28),
    )


def test_chuokai_term_spanning_29_february_2028_is_12_months(chuokai):
    term = first_term(chuokai, date(2027, 1, 31), is_bank_holiday)
    assert term.start == at16(2027, 3, 25)
    assert term.end == at16(2028, 3, 25)
    assert term.months == 12
    mid = first_term(chuokai, date(2027, 12, 5), is_bank_holiday)
    assert mid.start == at16(2028, 2, 25)
    assert mid.end == at16(2028, 3, 25)
    assert mid.months == 1


def test_chuokai_application_on_29_february_2028(chuokai):
    term = first_term(chuokai, date(2028, 2, 29), is_bank_holiday)
    assert term.enrollment == MID_TERM
    assert term.start == at16(2028, 4, 25)
    assert term.end == at16(2029, 3, 25)
    assert term.nominal_debit_date == date(2028, 5, 23)


@pytest.mark.parametrize(
    ("d", "months", "expected"),
    [
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        (date(2027, 1, 31), 1, date(2027, 2, 28)),
        (date(2028, 2, 29), 12, date(2029, 2, 28)),
        (date(2028, 2, 29), 48, date(2032, 2, 29)),
        (date(2026, 3, 31), 1, date(2026, 4, 30)),
        (date(2026, 11, 23), 2, date(2027, 1, 23)),
        (date(2026, 12, 31), 1, date(2027, 1, 31)),
        (date(2026, 1, 15), 0, date(2026, 1, 15)),
        (date(2026, 3, 31), -1, date(2026, 2, 28)),
        (date(2027, 1, 10), -1, date(2026, 12, 10)),
        (date(2026, 5, 23), 24, date(2028, 5, 23)),
    ],
)
def test_add_months_clamps_to_month_end(d, months, expected):
    assert add_months(d, months) == expected


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        # JCCI anniversary 1 March 16:00.
        (datetime(2026, 12, 31, 23, 59, tzinfo=TOKYO), at16(2027, 3, 1)),
        (datetime(2027, 1, 1, 0, 0, tzinfo=TOKYO), at16(2027, 3, 1)),
        (datetime(2027, 3, 1, 15, 59, tzinfo=TOKYO), at16(2027, 3, 1)),
        (at16(2027, 3, 1), at16(2028, 3, 1)),  # strictly after
        (datetime(2027, 3, 1, 16, 1, tzinfo=TOKYO), at16(2028, 3, 1)),
        # 2027-02-28 23:00 UTC is already 1 March 08:00 in Tokyo: still before 16:00.
        (datetime(2027, 2, 28, 23, 0, tzinfo=UTC), at16(2027, 3, 1)),
        # 2027-03-01 07:00 UTC is exactly the boundary.
        (datetime(2027, 3, 1, 7, 0, tzinfo=UTC), at16(2028, 3, 1)),
        (datetime(2028, 2, 29, 12, 0, tzinfo=TOKYO), at16(2028, 3, 1)),
    ],
)
def test_jcci_anniversary_after(jcci, moment, expected):
    assert anniversary_after(jcci, moment) == expected


def test_chuokai_anniversary_after_across_year_end(chuokai):
    assert anniversary_after(chuokai, datetime(2026, 12, 31, 23, 0, tzinfo=TOKYO)) == at16(2027, 3, 25)
    assert anniversary_after(chuokai, datetime(2026, 12, 31, 15, 30, tzinfo=UTC)) == at16(2027, 3, 25)
    assert anniversary_after(chuokai, at16(2026, 3, 25)) == at16(2027, 3, 25)
    assert anniversary_after(chuokai, datetime(2026, 3, 25, 15, 59, 59, tzinfo=TOKYO)) == at16(2026, 3, 25)
    assert anniversary_after(chuokai, at16(2026, 3, 26)) == at16(2027, 3, 25)


@pytest.mark.parametrize(
    ("scheme", "moment", "year"),
    [
        ("jcci", datetime(2027, 3, 1, 15, 59, 59, tzinfo=TOKYO), 2026),
        ("jcci", at16(2027, 3, 1), 2027),
        ("jcci", datetime(2027, 12, 31, 23, 0, tzinfo=TOKYO), 2027),
        ("jcci", datetime(2028, 2, 29, 12, 0, tzinfo=TOKYO), 2027),
        ("jcci", datetime(2027, 3, 1, 7, 0, tzinfo=UTC), 2027),
        ("jcci", datetime(2027, 3, 1, 6, 59, tzinfo=UTC), 2026),
        ("chuokai", datetime(2005, 3, 25, 15, 59, tzinfo=TOKYO), 2004),
        ("chuokai", at16(2005, 3, 25), 2005),
        ("chuokai", datetime(2006, 1, 15, 9, 0, tzinfo=TOKYO), 2005),
        ("chuokai", datetime(2006, 3, 25, 15, 59, tzinfo=TOKYO), 2005),
    ],
)
def test_scheme_year_is_year_of_the_anniversary_that_opened_it(scheme, moment, year):
    assert scheme_year(load_scheme(scheme).calendar, moment) == year


# ---------------------------------------------------------------------------
# Year ends
# ---------------------------------------------------------------------------


def test_jcci_application_on_31_december(jcci):
    term = first_term(jcci, date(2026, 12, 31), is_bank_holiday)
    assert term.enrollment == REGULAR
    assert term.start == at16(2027, 3, 1)
    assert term.end == at16(2028, 3, 1)
    assert term.months == 12


def test_jcci_application_on_1_january(jcci):
    term = first_term(jcci, date(2027, 1, 1), is_bank_holiday)
    assert term.enrollment == MID_TERM
    assert term.start == at16(2027, 4, 1)
    assert term.end == at16(2028, 3, 1)
    assert term.months == 11


def test_chuokai_application_on_31_december_regular_by_default_mid_term_on_request(chuokai):
    regular = first_term(chuokai, date(2026, 12, 31), is_bank_holiday)
    assert (regular.enrollment, regular.start, regular.end) == (REGULAR, at16(2027, 3, 25), at16(2028, 3, 25))
    mid = first_term(chuokai, date(2026, 12, 31), is_bank_holiday, enrollment="mid_term")
    assert (mid.enrollment, mid.start, mid.end, mid.months) == (
        MID_TERM,
        at16(2027, 2, 25),
        at16(2027, 3, 25),
        1,
    )
    assert mid.nominal_debit_date == date(2027, 3, 23)


def test_chuokai_application_on_1_january_is_regular_same_year(chuokai):
    term = first_term(chuokai, date(2027, 1, 1), is_bank_holiday)
    assert term.enrollment == REGULAR
    assert term.start == at16(2027, 3, 25)
    assert term.end == at16(2028, 3, 25)


def test_chuokai_october_and_november_mid_term_start_across_year_end(chuokai):
    oct_term = first_term(chuokai, date(2026, 10, 31), is_bank_holiday)
    assert oct_term.start == at16(2026, 12, 25)
    assert oct_term.nominal_debit_date == date(2027, 1, 23)  # Saturday
    assert oct_term.debit_date == date(2027, 1, 25)
    nov_term = first_term(chuokai, date(2026, 11, 30), is_bank_holiday)
    assert nov_term.start == at16(2027, 1, 25)
    assert nov_term.end == at16(2027, 3, 25)
    assert nov_term.months == 2


# ---------------------------------------------------------------------------
# Invariants over every application day
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["jcci", "chuokai"])
@pytest.mark.parametrize("year", [2005, 2026, 2027, 2028])
def test_every_application_day_gets_a_well_formed_term(scheme, year):
    rules = load_scheme(scheme).calendar
    d = date(year, 1, 1)
    while d.year == year:
        term = first_term(rules, d, is_bank_holiday)
        assert term.start > datetime.combine(
            d, time(23, 59), tzinfo=TOKYO
        )  # cover never starts on application day
        assert term.start.timetz().replace(tzinfo=None) == time(16, 0)
        assert term.end == anniversary_after(rules, term.start)
        assert (term.end.month, term.end.day) == (rules.anniversary.month, rules.anniversary.day)
        assert 1 <= term.months <= 12
        assert term.debit_date >= term.nominal_debit_date
        assert (term.debit_date - term.nominal_debit_date).days <= 7
        assert not is_bank_holiday(term.debit_date)
        assert term.start.date() < term.nominal_debit_date
        assert in_cover(term.start, term.end, datetime.combine(term.debit_date, time(12), tzinfo=TOKYO))
        d += timedelta(days=1)


def test_calendar_rule_validation():
    with pytest.raises(ValueError):
        MonthDay(2, 30)
    with pytest.raises(ValueError):
        MonthDay(13, 1)
    assert MonthDay(2, 29).key() == (2, 29)  # fine as a window bound
    rule = EnrollmentRule(REGULAR, MonthDay(1, 1), MonthDay(12, 31), 0, 27)
    with pytest.raises(ValueError):
        CalendarRules(
            anniversary=MonthDay(2, 29),
            enrollments=(rule,),
            renewal_debit_month_offset=0,
            renewal_debit_day=27,
        )
    with pytest.raises(ValueError):
        CalendarRules(
            anniversary=MonthDay(3, 1), enrollments=(), renewal_debit_month_offset=0, renewal_debit_day=27
        )
    with pytest.raises(ValueError):
        EnrollmentRule("renewal", MonthDay(1, 1), MonthDay(12, 31), 0, 27)


def test_enrollment_window_wrapping_past_31_december():
    rule = EnrollmentRule(REGULAR, MonthDay(12, 10), MonthDay(1, 31), 1, 25)
    assert rule.accepts(date(2026, 12, 10))
    assert rule.accepts(date(2026, 12, 31))
    assert rule.accepts(date(2027, 1, 1))
    assert rule.accepts(date(2027, 1, 31))
    assert not rule.accepts(date(2026, 12, 9))
    assert not rule.accepts(date(2027, 2, 1))
