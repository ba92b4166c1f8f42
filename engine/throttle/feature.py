"""The throttle feature: the leased evaluator, the gate every replica obeys, and the levels gauge.

Samples are not consumed through the shared durable consumers: one node's window must be seen by one
process, so only the `throttle` lease holder pulls them (engine/throttle/evaluator.py). Commands reach
every replica's gate (engine/throttle/gate.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.throttle.actions import NoActions
from engine.throttle.evaluator import Evaluator
from engine.throttle.gate import CommandGate
from engine.throttle.gauge import observe_levels
from engine.throttle.status import node_levels

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from engine.ports import Ports
    from engine.throttle.actions import NodeActions
    from engine.throttle.settings import ThrottleSettings
    from schemas.throttle import ThrottleCommand, ThrottleLevel


class Throttle:
    def __init__(self, runtime: Ports, settings: ThrottleSettings) -> None:
        self._runtime = runtime
        self.lease = "throttle" if settings.enabled else None
        self.gate = runtime.gate if isinstance(runtime.gate, CommandGate) else None
        actions: NodeActions = NoActions()
        if settings.kube_taint or settings.kube_suspend:
            from engine.throttle.kube import KubeNodeActions

            kube = runtime.kube
            if kube is None:
                raise RuntimeError(
                    "JETFLOW_THROTTLE_KUBE_TAINT / _SUSPEND is set but no Kubernetes cluster is configured"
                )
            actions = KubeNodeActions(kube, taint=settings.kube_taint, suspend=settings.kube_suspend)
        self.evaluator = Evaluator.for_runtime(runtime, settings, actions=actions)
        self._forget: Callable[[], None] | None = None

    def _levels(self) -> dict[str, ThrottleLevel]:
        known = {node: state.level for node, state in self.evaluator.states.items()}
        if self.gate is not None:
            known.update({node: command.level for node, command in self.gate.commands.items()})
        return known

    def on_release(self, release: Callable[[Sequence[str]], Awaitable[None]]) -> None:
        """Call `release` with a node's resources when the node is let go (or only limited now)."""
        gate = self.gate
        if gate is None:
            return

        async def released(command: ThrottleCommand) -> None:
            if not gate.closed(command.node):
                await release(gate.resources_of(command.node))

        gate.watch(released)

    async def start(self) -> None:
        self._forget = observe_levels(self._runtime.telemetry.meter, self._levels)
        if self.gate is not None:
            await self.gate.start(self._runtime.publisher.connection, self._runtime.js)

    async def lead(self) -> None:
        await self.evaluator.start()

    async def depose(self) -> None:
        await self.evaluator.stop()

    async def stop(self) -> None:
        if self.gate is not None:
            await self.gate.stop()
        if self._forget is not None:
            self._forget()

    async def status(self, _: Any) -> dict[str, Any]:
        nodes = await node_levels(self.gate, self.evaluator.states)
        return {"instance": self._runtime.instance, "evaluator": self.evaluator.active, "nodes": nodes}
