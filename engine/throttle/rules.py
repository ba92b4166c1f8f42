"""The thresholds an operator configures, per node group (typed, so a typo fails at start).

`Settings.throttle_groups` maps a group name to `Rules`; `Settings.throttle_node_groups` maps a node
to its group (nodes not listed use the group named `default`). A metric's band has a `high` that
enters the level and a lower `low` that the metric must fall under before the level is left: the gap
between them is the hysteresis that keeps a node sitting at the threshold from flapping.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Band(BaseModel):
    """Enter a level at or above `high`; leave it only below `low`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    high: float = Field(description="Entering threshold (the windowed value reaches it).")
    low: float = Field(description="Leaving threshold (the windowed value falls under it); below `high`.")

    @model_validator(mode="after")
    def _gap(self) -> Self:
        if self.low >= self.high:
            raise ValueError(f"low ({self.low:g}) must be below high ({self.high:g}): that gap is the hysteresis")
        return self


def _limited() -> dict[str, Band]:
    return {
        "cpu": Band(high=80, low=65),
        "memory": Band(high=85, low=75),
        "load": Band(high=1.0, low=0.8),
        "disk": Band(high=90, low=85),
    }


def _tainted() -> dict[str, Band]:
    return {
        "cpu": Band(high=95, low=85),
        "memory": Band(high=95, low=88),
        "load": Band(high=2.0, low=1.5),
        "disk": Band(high=97, low=93),
    }


class Rules(BaseModel):
    """How one node group is judged. Metric names: cpu, memory, load, disk, gpu, or a custom gauge's name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    limited: dict[str, Band] = Field(default_factory=_limited, description="Bands that make a node `limited`.")
    tainted: dict[str, Band] = Field(default_factory=_tainted, description="Bands that make a node `tainted`.")
    window: int = Field(default=3, ge=1, le=1000, description="Samples the decision looks at.")
    mode: Literal["consecutive", "mean"] = Field(
        default="consecutive",
        description="'consecutive': every sample in the window is beyond the threshold; 'mean': their mean is.",
    )
    cooldown: float = Field(
        default=30.0, ge=0, description="Seconds (sample time) a node must stay calm before it is released."
    )
    silence: float = Field(
        default=30.0, gt=0, description="Seconds without a sample after which the node's level is `unknown`."
    )
