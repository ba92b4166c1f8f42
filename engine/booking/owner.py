"""The owner's side of another peer's booking: claim our resources for it, on our own calendars.

A peer alone decides its resources' calendars. A booking made on another peer that names some of ours
asks us on `jetflow.peer.<us>.booking.claim` (engine/booking/remote.py), and we decide it as we decide
our own bookings: the catalog (ours, with our capacities), the schedule expanded here within our limit,
and the calendars' compare-and-set (engine/claims/calendar.py). The reservation is named
`<requester>:<booking>`: booking ids hold no ':', so it never takes the place of one of our bookings,
nor two peers' bookings of the same id each other's. Two peers booking the same capacity-1 resource at
the same moment therefore cannot both win: the calendar's version lets one write, and the other re-reads
and sees it.

Every answer is kept (`PeerClaim`, by that name). A claim asked again (a retry, a replay after the
requester crashed) is answered as the first time, whatever changed since. A release is kept too, and it
wins: a claim that arrives after its booking's release (a slow claim overtaken by the release its
requester sent when it stopped waiting) is refused and holds nothing.

An execution that ends before its window closes frees that one window here too (`booking.free`): the
same `give_back` as our own executions' (engine/claims/calendar.py), only for a claim we hold.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from beanie import Document
from pymongo.errors import DuplicateKeyError

from engine.claims import calendar
from engine.claims.calendar import Reservation
from engine.claims.cron import CronError, TooManyOccurrences
from engine.claims.windows import Schedule
from engine.peers import serve
from schemas.peer import ClaimResources, FreeWindow, PeerReply, ReleaseClaims

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.subscription import Subscription

    from engine.catalog.store import Catalog
    from engine.claims.calendar import Calendars
    from engine.core.clock import Clock

log = logging.getLogger(__name__)

ClaimState = Literal["claimed", "refused", "released"]
#: Refusal code of a claim that came after its booking's release.
RELEASED = "released"


class PeerClaim(Document):
    """What this peer answered another peer's booking: claimed, refused, or released since."""

    id: str  # type: ignore[assignment]  # `<requester>:<booking>`, also the reservation's booking on our calendars
    state: ClaimState
    reply: dict[str, Any]
    resources: list[str]
    end: datetime
    """The booking's end: the retention sweep forgets the record some time after."""
    updated_at: datetime

    class Settings:
        name = "peer_claims"


def holder(requester: str, booking: str) -> str:
    """The name of another peer's booking on our calendars."""
    return f"{requester}:{booking}"


class ClaimHost:
    """Answers `jetflow.peer.<us>.booking.claim|release` (one replica of this peer answers each)."""

    def __init__(self, peer_id: str, max_executions: int, catalog: Catalog, calendars: Calendars, clock: Clock) -> None:
        self._peer_id = peer_id
        self._max_executions = max_executions
        self._catalog = catalog
        self._calendars = calendars
        self._clock = clock

    async def serve(self, nc: Client) -> list[Subscription]:
        peer = self._peer_id
        claims = await serve(nc, peer, "booking", "claim", ClaimResources, self.claim)
        releases = await serve(nc, peer, "booking", "release", ReleaseClaims, self.release)
        return claims + releases + await serve(nc, peer, "booking", "free", FreeWindow, self.free)

    async def claim(self, message: ClaimResources) -> PeerReply:
        key = holder(message.requester, message.booking)
        # Idempotency guard: a claim asked before is answered as it was; one released since is refused.
        if (known := await PeerClaim.get(key)) is not None:
            return _answer(known)
        reply = await self._decide(message, key)
        document = {
            "state": "claimed" if reply.status == "ok" else "refused",
            "reply": reply.model_dump(mode="json", exclude_none=True),
            "resources": message.resources,
            "end": message.end,
            "updated_at": self._clock.now(),
        }
        try:
            # Never over a release: one that came in while we claimed keeps the booking released.
            await PeerClaim.get_pymongo_collection().update_one(
                {"_id": key, "state": {"$ne": RELEASED}}, {"$set": document}, upsert=True
            )
        except DuplicateKeyError:
            await _give_back(message.resources, key)
            return _released(key)
        return reply

    async def release(self, message: ReleaseClaims) -> PeerReply:
        key = holder(message.requester, message.booking)
        document = {"state": RELEASED, "resources": message.resources, "end": message.end}
        collection = PeerClaim.get_pymongo_collection()
        with contextlib.suppress(DuplicateKeyError):  # a concurrent release inserted it first: it is released
            await collection.update_one(
                {"_id": key},
                {"$set": {**document, "updated_at": self._clock.now()}, "$setOnInsert": {"reply": {}}},
                upsert=True,
            )
        await _give_back(message.resources, key)
        log.info("released %s's booking %s on %s", message.requester, message.booking, ", ".join(message.resources))
        return PeerReply(status="ok")

    async def free(self, message: FreeWindow) -> PeerReply:
        """Give back one window of a booking we hold (its execution ended early on the requester)."""
        key = holder(message.requester, message.booking)
        known = await PeerClaim.get(key)
        # Idempotency guard: only a claim we hold has windows to give back; giving one back twice is a set add.
        if known is None or known.state != "claimed":
            return PeerReply(status="ok")
        if resources := [name for name in message.resources if name in known.resources]:
            for resource in resources:
                await calendar.give_back(resource, booking=key, start=message.start)
            log.info(
                "freed the window at %s of %s's booking %s on %s",
                message.start.isoformat(),
                message.requester,
                message.booking,
                ", ".join(resources),
            )
        return PeerReply(status="ok")

    async def _decide(self, message: ClaimResources, key: str) -> PeerReply:
        us = self._peer_id
        known = await self._catalog.resources(message.resources)
        if missing := [name for name in message.resources if name not in known or known[name].owner(us) != us]:
            return _refusal("unknown_resource", f"peer {us} owns no resource {', '.join(missing)}")
        schedule = Schedule(message.start, message.end, message.cron, message.duration)
        try:
            spans = await schedule.expand(self._max_executions)
        except TooManyOccurrences:
            reason = f"the schedule yields more than {self._max_executions} windows, peer {us}'s maximum per booking"
            return _refusal("limit", reason)
        except CronError as error:
            return _refusal("invalid", f"peer {us}: {error}")
        if len(spans) != message.count:
            reason = f"peer {us} counts {len(spans)} windows in the schedule, peer {message.requester} {message.count}"
            return _refusal("invalid", reason)
        reservation = Reservation.of(key, schedule, len(spans))
        resources = [known[name] for name in message.resources]
        taken = await self._calendars.claim_all(resources, reservation, spans, prune_before=self._clock.now())
        if taken is not None:
            resource, clash = taken
            return PeerReply(
                status="error",
                code="conflict",
                reason=clash.reason(resource.id, resource.capacity),
                conflicts=[clash.conflict(resource.id)],
            )
        log.info("claimed %s for %s's booking %s", ", ".join(message.resources), message.requester, message.booking)
        return PeerReply(status="ok")


def _answer(known: PeerClaim) -> PeerReply:
    return _released(known.id) if known.state == RELEASED else PeerReply.model_validate(known.reply)


def _refusal(code: str, reason: str) -> PeerReply:
    return PeerReply(status="error", code=code, reason=reason)


def _released(key: str) -> PeerReply:
    requester, _, booking = key.rpartition(":")  # a booking id holds no ':', a peer id might
    return _refusal(RELEASED, f"booking {booking} of peer {requester} was released here; it holds nothing")


async def _give_back(resources: list[str], key: str) -> None:
    for resource in resources:
        await calendar.release(resource, booking=key)
