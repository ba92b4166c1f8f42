"""The throttle feature: the leased evaluator, the gate every replica obeys, and `jetflow.ctl.throttle.status`.

Samples are not consumed through `runtime.consumers` (a durable shared by every replica): one node's
window must be seen by one process, so only the `throttle` lease holder pulls them (see
engine/throttle/evaluator.py). Commands reach every replica's gate (engine/throttle/gate.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from engine.core.leader import LeaderLease
from engine.throttle import store
from engine.throttle.actions import NoActions
from engine.throttle.evaluator import Evaluator
from engine.throttle.gate import CommandGate
from engine.throttle.gauge import observe_levels
from engine.throttle.status import node_levels
from schemas import subjects

if TYPE_CHECKING:
    from engine.runtime import Runtime
    from engine.throttle.actions import NodeActions
    from schemas.throttle import ThrottleLevel

DOCUMENTS = (store.NodeThrottle,)


async def install(runtime: Runtime) -> None:
    settings = runtime.settings
    meter = runtime.telemetry.meter
    gate = runtime.gate if isinstance(runtime.gate, CommandGate) else None
    actions: NodeActions = NoActions()
    if settings.throttle.kube_taint or settings.throttle.kube_suspend:
        from engine.throttle.kube import KubeNodeActions

        kube = runtime.kube
        if kube is None:
            raise RuntimeError("JETFLOW_THROTTLE_KUBE_TAINT / _SUSPEND is set but no Kubernetes cluster is configured")
        actions = KubeNodeActions(kube, taint=settings.throttle.kube_taint, suspend=settings.throttle.kube_suspend)
    evaluator = Evaluator.for_runtime(runtime, actions=actions)

    def levels() -> dict[str, ThrottleLevel]:
        known = {node: state.level for node, state in evaluator.states.items()}
        if gate is not None:
            known.update({node: command.level for node, command in gate.commands.items()})
        return known

    forget = observe_levels(meter, levels)

    async def stop_observing() -> None:
        forget()

    runtime.stopping.append(stop_observing)
    if gate is not None:
        await gate.start(runtime.publisher.connection, runtime.js)
        runtime.stopping.append(gate.stop)

    if settings.throttle.enabled:
        lease = LeaderLease(runtime.js, "throttle", runtime.instance, settings.lease.ttl)
        task = asyncio.create_task(lease.run(evaluator.start, evaluator.stop), name="throttle-lease")

        async def stop() -> None:
            # Stop evaluating (and snapshot) before releasing the lease, so no two evaluators overlap.
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await evaluator.stop()
            await lease.stop()

        runtime.stopping.append(stop)

    async def status(_: Any) -> dict[str, Any]:
        nodes = await node_levels(gate, evaluator.states)
        return {"instance": runtime.instance, "evaluator": evaluator.active, "nodes": nodes}

    await runtime.control.add_query("throttle-status", subjects.ctl("throttle", "status"), None, status)
