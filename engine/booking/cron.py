"""Cron expressions expanded into occurrences inside a booking window, in UTC.

Five fields (minute hour day month weekday) as in crontab, or six with seconds first, as in the
original system's load test ("0-10 30 14 * * *": seconds 0 to 10 of 14:30). APScheduler's
CronTrigger does the calendar arithmetic; this module only translates standard cron into its terms
(its weekdays count from Monday = 0, cron's from Sunday = 0) and bounds the expansion.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from apscheduler.triggers.cron import CronTrigger

_NAMES = ("second", "minute", "hour", "day", "month", "day_of_week")
_CRON_DOW = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


class CronError(ValueError):
    """The expression cannot be read; the message names the field."""


class TooManyOccurrences(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} occurrences")
        self.limit = limit


def _weekday(field: str) -> str:
    """Standard cron weekdays (0 or 7 = Sunday, ranges, steps) become day names, which APScheduler
    reads unambiguously; numeric parts are expanded to lists so a range through Sunday stays right."""
    parts: list[str] = []
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        if not re.fullmatch(r"\*|\d+(-\d+)?", base):
            parts.append(part)  # names such as mon-fri mean the same to APScheduler
            continue
        step = int(step_text) if step_text.isdigit() else 1
        if step_text and not step_text.isdigit():
            raise CronError(f"cron field 'day_of_week': bad step {step_text!r}")
        low, _, high = base.partition("-")
        first = 0 if low == "*" else int(low)
        last = 6 if low == "*" else int(high) if high else (6 if step_text else first)
        if first > 7 or last > 7 or first > last or step < 1:
            raise CronError(f"cron field 'day_of_week': {part!r} is not a weekday range (0-7, 0 and 7 are Sunday)")
        parts.extend(_CRON_DOW[day] for day in range(first, last + 1, step))
    return ",".join(dict.fromkeys(parts))


def parse_cron(expr: str) -> CronTrigger:
    fields = expr.split()
    if len(fields) not in (5, 6):
        raise CronError(f"cron {expr!r} has {len(fields)} fields; expected 5 or 6 (seconds first)")
    if len(fields) == 5:
        fields = ["0", *fields]
    values = dict(zip(_NAMES, fields, strict=True))
    values["day_of_week"] = _weekday(values["day_of_week"])
    for name in _NAMES:  # validate field by field, so the error names the field
        try:
            CronTrigger(**{name: values[name]}, timezone=UTC)
        except ValueError as error:
            raise CronError(f"cron field '{name}' ({values[name]!r}): {error}") from None
    try:
        return CronTrigger(**values, timezone=UTC)
    except ValueError as error:
        raise CronError(f"cron {expr!r}: {error}") from None


def occurrences(expr: str, start: datetime, end: datetime, limit: int) -> list[datetime]:
    """Fire times in [start, end), at most `limit` (more raises TooManyOccurrences)."""
    trigger = parse_cron(expr)
    found: list[datetime] = []
    moment: datetime | None = start
    step = timedelta(microseconds=1)
    previous: datetime | None = None
    while moment is not None:
        fire = trigger.get_next_fire_time(previous, moment)
        if fire is None or fire >= end:
            break
        fire = fire.astimezone(UTC)
        if len(found) == limit:
            raise TooManyOccurrences(limit)
        found.append(fire)
        previous, moment = fire, fire + step
    return found
