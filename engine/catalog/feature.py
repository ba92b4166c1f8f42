"""The catalog feature: resources and workflows, stored as they arrive, and looked up by id or page."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.catalog.store import Catalog
from engine.core.errors import PermanentError
from engine.core.lifecycle import Idle

if TYPE_CHECKING:
    from schemas.catalog import Resource, Workflow
    from schemas.queries import Get, ListPage


class CatalogFeature(Idle):
    def __init__(self) -> None:
        self.catalog = Catalog()

    async def upsert(self, entry: Resource | Workflow, sequence: int | None) -> None:
        await self.catalog.upsert(entry, sequence or 0)

    async def get_resource(self, query: Get) -> dict[str, Any]:
        resource = await self.catalog.resource(query.id)
        if resource is None:
            raise PermanentError(f"unknown resource '{query.id}'")
        return resource.model_dump(mode="json")

    async def get_workflow(self, query: Get) -> dict[str, Any]:
        workflow = await self.catalog.workflow(query.id)
        if workflow is None:
            raise PermanentError(f"unknown workflow '{query.id}'")
        return workflow.model_dump(mode="json")

    async def list_resources(self, query: ListPage) -> dict[str, Any]:
        return await self.catalog.list("resource", cursor=query.cursor, limit=query.limit)

    async def list_workflows(self, query: ListPage) -> dict[str, Any]:
        return await self.catalog.list("workflow", cursor=query.cursor, limit=query.limit)
