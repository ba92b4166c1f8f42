"""The booking peer's side of a booking that names other peers' resources: each owner claims its own.

A resource whose catalog entry names another peer (`peer` neither 'local' nor our id) is that peer's to
give. We ask it on `jetflow.peer.<owner>.booking.claim` with the booking's schedule, never its windows,
so the request stays small whatever the cron; it decides with its own calendars (engine/booking/owner.py).
Every owner is asked at once, and the booking is confirmed only if each one claimed. Otherwise it is
rejected with the first refusal (by owner id), whose reason names the peer and the resources, and what
may have been claimed is released: on every owner that claimed, and on every one that did not answer in
time (its claim may have been taken and its answer lost). An owner nobody serves (its server or its link
is down) was never reached, so it holds nothing.

An execution of such a booking that ends before its window closes frees that window on every owner
(`jetflow.peer.<owner>.booking.free`), as it frees it on our own calendars, so it can be booked again there.

A release or a free that does not reach its owner is kept (`PendingRelease`) and sent again every
`JETFLOW_PEER_RETRY` seconds by every replica until the owner answers. Both are idempotent on the owner,
so a retry, or two replicas retrying at once, change nothing.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from beanie import Document

from engine.peers import PeerTimeout, PeerUnavailable
from schemas import subjects
from schemas.peer import ClaimResources, FreeWindow, ReleaseClaims

if TYPE_CHECKING:
    from collections.abc import Iterable

    from engine.core.clock import Clock
    from engine.executions.store import ExecutionRecord
    from engine.peers import PeerClient
    from schemas.base import Message
    from schemas.booking import BookingRequest, Conflict
    from schemas.catalog import Resource

log = logging.getLogger(__name__)

#: An owner's refusal codes a rejection keeps; any other reason to fail is `unavailable`.
REFUSALS = frozenset({"conflict", "unknown_resource", "limit", "invalid"})
#: Pending releases sent again per pass.
RETRY_BATCH = 100


class PendingRelease(Document):
    """A release (or a window's free) an owner has not confirmed yet: sent again until it does."""

    id: str  # type: ignore[assignment]  # `<owner>:<booking>`, or `<owner>:<execution>` for a window
    owner: str
    booking: str
    resources: list[str]
    end: datetime
    """The booking's end (the window's, to free one): after it the owner holds nothing of it anyway, and the
    release is dropped."""
    window: datetime | None = None
    """The start of the one window to free; None: release the whole booking."""
    reason: str
    """Why the last attempt did not go through."""

    class Settings:
        name = "peer_releases"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why an owner did not claim: `code` as a booking rejection has it, and a reason naming the peer."""

    code: str
    reason: str
    conflicts: list[Conflict] = field(default_factory=list)


class RemoteClaims:
    def __init__(self, peers: PeerClient, peer_id: str) -> None:
        self._peers = peers
        self._peer_id = peer_id

    def owners(self, resources: Iterable[Resource]) -> tuple[list[Resource], dict[str, list[str]]]:
        """Ours, and the other peers' resource ids by owner."""
        ours: list[Resource] = []
        theirs: dict[str, list[str]] = {}
        for resource in resources:
            if (owner := resource.owner(self._peer_id)) == self._peer_id:
                ours.append(resource)
            else:
                theirs.setdefault(owner, []).append(resource.id)
        return ours, theirs

    async def claim_all(self, request: BookingRequest, owners: dict[str, list[str]], count: int) -> Refusal | None:
        """Ask every owner to claim its resources for every window (`count`) of `request`: None when all did;
        else the first refusal, once what may have been claimed is released."""
        ordered = sorted(owners.items())
        answers = await asyncio.gather(*(self._claim(owner, names, request, count) for owner, names in ordered))
        refusals = [refusal for refusal, _ in answers if refusal is not None]
        if not refusals:
            return None
        for (owner, names), (_, held) in zip(ordered, answers, strict=True):
            if held:
                await self.release(owner, request.id, names, request.end)
        first = refusals[0]
        return Refusal(first.code, first.reason, [c for refusal in refusals for c in refusal.conflicts])

    async def _claim(
        self, owner: str, names: list[str], request: BookingRequest, count: int
    ) -> tuple[Refusal | None, bool]:
        """The owner's refusal (None: it claimed), and whether it may hold a claim now."""
        message = ClaimResources(
            id=f"{request.id}:claim:{owner}",
            booking=request.id,
            requester=self._peer_id,
            resources=names,
            start=request.start,
            end=request.end,
            cron=request.cron,
            duration=request.duration,
            count=count,
        )
        listed = ", ".join(names)
        try:
            reply = await self._peers.ask(subjects.booking_claim(owner), message)
        except PeerTimeout as error:
            return Refusal("unavailable", f"peer {owner} did not answer the claim of {listed}: {error}"), True
        except PeerUnavailable as error:
            return Refusal("unavailable", f"peer {owner} is unavailable to claim {listed}: {error}"), False
        if reply.status == "ok":
            return None, True
        if reply.code in REFUSALS:
            refusal = Refusal(reply.code, f"peer {owner} refused {listed}: {reply.reason}", list(reply.conflicts or []))
            return refusal, False
        # A failure on the owner's side (its store, say) may have left part of the claim behind.
        return Refusal("unavailable", f"peer {owner} could not claim {listed}: {reply.code}: {reply.reason}"), True

    async def release(self, owner: str, booking: str, resources: list[str], end: datetime) -> None:
        """Release the claims of `booking` on `owner`, now or, when it does not answer, later."""
        if (why := await self._send(owner, booking, resources, end)) is not None:
            log.warning("claims of booking %s on peer %s not released yet (%s); retrying", booking, owner, why)
            pending = PendingRelease(
                id=f"{owner}:{booking}", owner=owner, booking=booking, resources=resources, end=end, reason=why
            )
            await pending.save()

    async def retry(self, now: datetime) -> int:
        """Send the pending releases again (drop those whose booking ended); how many went through."""
        done = 0
        for pending in await PendingRelease.find_all().limit(RETRY_BATCH).to_list():
            owner, booking = pending.owner, pending.booking
            if pending.end > now and (why := await self._resend(pending)):
                log.info("claims of booking %s on peer %s still not released (%s)", booking, owner, why)
                continue
            await pending.delete()
            done += 1
        return done

    async def free(self, owner: str, execution: ExecutionRecord, resources: list[str]) -> None:
        """Free the window of `execution` (it ended early) on `owner`, now or, when it does not answer, later."""
        booking, start, end = execution.booking, execution.planned_at, execution.window_end
        if (why := await self._free(owner, execution.id, booking, resources, start, end)) is not None:
            log.warning("window of execution %s on peer %s not freed yet (%s); retrying", execution.id, owner, why)
            pending = PendingRelease(
                id=f"{owner}:{execution.id}",
                owner=owner,
                booking=booking,
                resources=resources,
                end=end,
                window=start,
                reason=why,
            )
            await pending.save()

    async def _resend(self, pending: PendingRelease) -> str | None:
        if pending.window is None:
            return await self._send(pending.owner, pending.booking, pending.resources, pending.end)
        execution = pending.id.removeprefix(f"{pending.owner}:")  # a peer id may hold ':'
        return await self._free(
            pending.owner, execution, pending.booking, pending.resources, pending.window, pending.end
        )

    async def retry_forever(self, clock: Clock, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.retry(clock.now())
            except Exception:
                # The store is down: the next pass tries again; the loop must not die.
                log.exception("sending pending releases failed")

    async def _send(self, owner: str, booking: str, resources: list[str], end: datetime) -> str | None:
        """Ask the owner to release; None when it did, else why not."""
        message = ReleaseClaims(
            id=f"{booking}:release:{owner}", booking=booking, requester=self._peer_id, resources=resources, end=end
        )
        return await self._ask(subjects.booking_release(owner), message)

    async def _free(
        self, owner: str, execution: str, booking: str, resources: list[str], start: datetime, end: datetime
    ) -> str | None:
        """Ask the owner to free the window of `booking` at `start`; None when it did, else why not."""
        message = FreeWindow(
            id=f"{execution}:free:{owner}",
            booking=booking,
            requester=self._peer_id,
            resources=resources,
            start=start,
            end=end,
        )
        return await self._ask(subjects.booking_free(owner), message)

    async def _ask(self, subject: str, message: Message) -> str | None:
        try:
            reply = await self._peers.ask(subject, message)
        except PeerUnavailable as error:
            return str(error)
        return None if reply.status == "ok" else f"{reply.code}: {reply.reason}"
