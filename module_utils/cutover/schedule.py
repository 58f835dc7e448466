"""EventBridge schedule expressions: parse, validate, and list fire times.

Pure: no boto3, botocore or Ansible import. All times are timezone-aware and
treated in UTC, as EventBridge does for ``cron(...)`` and ``rate(...)``.

    >>> s = parse("cron(0/20 * * * ? *)")
    >>> s.is_aligned_to(20)
    True

Grammar (as EventBridge documents it):

``cron(minutes hours day-of-month month day-of-week year)``
    minutes 0-59, hours 0-23, day-of-month 1-31, month 1-12 or JAN-DEC,
    day-of-week 1-7 or SUN-SAT (1 = Sunday), year 1970-2199.
    Wildcards ``,`` ``-`` ``*`` ``/`` everywhere; ``?`` in day-of-month or
    day-of-week, and exactly one of the two must be ``?``; ``L`` (last day of
    month / ``5L`` last Thursday of the month, ``L`` alone in day-of-week is
    Saturday), ``W`` (``15W`` weekday nearest the 15th, ``LW`` last weekday)
    in day-of-month; ``#`` (``3#2`` second Tuesday) in day-of-week.
``rate(N unit)``
    N a positive integer, unit ``minute``/``hour``/``day`` when N is 1 and
    ``minutes``/``hours``/``days`` otherwise (``rate(20 minute)`` is rejected,
    as EventBridge rejects it). A rate rule counts from when it was enabled:
    pass that moment as ``anchor``; it first fires one period after it.
    Without an anchor the Unix epoch stands in (deterministic, but the phase of
    a real rate rule is undefined, which is why the project uses cron).

Slot times are written ``YYYY-MM-DDTHH:MM:SSZ`` (``slot_iso``), UTC.
"""
from __future__ import annotations

import calendar
import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import FrozenSet, Iterable, Iterator, Optional, Tuple

UTC = timezone.utc
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CRON_EXAMPLE = "cron(0/20 * * * ? *)"
RATE_EXAMPLE = "rate(20 minutes)"
EXAMPLES = f"for example {CRON_EXAMPLE} (every 20 minutes at :00 :20 :40 UTC) or {RATE_EXAMPLE}"

MONTHS = {name: i for i, name in enumerate(
    ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], 1)}
WEEKDAYS = {name: i for i, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], 1)}
FIELD_NAMES = ["minutes", "hours", "day-of-month", "month", "day-of-week", "year"]
BOUNDS = [(0, 59), (0, 23), (1, 31), (1, 12), (1, 7), (1970, 2199)]
RATE_UNITS = {"minute": 60, "hour": 3600, "day": 86400}


class ScheduleError(ValueError):
    """An invalid schedule expression; the message names the bad part."""


def _fail(expression: str, what: str) -> ScheduleError:
    return ScheduleError(f"invalid schedule expression {expression!r}: {what}; {EXAMPLES}")


def _utc(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime (e.g. datetime(..., tzinfo=timezone.utc)), got {value!r}")
    return value.astimezone(UTC)


def slot_start(t: datetime, minutes: int = 20) -> datetime:
    """Start of the slot of `minutes` (counted from midnight UTC) that holds t."""
    t = _utc(t, "t")
    midnight = t.replace(hour=0, minute=0, second=0, microsecond=0)
    size = timedelta(minutes=minutes)
    return midnight + ((t - midnight) // size) * size


def slot_iso(t: datetime) -> str:
    """The project's slot format: ISO 8601 UTC with a Z, seconds, no fraction."""
    return _utc(t, "t").strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_slot_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


class Slots:
    """Slot numbers (minutes since the epoch // slot length) <-> ``slot_iso`` text, cached.

    The one slot helper of the project for values that arrive as text: ``number`` accepts an
    ISO string (any offset, ``Z``; naive means UTC) or a datetime; ``iso(number)`` is the slot
    start written as ``slot_iso`` does. Slots count from the epoch, which for lengths dividing
    a day is the same grid as ``slot_start`` (from midnight UTC).
    """

    def __init__(self, minutes: int = 20):
        self.minutes = minutes
        self._cache: dict = {}
        self.canonical: dict = {}  # raw slot string -> canonical slot_iso string

    def number(self, value) -> int:
        cached = self._cache.get(value)
        if cached is not None:
            return cached
        if isinstance(value, datetime):
            moment = value
        else:
            try:
                moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
            except ValueError as exc:
                raise ValueError(f"slot {value!r} is not an ISO date-time such as 2026-11-26T04:00:00Z") from exc
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        number = int(moment.timestamp() // 60) // self.minutes
        self._cache[value] = number
        return number

    def from_epoch_ms(self, millis: int) -> int:
        return int(millis // 60000) // self.minutes

    def iso(self, number: int) -> str:
        return slot_iso(datetime.fromtimestamp(number * self.minutes * 60, tz=UTC))


def slot(value, minutes: int = 20) -> str:
    """``slot_iso`` of the start of the slot holding ``value`` (ISO text, datetime or epoch ms)."""
    slots = Slots(minutes)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return slots.iso(slots.from_epoch_ms(value))
    return slots.iso(slots.number(value))


def eventbridge_weekday(d: date) -> int:
    """1 = Sunday ... 7 = Saturday."""
    return (d.weekday() + 1) % 7 + 1


# ---------------------------------------------------------------- parsing


def _number(expression: str, index: int, token: str) -> int:
    names = MONTHS if index == 3 else WEEKDAYS if index == 4 else {}
    upper = token.upper()
    if upper in names:
        return names[upper]
    if not token.isdigit():
        raise _fail(expression, f"{FIELD_NAMES[index]} field has {token!r}, not a number"
                    + (f" or name ({', '.join(names)})" if names else ""))
    value = int(token)
    low, high = BOUNDS[index]
    if not low <= value <= high:
        raise _fail(expression, f"{FIELD_NAMES[index]} value {value} is outside {low}-{high}")
    return value


def _span(low: int, high: int, first: int, last: int, step: int) -> list:
    if first <= last:
        return list(range(first, last + 1, step))
    # a wrapping range such as FRI-MON or 22-2
    cycle = list(range(first, high + 1)) + list(range(low, last + 1))
    return cycle[::step]


def _plain(expression: str, index: int, item: str) -> list:
    low, high = BOUNDS[index]
    base, _slash, step_text = item.partition("/")
    step = 1
    if "/" in item:
        if not step_text.isdigit() or int(step_text) == 0:
            raise _fail(expression, f"{FIELD_NAMES[index]} field has step {step_text!r}; a step is a positive number")
        step = int(step_text)
    if base == "*":
        return _span(low, high, low, high, step)
    if "-" in base:
        first_text, _dash, last_text = base.partition("-")
        first, last = _number(expression, index, first_text), _number(expression, index, last_text)
        if first > last and index in (2, 5):
            raise _fail(expression, f"{FIELD_NAMES[index]} range {base!r} runs backwards")
        return _span(low, high, first, last, step)
    first = _number(expression, index, base)
    return _span(low, high, first, high, step) if "/" in item else [first]


@dataclass(frozen=True)
class DayOfMonth:
    days: FrozenSet[int] = frozenset()
    last: bool = False
    last_weekday: bool = False
    nearest_weekday: FrozenSet[int] = frozenset()

    def matches(self, d: date) -> bool:
        length = calendar.monthrange(d.year, d.month)[1]
        if d.day in self.days or (self.last and d.day == length):
            return True
        if d.weekday() >= 5:
            return False
        if self.last_weekday and d.day == _nearest_weekday(d.year, d.month, length, length):
            return True
        return any(n <= length and d.day == _nearest_weekday(d.year, d.month, n, length)
                   for n in self.nearest_weekday)


def _nearest_weekday(year: int, month: int, day: int, length: int) -> int:
    wd = date(year, month, day).weekday()
    if wd == 5:  # Saturday: Friday before, unless that leaves the month
        return day - 1 if day > 1 else day + 2
    if wd == 6:  # Sunday: Monday after, unless that leaves the month
        return day + 1 if day < length else day - 2
    return day


@dataclass(frozen=True)
class DayOfWeek:
    days: FrozenSet[int] = frozenset()
    nth: FrozenSet[Tuple[int, int]] = frozenset()  # (weekday, n)
    last_of: FrozenSet[int] = frozenset()  # weekday whose last occurrence in the month fires

    def matches(self, d: date) -> bool:
        wd = eventbridge_weekday(d)
        if wd in self.days:
            return True
        if (wd, (d.day - 1) // 7 + 1) in self.nth:
            return True
        return wd in self.last_of and d.day + 7 > calendar.monthrange(d.year, d.month)[1]


def _parse_dom(expression: str, text: str) -> DayOfMonth:
    days, near = set(), set()
    last = last_weekday = False
    for item in text.split(","):
        upper = item.upper()
        if upper == "L":
            last = True
        elif upper == "LW":
            last_weekday = True
        elif upper.endswith("W"):
            near.add(_number(expression, 2, item[:-1]))
        else:
            days.update(_plain(expression, 2, item))
    return DayOfMonth(frozenset(days), last, last_weekday, frozenset(near))


def _parse_dow(expression: str, text: str) -> DayOfWeek:
    days, nth, last_of = set(), set(), set()
    for item in text.split(","):
        upper = item.upper()
        if upper == "L":
            days.add(7)
        elif "#" in item:
            wd_text, _hash, n_text = item.partition("#")
            if not n_text.isdigit() or not 1 <= int(n_text) <= 5:
                raise _fail(expression, f"day-of-week {item!r}: the number after # is 1-5 (3#2 = second Tuesday)")
            nth.add((_number(expression, 4, wd_text), int(n_text)))
        elif upper.endswith("L"):
            last_of.add(_number(expression, 4, item[:-1]))
        else:
            days.update(_plain(expression, 4, item))
    return DayOfWeek(frozenset(days), frozenset(nth), frozenset(last_of))


_ITEM = re.compile(r"^[0-9A-Za-z*?/#,\-]+$")


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule; `kind` is "cron" or "rate"."""

    expression: str
    kind: str
    period: Optional[timedelta] = None
    minutes: Tuple[int, ...] = ()
    hours: Tuple[int, ...] = ()
    months: FrozenSet[int] = frozenset()
    years: FrozenSet[int] = frozenset()
    dom: Optional[DayOfMonth] = None
    dow: Optional[DayOfWeek] = None
    fields: Tuple[str, ...] = field(default=(), compare=False)

    # ------------------------------------------------------------ queries

    def day_matches(self, d: date) -> bool:
        if d.year not in self.years or d.month not in self.months:
            return False
        return self.dom.matches(d) if self.dom is not None else self.dow.matches(d)

    def fire_times(self, start: datetime, end: datetime, anchor: Optional[datetime] = None) -> Iterator[datetime]:
        """Every fire time t with start <= t < end, in order (UTC)."""
        start, end = _utc(start, "start"), _utc(end, "end")
        if end <= start:
            return
        if self.kind == "rate":
            base = _utc(anchor, "anchor") if anchor is not None else EPOCH
            k = max(1, math.ceil((start - base) / self.period))
            t = base + k * self.period
            while t < end:
                yield t
                t += self.period
            return
        day = start.date()
        last_day = (end - timedelta(microseconds=1)).date()
        while day <= last_day:
            if day.year not in self.years and day.year > max(self.years):
                return
            if day.year not in self.years or day.month not in self.months:
                # jump to the first day of the next month
                day = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
                continue
            if self.day_matches(day):
                for h in self.hours:
                    for m in self.minutes:
                        t = datetime(day.year, day.month, day.day, h, m, tzinfo=UTC)
                        if start <= t < end:
                            yield t
            day += timedelta(days=1)

    def next_fire(self, after: datetime, anchor: Optional[datetime] = None) -> Optional[datetime]:
        """The first fire time strictly after `after`; None if there is none (year field exhausted)."""
        after = _utc(after, "after")
        start = after + timedelta(microseconds=1)
        end = datetime(2200, 1, 1, tzinfo=UTC) if self.kind == "cron" else after + self.period * 2
        return next(self.fire_times(start, end, anchor), None)

    def on_slot_boundaries(self, minutes: int = 20) -> bool:
        """Every fire time falls on the start of a slot of `minutes` (rate: never, its phase is undefined)."""
        if self.kind == "rate" or 60 % minutes:
            return False
        return all(m % minutes == 0 for m in self.minutes)

    def is_aligned_to(self, minutes: int = 20) -> bool:
        """Fires exactly at the start of every slot of `minutes`, every hour of every day.

        True for cron(0/20 * * * ? *) with minutes=20; False for any rate rule,
        whose phase depends on when it was enabled.
        """
        return (self.on_slot_boundaries(minutes)
                and self.minutes == tuple(range(0, 60, minutes))
                and self.hours == tuple(range(24))
                and self.months == frozenset(range(1, 13))
                and self.years == frozenset(range(1970, 2200))
                and (self.dom or self.dow) in (DayOfMonth(frozenset(range(1, 32))), DayOfWeek(frozenset(range(1, 8)))))


def _parse_rate(expression: str, body: str) -> Schedule:
    parts = body.split()
    if len(parts) != 2:
        raise _fail(expression, "rate takes a value and a unit, like rate(20 minutes)")
    value_text, unit = parts
    if not value_text.isdigit() or int(value_text) < 1:
        raise _fail(expression, f"rate value {value_text!r} must be a positive whole number")
    value = int(value_text)
    singular = unit[:-1] if unit.endswith("s") else unit
    if singular not in RATE_UNITS:
        raise _fail(expression, f"rate unit {unit!r} is not minute(s), hour(s) or day(s)")
    if value == 1 and unit != singular:
        raise _fail(expression, f"a value of 1 takes the singular unit: rate(1 {singular})")
    if value != 1 and unit == singular:
        raise _fail(expression, f"a value of {value} takes the plural unit: rate({value} {singular}s)")
    return Schedule(expression, "rate", period=timedelta(seconds=value * RATE_UNITS[singular]))


def _parse_cron(expression: str, body: str) -> Schedule:
    fields = body.split()
    if len(fields) != 6:
        raise _fail(expression, f"cron takes 6 fields ({' '.join(FIELD_NAMES)}), got {len(fields)}")
    for index, text in enumerate(fields):
        if not _ITEM.match(text):
            raise _fail(expression, f"{FIELD_NAMES[index]} field {text!r} has a character EventBridge does not accept")
        if "?" in text and (index not in (2, 4) or text != "?"):
            raise _fail(expression, f"'?' is allowed only alone, in day-of-month or day-of-week (not {FIELD_NAMES[index]} {text!r})")
    dom_text, dow_text = fields[2], fields[4]
    if (dom_text == "?") == (dow_text == "?"):
        raise _fail(expression, "exactly one of day-of-month and day-of-week must be '?' "
                    f"(got {dom_text!r} and {dow_text!r}); use ? in the one you do not restrict")
    values = [sorted(set(_all(expression, i, fields[i]))) for i in (0, 1, 3, 5)]
    return Schedule(
        expression, "cron",
        minutes=tuple(values[0]), hours=tuple(values[1]),
        months=frozenset(values[2]), years=frozenset(values[3]),
        dom=None if dom_text == "?" else _parse_dom(expression, dom_text),
        dow=None if dow_text == "?" else _parse_dow(expression, dow_text),
        fields=tuple(fields),
    )


def _all(expression: str, index: int, text: str) -> Iterable[int]:
    for item in text.split(","):
        if not item:
            raise _fail(expression, f"{FIELD_NAMES[index]} field {text!r} has an empty list item")
        yield from _plain(expression, index, item)


def parse(expression: str) -> Schedule:
    """Parse an EventBridge schedule expression; ScheduleError says what is wrong."""
    if not isinstance(expression, str):
        raise ScheduleError(f"schedule expression must be a string, got {type(expression).__name__}; {EXAMPLES}")
    text = expression.strip()
    match = re.fullmatch(r"(cron|rate)\((.*)\)", text)
    if not match:
        raise _fail(expression, "it must be cron(...) or rate(...)")
    kind, body = match.groups()
    return _parse_rate(expression, body) if kind == "rate" else _parse_cron(expression, body)


def merged_fire_times(schedules: Iterable[Tuple[Schedule, Optional[datetime]]],
                      start: datetime, end: datetime) -> list:
    """Sorted union of the fire times of several (schedule, anchor) pairs in [start, end)."""
    return sorted({t for s, a in schedules for t in s.fire_times(start, end, a)})


def quiet_window(schedules: Iterable[Tuple[Schedule, Optional[datetime]]], after: datetime,
                 run_time: timedelta = timedelta(minutes=5), guard: timedelta = timedelta(minutes=2),
                 horizon: timedelta = timedelta(days=2)) -> Optional[Tuple[datetime, datetime]]:
    """The next span after `after` when none of the schedules runs.

    It begins `run_time` after a fire (the run is over) and ends `guard`
    before the next fire. None when no such span exists within `horizon`.
    """
    after = _utc(after, "after")
    pairs = list(schedules)
    fires = merged_fire_times(pairs, after - horizon, after + horizon)
    for previous, following in zip(fires, fires[1:]):
        begin = max(previous + run_time, after)
        finish = following - guard
        if begin < finish:
            return begin, finish
    return None
