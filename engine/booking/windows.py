"""From a booking to the windows its executions hold the resources for, and their deterministic ids.

A one-shot booking (no cron) runs once: it holds its resources for its whole window, or for
`duration` from its start. A cron booking runs at each occurrence and holds its resources from there
for `duration`. Without a duration it holds them for the cron's own tick (one second when the cron has
a seconds field, one minute otherwise): short and predictable, where "until the next occurrence" would
leave the last one without an end and hold a sparse schedule's resources idle for days. The original
system's load test ("0-10 30 14 1 12 *") thus books eleven one-second slots. No window extends past
the end of the booking.

Execution ids are derived, not drawn: the same booking and occurrence always give the same id, so a
replayed booking upserts the same executions instead of scheduling them twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from engine.booking.cron import occurrences, resolution
from schemas.names import KUBE_NAME_MAX

#: Hex digits of the sha256 of a booking id kept when the id must be shortened: 40 bits, so two
#: long ids that share their first characters still get distinct execution ids.
_DIGEST_LENGTH: Final = 10


@dataclass(frozen=True, slots=True)
class Window:
    """The half-open span [start, end) an execution holds its resources for."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.utcoffset() is None or self.end.utcoffset() is None:
            raise ValueError(f"a window needs aware datetimes, got {self.start!r} to {self.end!r}")
        if self.end <= self.start:
            raise ValueError(f"window end {self.end.isoformat()} must be after its start {self.start.isoformat()}")


def execution_windows(
    start: datetime, end: datetime, cron: str | None, duration: timedelta | None, limit: int
) -> list[Window]:
    """The windows of a booking of [start, end), in order.

    Raises what `occurrences` raises for a cron (`CronError`, `TooManyOccurrences`), and returns an
    empty list when the cron does not fire in the window: both are the caller's to turn into a
    rejection.
    """
    if duration is not None and duration <= timedelta(0):
        raise ValueError(f"duration must be positive, got {duration}")
    if cron is None:
        return [Window(start, end if duration is None else min(end, start + duration))]
    length = resolution(cron) if duration is None else duration
    return [Window(moment, min(end, moment + length)) for moment in occurrences(cron, start, end, limit)]


def execution_id(booking_id: str, occurrence: datetime) -> str:
    """`<booking id>-<yyyymmdd>t<hhmmss>` of the occurrence in UTC, e.g. `bk-42-20261201t143000`.

    The id becomes the name of the execution's Kubernetes namespace, so it must be a DNS label:
    lowercase letters, digits and '-', at most 63 characters. Booking ids are already Kubernetes names
    (`schemas.names.KubeName`); when one is too long to leave room for the timestamp, its end gives way
    to a digest of the whole id, which keeps the result unique, deterministic and within the limit.
    Cron occurrences are whole seconds (cron has no finer field), so the timestamp tells them apart;
    a one-shot booking has a single execution, whatever fraction of a second it starts at.
    """
    if occurrence.utcoffset() is None:
        raise ValueError(f"an execution id needs an aware occurrence, got {occurrence!r}")
    stamp = f"{occurrence.astimezone(UTC):%Y%m%dt%H%M%S}"
    name = f"{booking_id}-{stamp}".lower()
    if len(name) <= KUBE_NAME_MAX:
        return name
    digest = hashlib.sha256(booking_id.encode()).hexdigest()[:_DIGEST_LENGTH]
    room = KUBE_NAME_MAX - len(stamp) - len(digest) - 2
    return f"{booking_id.lower()[:room].rstrip('-')}-{digest}-{stamp}"
