"""The capacity check behind a claim, pure: would these new windows overfill the resource?

A resource of capacity C may be held by at most C windows at any instant. Windows are half-open, so
[10:00, 11:00) and [11:00, 12:00) do not overlap. The new windows count against each other too: a
cron booking whose slots overlap on a capacity-1 resource conflicts with itself.

The check runs inside the compare-and-set loop that claims a resource calendar, against every claim
still on it, so it must stay fast on a busy calendar: one sweep over the sorted endpoints,
O((n + m) log(n + m)), not a comparison of every new window with every claim. Instants are swept as
integer microseconds since the epoch: exact, and much cheaper to sort than datetimes whose time zone
objects differ (pydantic gives each parsed datetime its own), which Python compares through
`utcoffset()` on every comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.claims.windows import instant, microseconds
from schemas.booking import Conflict

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime


@dataclass(frozen=True, slots=True)
class HeldWindow:
    """`booking` holds one unit of the resource's capacity during [start, end)."""

    booking: str
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Clash:
    """The first stretch [start, end) in which the new windows would push the resource over capacity.

    `booking` is an existing booking holding the resource when the stretch begins (the one that took
    it first), or None when the new windows only clash with each other. A rejected booking reports it
    as `schemas.booking.Conflict`, which also names the resource.
    """

    start: datetime
    end: datetime
    booking: str | None

    def conflict(self, resource: str) -> Conflict:
        return Conflict(resource=resource, start=self.start, end=self.end, booking=self.booking)

    def reason(self, resource: str, capacity: int) -> str:
        holder = f" held by booking {self.booking}" if self.booking else ""
        return (
            f"resource {resource} (capacity {capacity}) is full from "
            f"{self.start.isoformat()} to {self.end.isoformat()}{holder}"
        )


def find_clash(existing: Sequence[HeldWindow], new: Sequence[HeldWindow], capacity: int) -> Clash | None:
    """The first clash of adding `new` to `existing` on a resource of `capacity`, or None if it fits.

    Only instants covered by a new window count: a calendar already over capacity elsewhere (its
    capacity was lowered since) does not block a booking that stays clear of those times.
    """
    return clash_of_spans(
        [_span(held) for held in existing], [held.booking for held in existing], [_span(c) for c in new], capacity
    )


def clash_of_spans(
    spans: Sequence[tuple[int, int]], owners: Sequence[str], fresh: Sequence[tuple[int, int]], capacity: int
) -> Clash | None:
    """`find_clash` on integer microsecond spans; `owners[i]` is the booking holding `spans[i]`."""
    if capacity < 0:
        raise ValueError(f"capacity must not be negative, got {capacity}")
    # One int per endpoint: the instant, then bit 1 set when a window opens, bit 0 set for a new one.
    events = [endpoint for start, end in spans for endpoint in (start << 2 | 2, end << 2)]
    events += [endpoint for start, end in fresh for endpoint in (start << 2 | 3, end << 2 | 1)]
    events.sort()

    held = held_new = 0
    began: int | None = None
    for position, event in enumerate(events):
        change = 1 if event & 2 else -1
        held += change
        if event & 1:
            held_new += change
        if position + 1 < len(events) and events[position + 1] >> 2 == event >> 2:
            continue  # decide once every endpoint at this instant is in: touching windows never count twice
        over = held_new > 0 and held > capacity
        if began is None and over:
            began = event >> 2
        elif began is not None and not over:
            holders = [index for index, (start, end) in enumerate(spans) if start <= began < end]
            first = min(holders, key=lambda index: spans[index], default=None)
            return Clash(
                start=instant(began),
                end=instant(event >> 2),
                booking=None if first is None else owners[first],
            )
    # Every window has closed by the last endpoint, so a stretch that began has ended by then.
    return None


def _span(held: HeldWindow) -> tuple[int, int]:
    start, end = microseconds(held.start), microseconds(held.end)
    if end <= start:
        raise ValueError(f"claim of {held.booking} ends at {held.end} but does not start before, at {held.start}")
    return start, end
