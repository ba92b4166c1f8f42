"""`jetflow.ctl.throttle.status`: every node's level, as this replica's gate obeys it.

Nodes come from three places: the gate's latest command per node (any replica has them), the
NodeThrottle documents, and, on the evaluating replica, the states not yet snapshotted (nodes that
reported but never changed level have no command).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.throttle.store import NodeThrottle
from schemas.throttle import ThrottleLevel

if TYPE_CHECKING:
    from collections.abc import Mapping

    from engine.throttle.gate import CommandGate
    from engine.throttle.policy import NodeState

COMMAND_FIELDS = {"previous", "since", "reason", "metric", "value", "threshold"}


async def node_levels(gate: CommandGate | None, live: Mapping[str, NodeState]) -> list[dict[str, Any]]:
    stored: dict[str, NodeThrottle | NodeState] = {
        record.id: record for record in await NodeThrottle.find_all().to_list()
    }
    stored.update(live)
    commands = gate.commands if gate is not None else {}
    nodes = []
    for node in sorted(stored.keys() | commands.keys()):
        command, record = commands.get(node), stored.get(node)
        level = command.level if command else record.level if record else ThrottleLevel.NORMAL
        entry: dict[str, Any] = {"node": node, "level": str(level)}
        if command is not None:
            entry |= command.model_dump(mode="json", include=COMMAND_FIELDS)
        if record is not None and record.last_at is not None:
            entry["last_sample_at"] = record.last_at.isoformat()
        nodes.append(entry)
    return nodes
