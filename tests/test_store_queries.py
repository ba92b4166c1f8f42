"""Query shapes the engine sends, run on the embedded SQLite store (`jetflow up`'s default; the other
tests use the memory engine, whose planner differs)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import OperationFailure

from engine.embedded import servers
from engine.executions.store import ExecutionRecord
from engine.scheduler.service import pending_query
from tests.servers import running

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from pymongo.asynchronous.collection import AsyncCollection

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC).replace(tzinfo=None)


@pytest.fixture
async def executions(tmp_path: Path) -> AsyncIterator[AsyncCollection[dict[str, object]]]:
    child = servers.mongo_server(tmp_path, memory=False)
    with running(child):
        client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(servers.mongo_url(child.port))
        collection = client.jetflow.executions
        await collection.create_indexes(ExecutionRecord.Settings.indexes)  # the planner uses them
        await collection.insert_many(
            [
                {"_id": "entered", "booking": "a", "state": "scheduled", "planned_at": NOW + timedelta(seconds=10)},
                {"_id": "earlier", "booking": "b", "state": "scheduled", "planned_at": NOW - timedelta(seconds=10)},
                {"_id": "later", "booking": "a", "state": "scheduled", "planned_at": NOW + timedelta(hours=1)},
            ]
        )
        try:
            yield collection
        finally:
            await client.close()


async def ids(collection: AsyncCollection[dict[str, object]], query: dict[str, object]) -> list[object]:
    return [document["_id"] async for document in collection.find(query).sort("planned_at", 1)]


async def test_a_periodic_pass_with_no_booking_to_read_again_reads_what_entered_the_horizon(
    executions: AsyncCollection[dict[str, object]],
) -> None:
    query = pending_query(NOW + timedelta(minutes=1), entered_since=NOW, bookings=set())
    assert await ids(executions, query) == ["entered"]


async def test_a_periodic_pass_also_reads_the_nudged_bookings_wherever_they_fall(
    executions: AsyncCollection[dict[str, object]],
) -> None:
    query = pending_query(NOW + timedelta(minutes=1), entered_since=NOW, bookings={"b"})
    assert await ids(executions, query) == ["earlier", "entered"]


async def test_the_store_still_refuses_an_empty_in_inside_or(executions: AsyncCollection[dict[str, object]]) -> None:
    """mongoeco 4.11's SQLite planner renders `$in: []` inside `$or` as `IN ()`, a syntax error, which
    `pending_query` avoids. When this fails, the library is fixed and the special case can go."""
    with pytest.raises(OperationFailure, match="syntax error"):
        await ids(executions, {"$or": [{"planned_at": {"$gte": NOW}}, {"booking": {"$in": []}}]})
