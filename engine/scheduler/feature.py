"""The scheduler feature: every replica listens for booking changes, the `scheduler` lease holder fires.

Core-NATS nudges (`subjects.SCHEDULER_REFRESH`, and the booking outcomes) reload just the booking they
name; throttle releases fire what was held at once (engine/app.py hands `release` to the throttle
feature). Pausing and resuming a booking's schedule is a store
change any replica makes (`pause`), followed by a nudge to the firing replica.
"""

from __future__ import annotations

import contextlib
import os
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from engine.bus.decode import parse
from engine.core.errors import PermanentError
from engine.executions import planned
from engine.executions.bookings import BookingRecord
from engine.executions.states import UNFIRED_NAMES
from engine.executions.store import ExecutionRecord
from engine.scheduler.service import Scheduler
from schemas import subjects

if TYPE_CHECKING:
    from collections.abc import Sequence

    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription
    from opentelemetry.metrics import CallbackOptions, Observation

    from engine.ports import Ports
    from engine.scheduler.settings import SchedulerSettings
    from schemas.queries import BookingRef

#: Outcomes that change a booking's pending executions, besides `SCHEDULER_REFRESH`.
NUDGES = (subjects.SCHEDULER_REFRESH, subjects.BOOKING_CONFIRMED, subjects.BOOKING_CANCELLED)


class Schedule:
    def __init__(self, runtime: Ports, settings: SchedulerSettings) -> None:
        self._runtime = runtime
        self._settings = settings
        meter = runtime.telemetry.meter
        self.lease = "scheduler" if settings.enabled else None
        self._nc = runtime.publisher.connection
        self._subscriptions: list[Subscription] = []
        self.scheduler = Scheduler(
            publisher=runtime.publisher,
            transitions=runtime.transitions,
            clock=runtime.clock,
            gate=runtime.gate,
            catch_up=settings.catch_up,
            grace=settings.catch_up_grace,
            horizon=settings.horizon,
            refill=settings.refill,
            announce_window=runtime.settings.nats.duplicate_window,
            lateness=meter.create_histogram(
                "jetflow.scheduler.lateness",
                unit="s",
                description="Actual minus planned fire time.",
                explicit_bucket_boundaries_advisory=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            ),
            outcomes=meter.create_counter("jetflow.scheduler.fired", description="Executions fired, held or missed."),
        )

    async def start(self) -> None:
        meter = self._runtime.telemetry.meter
        meter.create_observable_gauge(
            "jetflow.scheduler.executions", [self._observe], description="Timer jobs, held, leader."
        )
        self._subscriptions = [await self._nc.subscribe(subject, cb=self._nudge) for subject in NUDGES]

    async def release(self, resources: Sequence[str]) -> None:
        """The throttle let these resources go: fire what was held for them at once."""
        for resource in resources:
            await self.scheduler.release(resource)

    async def lead(self) -> None:
        await self.scheduler.start()

    async def depose(self) -> None:
        await self.scheduler.stop()

    async def stop(self) -> None:
        for subscription in self._subscriptions:
            await subscription.unsubscribe()
        self._subscriptions.clear()

    def _observe(self, _: CallbackOptions) -> list[Observation]:
        from opentelemetry.metrics import Observation

        status = self.scheduler.status()
        return [
            Observation(status["jobs"], {"kind": "scheduled"}),
            Observation(len(status["held"]), {"kind": "held"}),
            Observation(1 if status["leader"] else 0, {"kind": "leader"}),
        ]

    async def _nudge(self, msg: Msg) -> None:
        # A booking's outcome names it; REFRESH carries the booking id; anything else reloads everything.
        booking: str | None = None
        if msg.subject == subjects.SCHEDULER_REFRESH:
            booking = msg.data.decode(errors="replace").strip() or None
        else:
            with contextlib.suppress(ValueError, AttributeError, TypeError, KeyError):
                event = parse(msg.data)  # bounded nesting: anyone may publish on these subjects
                found = event.get("booking")
                booking = found if isinstance(found, str) and found else None
                if msg.subject == subjects.BOOKING_CONFIRMED and self._beyond_horizon(
                    datetime.fromisoformat(event["start"])
                ):
                    return  # nothing of it to store or load yet: a periodic refill does it in time
        self.scheduler.nudge(booking)

    def _beyond_horizon(self, start: datetime) -> bool:
        # The periodic refill reaches it at least `refill` seconds before it enters the horizon's end.
        ahead = timedelta(seconds=self._settings.horizon + self._settings.refill)
        return start > self._runtime.clock.now() + ahead

    async def pause(self, query: BookingRef) -> dict[str, Any]:
        return await self._set_paused(query, True)

    async def resume(self, query: BookingRef) -> dict[str, Any]:
        return await self._set_paused(query, False)

    async def _set_paused(self, query: BookingRef, paused: bool) -> dict[str, Any]:
        record = await BookingRecord.get(query.booking)
        if record is None:
            raise PermanentError(f"unknown booking '{query.booking}'")
        # The booking first: executions the scheduler stores from now on carry the new flag.
        flipped = await BookingRecord.get_pymongo_collection().update_one(
            {"_id": query.booking, "paused": {"$ne": paused}}, {"$set": {"paused": paused}}
        )
        result = await ExecutionRecord.get_pymongo_collection().update_many(
            {"booking": query.booking, "state": {"$in": UNFIRED_NAMES}}, {"$set": {"paused": paused}}
        )
        await self._nc.publish(subjects.SCHEDULER_REFRESH, query.booking.encode())
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

    async def status(self, _: Any) -> dict[str, Any]:
        return {"instance": self._runtime.instance, "pid": os.getpid(), **self.scheduler.status()}
