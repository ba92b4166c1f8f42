"""Dispatch: `jetflow.execution.due` → Argo Workflow; cancellations; one watcher; `jetflow.ctl.dispatch.status`.

Every replica accepts due and cancelled executions from the durable consumers and nudges the
dispatching replica (core NATS `jetflow.dispatch.wake`); the replica holding the `dispatch` lease
runs the dispatcher, the workflow watcher and the namespace janitor (see engine/dispatch/*.py).
Throttle commands (`jetflow.throttle.command.*`) wake it too, since they change the limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import TYPE_CHECKING, Any

from engine.catalog.store import Catalog
from engine.core.leader import LeaderLease
from engine.dispatch.janitor import Janitor
from engine.dispatch.remote import NamespaceHost, RemoteNamespaces, host_namespaces
from engine.dispatch.report import Reporter
from engine.dispatch.service import Dispatcher
from engine.dispatch.watch import Watcher
from engine.executions.store import Transitions
from engine.peers import PeerClient
from schemas import subjects
from schemas.execution import ExecutionCancelled, ExecutionDue

if TYPE_CHECKING:
    from nats.aio.msg import Msg
    from opentelemetry.metrics import CallbackOptions, Observation

    from engine.bus.consumer import Delivery
    from engine.runtime import Runtime

DOCUMENTS = ()
#: Core-NATS nudge: "due or cancelled executions changed, run a dispatch pass" (not in any stream).
WAKE = "jetflow.dispatch.wake"
GAUGE = "jetflow.dispatch.executions"
GAUGE_HELP = "Executions waiting for a dispatch slot, workflows watched; 1 on the dispatching replica."
log = logging.getLogger(__name__)


async def install(runtime: Runtime) -> None:
    settings = runtime.settings
    control = runtime.control
    kube = runtime.kube
    nc = runtime.publisher.connection
    # This peer's cluster hosts the remote steps of other peers' federated workflows (one replica answers).
    hosting = await host_namespaces(nc, NamespaceHost(settings.peer.id, kube))

    async def stop_hosting() -> None:
        for subscription in hosting:
            await subscription.unsubscribe()

    runtime.stopping.append(stop_hosting)
    if kube is None:
        log.warning(
            "DISPATCH OFF: no Kubernetes configured (JETFLOW_KUBECONFIG, in-cluster, ~/.kube/config) and no "
            "JETFLOW_MANIFESTS_DIR; due executions stay due"
        )

        async def off(_: Any) -> dict[str, Any]:
            return {"instance": runtime.instance, "enabled": False, "blocked": {}}

        def nothing(_: CallbackOptions) -> list[Observation]:
            from opentelemetry.metrics import Observation

            return [Observation(0, {"kind": "leader"})]

        runtime.telemetry.meter.create_observable_gauge(GAUGE, [nothing], description=GAUGE_HELP)

        await control.add_query("dispatch-status", subjects.ctl("dispatch", "status"), None, off)
        return

    meter = runtime.telemetry.meter
    transitions = Transitions(meter.create_counter("jetflow.executions.illegal_transitions"))
    reporter = Reporter(transitions, runtime.publisher, runtime.clock)
    peers = PeerClient(nc, settings.peer.timeout)
    remote = RemoteNamespaces(peers, settings.peer.id, retry_after=2 * settings.dispatch.refill)
    dispatcher = Dispatcher(
        kube=kube,
        catalog=Catalog(),
        transitions=transitions,
        reporter=reporter,
        publisher=runtime.publisher,
        clock=runtime.clock,
        gate=runtime.gate,
        settings=settings,
        remote=remote,
    )
    watcher = Watcher(
        kube, reporter, peer_id=settings.peer.id, timeout=settings.dispatch.watch_timeout, ended=dispatcher.wake
    )
    janitor = Janitor(
        kube, runtime.clock, remote, peer_id=settings.peer.id, delay=settings.dispatch.namespace_delete_delay
    )
    durable = runtime.consumers.durable

    @durable(runtime.router, name="dispatch-due", subject=subjects.EXECUTION_DUE, model=ExecutionDue)
    async def on_due(event: ExecutionDue, delivery: Delivery) -> None:
        """Queue a due execution for dispatch (it waits as `due` in the store until a slot is free)."""
        await dispatcher.accept(event.execution)
        await nc.publish(WAKE, b"")

    @durable(runtime.router, name="dispatch-cancelled", subject=subjects.EXECUTION_CANCELLED, model=ExecutionCancelled)
    async def on_cancelled(event: ExecutionCancelled, delivery: Delivery) -> None:
        """Delete a cancelled execution's workflow; its slot frees."""
        await dispatcher.cancel(event.execution)
        await nc.publish(WAKE, b"")

    async def wake(_: Msg) -> None:
        dispatcher.wake()

    subscriptions = [
        await nc.subscribe(WAKE, cb=wake),
        await nc.subscribe(f"{subjects.THROTTLE_COMMAND_PREFIX}.*", cb=wake),
    ]

    async def elected() -> None:
        await dispatcher.start()
        await watcher.start()
        await janitor.start()

    async def deposed() -> None:
        await janitor.stop()
        await watcher.stop()
        await dispatcher.stop()

    lease = LeaderLease(runtime.js, "dispatch", runtime.instance, settings.lease.ttl)
    campaign = asyncio.create_task(lease.run(elected, deposed), name="dispatch-lease")

    async def stop() -> None:
        await lease.stop()
        campaign.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await campaign
        await deposed()
        for subscription in subscriptions:
            await subscription.unsubscribe()

    runtime.stopping.append(stop)

    def observe(_: CallbackOptions) -> list[Observation]:
        from opentelemetry.metrics import Observation

        return [
            Observation(len(dispatcher.waiting), {"kind": "waiting"}),
            Observation(len(watcher.phases), {"kind": "watched"}),
            Observation(1 if dispatcher.active else 0, {"kind": "leader"}),
        ]

    meter.create_observable_gauge(GAUGE, [observe], description=GAUGE_HELP)

    async def status(_: Any) -> dict[str, Any]:
        # From the store: any replica answers the same, but only the leader knows the blocked ones.
        decision = await dispatcher.decide(exclude=frozenset(dispatcher.blocked))
        return {
            "instance": runtime.instance,
            "pid": os.getpid(),
            "enabled": True,
            **dispatcher.status(),
            "running": decision.running,
            "waiting": [{"execution": e, "reason": r} for e, r in decision.waiting.items()],
            "watched": len(watcher.phases),
            "limits": {"overall": settings.dispatch.max_running, "per_resource": settings.dispatch.max_per_resource},
        }

    await control.add_query("dispatch-status", subjects.ctl("dispatch", "status"), None, status)
