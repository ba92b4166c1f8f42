"""The booking feature's settings group (part of `engine/settings.py`'s `Settings`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from engine.core.settings import GROUP


class BookingSettings(BaseSettings):
    """How bookings are decided."""

    model_config = GROUP

    max_executions: int = Field(
        validation_alias="JETFLOW_MAX_EXECUTIONS_PER_BOOKING",
        default=100_000,
        ge=1,
        description="A booking whose cron yields more executions is rejected (code limit).",
    )
    workers: int = Field(
        validation_alias="JETFLOW_BOOKING_WORKERS",
        default=16,
        ge=1,
        description="Booking commands one replica decides at once: one slow booking never holds up the others "
        "(the calendars' compare-and-set keeps overlapping ones safe).",
    )
    max_window: float = Field(
        validation_alias="JETFLOW_MAX_BOOKING_WINDOW",
        default=366 * 86400.0,
        gt=0,
        description="Longest booking window in seconds (end - start).",
    )
    cron_duration: float = Field(
        validation_alias="JETFLOW_CRON_DURATION",
        default=300.0,
        gt=0,
        description="Seconds each execution of a cron booking without `duration` holds its resources (and may run: "
        "the workflow's activeDeadlineSeconds), shortened to the shortest gap between two of its occurrences so "
        "they never overlap. Given to the booking when it is decided, and stored with it.",
    )
    past_tolerance: float = Field(
        validation_alias="JETFLOW_PAST_TOLERANCE",
        default=300.0,
        ge=0,
        description="Seconds a booking may start in the past (clock skew, queueing).",
    )
