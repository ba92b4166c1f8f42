"""Booking decisions: validate, expand into execution windows, claim every resource or none.

The service returns what happened (the events to publish); the handler publishes them. Every effect
is keyed by the booking id: execution ids are derived from it and the occurrence, claims carry it,
the record's `_id` is it. A replay after a crash at any point converges on the same state and the
same outcome, and costs a constant number of store commands whatever the number of executions.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from engine.booking import calendar
from engine.booking.calendar import ClaimEntry
from engine.booking.cron import CronError, TooManyOccurrences
from engine.booking.records import BookingRecord
from engine.booking.windows import execution_id, execution_windows
from engine.errors import PermanentError
from engine.executions.store import ExecutionRecord, Transitions, insert_executions
from engine.store import create_once
from schemas import subjects
from schemas.booking import BookingCancelled, BookingConfirmed, BookingRejected, Conflict
from schemas.execution import ExecutionCancelled, ExecutionState

if TYPE_CHECKING:
    from engine.booking.windows import Window
    from engine.catalog.store import Catalog
    from engine.settings import Settings
    from schemas.base import Message
    from schemas.booking import BookingCancel, BookingRequest
    from schemas.catalog import Resource

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Emit:
    """An event to publish, and the command it answers."""

    subject: str
    event: Message
    announce: bool = True
    """False for a copy of a command another stream message decided: that message announces it."""


class Rejected(Exception):
    def __init__(self, rejection: BookingRejected) -> None:
        super().__init__(rejection.reason)
        self.rejection = rejection


class Bookings:
    def __init__(self, settings: Settings, catalog: Catalog, transitions: Transitions) -> None:
        self._settings = settings
        self._catalog = catalog
        self._transitions = transitions

    async def request(self, request: BookingRequest, *, received_at: datetime, sequence: int | None = None) -> Emit:
        """Decide `request`; `received_at` (the stream's timestamp) makes time checks replay-stable.

        `sequence` is the request's stream sequence: the message that decided a booking announces it
        (again, on a redelivery after a crash); other copies of the same id are answered silently.
        """
        # Idempotency guard: a decided booking answers with its recorded outcome.
        stored = await BookingRecord.get(request.id)
        if stored is not None:
            return _recorded(stored, sequence)
        try:
            resources, windows = await self._check(request, received_at)
            executions = [execution_id(request.id, window.start) for window in windows]
            await self._claim_all(request, resources, windows, executions, prune_before=received_at)
        except Rejected as rejected:
            await self._undo(request)
            record = _record(
                request, "rejected", [], subjects.BOOKING_REJECTED, rejected.rejection, received_at, sequence
            )
        else:
            records = [
                ExecutionRecord(
                    id=execution,
                    booking=request.id,
                    workflow=request.workflow,
                    resources=request.resources,
                    planned_at=window.start,
                    window_end=window.end,
                    updated_at=received_at,
                )
                for execution, window in zip(executions, windows, strict=True)
            ]
            await insert_executions(records)
            confirmed = BookingConfirmed(
                id=f"{request.id}:confirmed",
                booking=request.id,
                executions=executions,
                resources=request.resources,
                start=request.start,
                end=request.end,
            )
            record = _record(
                request, "confirmed", executions, subjects.BOOKING_CONFIRMED, confirmed, received_at, sequence
            )
        stored, _created = await create_once(record)
        return _recorded(stored, sequence)

    async def _check(self, request: BookingRequest, received_at: datetime) -> tuple[list[Resource], list[Window]]:
        settings = self._settings

        def reject(code: str, reason: str, conflicts: list[Conflict] | None = None) -> Rejected:
            return Rejected(
                BookingRejected(
                    id=f"{request.id}:rejected",
                    booking=request.id,
                    code=code,  # type: ignore[arg-type]
                    reason=reason,
                    conflicts=conflicts or [],
                )
            )

        earliest = received_at - timedelta(seconds=settings.past_tolerance)
        if request.start < earliest:
            raise reject(
                "invalid",
                f"start {request.start.isoformat()} is in the past "
                f"(more than {settings.past_tolerance:g}s before {received_at.isoformat()})",
            )
        if (request.end - request.start).total_seconds() > settings.max_booking_window:
            raise reject(
                "limit",
                f"window of {request.end - request.start} exceeds the maximum of "
                f"{timedelta(seconds=settings.max_booking_window)}",
            )
        try:
            windows = execution_windows(
                request.start, request.end, request.cron, request.duration, settings.max_executions_per_booking
            )
        except TooManyOccurrences:
            raise reject(
                "limit",
                f"cron {request.cron!r} yields more than {settings.max_executions_per_booking} executions "
                "in the window (the configured maximum per booking)",
            ) from None
        except CronError as error:
            raise reject("invalid", str(error)) from None
        if not windows:
            raise reject(
                "invalid",
                f"cron {request.cron!r} has no occurrence between {request.start.isoformat()} "
                f"and {request.end.isoformat()}",
            )
        known = await self._catalog.resources(request.resources)
        if missing := [name for name in request.resources if name not in known]:
            raise reject("unknown_resource", f"unknown resource(s): {', '.join(missing)}")
        if await self._catalog.workflow(request.workflow) is None:
            raise reject("unknown_workflow", f"unknown workflow '{request.workflow}'")
        return [known[name] for name in request.resources], windows

    async def _claim_all(
        self,
        request: BookingRequest,
        resources: list[Resource],
        windows: list[Window],
        executions: list[str],
        *,
        prune_before: datetime,
    ) -> None:
        # Sorted, so two bookings on the same resources claim them in the same order.
        for resource in sorted(resources, key=lambda r: r.id):
            entries = [
                ClaimEntry(booking=request.id, execution=execution, start=window.start, end=window.end)
                for execution, window in zip(executions, windows, strict=True)
            ]
            conflict = await calendar.claim(resource.id, resource.capacity, entries, prune_before=prune_before)
            if conflict is not None:
                clash = Conflict(resource=resource.id, start=conflict.start, end=conflict.end, booking=conflict.booking)
                holder = f" held by booking {conflict.booking}" if conflict.booking else ""
                raise Rejected(
                    BookingRejected(
                        id=f"{request.id}:rejected",
                        booking=request.id,
                        code="conflict",
                        reason=f"resource {resource.id} (capacity {resource.capacity}) is full from "
                        f"{conflict.start.isoformat()} to {conflict.end.isoformat()}{holder}",
                        conflicts=[clash],
                    )
                )

    async def _undo(self, request: BookingRequest) -> None:
        """All or nothing: drop whatever an earlier attempt at this booking claimed or created."""
        for resource in request.resources:
            await calendar.release(resource, booking=request.id)
        await ExecutionRecord.find({"booking": request.id}).delete()

    async def cancel(self, command: BookingCancel, *, at: datetime) -> list[Emit]:
        stored = await BookingRecord.get(command.booking)
        if stored is None:
            raise PermanentError(f"unknown booking '{command.booking}'")
        # Idempotency guard: the same cancel command answers with the event it produced.
        if command.id in stored.cancellations:
            return [Emit(subjects.BOOKING_CANCELLED, BookingCancelled.model_validate(stored.cancellations[command.id]))]
        if stored.status == "rejected":
            raise PermanentError(f"booking '{command.booking}' was rejected; there is nothing to cancel")
        already = stored.status == "cancelled"
        cancelled = await self._transitions.move_booking(
            command.booking, ExecutionState.CANCELLED, at=at, reason=command.reason or "booking cancelled"
        )
        for resource in stored.request.resources:
            await calendar.release(resource, booking=command.booking)
        event = BookingCancelled(
            id=f"{command.id}:cancelled", booking=command.booking, executions=cancelled, already=already
        )
        await BookingRecord.get_pymongo_collection().update_one(
            {"_id": command.booking},
            {"$set": {"status": "cancelled", f"cancellations.{command.id}": event.model_dump(mode="json")}},
        )
        emits = [
            Emit(
                subjects.EXECUTION_CANCELLED,
                ExecutionCancelled(
                    id=f"{execution}:cancelled",
                    execution=execution,
                    booking=command.booking,
                    at=at,
                    reason="booking cancelled",
                ),
            )
            for execution in cancelled
        ]
        return [Emit(subjects.BOOKING_CANCELLED, event), *emits]


def _record(
    request: BookingRequest,
    status: str,
    executions: list[str],
    subject: str,
    event: Message,
    at: datetime,
    sequence: int | None,
) -> BookingRecord:
    return BookingRecord(
        id=request.id,
        request=request,
        status=status,
        executions=executions,
        outcome_subject=subject,
        outcome=event.model_dump(mode="json"),
        decided_at=at,
        decided_by=sequence,
    )


def _recorded(record: BookingRecord, sequence: int | None) -> Emit:
    model = BookingConfirmed if record.outcome_subject == subjects.BOOKING_CONFIRMED else BookingRejected
    announce = record.decided_by is None or record.decided_by == sequence
    return Emit(record.outcome_subject, model.model_validate(record.outcome), announce)


def recorded_outcome(record: BookingRecord) -> dict[str, Any]:
    """A decided booking as a `jetflow.ctl` reply: its outcome event and status."""
    return {"status": record.outcome_subject.rsplit(".", 1)[-1], **record.outcome}


def invalid(booking: str, reason: str) -> BookingRejected:
    """The outcome of a request that fails its schema: refused, nothing persisted or claimed.

    Its own event id (`:invalid`), so it never takes the place of the decision of a valid request
    with the same booking id in JetStream's duplicate window.
    """
    return BookingRejected(id=f"{booking}:invalid", booking=booking, code="invalid", reason=reason)
