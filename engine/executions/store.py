"""Execution records and the compare-and-set transition that keeps them moving forward only."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from beanie import Document
from pydantic import Field
from pymongo import ASCENDING, IndexModel
from pymongo.errors import BulkWriteError

from engine.claims import calendar
from engine.executions.states import FINAL, predecessors
from schemas.execution import ExecutionState

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from opentelemetry.metrics import Counter

log = logging.getLogger(__name__)
_DUPLICATE_KEY = 11000


class ExecutionRecord(Document):
    id: str  # type: ignore[assignment]  # deterministic: booking id + occurrence
    booking: str
    workflow: str
    resources: list[str]
    planned_at: datetime = Field(description="Start of the execution's window: when it should fire.")
    window_end: datetime = Field(description="End of the execution's window.")
    state: ExecutionState = ExecutionState.SCHEDULED
    reason: str = ""
    paused: bool = Field(default=False, description="Its booking's schedule is paused: not fired until resumed.")
    updated_at: datetime
    trace: dict[str, str] = Field(default_factory=dict, description="Trace context of its booking's request.")

    class Settings:
        name = "executions"
        indexes = [  # noqa: RUF012  (beanie's declaration style)
            IndexModel([("booking", ASCENDING)]),
            IndexModel([("state", ASCENDING), ("planned_at", ASCENDING)]),
            IndexModel([("resources", ASCENDING)]),
        ]

    def public(self) -> dict[str, Any]:
        data: dict[str, Any] = self.model_dump(mode="json", exclude={"revision_id", "trace"})
        return data


async def insert_executions(records: Sequence[ExecutionRecord]) -> int:
    """Insert all records in one command; those already there (a replay) are left as they are."""
    if not records:
        return 0
    collection = ExecutionRecord.get_pymongo_collection()
    documents = [record.model_dump(by_alias=True, exclude={"revision_id"}) for record in records]
    try:
        result = await collection.insert_many(documents, ordered=False)
    except BulkWriteError as error:
        # Idempotency guard: duplicate ids are the executions of an earlier attempt at the same booking.
        others = [e for e in error.details.get("writeErrors", []) if e.get("code") != _DUPLICATE_KEY]
        if others:
            raise
        return int(error.details.get("nInserted", 0))
    return len(result.inserted_ids)


class Transitions:
    """Moves executions forward by compare-and-set; counts the illegal moves it refuses."""

    def __init__(self, illegal: Counter) -> None:
        self._illegal = illegal

    async def move(
        self,
        execution: str,
        target: ExecutionState,
        *,
        at: datetime,
        reason: str = "",
        unless: Mapping[str, Any] | None = None,
    ) -> bool:
        """Move one execution to `target` if its current state may precede it; one store command.

        `unless` adds conditions to the same compare-and-set (for example "not paused"). A move refused
        then is the caller's to classify with `refused()`: it alone knows which condition said no.
        """
        collection = ExecutionRecord.get_pymongo_collection()
        legal = {"_id": execution, "state": {"$in": [str(s) for s in predecessors(target)]}}
        result = await collection.update_one(
            {**legal, **(unless or {})}, {"$set": {"state": str(target), "updated_at": at, "reason": reason}}
        )
        if result.modified_count == 1:
            return True
        if unless is None:
            self.refused(execution, target)
        return False

    def refused(self, execution: str, target: ExecutionState) -> None:
        """Count and log an illegal transition (not forward): never applied."""
        self._illegal.add(1, {"target": str(target)})
        log.info("ignored illegal transition of %s to %s (not in a preceding state)", execution, target)

    async def finish(self, execution: str, target: ExecutionState, *, at: datetime, reason: str = "") -> bool:
        """Move an execution to an end state and release its claims, so its slots can be booked again."""
        if target not in FINAL:
            raise ValueError(f"{target} is not an end state")
        record = await ExecutionRecord.get(execution)
        if record is None or record.state == target:
            # Idempotency guard: already there (a watcher reporting again every workflow it lists after a
            # restart, a replayed event). Not an illegal move; the caller may publish its event again.
            return False
        if not await self.move(execution, target, at=at, reason=reason):
            return False
        for resource in record.resources:
            await calendar.give_back(resource, booking=record.booking, start=record.planned_at)
        return True

    async def move_booking(self, booking: str, target: ExecutionState, *, at: datetime, reason: str = "") -> list[str]:
        """Move every execution of `booking` that may reach `target`; returns their ids (two commands)."""
        collection = ExecutionRecord.get_pymongo_collection()
        condition = {"booking": booking, "state": {"$in": [str(s) for s in predecessors(target)]}}
        ids = [str(doc["_id"]) for doc in await collection.find(condition, {"_id": 1}).to_list()]
        if ids:
            await collection.update_many(
                {**condition, "_id": {"$in": ids}},
                {"$set": {"state": str(target), "updated_at": at, "reason": reason}},
            )
        return ids
