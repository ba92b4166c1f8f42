"""From a booking to the windows of its executions, and their deterministic ids.

A one-shot booking holds its resources for its whole window (or `duration` from its start). A cron
booking holds them from each occurrence for `duration`; without one, for the occurrence's own
granularity (one second when the cron has a seconds field, one minute otherwise), so the original
system's "0-10 ..." load test books eleven one-second slots. Windows never extend past the booking.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.booking.cron import occurrences

_K8S_NAME_MAX = 63


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"window end {self.end} must be after its start {self.start}")


def execution_windows(
    start: datetime, end: datetime, cron: str | None, duration: timedelta | None, limit: int
) -> list[Window]:
    if cron is None:
        return [Window(start, min(end, start + duration) if duration else end)]
    length = duration or (timedelta(seconds=1) if len(cron.split()) == 6 else timedelta(minutes=1))
    return [Window(moment, min(end, moment + length)) for moment in occurrences(cron, start, end, limit)]


def execution_id(booking_id: str, occurrence: datetime) -> str:
    """`<booking>-<yyyymmddtHHMMSS>`: readable, and a valid Kubernetes name, since it becomes the
    execution's namespace. Too long a booking id is shortened with a digest so ids stay unique."""
    suffix = f"-{occurrence:%Y%m%dt%H%M%S}"
    head = booking_id.lower()
    if len(head) + len(suffix) > _K8S_NAME_MAX:
        digest = hashlib.sha256(booking_id.encode()).hexdigest()[:8]
        head = f"{head[: _K8S_NAME_MAX - len(suffix) - 9].rstrip('-')}-{digest}"
    return head + suffix
