"""What happens to a node outside jetflow when its level changes: a port, no-op by default.

The evaluator calls `apply` once per change, after the command is published. A Kubernetes
implementation (engine/throttle/kube.py: taint the node NoSchedule with a jetflow key, suspend only the
workflows jetflow placed there, resume on release) plugs in here without the policy or the handlers knowing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from engine.throttle.policy import Change


class NodeActions(Protocol):
    async def apply(self, change: Change) -> None:
        """Make the outside world match `change` (idempotent: it may be called again for the same change)."""
        ...


class NoActions:
    async def apply(self, change: Change) -> None:
        return None
