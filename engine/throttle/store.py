"""NodeThrottle: the evaluator's memory in MongoDB, written on level changes and in periodic snapshots.

Samples are never stored one by one (they are high volume and short-lived; JETFLOW_METRICS keeps
them for an hour). A document holds a node's level, the time of its last sample and its window, so
a replica that takes the throttle lease over resumes where the previous holder's last write left it;
at most one snapshot period of samples is missing from the windows, and the next samples refill them.
"""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from beanie import Document
from pydantic import Field
from pymongo import ReplaceOne

from engine.throttle.policy import NodeState
from schemas.throttle import ThrottleLevel

if TYPE_CHECKING:
    from collections.abc import Iterable


class NodeThrottle(Document):
    id: str  # type: ignore[assignment]  # the node name is the key
    level: ThrottleLevel = ThrottleLevel.NORMAL
    since: datetime | None = None
    last_at: datetime | None = Field(default=None, description="`at` of the newest sample applied.")
    last_sample: str | None = None
    calm_since: datetime | None = None
    window: list[dict[str, float]] = Field(default_factory=list)
    updated_at: datetime

    class Settings:
        name = "node_throttle"


def _document(state: NodeState) -> dict[str, object]:
    return {
        "level": str(state.level),
        "since": state.since,
        "last_at": state.last_at,
        "last_sample": state.last_sample,
        "calm_since": state.calm_since,
        "window": list(state.window),
        "updated_at": datetime.now(UTC),
    }


async def save(states: Iterable[NodeState]) -> int:
    """Upsert the given nodes' states in one store command; returns how many were written."""
    operations = [ReplaceOne({"_id": state.node}, _document(state), upsert=True) for state in states]
    if operations:
        await NodeThrottle.get_pymongo_collection().bulk_write(operations, ordered=False)
    return len(operations)


async def load() -> dict[str, NodeState]:
    """Every node's last saved state."""
    states = {}
    for record in await NodeThrottle.find_all().to_list():
        states[record.id] = NodeState(
            node=record.id,
            level=record.level,
            since=record.since,
            last_at=record.last_at,
            last_sample=record.last_sample,
            calm_since=record.calm_since,
            window=deque(record.window),
        )
    return states
