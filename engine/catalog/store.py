"""Catalog records in MongoDB, and the ordered upsert that keeps them current."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from beanie import Document
from pydantic import Field
from pymongo.errors import DuplicateKeyError

from engine.core.paging import page
from schemas.catalog import Resource, Workflow

if TYPE_CHECKING:
    from collections.abc import Sequence


class ResourceRecord(Document):
    id: str  # type: ignore[assignment]  # the resource id is the key
    spec: Resource
    sequence: int = Field(description="Stream sequence of the upsert that wrote this version.")
    updated_at: datetime

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


class Catalog:
    record_types: ClassVar[dict[str, type[ResourceRecord] | type[WorkflowRecord]]] = {
        "resource": ResourceRecord,
        "workflow": WorkflowRecord,
    }

    async def upsert(self, spec: Resource | Workflow, sequence: int) -> bool:
        """Store `spec` unless a newer version (higher stream sequence) is already stored.

        Returns whether it was applied. One store command.
        """
        record = ResourceRecord if isinstance(spec, Resource) else WorkflowRecord
        collection = record.get_pymongo_collection()
        document = {"spec": spec.model_dump(mode="json"), "sequence": sequence, "updated_at": datetime.now(UTC)}
        # Idempotency guard: apply only over an older sequence; a replay or a late older message
        # matches nothing and its upsert collides with the stored _id (duplicate key) → ignored.
        try:
            await collection.update_one(
                {"_id": spec.id, "sequence": {"$lte": sequence}}, {"$set": document}, upsert=True
            )
        except DuplicateKeyError:
            return False
        return True

    async def resource(self, resource_id: str) -> Resource | None:
        record = await ResourceRecord.get(resource_id)
        return record.spec if record else None

    async def resources(self, ids: Sequence[str]) -> dict[str, Resource]:
        records = await ResourceRecord.find({"_id": {"$in": list(ids)}}).to_list()
        return {record.id: record.spec for record in records}

    def __init__(self) -> None:
        self._workflows: set[str] = set()
        """Workflows seen in the store: a workflow is never removed, so existence needs one read."""

    async def has_workflow(self, workflow_id: str) -> bool:
        if workflow_id not in self._workflows and await self.workflow(workflow_id) is not None:
            self._workflows.add(workflow_id)
        return workflow_id in self._workflows

    async def workflow(self, workflow_id: str) -> Workflow | None:
        record = await WorkflowRecord.get(workflow_id)
        return record.spec if record else None

    async def list(self, family: str, *, cursor: str | None, limit: int) -> dict[str, Any]:
        collection = self.record_types[family].get_pymongo_collection()
        documents, following = await page(collection, {}, cursor=cursor, limit=limit)
        return {"items": [document["spec"] for document in documents], "next": following}
