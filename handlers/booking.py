"""Bookings and executions: requests and cancels from the stream or `jetflow.ctl` → engine/booking/feature.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.booking.feature import OUTCOMES
from engine.booking.listing import get_execution, list_bookings, list_executions
from schemas import subjects
from schemas.booking import BookingCancel, BookingRequest
from schemas.execution import ENDED
from schemas.queries import BookingList, ExecutionCancel, ExecutionList, Get

if TYPE_CHECKING:
    from engine.bus.consumer import Delivery
    from engine.runtime import Runtime
    from schemas.execution import ExecutionEvent


async def install(runtime: Runtime) -> None:
    booking = runtime.features.booking
    durable = runtime.consumers.durable
    workers = runtime.settings.booking.workers

    @durable(
        runtime.router,
        name="booking-request",
        subject=subjects.BOOKING_REQUEST,
        model=BookingRequest,
        max_workers=workers,
        on_invalid=booking.invalid,
        on_exhausted=booking.exhausted,
    )
    async def on_request(request: BookingRequest, delivery: Delivery) -> None:
        """Decide a booking request: confirmed (executions scheduled) or rejected (with the reason)."""
        await booking.request(request, delivery)

    @durable(
        runtime.router, name="booking-cancel", subject=subjects.BOOKING_CANCEL, model=BookingCancel, max_workers=workers
    )
    async def on_cancel(command: BookingCancel, delivery: Delivery) -> None:
        """Cancel a booking: pending executions cancelled, claims released."""
        await booking.cancel(command)

    async def on_ended(event: ExecutionEvent, _: Delivery) -> None:
        """Free the window of an execution that ended early on the other peers holding its booking's resources."""
        await booking.ended(event)

    for subject, model in ENDED.items():
        ending = subject.rsplit(".", 1)[-1].replace("_", "-")
        durable(runtime.router, name=f"booking-free-{ending}", subject=subject, model=model)(on_ended)

    control = runtime.control
    await control.add_command(
        "booking-request",
        subjects.ctl("booking", "request"),
        BookingRequest,
        target=subjects.BOOKING_REQUEST,
        outcomes=OUTCOMES,
        lookup=booking.decided,
        on_invalid=booking.invalid,
    )
    await control.add_command(
        "booking-cancel",
        subjects.ctl("booking", "cancel"),
        BookingCancel,
        target=subjects.BOOKING_CANCEL,
        outcomes=OUTCOMES,
        lookup=booking.cancelled,
        check=booking.can_cancel,
    )
    await control.add_query("booking-get", subjects.ctl("booking", "get"), Get, booking.get)
    await control.add_query("booking-list", subjects.ctl("booking", "list"), BookingList, list_bookings)
    await control.add_query("execution-list", subjects.ctl("execution", "list"), ExecutionList, list_executions)
    await control.add_query("execution-get", subjects.ctl("execution", "get"), Get, get_execution)
    await control.add_query(
        "execution-cancel", subjects.ctl("execution", "cancel"), ExecutionCancel, booking.cancel_execution
    )
