"""NodeActions on Kubernetes: a `tainted` node also gets a NoSchedule taint, removed on release.

Only jetflow's own taint (key `jetflow.io/throttle`) is ever added or removed; other taints on the
node are kept as they are. Taints are a list, which a JSON merge patch replaces whole, so the node
is read first and written with its taints plus or minus ours; applying the same change twice is a
no-op (no patch at all when the node already matches). A node Kubernetes does not know is skipped:
samples may come from machines outside the cluster.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from schemas.throttle import ThrottleLevel

if TYPE_CHECKING:
    from engine.kube.client import Kube
    from engine.throttle.policy import Change

log = logging.getLogger(__name__)

TAINT_KEY = "jetflow.io/throttle"


class KubeNodeActions:
    def __init__(self, kube: Kube) -> None:
        self._kube = kube

    async def apply(self, change: Change) -> None:
        node = await self._kube.get("v1", "Node", None, change.node)
        if node is None:
            log.info("node %s is not in the cluster; no taint to change", change.node)
            return
        taints: list[dict[str, Any]] = list(node.get("spec", {}).get("taints") or [])
        others = [taint for taint in taints if taint.get("key") != TAINT_KEY]
        wanted = others
        if change.level == ThrottleLevel.TAINTED:
            wanted = [*others, {"key": TAINT_KEY, "value": str(change.level), "effect": "NoSchedule"}]
        if wanted == taints:
            return  # Idempotency guard: already as this change wants it.
        await self._kube.patch("v1", "Node", None, change.node, {"spec": {"taints": wanted}})
