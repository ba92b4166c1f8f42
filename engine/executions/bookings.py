"""Booking records: the decision taken for each booking request, kept so a replay gets the same answer.

A booking id is an idempotency key: once decided (confirmed or rejected), the same id always yields
the same outcome, even if the world changed since (a resource registered later). Send a new id to
ask again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from beanie import Document
from pydantic import Field
from pymongo import ASCENDING, IndexModel

from schemas.booking import BookingRequest

BookingStatus = Literal["confirmed", "rejected", "cancelled"]
#: Execution ids listed in a booking's events and record; a larger booking lists its first ones
#: (all ids follow from the booking: `jetflow.ctl.execution.list` pages through every one).
LISTED_MAX = 1000


class BookingRecord(Document):
    id: str  # type: ignore[assignment]  # the booking id
    request: BookingRequest
    status: BookingStatus
    executions: list[str] = Field(default_factory=list, description=f"Ids of its first {LISTED_MAX} executions.")
    execution_count: int = Field(default=0, description="Executions the booking planned.")
    next_unstored: datetime | None = Field(
        default=None,
        description="Planned time of its first execution not stored yet (the scheduler stores them as they enter "
        "its horizon); None when every one is stored.",
    )
    stored_count: int = Field(default=0, description="How many of its executions the scheduler has stored.")
    settled: bool = Field(
        default=False,
        description="Cancelled, and what the scheduler had stored of it is cancelled too: it stores no more.",
    )
    peers: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Other peer → the resources of this booking claimed on its calendars (the others are ours).",
    )
    paused: bool = Field(default=False, description="Its schedule is paused: executions stored from now on are too.")
    outcome_subject: str = Field(description="Subject of the outcome event (confirmed or rejected).")
    outcome: dict[str, Any] = Field(description="The outcome event as published.")
    cancellations: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Cancel command id (as `cancellation_key`) → the cancelled event it produced.",
    )
    decided_at: datetime
    decided_by: int | None = Field(
        default=None, description="Stream sequence of the request message that decided it: the one that announces it."
    )
    trace: dict[str, str] = Field(
        default_factory=dict,
        description="Trace context (W3C `traceparent`) of the request that decided it: firing and dispatching its "
        "executions continue that trace.",
    )

    class Settings:
        name = "bookings"
        indexes = [IndexModel([("next_unstored", ASCENDING)])]  # noqa: RUF012  (beanie's declaration style)

    def cancellation(self, cancel_id: str) -> dict[str, Any] | None:
        """The cancelled event the cancel command `cancel_id` produced, if it was applied to this booking."""
        return self.cancellations.get(cancellation_key(cancel_id))

    def public(self) -> dict[str, Any]:
        data: dict[str, Any] = self.model_dump(mode="json", exclude={"revision_id", "trace"})
        data["cancellations"] = {_unkey(key): event for key, event in self.cancellations.items()}
        return data


def cancellation_key(cancel_id: str) -> str:
    """A cancel id as a key of `cancellations`, and in a field path: ids may hold '.', which the store
    reads as a path into a nested document; escaped, an id is one key and comes back exactly."""
    return cancel_id.replace("%", "%25").replace(".", "%2E")


def _unkey(key: str) -> str:
    return key.replace("%2E", ".").replace("%25", "%")
