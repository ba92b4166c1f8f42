"""Query shapes the engine sends, run on the embedded SQLite store (`jetflow up`'s default; the other
tests use the memory engine, whose planner differs)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from pymongo import AsyncMongoClient

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


async def test_a_periodic_pass_reads_what_entered_the_horizon(
    executions: AsyncCollection[dict[str, object]],
) -> None:
    query = pending_query(NOW + timedelta(minutes=1), entered_since=NOW)
    assert await ids(executions, query) == ["entered"]


async def test_a_resumed_booking_is_read_again_wherever_its_executions_fall(
    executions: AsyncCollection[dict[str, object]],
) -> None:
    query = pending_query(NOW + timedelta(minutes=1), booking="b")
    assert await ids(executions, query) == ["earlier"]


async def test_a_full_pass_reads_the_whole_horizon(executions: AsyncCollection[dict[str, object]]) -> None:
    assert await ids(executions, pending_query(NOW + timedelta(minutes=1))) == ["earlier", "entered"]
