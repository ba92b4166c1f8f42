"""Catalog records in MongoDB, and the ordered upsert that keeps them current."""

from __future__ import annotations

import time
from collections import OrderedDict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from beanie import Document
from pydantic import Field
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from engine.core.paging import page
from schemas.catalog import LOCAL_PEER, Resource, Workflow

if TYPE_CHECKING:
    from collections.abc import Sequence


class ResourceRecord(Document):
    id: str  # type: ignore[assignment]  # the resource id is the key
    spec: Resource
    sequence: int = Field(description="Stream sequence of the upsert that wrote this version.")
    updated_at: datetime
    origin: str = Field(
        default=LOCAL_PEER,
        description="Whose catalog wrote it: 'local' (our catalog stream), or the owner of a federated entry.",
    )
    removed: bool = Field(default=False, description="A tombstone: removed by its owner (kept for the ordering).")

    class Settings:
        name = "resources"


class WorkflowRecord(Document):
    id: str  # type: ignore[assignment]
    spec: Workflow
    sequence: int
    updated_at: datetime

    class Settings:
        name = "workflows"


CATALOG_DOCUMENTS: Sequence[type[Document]] = (ResourceRecord, WorkflowRecord)

#: Seconds this process reuses a catalog record it read, without reading the store again. Every
#: booking, dispatch and credential request reads the catalog, which changes rarely: an upsert handled
#: in this process drops its entry at once; one handled by another replica is seen within this time
#: (upserts are applied asynchronously from the stream anyway). Unknown ids are never remembered.
RECENT_SECONDS = 2.0
RECENT_MAX = 10_000


class _Recent:
    """The catalog records read lately, per database, family and id (shared by every `Catalog` of
    the process, so an upsert drops what any of them read)."""

    def __init__(self) -> None:
        self._entries: OrderedDict[tuple[str, str, str], tuple[float, Resource | Workflow]] = OrderedDict()

    def get(self, key: tuple[str, str, str]) -> Resource | Workflow | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if time.monotonic() - entry[0] > RECENT_SECONDS:
            del self._entries[key]
            return None
        return entry[1]

    def put(self, key: tuple[str, str, str], spec: Resource | Workflow) -> None:
        self._entries[key] = (time.monotonic(), spec)
        self._entries.move_to_end(key)
        while len(self._entries) > RECENT_MAX:
            self._entries.popitem(last=False)

    def drop(self, key: tuple[str, str, str]) -> None:
        self._entries.pop(key, None)


_recent = _Recent()


def _key(record: type[ResourceRecord] | type[WorkflowRecord], record_id: str) -> tuple[str, str, str]:
    return (record.get_pymongo_collection().database.name, record.get_collection_name(), record_id)


class Catalog:
    record_types: ClassVar[dict[str, type[ResourceRecord] | type[WorkflowRecord]]] = {
        "resource": ResourceRecord,
        "workflow": WorkflowRecord,
    }

    async def upsert(self, spec: Resource | Workflow, sequence: int) -> bool:
        """Store `spec` unless a newer version (higher stream sequence) is already stored.

        Returns whether it was applied. One store command.
        """
        if isinstance(spec, Resource):
            applied, _ = await self.write_resource(spec.id, spec, sequence)
            return applied
        collection = WorkflowRecord.get_pymongo_collection()
        document = {"spec": spec.model_dump(mode="json"), "sequence": sequence, "updated_at": datetime.now(UTC)}
        # Idempotency guard: apply only over an older sequence; a replay or a late older message
        # matches nothing and its upsert collides with the stored _id (duplicate key) → ignored.
        try:
            await collection.update_one(
                {"_id": spec.id, "sequence": {"$lte": sequence}}, {"$set": document}, upsert=True
            )
        except DuplicateKeyError:
            return False
        finally:
            _recent.drop(_key(WorkflowRecord, spec.id))
        return True

    async def write_resource(
        self, resource_id: str, spec: Resource | None, sequence: int, origin: str = LOCAL_PEER
    ) -> tuple[bool, dict[str, Any] | None]:
        """Store `spec` (None: a tombstone) for `origin`, unless a newer version is stored or another owns the id.

        Returns whether it was applied, and the record it replaced (None: there was none). One store command.
        """
        collection = ResourceRecord.get_pymongo_collection()
        document: dict[str, Any] = {"sequence": sequence, "updated_at": datetime.now(UTC), "origin": origin}
        document["removed"] = spec is None
        if spec is not None:
            document["spec"] = spec.model_dump(mode="json")
        # Only the same origin writes over a record (a record of before origins counts as local), and only over
        # an older sequence. Idempotency guard: a replay or a late older message matches nothing, and its upsert
        # collides with the stored _id (duplicate key) → ignored; so does a write over another owner's entry.
        owners = [origin, None] if origin == LOCAL_PEER else [origin]
        query = {"_id": resource_id, "sequence": {"$lte": sequence}, "origin": {"$in": owners}}
        try:
            before: dict[str, Any] | None = await collection.find_one_and_update(
                query, {"$set": document}, upsert=spec is not None, return_document=ReturnDocument.BEFORE
            )
        except DuplicateKeyError:
            return False, None
        finally:
            _recent.drop(_key(ResourceRecord, resource_id))
        # A tombstone with nothing before it: nothing to remove, or not ours to remove.
        return not (before is None and spec is None), before

    async def owner_of(self, resource_id: str) -> str | None:
        """Whose entry `resource_id` is ('local', a peer's id), None when no live entry has it."""
        record = await ResourceRecord.get(resource_id)
        return None if record is None or record.removed else record.origin

    async def resource(self, resource_id: str) -> Resource | None:
        record = await ResourceRecord.get(resource_id)
        return record.spec if record and not record.removed else None

    async def resources(self, ids: Sequence[str]) -> dict[str, Resource]:
        """The known ones among `ids`, read lately or from the store (one query for those not read lately)."""
        found: dict[str, Resource] = {}
        for resource_id in ids:
            if isinstance(spec := _recent.get(_key(ResourceRecord, resource_id)), Resource):
                found[resource_id] = spec
        if missing := [resource_id for resource_id in ids if resource_id not in found]:
            for record in await ResourceRecord.find({"_id": {"$in": missing}, "removed": {"$ne": True}}).to_list():
                found[record.id] = record.spec
                _recent.put(_key(ResourceRecord, record.id), record.spec)
        return found

    def __init__(self) -> None:
        self._workflows: set[str] = set()
        """Workflows seen in the store: a workflow is never removed, so existence needs one read."""

    async def has_workflow(self, workflow_id: str) -> bool:
        if workflow_id not in self._workflows and await self.workflow(workflow_id) is not None:
            self._workflows.add(workflow_id)
        return workflow_id in self._workflows

    async def workflow(self, workflow_id: str) -> Workflow | None:
        """The workflow, read lately or from the store."""
        key = _key(WorkflowRecord, workflow_id)
        if isinstance(spec := _recent.get(key), Workflow):
            return spec
        record = await WorkflowRecord.get(workflow_id)
        if record is None:
            return None
        _recent.put(key, record.spec)
        return record.spec

    async def list(self, family: str, *, cursor: str | None, limit: int) -> dict[str, Any]:
        collection = self.record_types[family].get_pymongo_collection()
        live = {"removed": {"$ne": True}} if family == "resource" else {}
        documents, following = await page(collection, live, cursor=cursor, limit=limit)
        return {"items": [document["spec"] for document in documents], "next": following}
