"""From a booking to the windows its executions hold the resources for, and their deterministic ids.

A one-shot booking (no cron) runs once: it holds its resources for its whole window, or for
`duration` from its start. A cron booking runs at each occurrence and holds its resources from there
for `duration`. A cron booking decided without one is given one when it is decided (`with_default_duration`):
`JETFLOW_CRON_DURATION` (5 minutes), shortened to the shortest gap between two of its occurrences, so its
executions never overlap each other (a capacity-1 resource takes any cron) and a sparse schedule does not
hold its resources idle for days. The duration is stored with the booking, so a later change of the
setting never moves the windows of a decided booking. The original system's load test
("0-10 30 14 1 12 *", one second apart) thus still books eleven one-second slots: give it a `duration`.
No window extends past the end of the booking. (A schedule stored without a duration, by an older version,
keeps the old meaning: one cron tick, a second with a seconds field, else a minute.)

Execution ids are derived, not drawn: the same booking and occurrence always give the same id, so a
replayed booking upserts the same executions instead of scheduling them twice.

A booking is stored as its `Schedule` (start, end, cron, duration), never as its list of windows: a
calendar claim and a booking record cost the same for one execution as for a hundred thousand.
Whoever needs the windows expands them: all of them as integer spans for a conflict check (cached per
process, so a calendar's recurring claims are expanded once, not on every booking), or a slice of
them, lazily, for the scheduler's horizon and for listings.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import itertools
import threading
from array import array
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Final

from engine.claims.cron import TooManyOccurrences, following, occurrences, resolution
from schemas.names import KUBE_NAME_MAX

if TYPE_CHECKING:
    from collections.abc import Iterator

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


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)
#: Expanded schedules kept per process (each at most the per-booking limit of windows, 16 bytes each).
_CACHED_SCHEDULES: Final = 256


def microseconds(moment: datetime) -> int:
    """An instant as integer microseconds since the epoch: exact, and cheap to sort and compare."""
    return (moment - _EPOCH) // _MICROSECOND


def instant(value: int) -> datetime:
    return _EPOCH + value * _MICROSECOND


@dataclass(frozen=True, slots=True)
class Spans:
    """A schedule's windows as two sorted arrays of microseconds: starts, and the matching ends."""

    starts: array[int]
    ends: array[int]

    def __len__(self) -> int:
        return len(self.starts)


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a booking's executions run: once over [start, end) (or for `duration`), or at each cron
    occurrence for `duration` (one cron step without one)."""

    start: datetime
    end: datetime
    cron: str | None = None
    duration: timedelta | None = None

    def window(self, moment: datetime) -> Window:
        """The window of the execution that starts at `moment`."""
        if self.cron is None:
            return Window(moment, self.end if self.duration is None else min(self.end, moment + self.duration))
        length = resolution(self.cron) if self.duration is None else self.duration
        return Window(moment, min(self.end, moment + length))

    def windows(self, limit: int) -> list[Window]:
        """Every window, in order; raises what `occurrences` raises (see `execution_windows`)."""
        return execution_windows(self.start, self.end, self.cron, self.duration, limit)

    def starts(self, since: datetime, until: datetime) -> Iterator[datetime]:
        """Start instants of the windows that start in [since, until), lazily."""
        if self.cron is None:
            if since <= self.start < until:
                yield self.start
            return
        yield from following(self.cron, max(since, self.start), min(until, self.end))

    def spans(self, limit: int) -> Spans:
        """Every window as integer spans, expanded once per process (`TooManyOccurrences` past `limit`)."""
        key = (self.start, self.end, self.cron, self.duration)
        with _lock:
            cached = _expanded.get(key)
            if cached is not None:
                _expanded.move_to_end(key)
        if cached is None:
            windows = self.windows(limit)
            cached = Spans(
                array("q", [microseconds(w.start) for w in windows]), array("q", [microseconds(w.end) for w in windows])
            )
            with _lock:
                _expanded[key] = cached
                if len(_expanded) > _CACHED_SCHEDULES:
                    _expanded.popitem(last=False)
        if len(cached) > limit:
            raise TooManyOccurrences(limit)
        return cached

    async def expand(self, limit: int) -> Spans:
        """`spans`, off the event loop when it has to expand a cron: 100,000 occurrences take seconds of
        CPU, and the other bookings (and every other handler of this process) must not wait for them."""
        with _lock:
            cached = (self.start, self.end, self.cron, self.duration) in _expanded
        if self.cron is None or cached:
            return self.spans(limit)
        return await asyncio.to_thread(self.spans, limit)


def with_default_duration(schedule: Schedule, spans: Spans, longest: timedelta) -> Schedule:
    """`schedule` with the default length of a cron execution when it has none: `longest`, or the shortest
    gap between two consecutive occurrences of `spans` if that is shorter. Unchanged otherwise."""
    if schedule.cron is None or schedule.duration is not None:
        return schedule
    length = longest
    if len(spans) > 1:
        gap = min(later - earlier for earlier, later in itertools.pairwise(spans.starts))
        length = min(longest, gap * _MICROSECOND)
    return dataclasses.replace(schedule, duration=length)


_lock = threading.Lock()
_expanded: OrderedDict[tuple[datetime, datetime, str | None, timedelta | None], Spans] = OrderedDict()


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
