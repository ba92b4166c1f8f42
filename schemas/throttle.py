"""Throttle commands: what the engine tells a node's agent after its level changed.

One command is published per change on `jetflow.throttle.command.<node>`, and the stream keeps the
latest per node, so an agent that restarts reads where it stands.
"""

from enum import StrEnum

from pydantic import Field

from schemas.base import Instant, Message
from schemas.names import KubeName


class ThrottleLevel(StrEnum):
    """How much new work a node may take."""

    NORMAL = "normal"
    LIMITED = "limited"
    TAINTED = "tainted"
    UNKNOWN = "unknown"


class ThrottleCommand(Message):
    """A node's level changed from `previous` to `level`."""

    node: KubeName = Field(description="The node the command is for.")
    level: ThrottleLevel = Field(description="The new level.")
    previous: ThrottleLevel = Field(description="The level before this change.")
    reason: str = Field(description="Why, for humans: the reading and the threshold it crossed.")
    metric: str | None = Field(default=None, description="The metric that decided, for example 'cpu'.")
    value: float | None = Field(default=None, description="Its value over the policy's window.")
    threshold: float | None = Field(default=None, description="The threshold it crossed.")
    since: Instant = Field(description="When the node entered the new level.")
