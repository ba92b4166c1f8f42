"""Requests of the read-only `jetflow.ctl.<family>.get|list` endpoints.

Not events: they carry no idempotency key, since reading twice is harmless. List replies are
`{"items": [...], "next": <cursor or null>}`; pass `next` back as `cursor` for the following page.
"""

from __future__ import annotations

from datetime import datetime

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
