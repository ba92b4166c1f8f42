"""The scheduler's operator endpoints, `jetflow.ctl.schedule.*` → engine/scheduler/feature.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.booking.listing import upcoming
from schemas import subjects
from schemas.queries import BookingRef, Upcoming

if TYPE_CHECKING:
    from engine.runtime import Runtime


async def install(runtime: Runtime) -> None:
    schedule = runtime.features.schedule
    control = runtime.control
    await control.add_query("schedule-pause", subjects.ctl("schedule", "pause"), BookingRef, schedule.pause)
    await control.add_query("schedule-resume", subjects.ctl("schedule", "resume"), BookingRef, schedule.resume)
    await control.add_query("schedule-upcoming", subjects.ctl("schedule", "upcoming"), Upcoming, upcoming)
    await control.add_query("schedule-status", subjects.ctl("schedule", "status"), None, schedule.status)
