"""Resource usage samples, published by an agent on each node.

The throttle policy turns a window of these into a level per node. Percentages are bounded here so a
buggy agent is refused at the door instead of tainting a node.
"""

from pydantic import Field

from schemas.base import Instant, MapKey, Message
from schemas.names import KubeName


class MetricSample(Message):
    """One reading of a node's usage, published on `jetflow.metric.sample.<node>`."""

    node: KubeName = Field(description="The node measured; also the last subject token.")
    at: Instant = Field(description="When the reading was taken.")
    cpu: float = Field(ge=0, le=100, description="CPU use, percent.")
    memory: float = Field(ge=0, le=100, description="Memory use, percent.")
    disk: float = Field(ge=0, le=100, description="Disk use, percent.")
    load: float = Field(ge=0, description="Load average divided by the number of cores (1.0 = fully busy).")
    gpu: float | None = Field(default=None, ge=0, le=100, description="GPU use, percent; None without a GPU.")
    custom: dict[MapKey, float] = Field(default_factory=dict, description="Other readings, by name.")
