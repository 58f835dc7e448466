"""EventBridge schedule maths: parse, fire times, alignment, quiet windows."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from module_utils.cutover.schedule import (
    ScheduleError,
    parse,
    parse_slot_iso,
    quiet_window,
    slot_iso,
    slot_start,
)

UTC = timezone.utc
KST = timezone(timedelta(hours=9))


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def fires(expression, start, end, anchor=None):
    return list(parse(expression).fire_times(start, end, anchor))


# (expression, window start, window end, expected fire times)
FIRE_CASES = [
    ("cron(0/20 * * * ? *)", utc(2026, 11, 26, 3, 0), utc(2026, 11, 26, 4, 0),
     [utc(2026, 11, 26, 3, 0), utc(2026, 11, 26, 3, 20), utc(2026, 11, 26, 3, 40)]),
    ("cron(*/20 * * * ? *)", utc(2026, 11, 26, 3, 5), utc(2026, 11, 26, 3, 45),
     [utc(2026, 11, 26, 3, 20), utc(2026, 11, 26, 3, 40)]),
    ("cron(5,35 10-11 * * ? *)", utc(2026, 1, 1), utc(2026, 1, 2),
     [utc(2026, 1, 1, 10, 5), utc(2026, 1, 1, 10, 35), utc(2026, 1, 1, 11, 5), utc(2026, 1, 1, 11, 35)]),
    # the 20:00 KST event run is 11:00 UTC
    ("cron(0 11 * * ? *)", utc(2026, 11, 26), utc(2026, 11, 28),
     [utc(2026, 11, 26, 11), utc(2026, 11, 27, 11)]),
    # last day of month, incl. February of a leap and a common year
    ("cron(0 0 L * ? *)", utc(2028, 1, 15), utc(2028, 4, 15),
     [utc(2028, 1, 31), utc(2028, 2, 29), utc(2028, 3, 31)]),
    ("cron(0 0 L 2 ? *)", utc(2026, 1, 1), utc(2029, 1, 1),
     [utc(2026, 2, 28), utc(2027, 2, 28), utc(2028, 2, 29)]),
    ("cron(0 0 29 2 ? *)", utc(2026, 1, 1), utc(2033, 1, 1),
     [utc(2028, 2, 29), utc(2032, 2, 29)]),
    # 31st only in months that have one
    ("cron(0 0 31 * ? *)", utc(2026, 1, 1), utc(2026, 6, 1),
     [utc(2026, 1, 31), utc(2026, 3, 31), utc(2026, 5, 31)]),
    # W: 2026-02-01 is a Sunday -> Monday 2nd; 2026-08-01 Saturday -> Monday 3rd (not July 31st)
    ("cron(0 9 1W * ? *)", utc(2026, 2, 1), utc(2026, 3, 1), [utc(2026, 2, 2, 9)]),
    ("cron(0 9 1W * ? *)", utc(2026, 8, 1), utc(2026, 9, 1), [utc(2026, 8, 3, 9)]),
    # 2026-11-15 is a Sunday -> Monday 16th; 2026-11-14 Saturday -> Friday 13th
    ("cron(0 9 15W * ? *)", utc(2026, 11, 1), utc(2026, 12, 1), [utc(2026, 11, 16, 9)]),
    ("cron(0 9 14W * ? *)", utc(2026, 11, 1), utc(2026, 12, 1), [utc(2026, 11, 13, 9)]),
    # 2026-05-31 is a Sunday: last weekday is Friday 29th
    ("cron(0 9 LW * ? *)", utc(2026, 5, 1), utc(2026, 6, 1), [utc(2026, 5, 29, 9)]),
    # day of week: 1 = SUN; names; ranges; wrapping range FRI-MON
    ("cron(0 0 ? * 1 *)", utc(2026, 11, 23), utc(2026, 12, 1), [utc(2026, 11, 29)]),
    ("cron(0 0 ? * SUN *)", utc(2026, 11, 23), utc(2026, 12, 1), [utc(2026, 11, 29)]),
    ("cron(0 0 ? * MON-FRI *)", utc(2026, 11, 27), utc(2026, 12, 2),
     [utc(2026, 11, 27), utc(2026, 11, 30), utc(2026, 12, 1)]),
    ("cron(0 0 ? * FRI-MON *)", utc(2026, 11, 26), utc(2026, 12, 2),
     [utc(2026, 11, 27), utc(2026, 11, 28), utc(2026, 11, 29), utc(2026, 11, 30)]),
    ("cron(0 0 ? * L *)", utc(2026, 11, 23), utc(2026, 12, 1), [utc(2026, 11, 28)]),
    # #: second Tuesday; last Thursday of the month (5L)
    ("cron(0 0 ? * 3#2 *)", utc(2026, 11, 1), utc(2027, 1, 1), [utc(2026, 11, 10), utc(2026, 12, 8)]),
    ("cron(0 0 ? * TUE#5 *)", utc(2026, 1, 1), utc(2026, 5, 1), [utc(2026, 3, 31)]),
    ("cron(0 0 ? * 5L *)", utc(2026, 11, 1), utc(2027, 1, 1), [utc(2026, 11, 26), utc(2026, 12, 31)]),
    # months by name, lists, steps; year field
    ("cron(0 0 1 JAN,JUL ? *)", utc(2026, 1, 1), utc(2027, 1, 1), [utc(2026, 1, 1), utc(2026, 7, 1)]),
    ("cron(0 0 1 1/6 ? *)", utc(2026, 1, 1), utc(2027, 1, 1), [utc(2026, 1, 1), utc(2026, 7, 1)]),
    ("cron(0 0 1 1 ? 2027-2028)", utc(2026, 1, 1), utc(2030, 1, 1), [utc(2027, 1, 1), utc(2028, 1, 1)]),
    # year boundary and end exclusive
    ("cron(0/20 * * * ? *)", utc(2026, 12, 31, 23, 30), utc(2027, 1, 1, 0, 20),
     [utc(2026, 12, 31, 23, 40), utc(2027, 1, 1, 0, 0)]),
    # rate counts from the anchor (when the rule was enabled), first fire one period later
    ("rate(20 minutes)", utc(2026, 11, 26, 3, 0), utc(2026, 11, 26, 4, 0),
     [utc(2026, 11, 26, 3, 7), utc(2026, 11, 26, 3, 27), utc(2026, 11, 26, 3, 47)]),
    ("rate(1 hour)", utc(2026, 11, 26, 3, 7), utc(2026, 11, 26, 5, 8),
     [utc(2026, 11, 26, 3, 47), utc(2026, 11, 26, 4, 47)]),
    ("rate(2 days)", utc(2026, 11, 26, 2, 47), utc(2026, 12, 1),
     [utc(2026, 11, 28, 2, 47), utc(2026, 11, 30, 2, 47)]),
]


@pytest.mark.parametrize("expression,start,end,expected", FIRE_CASES,
                         ids=[f"{c[0]}@{c[1]:%Y-%m-%d}" for c in FIRE_CASES])
def test_fire_times(expression, start, end, expected):
    anchor = utc(2026, 11, 26, 2, 47)
    assert fires(expression, start, end, anchor) == expected


@pytest.mark.parametrize("expression,problem", [
    ("rate(20 minute)", "plural"),
    ("rate(1 minutes)", "singular"),
    ("rate(0 minutes)", "positive"),
    ("rate(20 seconds)", "unit"),
    ("rate(20)", "value and a unit"),
    ("cron(0/20 * * * *)", "6 fields"),
    ("cron(0/20 * * * * *)", "exactly one of day-of-month and day-of-week"),
    ("cron(0/20 * ? * ? *)", "exactly one of day-of-month and day-of-week"),
    ("cron(60 * * * ? *)", "minutes value 60 is outside 0-59"),
    ("cron(0 24 * * ? *)", "hours value 24"),
    ("cron(0 0 32 * ? *)", "day-of-month value 32"),
    ("cron(0 0 ? * 8 *)", "day-of-week value 8"),
    ("cron(0 0 1 FOO ? *)", "month"),
    ("cron(0 0 1 * ? 1969)", "year value 1969"),
    ("cron(0/0 * * * ? *)", "step"),
    ("cron(? * * * ? *)", "'?' is allowed only"),
    ("cron(0 0 ? * 3#6 *)", "the number after #"),
    ("cron(0 0 1#2 * ? *)", "day-of-month"),
    ("cron(0L * * * ? *)", "minutes"),
    ("cron(0,,5 * * * ? *)", "empty list item"),
    ("every 20 minutes", "cron(...) or rate(...)"),
    ("cron(0 0 5-1 * ? *)", "backwards"),
])
def test_invalid_expressions_name_the_problem_and_show_an_example(expression, problem):
    with pytest.raises(ScheduleError) as caught:
        parse(expression)
    message = str(caught.value)
    assert problem in message
    assert "cron(0/20 * * * ? *)" in message  # a valid example, to copy


def test_schedule_error_is_a_value_error():
    assert issubclass(ScheduleError, ValueError)


def test_20_kst_run_is_11_utc_whatever_the_input_zone():
    s = parse("cron(0 11 * * ? *)")
    kst_evening = datetime(2026, 11, 26, 19, 59, tzinfo=KST)
    fire = s.next_fire(kst_evening)
    assert fire == utc(2026, 11, 26, 11, 0)
    assert fire.astimezone(KST).hour == 20
    # 20:00 KST on the 27th is still the 27th in UTC (11:00); no date shift at 20:00 KST
    assert s.next_fire(fire).astimezone(KST) == datetime(2026, 11, 27, 20, 0, tzinfo=KST)


def test_every_20_minutes_makes_72_runs_a_day_and_504_a_week():
    s = parse("cron(0/20 * * * ? *)")
    assert len(list(s.fire_times(utc(2026, 11, 26), utc(2026, 11, 27)))) == 72
    assert len(list(s.fire_times(utc(2026, 11, 26), utc(2026, 12, 3)))) == 504


@pytest.mark.parametrize("after,expected", [
    (utc(2026, 11, 26, 3, 0), utc(2026, 11, 26, 3, 20)),  # strictly after
    (utc(2026, 11, 26, 3, 19, 59), utc(2026, 11, 26, 3, 20)),
    (utc(2026, 12, 31, 23, 59), utc(2027, 1, 1, 0, 0)),
])
def test_next_fire(after, expected):
    assert parse("cron(0/20 * * * ? *)").next_fire(after) == expected


def test_next_fire_none_when_year_field_is_exhausted():
    assert parse("cron(0 0 1 1 ? 2027)").next_fire(utc(2027, 6, 1)) is None


def test_next_fire_for_rate_uses_anchor():
    enabled = utc(2026, 11, 26, 3, 7, 30)
    assert parse("rate(20 minutes)").next_fire(enabled, anchor=enabled) == utc(2026, 11, 26, 3, 27, 30)


@pytest.mark.parametrize("expression,minutes,aligned", [
    ("cron(0/20 * * * ? *)", 20, True),
    ("cron(0,20,40 * * * ? *)", 20, True),
    ("cron(*/20 * * * ? *)", 20, True),
    ("cron(0/20 * ? * * *)", 20, True),
    ("cron(5/20 * * * ? *)", 20, False),
    ("cron(0/10 * * * ? *)", 20, False),  # runs twice per slot
    ("cron(0 * * * ? *)", 20, False),  # misses slots
    ("cron(0/20 8-22 * * ? *)", 20, False),
    ("cron(0/20 * * * ? *)", 10, False),
    ("rate(20 minutes)", 20, False),  # phase depends on when it was enabled
])
def test_is_aligned_to(expression, minutes, aligned):
    assert parse(expression).is_aligned_to(minutes) is aligned


@pytest.mark.parametrize("t,expected", [
    (utc(2026, 11, 26, 3, 0), utc(2026, 11, 26, 3, 0)),
    (utc(2026, 11, 26, 3, 19, 59, 999999), utc(2026, 11, 26, 3, 0)),
    (utc(2026, 11, 26, 3, 20, 4), utc(2026, 11, 26, 3, 20)),
    (datetime(2026, 11, 26, 12, 45, tzinfo=KST), utc(2026, 11, 26, 3, 40)),
])
def test_slot_start(t, expected):
    assert slot_start(t, 20) == expected


def test_slot_iso_round_trip():
    t = utc(2026, 11, 26, 3, 0)
    assert slot_iso(t) == "2026-11-26T03:00:00Z"
    assert parse_slot_iso("2026-11-26T03:00:00Z") == t


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        list(parse("cron(0/20 * * * ? *)").fire_times(datetime(2026, 1, 1), utc(2026, 1, 2)))


def test_quiet_window_sits_between_two_runs_of_both_rules():
    every20 = parse("cron(0/20 * * * ? *)")
    window = quiet_window([(every20, None), (every20, None)], utc(2026, 11, 26, 3, 1),
                          run_time=timedelta(minutes=5), guard=timedelta(minutes=2))
    assert window == (utc(2026, 11, 26, 3, 5), utc(2026, 11, 26, 3, 18))
    # asked mid-window: starts now
    window = quiet_window([(every20, None)], utc(2026, 11, 26, 3, 10))
    assert window == (utc(2026, 11, 26, 3, 10), utc(2026, 11, 26, 3, 18))
    # asked inside the guard before a run: the next window
    window = quiet_window([(every20, None)], utc(2026, 11, 26, 3, 19))
    assert window == (utc(2026, 11, 26, 3, 25), utc(2026, 11, 26, 3, 38))
