"""Bookings and executions: requests and cancels from the stream or from `jetflow.ctl`, and queries."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.booking.calendar import ResourceCalendar
from engine.booking.listing import list_executions
from engine.booking.records import BookingRecord, cancellation_key
from engine.booking.service import Bookings, cancellable, invalid, recorded_outcome
from engine.bus.decode import claimed_id
from engine.catalog.store import Catalog
from engine.errors import PermanentError
from engine.executions.store import ExecutionRecord, Transitions
from schemas import subjects
from schemas.booking import BookingCancel, BookingRequest
from schemas.queries import ExecutionList, Get

if TYPE_CHECKING:
    from engine.booking.service import Emit
    from engine.bus.consumer import Delivery
    from engine.bus.decode import Rejection
    from engine.runtime import Runtime

DOCUMENTS = (BookingRecord, ExecutionRecord, ResourceCalendar)
OUTCOMES = (subjects.BOOKING_CONFIRMED, subjects.BOOKING_REJECTED, subjects.BOOKING_CANCELLED)


async def install(runtime: Runtime) -> None:
    illegal = runtime.telemetry.meter.create_counter(
        "jetflow.executions.illegal_transitions", description="Execution transitions refused (not forward)."
    )
    bookings = Bookings(runtime.settings, Catalog(), Transitions(illegal))
    publish = runtime.publisher.publish
    durable = runtime.consumers.durable

    async def on_invalid(body: bytes, rejection: Rejection) -> dict[str, Any] | None:
        """A request that fails its schema is refused like any other: with a `rejected` event."""
        if (booking := claimed_id(body)) is None:
            return None
        # Idempotency guard: a bad copy of a decided booking does not unsay its decision.
        if (decided := await BookingRecord.get(booking)) is not None:
            return recorded_outcome(decided)
        event = invalid(booking, rejection.reason)
        # No causation header: nobody waits for it (the ctl path replies with it directly), and a
        # valid request with this id waiting for its own outcome must not take it for its answer.
        await publish(subjects.BOOKING_REJECTED, event)
        return {"status": "rejected", **event.model_dump(mode="json")}

    async def announce(emit: Emit, request: BookingRequest) -> None:
        if emit.announce:
            await publish(emit.subject, emit.event, causation=request.id)

    async def on_exhausted(request: BookingRequest, reason: str) -> None:
        """Given up on (store down, handler timed out, `max_deliver` times): rejected `unavailable`."""
        await announce(await bookings.give_up(request, reason, at=runtime.clock.now()), request)

    @durable(
        runtime.router,
        name="booking-request",
        subject=subjects.BOOKING_REQUEST,
        model=BookingRequest,
        max_workers=runtime.settings.booking_workers,
        on_invalid=on_invalid,
        on_exhausted=on_exhausted,
    )
    async def on_request(request: BookingRequest, delivery: Delivery) -> None:
        """Decide a booking request: confirmed (executions scheduled) or rejected (with the reason)."""
        await announce(
            await bookings.request(request, received_at=delivery.published_at, sequence=delivery.stream_sequence),
            request,
        )

    @durable(
        runtime.router,
        name="booking-cancel",
        subject=subjects.BOOKING_CANCEL,
        model=BookingCancel,
        max_workers=runtime.settings.booking_workers,
    )
    async def on_cancel(command: BookingCancel, delivery: Delivery) -> None:
        """Cancel a booking: pending executions cancelled, claims released."""
        for emit in await bookings.cancel(command, at=runtime.clock.now()):
            await publish(emit.subject, emit.event, causation=command.id)

    async def decided(booking_id: str) -> dict[str, Any] | None:
        record = await BookingRecord.get(booking_id)
        return None if record is None else recorded_outcome(record)

    async def cancelled(cancel_id: str) -> dict[str, Any] | None:
        key = cancellation_key(cancel_id)
        record = await BookingRecord.find_one({f"cancellations.{key}": {"$exists": True}})
        applied = None if record is None else record.cancellation(cancel_id)
        return None if applied is None else {"status": "cancelled", **applied}

    async def can_cancel(command: BookingCancel) -> None:
        """Over ctl, a cancel of an unknown or a rejected booking is answered at once (the stream path
        dead-letters it with the same reason), instead of waiting for an outcome that never comes."""
        cancellable(await BookingRecord.get(command.booking), command.booking)

    async def get_booking(query: Get) -> dict[str, Any]:
        record = await BookingRecord.get(query.id)
        if record is None:
            raise PermanentError(f"unknown booking '{query.id}'")
        return record.public()

    control = runtime.control
    await control.add_command(
        "booking-request",
        subjects.ctl("booking", "request"),
        BookingRequest,
        target=subjects.BOOKING_REQUEST,
        outcomes=OUTCOMES,
        lookup=decided,
        on_invalid=on_invalid,
    )
    await control.add_command(
        "booking-cancel",
        subjects.ctl("booking", "cancel"),
        BookingCancel,
        target=subjects.BOOKING_CANCEL,
        outcomes=OUTCOMES,
        lookup=cancelled,
        check=can_cancel,
    )
    await control.add_query("booking-get", subjects.ctl("booking", "get"), Get, get_booking)
    await control.add_query("execution-list", subjects.ctl("execution", "list"), ExecutionList, list_executions)
