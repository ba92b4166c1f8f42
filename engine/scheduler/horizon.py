"""Storing executions as they enter the horizon: the only place execution documents are created.

A confirmed booking stores its schedule, not its executions (see `engine.executions.planned`); its record's
`next_unstored` is the planned time of the first execution not stored yet. Before each refill the
firing replica stores, in one `insert_many`, every execution planned before the end of its horizon,
and moves each booking's `next_unstored` past them by compare-and-set on the flags it read:

- a replay (a leader that died between the two writes) inserts the same ids again: duplicates are
  ignored, and the compare-and-set then succeeds once;
- a pause or resume that lands in between fails the compare-and-set: the executions just stored get
  the booking's flag as it is now, and the move is tried again;
- a cancel that lands in between leaves the booking unsettled (only this module settles it), so the
  executions just stored are cancelled here, on this pass or the next one after a crash.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from engine.executions import planned
from engine.executions.bookings import BookingRecord
from engine.executions.states import UNFIRED_NAMES
from engine.executions.store import ExecutionRecord, insert_executions
from schemas import subjects
from schemas.execution import ExecutionCancelled, ExecutionState

if TYPE_CHECKING:
    from collections.abc import Collection
    from datetime import datetime

    from engine.bus.publisher import Publisher
    from engine.executions.store import Transitions

log = logging.getLogger(__name__)

#: Bookings handled per pass (the rest on the next one): bounds one pass's memory and commands.
PASS_SIZE = 500
#: Batches of `PASS_SIZE` bookings one pass may take; the rest wait for the next pass.
MAX_BATCHES = 20
#: Compare-and-set attempts on one booking per pass.
ATTEMPTS = 5


class Horizon:
    def __init__(self, *, publisher: Publisher, transitions: Transitions) -> None:
        self._publisher = publisher
        self._transitions = transitions

    async def store(
        self, until: datetime, *, at: datetime, bookings: Collection[str] | None = None
    ) -> dict[str, list[ExecutionRecord]]:
        """Store the executions planned before `until` of every booking (or of `bookings`); returns what
        each booking stored, as stored. Bookings are taken `PASS_SIZE` at a time, until none is left."""
        stored: dict[str, list[ExecutionRecord]] = {}
        for _ in range(MAX_BATCHES):  # bounded: a booking that cannot move on must not hold the pass
            done, more = await self._store_some(until, at=at, bookings=bookings)
            stored.update(done)
            if not more:
                break
        return stored

    async def _store_some(
        self, until: datetime, *, at: datetime, bookings: Collection[str] | None
    ) -> tuple[dict[str, list[ExecutionRecord]], bool]:
        # `$ne: None` as well: the stand-in store (mongoeco 4.11) matches null with `$lt`, MongoDB does not.
        query: dict[str, object] = {"next_unstored": {"$ne": None, "$lt": until}, "settled": {"$ne": True}}
        if bookings is not None:
            query["_id"] = {"$in": sorted(bookings)}
        collection = BookingRecord.get_pymongo_collection()
        documents = await collection.find(query).sort("next_unstored", 1).limit(PASS_SIZE).to_list()
        records = [BookingRecord.model_validate(document) for document in documents]
        # A cancelled booking stores nothing more; `_advance` cancels what an earlier pass stored.
        entering = {
            record.id: [] if record.status == "cancelled" else list(planned.unstored(record, until=until))
            for record in records
        }
        await insert_executions([execution for executions in entering.values() for execution in executions])
        # Bookings now wholly stored (every one-shot booking) move on together, one command per kind.
        finished: dict[tuple[bool, int], list[BookingRecord]] = {}
        for record in records:
            if record.status == "confirmed" and next(planned.unstored_starts(record, since=until), None) is None:
                finished.setdefault((record.paused, len(entering[record.id])), []).append(record)
            else:
                await self._advance(record, entering[record.id], until, at=at)
        for (paused, count), group in finished.items():
            result = await collection.update_many(
                {
                    "_id": {"$in": [record.id for record in group]},
                    "next_unstored": {"$ne": None},
                    "paused": paused,
                    "status": "confirmed",
                },
                {"$set": {"next_unstored": None}, "$inc": {"stored_count": count}},
            )
            if result.modified_count != len(group):  # a pause or cancel landed meanwhile: one by one
                for record in group:
                    await self._advance(record, entering[record.id], until, at=at)
        # A full pass leaves each booking past `until` (or settled), so the next query starts further on.
        return {booking: executions for booking, executions in entering.items() if executions}, len(
            records
        ) == PASS_SIZE

    async def _advance(
        self, record: BookingRecord, stored: list[ExecutionRecord], until: datetime, *, at: datetime
    ) -> None:
        collection = BookingRecord.get_pymongo_collection()
        ids = [execution.id for execution in stored]
        for _ in range(ATTEMPTS):
            if record.status == "cancelled":
                await self._cancel_stored(record, at=at)
                # `next_unstored` stays: listings still show the executions it never stored, as cancelled.
                await collection.update_one({"_id": record.id}, {"$set": {"settled": True}})
                return
            following = next(planned.unstored_starts(record, since=until), None)
            result = await collection.update_one(
                {
                    "_id": record.id,
                    "next_unstored": record.next_unstored,
                    "paused": record.paused,
                    "status": "confirmed",
                },
                {"$set": {"next_unstored": following}, "$inc": {"stored_count": len(stored)}},
            )
            if result.modified_count == 1:
                return
            current = await BookingRecord.get(record.id)
            if current is None or (current.next_unstored != record.next_unstored and current.status != "cancelled"):
                return  # another pass moved it on
            if current.paused != record.paused and ids:
                await ExecutionRecord.get_pymongo_collection().update_many(
                    {"_id": {"$in": ids}, "state": {"$in": UNFIRED_NAMES}},
                    {"$set": {"paused": current.paused}},
                )
            record = current
        log.warning("booking %s: could not move its stored horizon on; the next pass tries again", record.id)

    async def _cancel_stored(self, record: BookingRecord, *, at: datetime) -> None:
        """Cancel what was stored of a cancelled booking (the cancel may have run before it was stored)."""
        cancelled = await self._transitions.move_booking(
            record.id, ExecutionState.CANCELLED, at=at, reason="booking cancelled"
        )
        for execution in cancelled:
            event = ExecutionCancelled(
                id=f"{execution}:cancelled", execution=execution, booking=record.id, at=at, reason="booking cancelled"
            )
            await self._publisher.publish(subjects.EXECUTION_CANCELLED, event, causation=execution)
