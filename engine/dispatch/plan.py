"""Everything the pure builders need, in one value: the execution, its workflow, its resources, config.

Builders take a `Plan` and return plain dicts, so they are tested without servers (golden files) and
`jetflow render` prints exactly what dispatch would create. `now` is passed in, never read, so the
same plan always renders the same manifests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.core.settings import PeerSettings
from engine.dispatch.access import ADMIRALTY_NAMESPACE_LABEL, REMOTE_PEERS, Scope
from engine.dispatch.settings import DispatchSettings
from engine.kube import names

if TYPE_CHECKING:
    from datetime import datetime

    from schemas.catalog import Resource, Step, Workflow


@dataclass(frozen=True, slots=True)
class DispatchConfig:
    """What the builders read of the settings: the dispatch group's workflow template and this peer's id."""

    peer_id: str
    retries: int
    c2d_image: str
    c2d_max_jobs: int
    c2d_max_job_duration: int
    c2d_volume_size: str

    @classmethod
    def from_settings(cls, dispatch: DispatchSettings, peer: PeerSettings) -> DispatchConfig:
        return cls(
            peer_id=peer.id,
            retries=dispatch.retries,
            c2d_image=dispatch.c2d_image,
            c2d_max_jobs=dispatch.c2d_max_jobs,
            c2d_max_job_duration=math.ceil(dispatch.c2d_max_job_duration),
            c2d_volume_size=dispatch.c2d_volume_size,
        )

    @classmethod
    def defaults(cls) -> DispatchConfig:
        """The settings groups' own defaults, whatever the environment says (golden files, `jetflow render`)."""
        return cls.from_settings(DispatchSettings.model_construct(), PeerSettings.model_construct())


@dataclass(frozen=True, slots=True)
class Plan:
    execution: str
    booking: str
    workflow: Workflow
    resources: dict[str, Resource]
    """The booking's resources and the steps' resources, by id, as the catalog holds them."""
    planned_at: datetime
    window_end: datetime
    now: datetime
    config: DispatchConfig = field(default_factory=DispatchConfig.defaults)

    @property
    def namespace(self) -> str:
        return names.namespace(self.execution)

    @property
    def workflow_name(self) -> str:
        return names.workflow(self.execution)

    def deadline(self) -> int:
        """Seconds the workflow may run: until the window ends, counted from when it starts (>= 1)."""
        start = max(self.now, self.planned_at)
        return max(1, math.ceil((self.window_end - start).total_seconds()))

    def storages(self) -> list[str]:
        return sorted(rid for rid, resource in self.resources.items() if resource.kind == "storage")

    def remote_peer(self, step: Step) -> str | None:
        """The peer whose cluster must run `step`, or None when it runs here."""
        resource = self.resources.get(step.resource) if step.resource else None
        if resource is None or (owner := resource.owner(self.config.peer_id)) == self.config.peer_id:
            return None
        return owner

    def node(self, step: Step) -> str | None:
        resource = self.resources.get(step.resource) if step.resource else None
        if resource is None or resource.kind != "compute":
            return None
        return resource.node or resource.id

    def federated(self) -> bool:
        return any(self.remote_peer(step) for step in self.workflow.steps)

    def remote_peers(self) -> list[str]:
        """The peers whose clusters run some of the steps, sorted."""
        return sorted({peer for step in self.workflow.steps if (peer := self.remote_peer(step))})

    def scope(self) -> Scope:
        """The execution's namespace on this cluster: Admiralty's label and the remote peers when federated."""
        peers = self.remote_peers()
        return Scope(
            namespace=self.namespace,
            labels=self.labels(),
            annotations=self.annotations(),
            namespace_labels={ADMIRALTY_NAMESPACE_LABEL: "enabled"} if peers else {},
            namespace_annotations={REMOTE_PEERS: ",".join(peers)} if peers else {},
        )

    def labels(self) -> dict[str, str]:
        """Labels on every object of the execution; the watcher selects workflows by `MANAGED_BY`."""
        return {
            names.MANAGED_BY: names.MANAGER,
            names.EXECUTION: names.label(self.execution),
            names.BOOKING: names.label(self.booking),
            names.PEER: names.label(self.config.peer_id),
        }

    def annotations(self) -> dict[str, str]:
        """The exact ids (labels may be folded to fit Kubernetes' rules)."""
        return {names.EXECUTION: self.execution, names.BOOKING: self.booking}
