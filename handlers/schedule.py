"""The scheduler feature: leader election, firing, and `jetflow.ctl.schedule.*` for operators."""

from __future__ import annotations

import asyncio
import contextlib
import os
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from engine.booking import planned
from engine.booking.listing import upcoming
from engine.booking.records import BookingRecord
from engine.bus.decode import parse
from engine.errors import PermanentError
from engine.executions.store import ExecutionRecord, Transitions
from engine.scheduler.lease import LeaderLease
from engine.scheduler.service import PENDING, Scheduler
from engine.throttle.gate import CommandGate
from schemas import subjects
from schemas.queries import BookingRef, Upcoming

if TYPE_CHECKING:
    from nats.aio.msg import Msg
    from opentelemetry.metrics import CallbackOptions, Observation

    from engine.runtime import Runtime
    from schemas.throttle import ThrottleCommand

DOCUMENTS = ()
#: Core-NATS nudge: "the pending executions changed, reload the horizon" (not in any stream).
REFRESH = "jetflow.scheduler.refresh"


async def install(runtime: Runtime) -> None:
    settings = runtime.settings
    meter = runtime.telemetry.meter
    scheduler = Scheduler(
        publisher=runtime.publisher,
        transitions=Transitions(meter.create_counter("jetflow.executions.illegal_transitions")),
        clock=runtime.clock,
        gate=runtime.gate,
        catch_up=settings.catch_up,
        grace=settings.catch_up_grace,
        horizon=settings.scheduler_horizon,
        refill=settings.scheduler_refill,
        lateness=meter.create_histogram(
            "jetflow.scheduler.lateness",
            unit="s",
            description="Actual minus planned fire time.",
            explicit_bucket_boundaries_advisory=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        ),
        outcomes=meter.create_counter("jetflow.scheduler.fired", description="Executions fired, held or missed."),
    )

    def observe(_: CallbackOptions) -> list[Observation]:
        from opentelemetry.metrics import Observation

        status = scheduler.status()
        return [
            Observation(status["jobs"], {"kind": "scheduled"}),
            Observation(len(status["held"]), {"kind": "held"}),
            Observation(1 if status["leader"] else 0, {"kind": "leader"}),
        ]

    meter.create_observable_gauge("jetflow.scheduler.executions", [observe], description="Timer jobs, held, leader.")
    nc = runtime.publisher.connection

    async def nudge(msg: Msg) -> None:
        # A booking's outcome names it; REFRESH carries the booking id; anything else reloads everything.
        booking: str | None = None
        if msg.subject == REFRESH:
            booking = msg.data.decode(errors="replace").strip() or None
        else:
            with contextlib.suppress(ValueError, AttributeError, TypeError, KeyError):
                event = parse(msg.data)  # bounded nesting: anyone may publish on these subjects
                found = event.get("booking")
                booking = found if isinstance(found, str) and found else None
                if msg.subject == subjects.BOOKING_CONFIRMED and beyond_horizon(datetime.fromisoformat(event["start"])):
                    return  # nothing of it to store or load yet: a periodic refill does it in time
        scheduler.nudge(booking)

    def beyond_horizon(start: datetime) -> bool:
        # The periodic refill reaches it at least `refill` seconds before it enters the horizon's end.
        return start > runtime.clock.now() + timedelta(seconds=settings.scheduler_horizon + settings.scheduler_refill)

    subscriptions = [
        await nc.subscribe(subject, cb=nudge)
        for subject in (REFRESH, subjects.BOOKING_CONFIRMED, subjects.BOOKING_CANCELLED)
    ]
    gate = runtime.gate
    if isinstance(gate, CommandGate):

        async def released(command: ThrottleCommand) -> None:
            # A node let go (or only limited now): fire what was held for its resources at once.
            if not gate.closed(command.node):
                for resource in gate.resources_of(command.node):
                    await scheduler.release(resource)

        gate.watch(released)
    tasks: list[asyncio.Task[None]] = []
    if settings.scheduler_enabled:
        lease = LeaderLease(runtime.js, "scheduler", runtime.instance, settings.lease_ttl)
        tasks.append(asyncio.create_task(lease.run(scheduler.start, scheduler.stop), name="scheduler-lease"))

        async def stop() -> None:
            await lease.stop()
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await scheduler.stop()
            for subscription in subscriptions:
                await subscription.unsubscribe()

        runtime.stopping.append(stop)

    async def set_paused(query: BookingRef, paused: bool) -> dict[str, Any]:
        record = await BookingRecord.get(query.booking)
        if record is None:
            raise PermanentError(f"unknown booking '{query.booking}'")
        # The booking first: executions the scheduler stores from now on carry the new flag.
        flipped = await BookingRecord.get_pymongo_collection().update_one(
            {"_id": query.booking, "paused": {"$ne": paused}}, {"$set": {"paused": paused}}
        )
        result = await ExecutionRecord.get_pymongo_collection().update_many(
            {"booking": query.booking, "state": {"$in": PENDING}}, {"$set": {"paused": paused}}
        )
        await nc.publish(REFRESH, query.booking.encode())
        # Read after the executions: one the scheduler stored meanwhile is counted once, stored or not.
        record = await BookingRecord.get(query.booking) or record
        unstored = await planned.unstored_now(record) if record.status == "confirmed" else 0
        # `executions`: how many this request changed; `pending`: how many the booking still has to fire.
        return {
            "booking": query.booking,
            "paused": paused,
            "executions": result.modified_count + (unstored if flipped.modified_count else 0),
            "pending": result.matched_count + unstored,
        }

    async def pause(query: BookingRef) -> dict[str, Any]:
        return await set_paused(query, True)

    async def resume(query: BookingRef) -> dict[str, Any]:
        return await set_paused(query, False)

    async def status(_: Any) -> dict[str, Any]:
        return {"instance": runtime.instance, "pid": os.getpid(), **scheduler.status()}

    control = runtime.control
    await control.add_query("schedule-pause", subjects.ctl("schedule", "pause"), BookingRef, pause)
    await control.add_query("schedule-resume", subjects.ctl("schedule", "resume"), BookingRef, resume)
    await control.add_query("schedule-upcoming", subjects.ctl("schedule", "upcoming"), Upcoming, upcoming)
    await control.add_query("schedule-status", subjects.ctl("schedule", "status"), None, status)
