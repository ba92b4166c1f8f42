"""The catalog feature: resources and workflows, stored as they arrive, and looked up by id or page.

A peer defines only its own resources. Its public ones are written, after its own catalog applied them,
to its public stream (`jetflow.public.resource.<id>`, engine/streams.py), which every linked peer's
JetStream sources into its read-only federated catalog (docs/federation.md); what arrives from there is
stored here with the owner's id as the entry's `peer`. A local publish that would define or change another
peer's resource is refused with the reason (dead-lettered, like any bad input): one naming a linked peer (whose
public catalog we source), or an id our federated catalog has from another peer. A resource naming a peer we
have no leaf link to (one an operator's hub routes to) is still entered by hand: no federated catalog supplies it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.catalog.store import Catalog
from engine.core.errors import PermanentError
from engine.core.lifecycle import Idle
from schemas import subjects
from schemas.catalog import LOCAL_PEER, PublicResource, Resource

if TYPE_CHECKING:
    from collections.abc import Sequence

    from engine.bus.publisher import Publisher
    from schemas.catalog import ResourceRemoval, Workflow
    from schemas.queries import Get, ListPage


class CatalogFeature(Idle):
    def __init__(
        self, publisher: Publisher | None = None, peer_id: str = LOCAL_PEER, linked: Sequence[str] = ()
    ) -> None:
        self.catalog = Catalog()
        self._publisher = publisher
        self._peer = peer_id
        self._linked = frozenset(linked)

    async def upsert(self, entry: Resource | Workflow, sequence: int | None) -> None:
        if not isinstance(entry, Resource):
            await self.catalog.upsert(entry, sequence or 0)
            return
        if entry.peer in self._linked:
            raise PermanentError(
                f"resource '{entry.id}' names peer '{entry.peer}': a peer publishes only its own resources"
                f" ({entry.peer}'s public ones reach this catalog by federation, read-only)"
            )
        await self._refuse_foreign(entry.id)
        applied, before = await self.catalog.write_resource(entry.id, entry, sequence or 0)
        if not applied:
            await self._refuse_foreign(entry.id)  # a federated entry arrived in between
            return
        was_public = before is not None and not before.get("removed") and _public(before)
        if entry.visibility == "public" or was_public:
            await self._offer(entry.id, entry if entry.visibility == "public" else None, sequence or 0)

    async def remove(self, removal: ResourceRemoval, sequence: int | None) -> None:
        """Remove our resource `removal.resource`; a public one leaves the linked peers' catalogs too."""
        await self._refuse_foreign(removal.resource)
        applied, before = await self.catalog.write_resource(removal.resource, None, sequence or 0)
        if not applied or before is None or before.get("removed"):
            return  # unknown, already removed, or a newer version was stored since
        if _public(before):
            await self._offer(removal.resource, None, sequence or 0)

    async def federate(self, subject: str, entry: PublicResource) -> None:
        """Apply an entry of a linked peer's public catalog; its owner is the link it came over (the subject)."""
        owner = subject.split(".")[2]
        spec = entry.spec
        if spec is not None and (spec.id != entry.resource or spec.visibility != "public"):
            raise PermanentError(f"federated entry of '{entry.resource}' from peer '{owner}' does not match its spec")
        copy = None if spec is None else spec.model_copy(update={"peer": owner})
        # An id we hold ourselves (or another peer's entry) is not replaced: write_resource refuses it.
        await self.catalog.write_resource(entry.resource, copy, entry.sequence, origin=owner)

    async def _refuse_foreign(self, resource_id: str) -> None:
        owner = await self.catalog.owner_of(resource_id)
        if owner is not None and owner != LOCAL_PEER:
            raise PermanentError(
                f"resource '{resource_id}' belongs to peer '{owner}' (federated catalog, read-only):"
                f" only {owner} can change or remove it"
            )

    async def _offer(self, resource_id: str, spec: Resource | None, sequence: int) -> None:
        if self._publisher is None:
            return
        entry_id = f"public-{resource_id}-{sequence}"
        entry = PublicResource(id=entry_id, resource=resource_id, spec=spec, sequence=sequence)
        await self._publisher.publish(subjects.public_resource(resource_id), entry, peer_id=self._peer)

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


def _public(record: dict[str, Any]) -> bool:
    return bool(record.get("spec", {}).get("visibility") == "public")
