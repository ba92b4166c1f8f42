"""Instants as operators type them: `now`, `+90s`, `+10m`, `-1h`, `+2d`, or ISO 8601 with a zone.

Relative times make a booking example work on whatever day it is pasted (a fixed date is soon in the
past). Pure: `now` is given.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

_RELATIVE = re.compile(r"^([+-])(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def instant(text: str, now: datetime) -> datetime:
    """`text` as an aware instant; ValueError names the accepted forms."""
    value = text.strip()
    if value == "now":
        return now
    if match := _RELATIVE.match(value):
        sign, amount, unit = match.groups()
        delta = timedelta(**{_UNITS[unit]: float(amount)})
        return now + delta if sign == "+" else now - delta
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValueError(f"{text!r} is not an instant: use now, +90s, +10m, -1h, +2d, or ISO 8601 with a zone (…Z)")
    return moment
