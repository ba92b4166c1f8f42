"""A booking's executions that are planned but not stored yet: derived from its schedule on demand.

Deciding a booking writes its record and its calendar claims, never its executions: a hundred thousand
execution documents would make one booking cost a hundred thousand writes and stall every booking
behind it. The scheduler stores them as they enter its horizon (`next_unstored` on the record moves
forward), and until then they exist only as the booking's schedule. This module turns that schedule
back into the executions it stands for, with the same deterministic ids and the same fields they will
be stored with, so listings and cancellations treat both alike.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from engine.claims.windows import Schedule, execution_id
from engine.executions.bookings import LISTED_MAX, BookingRecord
from engine.executions.store import ExecutionRecord, insert_executions
from schemas.execution import ExecutionState

if TYPE_CHECKING:
    from collections.abc import Iterator


def schedule_of(record: BookingRecord) -> Schedule:
    request = record.request
    return Schedule(request.start, request.end, request.cron, request.duration)


def unstored_starts(
    record: BookingRecord, *, since: datetime | None = None, until: datetime | None = None
) -> Iterator[datetime]:
    """Planned times of the executions not stored yet, in [since, until), in order, lazily."""
    if record.next_unstored is None or record.status == "rejected":
        return
    schedule = schedule_of(record)
    low = record.next_unstored if since is None else max(since, record.next_unstored)
    yield from schedule.starts(low, schedule.end if until is None else until)


def execution(record: BookingRecord, start: datetime) -> ExecutionRecord:
    """The execution of `record` planned at `start`, as it is (or will be) stored."""
    request = record.request
    cancelled = record.status == "cancelled"
    return ExecutionRecord(
        id=execution_id(record.id, start),
        booking=record.id,
        workflow=request.workflow,
        resources=request.resources,
        planned_at=start,
        window_end=schedule_of(record).window(start).end,
        state=ExecutionState.CANCELLED if cancelled else ExecutionState.SCHEDULED,
        reason="booking cancelled" if cancelled else "",
        paused=record.paused and not cancelled,
        updated_at=record.decided_at,
        trace=record.trace,
    )


def unstored(
    record: BookingRecord, *, since: datetime | None = None, until: datetime | None = None
) -> Iterator[ExecutionRecord]:
    for start in unstored_starts(record, since=since, until=until):
        yield execution(record, start)


def unstored_ids(record: BookingRecord, limit: int = LISTED_MAX) -> list[str]:
    ids: list[str] = []
    for start in unstored_starts(record):
        if len(ids) == limit:
            break
        ids.append(execution_id(record.id, start))
    return ids


async def unstored_now(record: BookingRecord) -> int:
    """`unstored_count`, less those the scheduler stored a moment ago and has not yet counted on the
    record (it inserts, then moves `next_unstored` on): each execution is counted once."""
    unstored = unstored_count(record)
    if unstored and record.next_unstored is not None:
        condition = {"booking": record.id, "planned_at": {"$gte": record.next_unstored}}
        unstored -= await ExecutionRecord.get_pymongo_collection().count_documents(condition)
    return max(0, unstored)


def unstored_count(record: BookingRecord) -> int:
    if record.next_unstored is None or record.status == "rejected":
        return 0
    return max(0, record.execution_count - record.stored_count)


async def stored(execution_id_: str) -> ExecutionRecord | None:
    """The execution with this id, stored now if it was only planned: for effects made ahead of its
    time (credentials), which its cancellation or end must reach like those of any stored execution."""
    if (found := await ExecutionRecord.get(execution_id_)) is not None:
        return found
    if (found := await still_planned(execution_id_)) is not None:
        await insert_executions([found])
    return found


async def still_planned(execution_id_: str) -> ExecutionRecord | None:
    """The planned execution with this id, found through the booking its id names.

    An id shortened with a digest (booking ids longer than about 45 characters) cannot be traced back:
    such an execution is found only once stored.
    """
    booking, _, stamp = execution_id_.rpartition("-")
    try:
        moment = datetime.strptime(stamp, "%Y%m%dt%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    if not booking or (record := await BookingRecord.get(booking)) is None:
        return None
    for start in unstored_starts(record, since=moment, until=moment + timedelta(seconds=1)):
        if execution_id(record.id, start) == execution_id_:
            return execution(record, start)
    return None
