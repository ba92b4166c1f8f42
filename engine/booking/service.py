"""Booking decisions: validate, expand into execution windows, claim every resource or none.

The service returns what happened (the events to publish); the handler publishes them. Every effect
is keyed by the booking id: execution ids are derived from it and the occurrence, claims carry it,
the record's `_id` is it. A replay after a crash at any point converges on the same state and the
same outcome, and costs a constant number of store commands whatever the number of executions.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from engine.claims import calendar
from engine.claims.calendar import Reservation
from engine.claims.cron import CronError, TooManyOccurrences
from engine.claims.windows import Schedule, execution_id, instant, with_default_duration
from engine.core.emit import Emit
from engine.core.errors import PermanentError
from engine.core.store import create_once
from engine.executions import planned
from engine.executions.advance import advance
from engine.executions.bookings import LISTED_MAX, BookingRecord, cancellation_key
from engine.executions.states import FINAL
from engine.executions.store import ExecutionRecord
from engine.telemetry import carrier
from schemas import subjects
from schemas.booking import BookingCancelled, BookingConfirmed, BookingRejected
from schemas.execution import ExecutionCancelled, ExecutionState

if TYPE_CHECKING:
    from engine.booking.remote import RemoteClaims
    from engine.booking.settings import BookingSettings
    from engine.catalog.store import Catalog
    from engine.claims.windows import Spans
    from engine.executions.bookings import BookingStatus
    from engine.executions.store import Transitions
    from schemas.base import Message
    from schemas.booking import BookingCancel, BookingRequest, Conflict
    from schemas.catalog import Resource

log = logging.getLogger(__name__)


class Rejected(Exception):
    def __init__(self, rejection: BookingRejected) -> None:
        super().__init__(rejection.reason)
        self.rejection = rejection


class Bookings:
    def __init__(
        self, settings: BookingSettings, catalog: Catalog, transitions: Transitions, remote: RemoteClaims
    ) -> None:
        self._settings = settings
        self._catalog = catalog
        self._transitions = transitions
        self._remote = remote
        self.calendars = calendar.Calendars()
        """This engine's claims on our calendars: our own bookings' and other peers' (engine/booking/owner.py)."""

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
            resources, schedule, spans = await self._check(request, received_at)
            if schedule.duration != request.duration:  # a cron booking given its default duration
                request = request.model_copy(update={"duration": schedule.duration})
            reservation = Reservation.of(request.id, schedule, len(spans))
            theirs = await self._claim_all(request, resources, reservation, spans, prune_before=received_at)
        except Rejected as rejected:
            record = _record(request, "rejected", subjects.BOOKING_REJECTED, rejected.rejection, received_at, sequence)
        else:
            # The executions are not written here: the scheduler stores them as they enter its horizon
            # (`next_unstored`), so a booking of 100,000 executions costs what a one-shot booking costs.
            listed = [execution_id(request.id, instant(start)) for start in spans.starts[:LISTED_MAX]]
            confirmed = BookingConfirmed(
                id=f"{request.id}:confirmed",
                booking=request.id,
                executions=listed,
                count=len(spans),
                resources=request.resources,
                start=request.start,
                end=request.end,
            )
            record = _record(request, "confirmed", subjects.BOOKING_CONFIRMED, confirmed, received_at, sequence)
            record.execution_count, record.next_unstored = len(spans), instant(spans.starts[0])
            record.peers = theirs
        stored, _created = await create_once(record)
        return _recorded(stored, sequence)

    async def give_up(self, request: BookingRequest, reason: str, *, at: datetime) -> Emit:
        """Reject a request that could not be decided (`unavailable`), after giving back what it claimed.

        A request decided meanwhile (by another copy) keeps its decision. When the store is still down,
        the rejection is announced all the same, so the requester is not left waiting, but it cannot be
        recorded, and claims it made stay until a replay of the same id decides it (it finds them as its
        own): the reason says so.
        """
        rejection = BookingRejected(
            id=f"{request.id}:rejected",
            booking=request.id,
            code="unavailable",
            reason=f"booking {request.id} could not be decided and nothing of it was kept ({reason}); "
            "send it again with a new id",
        )
        try:
            stored = await BookingRecord.get(request.id)
            if stored is not None:
                return _recorded(stored, None)
            _, theirs = self._remote.owners((await self._catalog.resources(request.resources)).values())
            await self._release(request.id, request.resources, theirs, request.end)
            record = _record(request, "rejected", subjects.BOOKING_REJECTED, rejection, at, None)
            stored, _created = await create_once(record)
        except Exception:
            log.exception("booking %s: the store is unreachable; rejecting it unrecorded", request.id)
            unrecorded = rejection.model_copy(
                update={
                    "reason": f"booking {request.id} could not be decided ({reason}) and the store is unreachable: "
                    "claims it made may stay until the same request is sent again"
                }
            )
            return Emit(subjects.BOOKING_REJECTED, unrecorded)
        return _recorded(stored, None)

    async def _check(self, request: BookingRequest, received_at: datetime) -> tuple[list[Resource], Schedule, Spans]:
        settings = self._settings

        def reject(code: str, reason: str) -> Rejected:
            return rejected(request, code, reason)

        earliest = received_at - timedelta(seconds=settings.past_tolerance)
        if request.start < earliest:
            raise reject(
                "invalid",
                f"start {request.start.isoformat()} is in the past "
                f"(more than {settings.past_tolerance:g}s before {received_at.isoformat()})",
            )
        if (request.end - request.start).total_seconds() > settings.max_window:
            raise reject(
                "limit",
                f"window of {request.end - request.start} exceeds the maximum of "
                f"{timedelta(seconds=settings.max_window)}",
            )
        schedule = Schedule(request.start, request.end, request.cron, request.duration)
        try:
            spans = await schedule.expand(settings.max_executions)
        except TooManyOccurrences:
            raise reject(
                "limit",
                f"cron {request.cron!r} yields more than {settings.max_executions} executions "
                "in the window (the configured maximum per booking)",
            ) from None
        except CronError as error:
            raise reject("invalid", str(error)) from None
        if not spans:
            raise reject(
                "invalid",
                f"cron {request.cron!r} has no occurrence between {request.start.isoformat()} "
                f"and {request.end.isoformat()}",
            )
        longest = timedelta(seconds=settings.cron_duration)
        if (decided := with_default_duration(schedule, spans, longest)) is not schedule:
            schedule, spans = decided, await decided.expand(settings.max_executions)
        known = await self._catalog.resources(request.resources)
        if missing := [name for name in request.resources if name not in known]:
            raise reject("unknown_resource", f"unknown resource(s): {', '.join(missing)}")
        if not await self._catalog.has_workflow(request.workflow):
            raise reject("unknown_workflow", f"unknown workflow '{request.workflow}'")
        return [known[name] for name in request.resources], schedule, spans

    async def _claim_all(
        self,
        request: BookingRequest,
        resources: list[Resource],
        reservation: Reservation,
        spans: Spans,
        *,
        prune_before: datetime,
    ) -> dict[str, list[str]]:
        """Claim every resource, or none: ours on our calendars, the others' on their owners' (engine/booking/
        remote.py). A refusal gives back what was claimed. Returns the other peers' resources by owner."""
        ours, theirs = self._remote.owners(resources)
        taken = await self.calendars.claim_all(ours, reservation, spans, prune_before=prune_before)
        if taken is not None:
            resource, clash = taken
            raise rejected(
                request, "conflict", clash.reason(resource.id, resource.capacity), [clash.conflict(resource.id)]
            )
        if theirs and (refusal := await self._remote.claim_all(request, theirs, len(spans))) is not None:
            for resource in ours:
                await calendar.release(resource.id, booking=request.id)
            raise rejected(request, refusal.code, refusal.reason, refusal.conflicts)
        return theirs

    async def _release(self, booking: str, resources: list[str], theirs: dict[str, list[str]], end: datetime) -> None:
        """Give back the claims of `booking`: on our calendars, and on each other owner's (later if it is down)."""
        remote = {name for names in theirs.values() for name in names}
        for resource in resources:
            if resource not in remote:
                await calendar.release(resource, booking=booking)
        for owner, names in sorted(theirs.items()):
            await self._remote.release(owner, booking, names, end)

    async def cancel(self, command: BookingCancel, *, at: datetime) -> list[Emit]:
        stored = cancellable(await BookingRecord.get(command.booking), command.booking)
        # Idempotency guard: the same cancel command answers with the event it produced.
        if (applied := stored.cancellation(command.id)) is not None:
            return [Emit(subjects.BOOKING_CANCELLED, BookingCancelled.model_validate(applied))]
        already = stored.status == "cancelled"
        collection = BookingRecord.get_pymongo_collection()
        # The status first: from here on the scheduler stores no more executions of this booking.
        await collection.update_one({"_id": command.booking}, {"$set": {"status": "cancelled"}})
        cancelled = await self._transitions.move_booking(
            command.booking, ExecutionState.CANCELLED, at=at, reason=command.reason or "booking cancelled"
        )
        # Those the scheduler had not stored yet are cancelled with their booking: listed, never stored.
        # Read again: the scheduler may have stored some since the first read (they were just cancelled
        # above, and are listed once), and may not have counted them on the record yet (unstored_now).
        if not already and (fresh := await BookingRecord.get(command.booking)) is not None:
            stored = fresh
        moved = set(cancelled)
        unstored = [] if already else [e for e in planned.unstored_ids(stored) if e not in moved]
        unstored_count = 0 if already else await planned.unstored_now(stored)
        await self._release(command.booking, stored.request.resources, stored.peers, stored.request.end)
        event = BookingCancelled(
            id=f"{command.id}:cancelled",
            booking=command.booking,
            executions=[*cancelled, *unstored][:LISTED_MAX],
            count=len(cancelled) + unstored_count,
            already=already,
        )
        applied_as = f"cancellations.{cancellation_key(command.id)}"
        await collection.update_one(
            {"_id": command.booking}, {"$set": {"status": "cancelled", applied_as: event.model_dump(mode="json")}}
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

    async def cancel_execution(
        self, execution: str, *, at: datetime, reason: str | None
    ) -> tuple[dict[str, Any], Emit]:
        """Cancel one execution of a booking (the others go on): its claims are given back, its workflow deleted.

        One still only planned is stored first, cancelled, so the scheduler never stores it as scheduled.
        """
        record = await planned.stored(execution)
        if record is None:
            raise PermanentError(f"unknown execution '{execution}'")
        if record.state in FINAL and record.state != ExecutionState.CANCELLED:
            raise PermanentError(f"execution '{execution}' already {record.state}; there is nothing to cancel")
        previous = record.state
        why = reason or "cancelled by an operator"
        moved = await advance(self._transitions, execution, ExecutionState.CANCELLED, at=at, reason=why)
        if not moved.reached:
            now = moved.stored.state if moved.stored is not None else previous
            raise PermanentError(f"execution '{execution}' already {now}; there is nothing to cancel")
        if not moved.moved and moved.stored is not None:
            why = moved.stored.reason or why
        event = ExecutionCancelled(
            id=f"{execution}:cancelled", execution=execution, booking=record.booking, at=at, reason=why
        )
        # An execution cancelled before (with its booking, or by this command) answers the same: its event
        # again (the same id, so JetStream drops the copy), `already` set.
        reply = {"status": "cancelled", "execution": execution, "booking": record.booking, "previous": str(previous)}
        return {**reply, "already": not moved.moved}, Emit(subjects.EXECUTION_CANCELLED, event)

    async def ended(self, execution: str, *, at: datetime) -> list[str]:
        """Free the window of an execution that ended before it closed on the other owners of its booking's
        resources (our calendars gave it back as it ended, engine/executions/store.py). The owners asked."""
        record = await ExecutionRecord.get(execution)
        if record is None or record.window_end <= at:
            return []  # its window is over: the owners hold nothing of it any more
        booking = await BookingRecord.get(record.booking)
        # A cancelled booking was released whole on every owner; a local one has no other owner.
        if booking is None or booking.status != "confirmed" or not booking.peers:
            return []
        owners = sorted(booking.peers)
        for owner in owners:
            await self._remote.free(owner, record, booking.peers[owner])
        return owners


def rejected(request: BookingRequest, code: str, reason: str, conflicts: list[Conflict] | None = None) -> Rejected:
    return Rejected(
        BookingRejected(
            id=f"{request.id}:rejected",
            booking=request.id,
            code=code,  # type: ignore[arg-type]
            reason=reason,
            conflicts=conflicts or [],
        )
    )


def cancellable(stored: BookingRecord | None, booking: str) -> BookingRecord:
    """The record of `booking` if it can be cancelled (again); else the permanent error that answers the cancel."""
    if stored is None:
        raise PermanentError(f"unknown booking '{booking}'")
    if stored.status == "rejected":
        raise PermanentError(f"booking '{booking}' was rejected; there is nothing to cancel")
    return stored


def _record(
    request: BookingRequest,
    status: BookingStatus,
    subject: str,
    event: Message,
    at: datetime,
    sequence: int | None,
) -> BookingRecord:
    return BookingRecord(
        id=request.id,
        request=request,
        status=status,
        executions=getattr(event, "executions", []),
        outcome_subject=subject,
        outcome=event.model_dump(mode="json"),
        decided_at=at,
        decided_by=sequence,
        trace=carrier(),
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
