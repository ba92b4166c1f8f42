"""Booking commands and their outcomes.

A booking reserves resources for a window and, through its optional cron, yields the executions of a
workflow inside that window. The request is checked here for what the message alone can tell (names,
window order, cron shape, duration); conflicts and unknown names are the engine's answer, sent back as
a `BookingRejected` with a code.
"""

from collections import Counter
from datetime import datetime, timedelta
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from schemas.base import Instant, MapKey, Message, Part
from schemas.names import KubeName

CRON_FIELDS = (5, 6)
#: Most resources one booking may name. Each is looked up, claimed and released on its own calendar,
#: and the lookup is one store query whose size grows with the list (the embedded store refuses one of
#: about 500 ids); more resources are several bookings.
MAX_RESOURCES = 256


class BookingRequest(Message):
    """Reserve `resources` from `start` to `end` to run `workflow`, once or on a cron schedule."""

    id: KubeName = Field(description="Booking id, also the idempotency key; becomes part of namespace names.")
    workflow: KubeName = Field(description="Workflow (from the catalog) that each execution runs.")
    resources: list[KubeName] = Field(
        min_length=1,
        max_length=MAX_RESOURCES,
        description=f"Resources to reserve, each at most once; at most {MAX_RESOURCES}.",
    )
    start: Instant = Field(description="Start of the booked window.")
    end: Instant = Field(description="End of the booked window; after `start`.")
    cron: str | None = Field(
        default=None,
        description="Schedule of executions within the window, in UTC: 5 fields, or 6 with seconds first. "
        "None runs once at `start`. UNLIKE CRONTAB, when both day of month and weekday are restricted an "
        "occurrence must match BOTH (`0 0 13 * fri`: Friday the 13th only; crontab fires on every 13th and "
        "every Friday): book two crons for crontab's either-or.",
    )
    duration: timedelta | None = Field(
        default=None,
        description="Length of each execution, in seconds or ISO 8601 (PT10M); positive. "
        "None: a one-shot booking runs until the window ends; a cron booking is given JETFLOW_CRON_DURATION "
        "(300 s by default), shortened to the shortest gap between two of its occurrences so they never "
        "overlap; the duration given is stored with the booking.",
    )
    requester: str | None = Field(default=None, description="Who asked, for audit.")
    labels: dict[MapKey, str] = Field(default_factory=dict, description="Free-form labels, copied to the executions.")

    @field_validator("resources")
    @classmethod
    def _no_duplicate_resources(cls, value: list[str]) -> list[str]:
        if duplicates := sorted(name for name, count in Counter(value).items() if count > 1):
            raise ValueError(f"resources listed more than once: {', '.join(duplicates)}")
        return value

    @field_validator("cron")
    @classmethod
    def _cron_shape(cls, value: str | None) -> str | None:
        if value is not None and len(value.split()) not in CRON_FIELDS:
            raise ValueError(
                f"cron {value!r} has {len(value.split())} fields; expected 5 (minute hour day month weekday) "
                "or 6 (second first)"
            )
        return value

    @field_validator("duration")
    @classmethod
    def _positive_duration(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise ValueError(f"duration must be positive, got {value}")
        return value

    @model_validator(mode="after")
    def _window_order(self) -> Self:
        in_order(self.start, self.end)
        return self


def in_order(start: datetime, end: datetime) -> None:
    """Refuse a window that does not end after it starts."""
    if end <= start:
        raise ValueError(f"end {end.isoformat()} must be after start {start.isoformat()}")


class Conflict(Part):
    """A window on a resource that clashes with the requested one."""

    resource: KubeName = Field(description="The resource that is already taken.")
    start: Instant = Field(description="Start of the clashing window.")
    end: Instant = Field(description="End of the clashing window.")
    booking: str | None = Field(default=None, description="Booking that holds the window, when known.")


class BookingConfirmed(Message):
    """The booking is held: its resources are claimed and its executions are scheduled."""

    booking: str = Field(description="The confirmed booking's id.")
    executions: list[str] = Field(
        description="Ids of the scheduled executions, in time order: all of them, or the first 1,000 of a larger "
        "booking (`jetflow.ctl.execution.list` pages through every one)."
    )
    count: int = Field(default=0, description="How many executions the booking scheduled.")
    resources: list[KubeName] = Field(description="The claimed resources.")
    start: Instant = Field(description="Start of the booked window.")
    end: Instant = Field(description="End of the booked window.")


class BookingRejected(Message):
    """The booking was refused; nothing was claimed."""

    booking: str = Field(description="The refused booking's id.")
    code: Literal["invalid", "conflict", "unknown_resource", "unknown_workflow", "limit", "unavailable"] = Field(
        description="Why, for programs: bad request, clash, unknown name, a configured limit, or `unavailable`: "
        "it could not be decided (store down, handler timed out, a peer owning one of its resources did not "
        "answer) and nothing was kept; send it again with a new id."
    )
    reason: str = Field(description="Why, for humans: a sentence naming the problem.")
    conflicts: list[Conflict] = Field(default_factory=list, description="The clashing windows, for `conflict`.")


class BookingCancel(Message):
    """Cancel a booking: release its resources and cancel its executions that have not finished."""

    booking: str = Field(description="Id of the booking to cancel.")
    reason: str = Field(default="", description="Why, for audit.")


class BookingCancelled(Message):
    """The booking is cancelled (now, or `already` before this command)."""

    booking: str = Field(description="The cancelled booking's id.")
    executions: list[str] = Field(
        description="Ids of the executions this cancellation cancelled (the first 1,000 of a larger booking)."
    )
    count: int = Field(default=0, description="How many executions this cancellation cancelled.")
    already: bool = Field(default=False, description="True when the booking was cancelled before this command.")
