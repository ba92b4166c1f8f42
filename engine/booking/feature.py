"""The booking feature: decide requests and cancels, answer for them, and publish what was decided.

handlers/booking.py binds the stream subjects and the `jetflow.ctl.booking.*` endpoints to these methods.
Every replica also answers other peers' claims on this peer's resources (`jetflow.peer.<us>.booking.*`,
engine/booking/owner.py) and sends again the releases another peer did not confirm (engine/booking/remote.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.booking.owner import ClaimHost
from engine.booking.remote import RemoteClaims
from engine.booking.service import Bookings, cancellable, invalid, recorded_outcome
from engine.bus.decode import claimed_id
from engine.catalog.store import Catalog
from engine.core.background import Background
from engine.core.errors import PermanentError
from engine.core.lifecycle import Idle
from engine.executions.bookings import BookingRecord, cancellation_key
from engine.peers import PeerClient
from schemas import subjects

if TYPE_CHECKING:
    from nats.aio.subscription import Subscription

    from engine.booking.settings import BookingSettings
    from engine.bus.consumer import Delivery
    from engine.bus.decode import Rejection
    from engine.core.emit import Emit
    from engine.ports import Ports
    from schemas.booking import BookingCancel, BookingRequest
    from schemas.execution import ExecutionEvent
    from schemas.queries import ExecutionCancel, Get

OUTCOMES = (subjects.BOOKING_CONFIRMED, subjects.BOOKING_REJECTED, subjects.BOOKING_CANCELLED)


class BookingFeature(Idle):
    def __init__(self, runtime: Ports, settings: BookingSettings) -> None:
        self._runtime = runtime
        peer, catalog, clock = runtime.settings.peer, Catalog(), runtime.clock
        self._nc = runtime.publisher.connection
        self.remote = RemoteClaims(PeerClient(self._nc, peer.timeout), peer.id)
        self.bookings = Bookings(settings, catalog, runtime.transitions, self.remote)
        self._host = ClaimHost(peer.id, settings.max_executions, catalog, self.bookings.calendars, clock)
        self._retry = Background("peer-releases", lambda: self.remote.retry_forever(clock, peer.retry))
        self._subscriptions: list[Subscription] = []
        self._publish = runtime.publisher.publish

    async def start(self) -> None:
        self._subscriptions = await self._host.serve(self._nc)
        self._retry.start()

    async def stop(self) -> None:
        await self._retry.stop()
        for subscription in self._subscriptions:
            await subscription.unsubscribe()
        self._subscriptions.clear()

    async def invalid(self, body: bytes, rejection: Rejection) -> dict[str, Any] | None:
        """A request that fails its schema is refused like any other: with a `rejected` event."""
        if (booking := claimed_id(body)) is None:
            return None
        # Idempotency guard: a bad copy of a decided booking does not unsay its decision.
        if (decided := await BookingRecord.get(booking)) is not None:
            return recorded_outcome(decided)
        event = invalid(booking, rejection.reason)
        # No causation header: nobody waits for it (the ctl path replies with it directly), and a
        # valid request with this id waiting for its own outcome must not take it for its answer.
        await self._publish(subjects.BOOKING_REJECTED, event)
        return {"status": "rejected", **event.model_dump(mode="json")}

    async def _announce(self, emit: Emit, request: BookingRequest) -> None:
        if emit.announce:
            await self._publish(emit.subject, emit.event, causation=request.id)

    async def exhausted(self, request: BookingRequest, reason: str) -> None:
        """Given up on (store down, handler timed out, `max_deliver` times): rejected `unavailable`."""
        await self._announce(await self.bookings.give_up(request, reason, at=self._runtime.clock.now()), request)

    async def request(self, request: BookingRequest, delivery: Delivery) -> None:
        """Decide a booking request: confirmed (executions scheduled) or rejected (with the reason)."""
        decided = await self.bookings.request(
            request, received_at=delivery.published_at, sequence=delivery.stream_sequence
        )
        await self._announce(decided, request)

    async def cancel(self, command: BookingCancel) -> None:
        """Cancel a booking: pending executions cancelled, claims released."""
        for emit in await self.bookings.cancel(command, at=self._runtime.clock.now()):
            await self._publish(emit.subject, emit.event, causation=command.id)

    async def cancel_execution(self, query: ExecutionCancel) -> dict[str, Any]:
        """Cancel one execution now (`jetflow.ctl.execution.cancel`), and say so on jetflow.execution.cancelled."""
        reply, emit = await self.bookings.cancel_execution(
            query.execution, at=self._runtime.clock.now(), reason=query.reason
        )
        await self._publish(emit.subject, emit.event)
        return reply

    async def ended(self, event: ExecutionEvent) -> None:
        """An execution ended: free its window on the other peers that hold its booking's resources."""
        await self.bookings.ended(event.execution, at=self._runtime.clock.now())

    async def decided(self, booking_id: str) -> dict[str, Any] | None:
        record = await BookingRecord.get(booking_id)
        return None if record is None else recorded_outcome(record)

    async def cancelled(self, cancel_id: str) -> dict[str, Any] | None:
        key = cancellation_key(cancel_id)
        record = await BookingRecord.find_one({f"cancellations.{key}": {"$exists": True}})
        applied = None if record is None else record.cancellation(cancel_id)
        return None if applied is None else {"status": "cancelled", **applied}

    async def can_cancel(self, command: BookingCancel) -> None:
        """Over ctl, a cancel of an unknown or a rejected booking is answered at once (the stream path
        dead-letters it with the same reason), instead of waiting for an outcome that never comes."""
        cancellable(await BookingRecord.get(command.booking), command.booking)

    async def get(self, query: Get) -> dict[str, Any]:
        record = await BookingRecord.get(query.id)
        if record is None:
            raise PermanentError(f"unknown booking '{query.id}'")
        return record.public()
