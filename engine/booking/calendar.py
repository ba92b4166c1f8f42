"""Resource calendars: the claims on each resource, checked and taken in one conditional write.

One document per resource holds its reservations and a version. Claiming reads the calendar, runs the
pure conflict check, and writes the new reservation only if the version is still the one read
(compare-and-set). Two replicas confirming overlapping bookings at the same moment therefore cannot
both succeed: the second write matches nothing, re-reads, and sees the first booking's claims.

A reservation is a booking's schedule (start, end, cron, duration), not its list of windows, so a
calendar holding a hundred-thousand-execution booking is as small as one holding a one-shot booking,
and a claim costs two store commands whatever either size. The check expands the windows in memory
(`Schedule.spans`, cached per process) and only compares the stretch the new booking covers. An
execution that ends early gives its window back (`released`: window starts per booking), so its slot
can be booked again. Reservations that ended are pruned in the same write, so a calendar does not grow
for ever.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left, bisect_right
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from beanie import Document
from pydantic import BaseModel, Field
from pymongo.errors import DuplicateKeyError

from engine.booking.conflicts import conflict_of_spans
from engine.booking.windows import Schedule, execution_id, microseconds
from engine.errors import TemporaryError

if TYPE_CHECKING:
    from engine.booking.conflicts import Conflict
    from engine.booking.windows import Spans

#: Compare-and-set attempts before giving up for now (the message is redelivered later).
MAX_ATTEMPTS = 50
#: Windows (old and new) a conflict check sweeps on the event loop; a longer sweep runs in a thread.
_CHECKED_INLINE = 20_000


class Reservation(BaseModel):
    """One booking's hold on a resource: every window of its schedule."""

    booking: str
    start: datetime
    end: datetime
    cron: str | None = None
    seconds: float | None = Field(default=None, description="Length of each window; None: the schedule's default.")
    count: int = Field(description="Windows in the schedule (what it expands to).")

    @classmethod
    def of(cls, booking: str, schedule: Schedule, count: int) -> Reservation:
        seconds = None if schedule.duration is None else schedule.duration.total_seconds()
        return cls(
            booking=booking, start=schedule.start, end=schedule.end, cron=schedule.cron, seconds=seconds, count=count
        )

    @property
    def schedule(self) -> Schedule:
        duration = None if self.seconds is None else timedelta(seconds=self.seconds)
        return Schedule(self.start, self.end, self.cron, duration)


class ResourceCalendar(Document):
    id: str  # type: ignore[assignment]  # the resource id
    version: int = 0
    claims: list[Reservation] = Field(default_factory=list)
    released: dict[str, list[datetime]] = Field(
        default_factory=dict, description="Booking → starts of its windows given back early (their execution ended)."
    )

    class Settings:
        name = "calendars"

    def held(self) -> list[str]:
        """Ids of the executions whose windows this calendar still holds, in time order."""
        held: list[tuple[datetime, str]] = []
        for claim in self.claims:
            given_back = set(self.released.get(claim.booking, ()))
            windows = claim.schedule.windows(claim.count)
            held += [(w.start, execution_id(claim.booking, w.start)) for w in windows if w.start not in given_back]
        return [execution for _, execution in sorted(held)]


async def claim(
    resource: str, capacity: int, new: Reservation, spans: Spans, *, prune_before: datetime
) -> Conflict | None:
    """Claim every window of `new` (`spans`, its expansion) on `resource`, or return the first conflict.

    Two store commands, whatever the number of windows on either side.
    """
    collection = ResourceCalendar.get_pymongo_collection()
    fresh = list(zip(spans.starts, spans.ends, strict=True))
    low, high = spans.starts[0], spans.ends[-1]
    for _ in range(MAX_ATTEMPTS):
        stored = await collection.find_one({"_id": resource})
        calendar = ResourceCalendar.model_validate(stored) if stored else ResourceCalendar(id=resource)
        # Idempotency guard: a replay of the same booking finds its own claim and takes nothing more.
        if any(reservation.booking == new.booking for reservation in calendar.claims):
            return None
        kept = [reservation for reservation in calendar.claims if reservation.end > prune_before]
        released = {r.booking: _still_open(r, calendar.released.get(r.booking, []), prune_before) for r in kept}
        released = {booking: starts for booking, starts in released.items() if starts}
        existing: list[tuple[int, int]] = []
        owners: list[str] = []
        for reservation in kept:
            window = await _overlapping(reservation, set(released.get(reservation.booking, ())), low, high)
            existing += window
            owners += [reservation.booking] * len(window)
        if len(existing) + len(fresh) > _CHECKED_INLINE:  # a long sweep runs off the event loop
            conflict = await asyncio.to_thread(conflict_of_spans, existing, owners, fresh, capacity)
        else:
            conflict = conflict_of_spans(existing, owners, fresh, capacity)
        if conflict is not None:
            return conflict
        document = {
            "claims": [reservation.model_dump() for reservation in (*kept, new)],
            "released": released,
        }
        if stored is None:
            try:
                await collection.insert_one({"_id": resource, "version": 1, **document})
            except DuplicateKeyError:
                continue  # another replica created the calendar first: re-read it
            return None
        result = await collection.update_one(
            {"_id": resource, "version": calendar.version}, {"$set": {**document, "version": calendar.version + 1}}
        )
        if result.modified_count == 1:
            return None
    raise TemporaryError(f"calendar of {resource} is contended; retrying later")


async def _overlapping(
    reservation: Reservation, given_back: set[datetime], low: int, high: int
) -> list[tuple[int, int]]:
    """The windows of `reservation` that end after `low` and start before `high`, minus those given back."""
    spans = await reservation.schedule.expand(reservation.count)
    first, last = bisect_right(spans.ends, low), bisect_left(spans.starts, high)
    skip = {microseconds(moment) for moment in given_back}
    return [(spans.starts[i], spans.ends[i]) for i in range(first, max(first, last)) if spans.starts[i] not in skip]


def _still_open(reservation: Reservation, given_back: list[datetime], after: datetime) -> list[datetime]:
    """The given-back windows that have not ended by `after`: the others can never clash again."""
    schedule = reservation.schedule
    return [start for start in given_back if schedule.window(start).end > after]


async def release(resource: str, *, booking: str) -> None:
    """Drop every claim of a booking (cancelled, or undone) on `resource`."""
    await ResourceCalendar.get_pymongo_collection().update_one(
        {"_id": resource},
        {"$pull": {"claims": {"booking": booking}}, "$unset": {f"released.{booking}": ""}, "$inc": {"version": 1}},
    )


async def give_back(resource: str, *, booking: str, start: datetime) -> None:
    """Free the window of `booking` that starts at `start` (its execution ended), so it can be booked again."""
    await ResourceCalendar.get_pymongo_collection().update_one(
        {"_id": resource, "claims.booking": booking},
        {"$addToSet": {f"released.{booking}": start}, "$inc": {"version": 1}},
    )
