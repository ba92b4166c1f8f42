"""A booking's cron turned into the instants it fires inside its window, in UTC.

A cron booking is expanded when it is decided (its claims are checked window by window), and again in
slices as its executions enter the scheduler's horizon; so the expansion has to be exact, bounded and
lazy, and it must never run away on a schedule that fires forever or never.

Two dialects are accepted: crontab's five fields (minute hour day month weekday), and six with
seconds first, as in the original system's load test ("0-10 30 14 * * *": seconds 0 to 10 of 14:30).

APScheduler's `CronTrigger` fields decide what matches; this module translates standard cron into
its keywords, because the two disagree where it hurts:

- Weekday numbers: cron counts from Sunday = 0 (7 is Sunday too), APScheduler from Monday = 0, and it
  applies steps in its own numbering (`*/2` would be Mon, Wed, Fri, Sun instead of Sun, Tue, Thu, Sat).
  The weekday field is therefore expanded here to its set of days and handed over as day names, which
  mean the same in both. A range may end on Sunday by name (`fri-sun`), as APScheduler users write it.
- Names followed by a step: APScheduler silently drops the step (`jan-dec/3` would be every month), so
  month names become numbers first; weekdays are expanded anyway.

One difference is kept, on purpose: when both day of month and weekday are restricted, crontab fires
when *either* matches, APScheduler (and jetflow) when *both* do (`0 0 13 * fri` is Friday the 13th).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Final

from apscheduler.triggers.cron import CronTrigger

if TYPE_CHECKING:
    from collections.abc import Iterator

    from apscheduler.triggers.cron.fields import BaseField

#: Field names in the order of a six-field expression, with the CronTrigger keyword each maps to.
_FIELDS: Final = (
    ("second", "second"),
    ("minute", "minute"),
    ("hour", "hour"),
    ("day", "day"),
    ("month", "month"),
    ("weekday", "day_of_week"),
)
#: Cron's weekday numbering: the index is the number, and 7 wraps to Sunday.
_CRON_WEEKDAYS: Final = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
#: APScheduler's order, used to write the days back out.
_APSCHEDULER_WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MONTHS: Final = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_WEEKDAY_ITEM: Final = re.compile(r"(?:(?P<all>\*)|(?P<first>[a-z0-9]+)(?:-(?P<last>[a-z0-9]+))?)(?:/(?P<step>\d+))?")
_NAME: Final = re.compile(r"[a-z]+", re.IGNORECASE)


class CronError(ValueError):
    """The expression cannot be read; the message names the expression and, when it can, the field."""


class TooManyOccurrences(ValueError):
    """The window holds more than `limit` occurrences; none are returned, as none would be booked."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} occurrences")
        self.limit = limit


def parse_cron(expr: str) -> CronTrigger:
    """A UTC `CronTrigger` for `expr` (5 or 6 fields), or `CronError` saying which field is wrong."""
    return CronTrigger(**_keywords(expr), timezone=UTC)


def resolution(expr: str) -> timedelta:
    """The finest step `expr` can express: a second with a seconds field, a minute without."""
    return timedelta(seconds=1) if len(_split(expr)) == len(_FIELDS) else timedelta(minutes=1)


def occurrences(expr: str, start: datetime, end: datetime, limit: int) -> list[datetime]:
    """The instants `expr` fires in [start, end), in order and in UTC; empty when there are none.

    Raises `TooManyOccurrences` as soon as a `limit + 1`-th occurrence is found, so the cost is bounded
    by `limit` whatever the window.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    found: list[datetime] = []
    for fire in following(expr, start, end):
        if len(found) == limit:
            raise TooManyOccurrences(limit)
        found.append(fire)
    return found


def following(expr: str, start: datetime, end: datetime) -> Iterator[datetime]:
    """The instants `expr` fires in [start, end), lazily: a caller that needs a few pays for a few."""
    if start.utcoffset() is None or end.utcoffset() is None:
        raise ValueError(f"occurrences need aware datetimes, got start={start!r}, end={end!r}")
    trigger = CronTrigger(**_keywords(expr), timezone=UTC)
    fields = {field.name: field for field in trigger.fields}
    first_day = start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    # APScheduler's fields decide what matches; the instants of a day are the product of the matching
    # hours, minutes and seconds (the same every day, in UTC), so the cost is one step per instant
    # instead of one `get_next_fire_time` search (about 30 µs) each: 100,000 instants in 0.1 s, not 3 s.
    hours, minutes, seconds = (_matching(fields[unit], first_day, unit, top) for unit, top in _CLOCK)
    # On the first day, the hours and minutes before `start` are skipped whole: stepping through them cost
    # O(time of day) per call (a booking at 23:00 of every second walked 80,000 instants to find its first).
    begin = start.astimezone(UTC)
    day = first_day
    while day < end:
        first = day == first_day
        if all(_matches(fields[name], day) for name in _CALENDAR):
            for hour in hours:
                if first and hour < begin.hour:
                    continue
                for minute in minutes:
                    if first and hour == begin.hour and minute < begin.minute:
                        continue
                    for second in seconds:
                        fire = day.replace(hour=hour, minute=minute, second=second)
                        if fire >= end:
                            return
                        if fire >= start:
                            yield fire
        day += timedelta(days=1)


#: The fields that pick the days, and those that pick the instants of a day (with their ranges).
_CALENDAR: Final = ("year", "month", "day", "week", "day_of_week")
_CLOCK: Final = (("hour", 24), ("minute", 60), ("second", 60))


def _matches(field: BaseField, date: datetime) -> bool:
    """Whether `date`'s value of `field` is one the field accepts (APScheduler's own test, `get_next_value`)."""
    return bool(field.get_next_value(date) == field.get_value(date))


def _matching(field: BaseField, day: datetime, unit: str, top: int) -> list[int]:
    return [value for value in range(top) if _matches(field, day + timedelta(**{f"{unit}s": value}))]


def _split(expr: str) -> list[str]:
    fields = expr.split()
    if len(fields) not in (len(_FIELDS) - 1, len(_FIELDS)):
        raise CronError(
            f"cron {expr!r} has {len(fields)} field{'' if len(fields) == 1 else 's'}; expected 5 or 6 "
            "(5: minute hour day month weekday; 6: second first)"
        )
    return fields


def _keywords(expr: str) -> dict[str, str]:
    """CronTrigger keywords for `expr`, each field translated and checked on its own."""
    fields = _split(expr)
    if len(fields) < len(_FIELDS):
        fields = ["0", *fields]
    keywords: dict[str, str] = {}
    for (name, keyword), value in zip(_FIELDS, fields, strict=True):
        try:
            translated = _TRANSLATE.get(name, str)(value)
            # One trigger per field, so the error can name the field: APScheduler's own messages
            # do not always say which one they are about.
            CronTrigger(**{keyword: translated}, timezone=UTC)
        except ValueError as error:
            raise CronError(f"cron field {name!r} ({value!r}) in {expr!r}: {error}") from None
        keywords[keyword] = translated
    return keywords


def _month_numbers(value: str) -> str:
    def number(match: re.Match[str]) -> str:
        name = match[0].lower()
        if name not in _MONTHS:
            raise ValueError(f"unknown month name {match[0]!r}; use 1-12 or jan-dec")
        return str(_MONTHS.index(name) + 1)

    return _NAME.sub(number, value)


def _weekdays(value: str) -> str:
    """Standard cron weekdays as APScheduler day names ("*" when every day is in)."""
    days: set[int] = set()
    for item in value.lower().split(","):
        match = _WEEKDAY_ITEM.fullmatch(item)
        if match is None:
            raise ValueError(f"unrecognized weekday expression {item!r}")
        step = int(match["step"] or 1)
        if step < 1:
            raise ValueError(f"step must be at least 1 in {item!r}")
        if match["all"]:
            first, last = 0, 7
        else:
            first = _weekday_number(match["first"])
            if match["last"]:
                last = _weekday_number(match["last"])
                if match["last"] == "sun" and first > 0:
                    last = 7
            else:
                # "2/3" is cronie's shorthand for "2-7/3"; a bare day is just that day.
                last = 7 if match["step"] else first
            if first > last:
                raise ValueError(f"range {item!r} runs backwards; weekdays go from 0 (sun) to 7 (sun)")
        days.update(day % 7 for day in range(first, last + 1, step))
    if len(days) == len(_CRON_WEEKDAYS):
        return "*"
    return ",".join(name for name in _APSCHEDULER_WEEKDAYS if _CRON_WEEKDAYS.index(name) in days)


def _weekday_number(token: str) -> int:
    if token.isdigit():
        if int(token) > 7:
            raise ValueError(f"weekday {token} is out of range 0-7 (0 and 7 are Sunday)")
        return int(token)
    if token in _CRON_WEEKDAYS:
        return _CRON_WEEKDAYS.index(token)
    raise ValueError(f"unknown weekday {token!r}; use 0-7 (0 and 7 are Sunday) or sun-sat")


#: Fields whose standard meaning APScheduler reads differently; the others pass through unchanged.
_TRANSLATE: Final = {"month": _month_numbers, "weekday": _weekdays}
