"""The throttle feature's settings group (part of `engine/settings.py`'s `Settings`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings

from engine.core.settings import GROUP
from engine.throttle.rules import Rules


class ThrottleSettings(BaseSettings):
    """How node samples become throttle levels, and what the levels mean."""

    model_config = GROUP

    enabled: bool = Field(
        validation_alias="JETFLOW_THROTTLE_ENABLED",
        default=True,
        description="Take part in the lease election that evaluates node samples into throttle levels.",
    )
    groups: dict[str, Rules] = Field(
        validation_alias="JETFLOW_THROTTLE_GROUPS",
        default_factory=lambda: {"default": Rules()},
        description="Thresholds per node group, as JSON: {group: {limited: {metric: {high, low}}, tainted: {...}, "
        "window, mode: consecutive|mean, cooldown, silence}}. Nodes without a group use 'default'.",
    )
    node_groups: dict[str, str] = Field(
        validation_alias="JETFLOW_THROTTLE_NODE_GROUPS",
        default_factory=dict,
        description="Node name → group name in throttle_groups, as JSON.",
    )
    limited_fraction: float = Field(
        validation_alias="JETFLOW_THROTTLE_LIMITED_FRACTION",
        default=0.5,
        gt=0,
        le=1,
        description="Share of a node's concurrent execution limit kept while `limited`.",
    )
    unknown: Literal["open", "limited", "tainted"] = Field(
        validation_alias="JETFLOW_THROTTLE_UNKNOWN",
        default="open",
        description="What a silent (`unknown`) node means for new work: no limit, the limited fraction, or none.",
    )
    clock_skew: float = Field(
        validation_alias="JETFLOW_THROTTLE_CLOCK_SKEW",
        default=60.0,
        ge=0,
        description="Seconds a sample's `at` may be ahead of this engine's clock; later ones are dead-lettered "
        "(one sample from the future would make every real sample look stale).",
    )
    snapshot: float = Field(
        validation_alias="JETFLOW_THROTTLE_SNAPSHOT",
        default=30.0,
        gt=0,
        description="Seconds between snapshots of the evaluator's state to MongoDB.",
    )
    batch: int = Field(
        validation_alias="JETFLOW_THROTTLE_BATCH",
        default=256,
        ge=1,
        le=4096,
        description="Metric samples fetched (and acknowledged at once) per pull.",
    )
    kube_taint: bool = Field(
        validation_alias="JETFLOW_THROTTLE_KUBE_TAINT",
        default=False,
        description="Also taint a `tainted` node NoSchedule in Kubernetes (key jetflow.io/throttle); "
        "the taint is removed on release.",
    )
    kube_suspend: bool = Field(
        validation_alias="JETFLOW_THROTTLE_KUBE_SUSPEND",
        default=False,
        description="Also suspend the running Argo Workflows jetflow placed on a `tainted` node (no new steps "
        "start; running pods finish), and resume them on release.",
    )
