"""Catalog events and queries: resources and workflows → engine/catalog/feature.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

from schemas import subjects
from schemas.catalog import PublicResource, Resource, ResourceRemoval, Workflow
from schemas.queries import Get, ListPage

if TYPE_CHECKING:
    from engine.bus.consumer import Delivery
    from engine.runtime import Runtime


async def install(runtime: Runtime) -> None:
    catalog = runtime.features.catalog
    durable = runtime.consumers.durable

    @durable(runtime.router, name="resource-upsert", subject=subjects.RESOURCE_UPSERT, model=Resource)
    async def on_resource(resource: Resource, delivery: Delivery) -> None:
        """Register or update a resource (jetflow.resource.upsert)."""
        await catalog.upsert(resource, delivery.stream_sequence)

    @durable(runtime.router, name="resource-remove", subject=subjects.RESOURCE_REMOVE, model=ResourceRemoval)
    async def on_remove(removal: ResourceRemoval, delivery: Delivery) -> None:
        """Remove a resource; a public one leaves the linked peers' catalogs too (jetflow.resource.remove)."""
        await catalog.remove(removal, delivery.stream_sequence)

    @durable(
        runtime.router,
        name="federated-catalog",
        subject=f"{subjects.FEDERATED_PREFIX}.*.resource.*",
        model=PublicResource,
    )
    async def on_federated(entry: PublicResource, delivery: Delivery) -> None:
        """A linked peer's public resource, changed or gone (JETFLOW_FEDERATED, sourced from its owner)."""
        await catalog.federate(delivery.subject, entry)

    @durable(runtime.router, name="workflow-upsert", subject=subjects.WORKFLOW_UPSERT, model=Workflow)
    async def on_workflow(workflow: Workflow, delivery: Delivery) -> None:
        """Register or update a workflow definition (jetflow.workflow.upsert)."""
        await catalog.upsert(workflow, delivery.stream_sequence)

    control = runtime.control
    await control.add_query("resource-get", subjects.ctl("resource", "get"), Get, catalog.get_resource)
    await control.add_query("resource-list", subjects.ctl("resource", "list"), ListPage, catalog.list_resources)
    await control.add_query("workflow-get", subjects.ctl("workflow", "get"), Get, catalog.get_workflow)
    await control.add_query("workflow-list", subjects.ctl("workflow", "list"), ListPage, catalog.list_workflows)
