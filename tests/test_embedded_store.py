"""The embedded store's engines (engine/embedded/engines.py): no whole-collection `_id` scan for an insert
of a non-numeric id, the same duplicate-key answers as before, and acknowledged writes that survive SIGKILL.

Each engine is served in-process by mongoeco's wire server and driven with PyMongo, as jetflow drives it;
the SIGKILL test runs the real `python -m engine.embedded.mongo` child.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import signal
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from bson import Decimal128, Int64
from mongoeco.engines import memory, sqlite
from mongoeco.wire.proxy import AsyncMongoEcoProxyServer
from pymongo import AsyncMongoClient
from pymongo.errors import DuplicateKeyError, OperationFailure

from engine.embedded import servers
from engine.embedded.engines import PatchedMemoryEngine, PatchedSQLiteEngine

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from pathlib import Path

    from pymongo.asynchronous.collection import AsyncCollection

ENGINES = ("memory", "sqlite")
#: The library method each subclass overrides, and the per-document decoder its `_id` scan calls.
OVERRIDES = {
    "memory": (memory.MemoryEngine, PatchedMemoryEngine, "_ensure_unique_indexes", "_borrow_storage_document"),
    "sqlite": (
        sqlite.SQLiteEngine,
        PatchedSQLiteEngine,
        "_validate_document_against_unique_indexes",
        "_deserialize_document",
    ),
}
STORED = 400


def make_engine(kind: str, tmp_path: Path, *, patched: bool = True) -> Any:
    library, ours, _, _ = OVERRIDES[kind]
    engine_class = ours if patched else library
    return engine_class() if kind == "memory" else engine_class(str(tmp_path / "store.sqlite3"))


@contextlib.asynccontextmanager
async def served(engine: Any) -> AsyncIterator[AsyncCollection[dict[str, Any]]]:
    """A fresh collection on `engine`, behind mongoeco's wire server on a free port."""
    server = AsyncMongoEcoProxyServer(engine=engine, host="127.0.0.1", port=0)
    await server.start()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(servers.mongo_url(server.address.port))
    try:
        yield client["t"][f"c{uuid.uuid4().hex[:8]}"]
    finally:
        await client.close()
        await server.close()


def execution(index: int) -> dict[str, Any]:
    return {"_id": f"bk-{index}-20261201t103000", "booking": f"bk-{index}", "state": "planned"}


class Decoded:
    """Counts the stored documents an engine decodes (the library's per-document loader, wrapped)."""

    def __init__(self, engine: Any, loader: str, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original: Callable[..., Any] = getattr(engine, loader)

        def counting(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(engine, loader, counting)


@pytest.mark.parametrize("kind", ENGINES)
def test_the_overridden_library_methods_still_take_the_flag(kind: str) -> None:
    # On a mongoeco upgrade that renames the method or the flag, the subclass would silently stop applying.
    library, ours, method, loader = OVERRIDES[kind]
    assert method in vars(ours)
    assert method in vars(library), f"{library.__name__}.{method} is gone: re-check engine/embedded/engines.py"
    flag = inspect.signature(getattr(library, method)).parameters.get("scan_payload_id")
    assert flag is not None, f"{library.__name__}.{method} lost scan_payload_id"
    assert flag.kind is inspect.Parameter.KEYWORD_ONLY
    assert callable(getattr(library, loader))


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", ENGINES)
async def test_a_string_id_insert_decodes_no_stored_document(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, _, loader = OVERRIDES[kind]
    for patched in (False, True):
        folder = tmp_path / ("patched" if patched else "library")
        folder.mkdir()
        engine = make_engine(kind, folder, patched=patched)
        async with served(engine) as executions:
            await executions.insert_many([execution(i) for i in range(STORED)])
            decoded = Decoded(engine, loader, monkeypatch)
            await executions.insert_one(execution(STORED))
            await executions.replace_one({"_id": execution(0)["_id"]}, {**execution(0), "state": "done"})
            if patched:
                assert decoded.count < STORED / 10, decoded.count
                # A numeric id still gets the library's scan: 1.0 must find a stored 1.
                await executions.insert_one({"_id": 7, "booking": "numeric"})
                assert decoded.count >= STORED, decoded.count
            else:  # the instrument sees the scan the subclass removes
                assert decoded.count >= STORED, decoded.count
            monkeypatch.undo()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", ENGINES)
async def test_duplicate_ids_are_still_refused(kind: str, tmp_path: Path) -> None:
    async with served(make_engine(kind, tmp_path)) as executions:
        await executions.insert_one(execution(1))
        with pytest.raises(DuplicateKeyError) as refused:
            await executions.insert_one(execution(1))
        assert refused.value.code == 11000

        await executions.insert_one({"_id": 1, "kind": "int"})
        for same in (1.0, Int64(1), Decimal128("1"), Decimal128("1.00")):
            with pytest.raises(DuplicateKeyError) as refused:
                await executions.insert_one({"_id": same})
            assert refused.value.code == 11000, same
        await executions.insert_one({"_id": "1", "kind": "a string is another id"})
        await executions.insert_one({"_id": {"booking": "bk-1", "at": 1}})
        with pytest.raises(DuplicateKeyError):
            await executions.insert_one({"_id": {"booking": "bk-1", "at": 1.0}})
        assert await executions.count_documents({}) == 4


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", ENGINES)
async def test_replace_and_insert_respect_a_unique_secondary_index(kind: str, tmp_path: Path) -> None:
    async with served(make_engine(kind, tmp_path)) as executions:
        await executions.create_index("booking", unique=True)
        first, second = execution(1), execution(2)
        await executions.insert_many([first, second])

        replaced = await executions.replace_one({"_id": second["_id"]}, {**second, "state": "done"})
        assert replaced.modified_count == 1
        with pytest.raises(DuplicateKeyError) as refused:
            await executions.replace_one({"_id": second["_id"]}, {**second, "booking": first["booking"]})
        assert refused.value.code == 11000
        with pytest.raises(DuplicateKeyError):
            await executions.update_one({"_id": second["_id"]}, {"$set": {"booking": first["booking"]}})
        with pytest.raises(DuplicateKeyError):
            await executions.insert_one({"_id": "bk-3-20261201t103000", "booking": first["booking"]})
        upserted = await executions.replace_one({"_id": "bk-4"}, {"booking": "bk-4", "state": "planned"}, upsert=True)
        assert upserted.upserted_id == "bk-4"

        assert await executions.find_one({"_id": second["_id"]}) == {**second, "state": "done"}
        assert await executions.count_documents({}) == 3


@pytest.mark.timeout(60)
async def test_acknowledged_writes_survive_sigkill_of_the_store(tmp_path: Path) -> None:
    # The real child, SQLite under the state folder: what PyMongo saw acknowledged is there after a SIGKILL.
    child = servers.mongo_server(tmp_path)
    await child.start()
    try:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(servers.mongo_url(child.port))
        executions = client["jetflow"]["executions"]
        await executions.insert_many([execution(i) for i in range(50)])
        await executions.insert_one(execution(50))
        await executions.replace_one({"_id": execution(0)["_id"]}, {**execution(0), "state": "done"})
        at = datetime(2026, 12, 1, 10, 30, tzinfo=UTC)
        await executions.update_one({"_id": execution(1)["_id"]}, {"$set": {"state": "running", "updated_at": at}})
        await client.close()
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
    finally:
        await child.stop()

    again = servers.mongo_server(tmp_path)
    await again.start()
    try:
        client = AsyncMongoClient(servers.mongo_url(again.port))
        executions = client["jetflow"]["executions"]
        assert await executions.count_documents({}) == 51
        assert (await executions.find_one({"_id": execution(0)["_id"]}) or {})["state"] == "done"
        running = await executions.find_one({"_id": execution(1)["_id"]}) or {}
        assert running["state"] == "running"
        assert running["updated_at"] == at.replace(tzinfo=None)
        await client.close()
    finally:
        await again.stop()
    assert "PatchedSQLiteEngine" in (tmp_path / "logs" / "store.log").read_text()


class Dispatches:
    """Counts the engine's change-stream registrations and outbox dispatches (the library's methods, wrapped)."""

    def __init__(self, engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        for method in ("register_change_consumer", "dispatch_committed_changes"):
            original: Callable[..., Any] = getattr(engine, method)

            def counting(*args: Any, _original: Callable[..., Any] = original, **kwargs: Any) -> Any:
                self.count += 1
                return _original(*args, **kwargs)

            monkeypatch.setattr(engine, method, counting)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("patched", [True, False], ids=["patched", "library"])
async def test_sqlite_writes_run_no_change_stream_dispatch(
    patched: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # engines.WIRE_CHANGE_DELIVERY: mongoeco's SQLite engine registers a change consumer and dispatches its outbox
    # (leases, a heartbeat thread, commits) after every write; ours does neither. The library run shows the cost is
    # still there to avoid: when it stops dispatching on its own, drop the override.
    engine = make_engine("sqlite", tmp_path, patched=patched)
    async with served(engine) as executions:
        dispatches = Dispatches(engine, monkeypatch)
        await executions.insert_one(execution(1))
        await executions.update_one({"_id": execution(1)["_id"]}, {"$set": {"state": "due"}})
        await executions.find_one_and_update({"_id": execution(1)["_id"]}, {"$set": {"state": "running"}})
        await executions.delete_one({"_id": execution(1)["_id"]})
        assert await executions.count_documents({}) == 0
    if patched:
        assert dispatches.count == 0
    else:
        assert dispatches.count >= 4, "mongoeco no longer dispatches per write: re-check WIRE_CHANGE_DELIVERY"


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", ENGINES)
async def test_the_wire_server_serves_no_change_stream(kind: str, tmp_path: Path) -> None:
    # Why delivering none is safe: no wire client can open a change stream. If a mongoeco upgrade serves
    # `$changeStream`, this fails, and WIRE_CHANGE_DELIVERY must go (a stream would otherwise see nothing).
    async with served(make_engine(kind, tmp_path)) as executions:
        with pytest.raises(OperationFailure, match=r"\$changeStream"):
            await executions.watch()
