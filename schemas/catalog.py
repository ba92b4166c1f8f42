"""What can be booked and what can be run: resources and workflow definitions.

A workflow's structure (unique step names, known dependencies, no cycle) is checked here, when the
definition is published, so a broken DAG is refused with its reason instead of failing at dispatch.
Whether a step's `resource` exists is a question for the catalog, not for the message alone.
"""

import base64
import binascii
from collections import Counter
from graphlib import CycleError, TopologicalSorter
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from schemas.base import MapKey, Message, Part
from schemas.names import KubeName

X25519_KEY_BYTES = 32
#: `Resource.peer` of a resource that belongs to the peer reading the catalog.
LOCAL_PEER = "local"


class Resource(Message):
    """A bookable resource: a compute node, a storage, or anything else with a capacity.

    The message `id` is the resource name, so publishing the same resource again updates it.
    """

    id: KubeName = Field(description="Resource name, also the idempotency key; becomes part of Kubernetes names.")
    kind: Literal["compute", "storage", "other"] = Field(default="compute", description="What the resource is.")
    capacity: int = Field(
        default=1, ge=1, le=100_000, description="How many bookings may overlap on this resource at once."
    )
    peer: str = Field(
        default=LOCAL_PEER,
        min_length=1,
        description=(
            "Peer that owns the resource; 'local' is us. A linked peer's public resources reach our catalog by"
            " federation (read-only, with the owner's id here): a publish naming a linked peer is refused."
        ),
    )
    visibility: Literal["private", "public"] = Field(
        default="private",
        description=(
            "'public': offered to the linked peers, whose federated catalogs copy it (read-only, `peer` = our id),"
            " updates and removal following within seconds; 'private': in this peer's catalog only."
        ),
    )
    labels: dict[MapKey, str] = Field(default_factory=dict, description="Free-form labels for selection and display.")
    public_key: str | None = Field(
        default=None, description="Base64 X25519 public key of the owning peer, used to seal secrets sent to it."
    )
    endpoint: str | None = Field(default=None, description="Service endpoint, for storages (for example an S3 URL).")
    node: str | None = Field(
        default=None, description="Kubernetes node name, for compute resources; when absent, the resource id."
    )

    def owner(self, us: str) -> str:
        """The peer that owns this resource, and alone decides its calendar, for peer `us` reading it."""
        return us if self.peer == LOCAL_PEER else self.peer

    @field_validator("public_key")
    @classmethod
    def _x25519_key(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            raw = base64.b64decode(value, validate=True)
        except binascii.Error:
            raw = b""
        if len(raw) != X25519_KEY_BYTES:
            raise ValueError(f"public_key must be a base64 X25519 public key ({X25519_KEY_BYTES} bytes)")
        return value


class ResourceRemoval(Message):
    """Remove a resource from the catalog (`jetflow.resource.remove`); a public one leaves the linked peers' too.

    The message `id` is the command's idempotency key; `resource` names what is removed. Only the owner removes:
    an entry of the federated catalog is refused here, and goes when its owner removes it.
    """

    resource: KubeName = Field(description="The resource to remove.")


class PublicResource(Message):
    """One entry of a peer's public catalog (`jetflow.public.resource.<id>`), as its linked peers source it.

    Written by the owner only, after its own catalog applied the change; `spec` None is a tombstone (removed,
    or made private). Readers apply entries in the order of `sequence` (the owner's catalog stream sequence),
    so a late older entry never overwrites a newer one.
    """

    resource: KubeName = Field(description="The resource this entry is about.")
    spec: Resource | None = Field(description="The resource as its owner publishes it; None: gone from the catalog.")
    sequence: int = Field(ge=0, description="Sequence of the owner's catalog message this entry reflects.")


class StepResources(Part):
    """Kubernetes resource requests for one step's container."""

    cpu: str | None = Field(default=None, description="CPU request as Kubernetes writes it, for example '500m'.")
    memory: str | None = Field(default=None, description="Memory request, for example '256Mi'.")
    gpu: int | None = Field(default=None, ge=0, description="Number of GPUs.")


class Step(Part):
    """One container in a workflow's DAG."""

    name: KubeName = Field(description="Step name, unique within the workflow; becomes an Argo task name.")
    image: str = Field(min_length=1, description="Container image, for example 'alpine:3.20'.")
    command: list[str] = Field(default_factory=list, description="Container entrypoint; the image's when empty.")
    args: list[str] = Field(default_factory=list, description="Arguments to the entrypoint.")
    env: dict[MapKey, str] = Field(default_factory=dict, description="Environment variables of the container.")
    resources: StepResources = Field(default_factory=StepResources, description="Resource requests.")
    resource: KubeName | None = Field(
        default=None, description="Booked resource this step must run on; None leaves the choice to the engine."
    )
    depends: list[KubeName] = Field(default_factory=list, description="Steps that must succeed before this one.")


class ComputeToData(Part):
    """Run the steps next to the data: fetch inputs from a storage first, publish outputs after.

    The engine adds a `configure` task before the first steps (inputs copied to /data/inputs) and a
    `publish` task after the last ones (/data/outputs uploaded); every step sees /data.
    """

    inputs: KubeName = Field(description="Storage resource the inputs are read from.")
    outputs: KubeName = Field(description="Storage resource the outputs are written to.")
    input_prefix: str = Field(default="inputs", description="Key prefix of the inputs within the storage.")
    output_prefix: str = Field(default="outputs", description="Key prefix the outputs are written under.")


class Workflow(Message):
    """A workflow definition: a DAG of steps. The message `id` is the workflow name."""

    id: KubeName = Field(description="Workflow name, also the idempotency key; becomes part of Kubernetes names.")
    steps: list[Step] = Field(min_length=1, description="The steps; order does not matter, `depends` does.")
    description: str = Field(default="", description="What the workflow is for, for humans.")
    compute_to_data: ComputeToData | None = Field(
        default=None, description="Wrap the steps in the built-in compute-to-data template (fetch, run, publish)."
    )

    @model_validator(mode="after")
    def _valid_dag(self) -> Self:
        names = [step.name for step in self.steps]
        if duplicates := sorted(name for name, count in Counter(names).items() if count > 1):
            raise ValueError(f"duplicate step names: {', '.join(duplicates)}")
        known = set(names)
        for step in self.steps:
            if step.name in step.depends:
                raise ValueError(f"step {step.name!r} depends on itself")
            if unknown := [dep for dep in step.depends if dep not in known]:
                raise ValueError(f"step {step.name!r} depends on unknown step(s): {', '.join(unknown)}")
        if self.compute_to_data and (taken := sorted(known & {"configure", "publish"})):
            raise ValueError(f"step name(s) {', '.join(taken)} are reserved by compute_to_data")
        try:
            TopologicalSorter({step.name: step.depends for step in self.steps}).prepare()
        except CycleError as error:
            # graphlib lists the cycle in run order; reversed, each step depends on the next.
            cycle = reversed(error.args[1])
            raise ValueError(f"steps form a dependency cycle: {' -> '.join(cycle)}") from None
        return self
