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
import json
from bisect import bisect_left, bisect_right
from collections import defaultdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from beanie import Document
from pydantic import BaseModel, Field, field_validator
from pymongo.errors import DuplicateKeyError

from engine.claims.conflicts import clash_of_spans
from engine.claims.windows import Schedule, execution_id, instant, microseconds
from engine.core.errors import TemporaryError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from engine.claims.conflicts import Clash
    from engine.claims.windows import Spans
    from schemas.catalog import Resource

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

    def fields(self) -> list[Any]:
        """The reservation as stored, instants in exact microseconds."""
        return [self.booking, microseconds(self.start), microseconds(self.end), self.cron, self.seconds, self.count]

    def encode(self) -> str:
        return _json(self.fields())

    @classmethod
    def decode(cls, text: str) -> Reservation:
        return cls.from_fields(json.loads(text))

    @classmethod
    def from_fields(cls, fields: list[Any]) -> Reservation:
        booking, start, end, cron, seconds, count = fields
        return cls(booking=booking, start=instant(start), end=instant(end), cron=cron, seconds=seconds, count=count)


class ResourceCalendar(Document):
    id: str  # type: ignore[assignment]  # the resource id
    version: int = 0
    claims: list[str] = Field(default_factory=list, description="The reservations, each `Reservation.encode`d.")
    released: dict[str, list[datetime]] = Field(
        default_factory=dict, description="Booking → starts of its windows given back early (their execution ended)."
    )

    class Settings:
        name = "calendars"

    @field_validator("claims", mode="before")
    @classmethod
    def _unpack(cls, stored: Any) -> Any:
        return [_json(fields) for fields in unpacked(stored)] if isinstance(stored, str) else stored

    @property
    def reservations(self) -> list[Reservation]:
        return [Reservation.decode(claim) for claim in self.claims]

    def held(self) -> list[str]:
        """Ids of the executions whose windows this calendar still holds, in time order."""
        held: list[tuple[datetime, str]] = []
        for reservation in self.reservations:
            given_back = {_millis(microseconds(start)) for start in self.released.get(reservation.booking, ())}
            windows = reservation.schedule.windows(reservation.count)
            held += [
                (w.start, execution_id(reservation.booking, w.start))
                for w in windows
                if _millis(microseconds(w.start)) not in given_back
            ]
        return [execution for _, execution in sorted(held)]


class Calendars:
    """Claims taken by this engine: one at a time per resource, each starting from the calendar as this
    engine last wrote it (a guess the version check confirms), so a claim costs one store command while
    no other replica writes the same calendar."""

    def __init__(self) -> None:
        self._claiming: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._written: dict[str, dict[str, Any]] = {}
        """Resource → the calendar as this engine last wrote it."""

    async def claim(
        self, resource: str, capacity: int, new: Reservation, spans: Spans, *, prune_before: datetime
    ) -> Clash | None:
        """Claim every window of `new` (`spans`, its expansion) on `resource`, or return the first clash.

        One store command when this engine wrote the calendar last, two otherwise, whatever the number of
        windows on either side: the version check catches any change made since by another replica, a
        release, or an execution giving its window back.
        """
        # Concurrent bookings of one resource would only make each other's compare-and-set fail.
        async with self._claiming[resource]:
            return await self._claim(resource, capacity, new, spans, prune_before=prune_before)

    async def claim_all(
        self, resources: Sequence[Resource], new: Reservation, spans: Spans, *, prune_before: datetime
    ) -> tuple[Resource, Clash] | None:
        """Claim every one of `resources` for `new`, or none: the first clash gives back those claimed before it,
        and is returned with its resource."""
        claimed: list[str] = []
        # Sorted, so two bookings on the same resources claim them in the same order (and a replay
        # after a crash finds its own claims on a prefix of them, which it counts as claimed).
        for resource in sorted(resources, key=lambda r: r.id):
            clash = await self.claim(resource.id, resource.capacity, new, spans, prune_before=prune_before)
            if clash is not None:
                for taken in claimed:
                    await release(taken, booking=new.booking)
                return resource, clash
            claimed.append(resource.id)
        return None

    async def _claim(
        self,
        resource: str,
        capacity: int,
        new: Reservation,
        spans: Spans,
        *,
        prune_before: datetime,
    ) -> Clash | None:
        collection = ResourceCalendar.get_pymongo_collection()
        fresh = list(zip(spans.starts, spans.ends, strict=True))
        low, high = spans.starts[0], spans.ends[-1]
        for attempt in range(MAX_ATTEMPTS):
            guess = self._written.pop(resource, None) if attempt == 0 else None
            stored = guess if guess is not None else await collection.find_one({"_id": resource})
            version = int(stored["version"]) if stored else 0
            # Read raw, and only the reservations that could clash are turned into schedules: a calendar
            # holds every future booking of its resource, and each claim must not cost all of them.
            fields = unpacked(stored.get("claims")) if stored else []
            # Idempotency guard: a replay of the same booking finds its own claim and takes nothing more.
            if any(field[0] == new.booking for field in fields):
                if guess is not None:
                    continue  # only a write checks a guess: read what is stored
                return None
            cutoff = microseconds(prune_before)
            kept = [field for field in fields if field[2] > cutoff]
            given_back: dict[str, list[datetime]] = stored.get("released", {}) if stored else {}
            existing: list[tuple[int, int]] = []
            owners: list[str] = []
            released: dict[str, list[datetime]] = {}
            for field in kept:
                if field[0] in given_back or (field[1] < high and field[2] > low):
                    reservation = Reservation.from_fields(field)
                    if starts := _still_open(reservation, given_back.get(reservation.booking, []), prune_before):
                        released[reservation.booking] = starts
                    if field[1] < high and field[2] > low:
                        window = await _overlapping(reservation, set(starts), low, high)
                        existing += window
                        owners += [reservation.booking] * len(window)
            if len(existing) + len(fresh) > _CHECKED_INLINE:  # a long sweep runs off the event loop
                clash = await asyncio.to_thread(clash_of_spans, existing, owners, fresh, capacity)
            else:
                clash = clash_of_spans(existing, owners, fresh, capacity)
            if clash is not None:
                if guess is not None:
                    continue  # only a write checks a guess: the clash may have been released since
                return clash
            document = {"claims": packed([*kept, new.fields()]), "released": released}
            if stored is None:
                try:
                    await collection.insert_one({"_id": resource, "version": 1, **document})
                except DuplicateKeyError:
                    continue  # another replica created the calendar first: re-read it
                self._written[resource] = {"_id": resource, "version": 1, **document}
                return None
            result = await collection.update_one(
                {"_id": resource, "version": version}, {"$set": {**document, "version": version + 1}}
            )
            if result.modified_count == 1:
                self._written[resource] = {"_id": resource, "version": version + 1, **document}
                return None
        raise TemporaryError(f"calendar of {resource} is contended; retrying later")


async def _overlapping(
    reservation: Reservation, given_back: set[datetime], low: int, high: int
) -> list[tuple[int, int]]:
    """The windows of `reservation` that end after `low` and start before `high`, minus those given back."""
    spans = await reservation.schedule.expand(reservation.count)
    first, last = bisect_right(spans.ends, low), bisect_left(spans.starts, high)
    skip = {_millis(microseconds(moment)) for moment in given_back}
    return [
        (spans.starts[i], spans.ends[i]) for i in range(first, max(first, last)) if _millis(spans.starts[i]) not in skip
    ]


def packed(fields: Sequence[list[Any]]) -> str:
    """A calendar's reservations as stored: one JSON string of their `Reservation.fields`.

    One string, not a list: mongoeco validates every value of a document in Python each time it stores it
    (and again for its change outbox), so a list of one string per reservation cost O(reservations) per claim,
    ~30% of the store's time in bench_bookings with a few hundred bookings on a resource; one string is copied.
    The store never looks inside it: the conflict check runs here.
    """
    return _json(list(fields))


def unpacked(stored: Any) -> list[list[Any]]:
    """The `Reservation.fields` of a stored calendar: one packed string, or, as written before, a list of one
    string per reservation (read as is, and packed at the next write)."""
    if stored is None:
        return []
    if isinstance(stored, str):
        return list(json.loads(stored))
    return [json.loads(claim) for claim in stored]


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _millis(microseconds: int) -> int:
    """Given-back starts come from stored executions, which keep milliseconds (BSON dates): compare at that."""
    return microseconds // 1000


def _still_open(reservation: Reservation, given_back: list[datetime], after: datetime) -> list[datetime]:
    """The given-back windows that have not ended by `after`: the others can never clash again."""
    schedule = reservation.schedule
    return [start for start in given_back if schedule.window(start).end > after]


async def release(resource: str, *, booking: str) -> None:
    """Drop every claim of a booking (cancelled, or undone) on `resource` (compare-and-set)."""
    collection = ResourceCalendar.get_pymongo_collection()
    for _ in range(MAX_ATTEMPTS):
        stored = await collection.find_one({"_id": resource})
        if stored is None:
            return
        fields = unpacked(stored.get("claims"))
        kept = [field for field in fields if field[0] != booking]
        if len(kept) == len(fields) and booking not in stored.get("released", {}):
            return
        version = int(stored.get("version", 0))
        result = await collection.update_one(
            {"_id": resource, "version": version},
            {"$set": {"claims": packed(kept), "version": version + 1}, "$unset": {f"released.{booking}": ""}},
        )
        if result.modified_count == 1:
            return
    raise TemporaryError(f"calendar of {resource} is contended; retrying later")


async def give_back(resource: str, *, booking: str, start: datetime) -> None:
    """Free the window of `booking` that starts at `start` (its execution ended), so it can be booked again.

    A window of a booking no longer on the calendar is dropped again by the next claim's pruning.
    """
    await ResourceCalendar.get_pymongo_collection().update_one(
        {"_id": resource}, {"$addToSet": {f"released.{booking}": start}, "$inc": {"version": 1}}
    )
