"""`execution.list|get`, `schedule.upcoming` and `booking.list`: stored executions and planned ones, in one order.

An execution the scheduler has not stored yet (beyond its horizon, see `planned`) is listed all the
same, with its deterministic id and the fields it will be stored with. A page reads the stored
executions after the cursor (one command), the bookings that still plan some (one command), and
merges them lazily: each booking yields its planned executions in order, so a page costs its size in
cron steps per booking, whatever the bookings' lengths.
"""

from __future__ import annotations

import heapq
import itertools
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from engine.claims.windows import execution_id
from engine.core.errors import PermanentError
from engine.core.paging import page
from engine.executions import planned
from engine.executions.bookings import BookingRecord
from engine.executions.states import UNFIRED_NAMES
from engine.executions.store import ExecutionRecord
from schemas.execution import ExecutionState

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from schemas.queries import BookingList, ExecutionList, Get, Upcoming

#: The state a planned execution is listed in, by its booking's status.
_PLANNED_STATE = {"confirmed": ExecutionState.SCHEDULED, "cancelled": ExecutionState.CANCELLED}
_BY_STATE = {str(state): status for status, state in _PLANNED_STATE.items()}

type Key = tuple[Any, ...]


async def list_executions(query: ExecutionList) -> dict[str, Any]:
    condition: dict[str, Any] = {}
    if query.booking:
        condition["booking"] = query.booking
    if query.state:
        condition["state"] = query.state
    if query.resource:
        condition["resources"] = query.resource
    planned_at: dict[str, datetime] = {}
    if query.after:
        planned_at["$gte"] = query.after
    if query.before:
        planned_at["$lt"] = query.before
    if planned_at:
        condition["planned_at"] = planned_at
    documents, following = await page(
        ExecutionRecord.get_pymongo_collection(), condition, cursor=query.cursor, limit=query.limit
    )
    bookings: dict[str, Any] = {}
    if query.state is not None:
        if query.state not in _BY_STATE:
            return _reply(_records(documents), following, [], query.limit, by_id, _id_cursor)
        bookings["status"] = _BY_STATE[query.state]
    if query.booking:
        bookings["_id"] = query.booking
    if query.resource:
        bookings["request.resources"] = query.resource
    after = query.cursor

    def of(record: BookingRecord) -> Iterator[ExecutionRecord]:
        since = query.after
        prefix = f"{record.id}-"
        # Only for ids of the plain form `<booking>-<stamp>` (a long booking id is shortened with a digest).
        if after is not None and execution_id(record.id, record.request.start).startswith(prefix):
            if after[: len(prefix)] > prefix:
                return iter(())  # every id of this booking sorts before the cursor
            if after.startswith(prefix) and (resume := _stamp(after[len(prefix) :])) is not None:
                since = resume if since is None else max(since, resume)  # its ids sort by time: skip to it
        executions = planned.unstored(record, since=since, until=query.before)
        return executions if after is None else itertools.dropwhile(lambda e: e.id <= after, executions)

    sources = [of(record) for record in await _planning(bookings)]
    return _reply(_records(documents), following, sources, query.limit, by_id, _id_cursor)


async def get_execution(query: Get) -> dict[str, Any]:
    """One execution, stored or still only planned (then as it will be stored)."""
    record = await ExecutionRecord.get(query.id) or await planned.still_planned(query.id)
    if record is None:
        raise PermanentError(f"unknown execution '{query.id}'")
    return record.public()


async def list_bookings(query: BookingList) -> dict[str, Any]:
    """Bookings by id, each as a summary (`booking.get` has the whole record)."""
    condition: dict[str, Any] = {}
    if query.status:
        condition["status"] = query.status
    if query.workflow:
        condition["request.workflow"] = query.workflow
    if query.resource:
        condition["request.resources"] = query.resource
    documents, following = await page(
        BookingRecord.get_pymongo_collection(), condition, cursor=query.cursor, limit=query.limit
    )
    return {"items": [_summary(BookingRecord.model_validate(document)) for document in documents], "next": following}


def _summary(record: BookingRecord) -> dict[str, Any]:
    request = record.request
    return {
        "id": record.id,
        "status": record.status,
        "workflow": request.workflow,
        "resources": request.resources,
        "start": request.start.isoformat(),
        "end": request.end.isoformat(),
        "cron": request.cron,
        "paused": record.paused,
        "executions": record.execution_count,
        "reason": record.outcome.get("reason", ""),
        "decided_at": record.decided_at.isoformat(),
    }


async def upcoming(query: Upcoming) -> dict[str, Any]:
    condition: dict[str, Any] = {"state": {"$in": UNFIRED_NAMES}}
    if query.booking:
        condition["booking"] = query.booking
    documents, following = await page(
        ExecutionRecord.get_pymongo_collection(),
        condition,
        cursor=query.cursor,
        limit=query.limit,
        by_time="planned_at",
    )
    bookings: dict[str, Any] = {"status": "confirmed"}
    if query.booking:
        bookings["_id"] = query.booking
    since, last = _time_cursor(query.cursor) if query.cursor else (None, "")

    def of(record: BookingRecord) -> Iterator[ExecutionRecord]:
        executions = planned.unstored(record, since=since)
        if since is None:
            return executions
        return itertools.dropwhile(lambda e: (e.planned_at, e.id) <= (since, last), executions)

    sources = [of(record) for record in await _planning(bookings)]
    return _reply(_records(documents), following, sources, query.limit, by_time, _time_cursor_of)


async def _planning(condition: dict[str, Any]) -> list[BookingRecord]:
    """Bookings with executions not stored yet, among those `condition` selects."""
    documents = (
        await BookingRecord.get_pymongo_collection().find({**condition, "next_unstored": {"$ne": None}}).to_list()
    )
    return [BookingRecord.model_validate(document) for document in documents]


def _stamp(text: str) -> datetime | None:
    """The occurrence an execution id's `yyyymmddtHHMMSS` ending names, or None if it is not one."""
    try:
        return datetime.strptime(text, "%Y%m%dt%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def _records(documents: list[dict[str, Any]]) -> list[ExecutionRecord]:
    return [ExecutionRecord.model_validate(document) for document in documents]


def _reply(
    stored: list[ExecutionRecord],
    following: str | None,
    sources: list[Iterator[ExecutionRecord]],
    limit: int,
    key: Callable[[ExecutionRecord], Key],
    cursor_of: Callable[[ExecutionRecord], str],
) -> dict[str, Any]:
    """The first `limit` of the stored page and the planned sources merged by `key`, and the next cursor.

    The stored page holds the first `limit` stored executions after the cursor, so no later stored one
    can be among the first `limit` of the union; one more item, stored (`following`) or planned, means
    there is a next page.
    """
    merged = _once(heapq.merge(stored, *sources, key=key))
    items = list(itertools.islice(merged, limit + 1))
    more = len(items) > limit or (following is not None and len(items) == limit)
    items = items[:limit]
    return {"items": [item.public() for item in items], "next": cursor_of(items[-1]) if more and items else None}


def _once(records: Iterable[ExecutionRecord]) -> Iterator[ExecutionRecord]:
    """Each id once: an execution being stored right now is both stored and still planned, side by side."""
    last = None
    for record in records:
        if record.id != last:
            yield record
        last = record.id


def by_id(record: ExecutionRecord) -> Key:
    return (record.id,)


def by_time(record: ExecutionRecord) -> Key:
    return (record.planned_at, record.id)


def _id_cursor(record: ExecutionRecord) -> str:
    return record.id


def _time_cursor_of(record: ExecutionRecord) -> str:
    return f"{record.planned_at.isoformat()}|{record.id}"


def _time_cursor(cursor: str) -> tuple[datetime, str]:
    moment, _, last = cursor.partition("|")
    try:
        return datetime.fromisoformat(moment), last
    except ValueError:
        raise PermanentError(f"cursor {cursor!r} is not a `next` of this endpoint") from None
