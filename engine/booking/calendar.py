"""Resource calendars: the claims on each resource, checked and taken in one conditional write.

One document per resource holds its claims and a version. Claiming reads the calendar, runs the pure
conflict check, and writes the new claims only if the version is still the one read
(compare-and-set). Two replicas confirming overlapping bookings at the same moment therefore cannot
both succeed: the second write matches nothing, re-reads, and sees the first booking's claims.
Claims that ended long ago are pruned in the same write, so a calendar does not grow for ever.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from beanie import Document
from pydantic import BaseModel, Field
from pymongo.errors import DuplicateKeyError

from engine.booking.conflicts import Claim, find_conflict
from engine.errors import TemporaryError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from engine.booking.conflicts import Conflict

#: Compare-and-set attempts before giving up for now (the message is redelivered later).
MAX_ATTEMPTS = 50


class ClaimEntry(BaseModel):
    booking: str
    execution: str
    start: datetime
    end: datetime


class ResourceCalendar(Document):
    id: str  # type: ignore[assignment]  # the resource id
    version: int = 0
    claims: list[ClaimEntry] = Field(default_factory=list)

    class Settings:
        name = "calendars"


async def claim(resource: str, capacity: int, new: Sequence[ClaimEntry], *, prune_before: datetime) -> Conflict | None:
    """Claim `new` (all of one booking) on `resource`, or return the first conflict. Two store commands."""
    collection = ResourceCalendar.get_pymongo_collection()
    booking = new[0].booking
    for _ in range(MAX_ATTEMPTS):
        stored = await collection.find_one({"_id": resource})
        calendar = ResourceCalendar.model_validate(stored) if stored else ResourceCalendar(id=resource)
        # Idempotency guard: a replay of the same booking finds its own claims and takes nothing more.
        if any(entry.booking == booking for entry in calendar.claims):
            return None
        kept = [entry for entry in calendar.claims if entry.end > prune_before]
        conflict = find_conflict(
            [Claim(entry.booking, entry.start, entry.end) for entry in kept],
            [Claim(entry.booking, entry.start, entry.end) for entry in new],
            capacity,
        )
        if conflict is not None:
            return conflict
        claims = [entry.model_dump() for entry in (*kept, *new)]
        if stored is None:
            try:
                await collection.insert_one({"_id": resource, "version": 1, "claims": claims})
            except DuplicateKeyError:
                continue  # another replica created the calendar first: re-read it
            return None
        result = await collection.update_one(
            {"_id": resource, "version": calendar.version},
            {"$set": {"claims": claims, "version": calendar.version + 1}},
        )
        if result.modified_count == 1:
            return None
    raise TemporaryError(f"calendar of {resource} is contended; retrying later")


async def release(resource: str, *, booking: str | None = None, execution: str | None = None) -> None:
    """Drop the claims of a booking (cancelled) or of one execution (ended) on `resource`."""
    match = {"booking": booking} if booking is not None else {"execution": execution}
    await ResourceCalendar.get_pymongo_collection().update_one(
        {"_id": resource}, {"$pull": {"claims": match}, "$inc": {"version": 1}}
    )
