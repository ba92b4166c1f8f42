"""Retention: finished executions, ended bookings and ended credential leases leave the store.

The store holds what is live; the JetStream streams (JETFLOW_BOOKINGS, JETFLOW_EXECUTIONS,
JETFLOW_CREDENTIALS) keep the history. Without this sweep the hot collections grow with every booking
ever made, and so does the cost of the queries that scan them.

A record is an idempotency key as long as it exists: a replay of a deleted booking id is decided anew,
a replay of a deleted credential request issues new keys. So nothing goes before `retention` seconds
after it ended, and settings refuse a retention shorter than JetStream's duplicate window.

What ended, and when:

- an execution in an end state, `retention` after its last transition (`updated_at`);
- a booking once nothing of it can change any more: every execution stored (`next_unstored` None) or
  none ever to be (`settled`), none still pending and none that moved within `retention` (a
  cancellation moves its executions, which dates the cancel, as the record itself does not), and
  `retention` after it was decided (rejected, cancelled) or after its window ended (confirmed);
- a credential lease in an end state, `retention` after its last transition and its keys' expiry;
- what this peer answered another peer's booking (engine/booking/owner.py), `retention` after that
  booking's window ended: no claim of it can come any more.

Each sweep deletes at most `batch` documents per collection, each batch one `find` and one `delete_many`
by id (with the same condition again, so a document that changed in between stays): the store may be a
slow stand-in, and one small command at a time keeps the hot paths served.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any, get_args

from engine.booking.owner import PeerClaim
from engine.credentials.lease import LIVE, CredentialLease, LeaseState
from engine.executions.bookings import BookingRecord
from engine.executions.states import FINAL
from engine.executions.store import ExecutionRecord

if TYPE_CHECKING:
    from datetime import datetime

    from beanie import Document

    from engine.core.clock import Clock

log = logging.getLogger(__name__)

#: Documents deleted per collection per sweep at most.
BATCH = 1000
_FINAL = sorted(str(state) for state in FINAL)
_LEASE_ENDED = sorted(state for state in get_args(LeaseState) if state not in LIVE)


class Retention:
    def __init__(self, retention: float, *, batch: int = BATCH) -> None:
        self._retention = timedelta(seconds=retention)
        self._batch = batch
        # Bookings that stay (an execution still pending) must not hide the others from every sweep:
        # each sweep goes on after the last booking the previous one looked at, and wraps around.
        self._after_booking = ""

    async def sweep(self, now: datetime) -> dict[str, int]:
        """Delete what ended more than `retention` before `now`; how many documents, per collection."""
        cutoff = now - self._retention
        # Executions first: a booking whose last executions go now may go in the same sweep.
        deleted = {
            _name(ExecutionRecord): await self._executions(cutoff),
            _name(BookingRecord): await self._bookings(cutoff),
            _name(CredentialLease): await self._leases(cutoff),
            _name(PeerClaim): await self._peer_claims(cutoff),
        }
        if any(deleted.values()):
            log.info("retention: deleted %s", ", ".join(f"{n} {name}" for name, n in deleted.items()))
        return deleted

    async def run(self, clock: Clock, interval: float) -> None:
        """Sweep every `interval` seconds, the first one after a period (not at start, when all is busy)."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sweep(clock.now())
            except Exception:
                # A store outage: the next period tries again; the loop must not die.
                log.exception("retention sweep failed")

    async def _executions(self, cutoff: datetime) -> int:
        ended = {"state": {"$in": _FINAL}, "updated_at": {"$lt": cutoff}}
        return await _delete(ExecutionRecord, ended, await _ids(ExecutionRecord, ended, self._batch))

    async def _bookings(self, cutoff: datetime) -> int:
        ended: dict[str, Any] = {
            "$and": [
                # Every execution stored, or none ever will be (cancelled, and what was stored cancelled).
                {"$or": [{"next_unstored": None}, {"settled": True}]},
                {
                    "$or": [
                        {"status": {"$in": ["rejected", "cancelled"]}, "decided_at": {"$lt": cutoff}},
                        {"status": "confirmed", "request.end": {"$lt": cutoff}},
                    ]
                },
            ]
        }
        page = {**ended, "_id": {"$gt": self._after_booking}}
        candidates = await _ids(BookingRecord, page, self._batch, by_id=True)
        self._after_booking = candidates[-1] if len(candidates) == self._batch else ""
        if not candidates:
            return 0
        live = {"$or": [{"state": {"$nin": _FINAL}}, {"updated_at": {"$gte": cutoff}}]}
        busy = set(
            await ExecutionRecord.get_pymongo_collection().distinct("booking", {"booking": {"$in": candidates}, **live})
        )
        return await _delete(BookingRecord, ended, [id_ for id_ in candidates if id_ not in busy])

    async def _leases(self, cutoff: datetime) -> int:
        ended = {
            "state": {"$in": _LEASE_ENDED},
            "updated_at": {"$lt": cutoff},
            # Explicit None: the stand-in store matches null with `$lt`, MongoDB does not.
            "$or": [{"expires_at": None}, {"expires_at": {"$lt": cutoff}}],
        }
        return await _delete(CredentialLease, ended, await _ids(CredentialLease, ended, self._batch))

    async def _peer_claims(self, cutoff: datetime) -> int:
        ended = {"end": {"$lt": cutoff}}
        return await _delete(PeerClaim, ended, await _ids(PeerClaim, ended, self._batch))


def _name(document: type[Document]) -> str:
    return str(document.get_pymongo_collection().name)


async def _ids(document: type[Document], condition: dict[str, Any], limit: int, *, by_id: bool = False) -> list[str]:
    cursor = document.get_pymongo_collection().find(condition, {"_id": 1})
    if by_id:
        cursor = cursor.sort("_id", 1)
    return [str(found["_id"]) for found in await cursor.limit(limit).to_list()]


async def _delete(document: type[Document], condition: dict[str, Any], ids: list[str]) -> int:
    if not ids:
        return 0
    result = await document.get_pymongo_collection().delete_many({**condition, "_id": {"$in": ids}})
    return int(result.deleted_count)
