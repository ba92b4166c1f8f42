"""Requests of the `jetflow.ctl` queries: reads (`get`, `list`) and operator actions answered directly
(pause and resume, cancelling one execution, replaying a dead letter).

Not events: they carry no idempotency key, since reading twice is harmless and each action is
idempotent by itself (a paused booking pauses again as a no-op; a cancelled execution stays cancelled). List replies are
`{"items": [...], "next": <cursor or null>}`; pass `next` back as `cursor` for the following page.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Query(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Get(Query):
    id: str = Field(min_length=1, max_length=200, description="Id of the item to read.")


class ListPage(Query):
    cursor: str | None = Field(default=None, description="`next` of the previous page; null for the first.")
    limit: int = Field(default=100, ge=1, le=1000, description="Items per page.")


class ExecutionList(ListPage):
    booking: str | None = Field(default=None, description="Only executions of this booking.")
    state: str | None = Field(default=None, description="Only executions in this state.")
    resource: str | None = Field(default=None, description="Only executions holding this resource.")
    after: datetime | None = Field(default=None, description="Only executions planned at or after this instant.")
    before: datetime | None = Field(default=None, description="Only executions planned before this instant.")


class BookingRef(Query):
    booking: str = Field(min_length=1, max_length=200, description="Id of the booking.")


class Upcoming(ListPage):
    booking: str | None = Field(default=None, description="Only this booking's executions.")


class BookingList(ListPage):
    status: Literal["confirmed", "rejected", "cancelled"] | None = Field(
        default=None, description="Only bookings with this status."
    )
    workflow: str | None = Field(default=None, description="Only bookings of this workflow.")
    resource: str | None = Field(default=None, description="Only bookings holding this resource.")


class ExecutionCancel(Query):
    execution: str = Field(min_length=1, max_length=300, description="Id of the execution to cancel.")
    reason: str | None = Field(default=None, max_length=1000, description="Why, for humans.")


class DeadLetterList(ListPage):
    subject: str | None = Field(
        default=None,
        min_length=1,
        max_length=300,
        description="Only dead letters of this original subject (NATS wildcards allowed, e.g. jetflow.booking.>).",
    )


class DeadLetterRef(Query):
    seq: int = Field(ge=1, description="The dead letter's sequence in JETFLOW_DLQ (`seq` of dlq.list).")


class DeadLetterReplay(DeadLetterRef):
    new_id: bool = Field(
        default=False,
        description="Send it with a new Nats-Msg-Id (JetStream drops a replay with the original id within its "
        "duplicate window).",
    )
    msg_id: str | None = Field(
        default=None, min_length=1, max_length=300, description="The new Nats-Msg-Id (implies new_id)."
    )
