"""Catalog events and queries: resources and workflows, stored as they arrive."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.catalog.store import CATALOG_DOCUMENTS, Catalog
from engine.core.errors import PermanentError
from schemas import subjects
from schemas.catalog import Resource, Workflow
from schemas.queries import Get, ListPage

if TYPE_CHECKING:
    from engine.bus.consumer import Delivery
    from engine.runtime import Runtime

DOCUMENTS = CATALOG_DOCUMENTS


async def install(runtime: Runtime) -> None:
    catalog = Catalog()
    durable = runtime.consumers.durable

    @durable(runtime.router, name="resource-upsert", subject=subjects.RESOURCE_UPSERT, model=Resource)
    async def on_resource(resource: Resource, delivery: Delivery) -> None:
        """Register or update a resource (jetflow.resource.upsert)."""
        await catalog.upsert(resource, delivery.stream_sequence or 0)

    @durable(runtime.router, name="workflow-upsert", subject=subjects.WORKFLOW_UPSERT, model=Workflow)
    async def on_workflow(workflow: Workflow, delivery: Delivery) -> None:
        """Register or update a workflow definition (jetflow.workflow.upsert)."""
        await catalog.upsert(workflow, delivery.stream_sequence or 0)

    async def get_resource(query: Get) -> dict[str, Any]:
        resource = await catalog.resource(query.id)
        if resource is None:
            raise PermanentError(f"unknown resource '{query.id}'")
        return resource.model_dump(mode="json")

    async def get_workflow(query: Get) -> dict[str, Any]:
        workflow = await catalog.workflow(query.id)
        if workflow is None:
            raise PermanentError(f"unknown workflow '{query.id}'")
        return workflow.model_dump(mode="json")

    async def list_resources(query: ListPage) -> dict[str, Any]:
        return await catalog.list("resource", cursor=query.cursor, limit=query.limit)

    async def list_workflows(query: ListPage) -> dict[str, Any]:
        return await catalog.list("workflow", cursor=query.cursor, limit=query.limit)

    control = runtime.control
    await control.add_query("resource-get", subjects.ctl("resource", "get"), Get, get_resource)
    await control.add_query("resource-list", subjects.ctl("resource", "list"), ListPage, list_resources)
    await control.add_query("workflow-get", subjects.ctl("workflow", "get"), Get, get_workflow)
    await control.add_query("workflow-list", subjects.ctl("workflow", "list"), ListPage, list_workflows)
