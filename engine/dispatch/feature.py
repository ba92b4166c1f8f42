"""The dispatch feature: what every replica does, and what the replica holding the `dispatch` lease runs.

Every replica accepts due and cancelled executions (handlers/dispatch.py binds them here) and nudges
the dispatching replica over core NATS (`subjects.DISPATCH_WAKE`); throttle commands wake it too, since
they change the limits. The leader runs the dispatcher, the workflow watcher and the namespace janitor.
This peer's cluster also hosts the remote steps of other peers' federated workflows (one replica answers).
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from engine.catalog.store import Catalog
from engine.dispatch.janitor import Janitor
from engine.dispatch.remote import NamespaceHost, RemoteNamespaces, host_namespaces
from engine.dispatch.report import Reporter
from engine.dispatch.service import Dispatcher
from engine.dispatch.watch import Watcher
from engine.peers import PeerClient
from schemas import subjects

if TYPE_CHECKING:
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription
    from opentelemetry.metrics import CallbackOptions, Observation

    from engine.dispatch.settings import DispatchSettings
    from engine.ports import Ports
    from schemas.execution import ExecutionCancelled, ExecutionDue

GAUGE = "jetflow.dispatch.executions"
GAUGE_HELP = "Executions waiting for a dispatch slot, workflows watched; 1 on the dispatching replica."
log = logging.getLogger(__name__)


class Dispatch:
    def __init__(self, runtime: Ports, settings: DispatchSettings) -> None:
        self._runtime = runtime
        self._settings = settings
        peer = runtime.settings.peer
        self._nc = runtime.publisher.connection
        self._subscriptions: list[Subscription] = []
        kube = runtime.kube
        self.lease = "dispatch" if kube is not None else None
        self.dispatcher: Dispatcher | None = None
        self.watcher: Watcher | None = None
        self.janitor: Janitor | None = None
        if kube is None:
            return
        reporter = Reporter(runtime.transitions, runtime.publisher, runtime.clock)
        remote = RemoteNamespaces(PeerClient(self._nc, peer.timeout), peer.id, retry_after=2 * settings.refill)
        self.dispatcher = dispatcher = Dispatcher(
            kube=kube,
            catalog=Catalog(),
            transitions=runtime.transitions,
            reporter=reporter,
            publisher=runtime.publisher,
            clock=runtime.clock,
            gate=runtime.gate,
            settings=settings,
            peer=peer,
            remote=remote,
        )
        timeout = settings.watch_timeout
        self.watcher = Watcher(kube, reporter, peer_id=peer.id, timeout=timeout, ended=dispatcher.wake)
        delay = settings.namespace_delete_delay
        self.janitor = Janitor(kube, runtime.clock, remote, peer_id=peer.id, delay=delay)

    async def start(self) -> None:
        runtime = self._runtime
        self._subscriptions += await host_namespaces(self._nc, NamespaceHost(runtime.settings.peer.id, runtime.kube))
        meter = runtime.telemetry.meter
        if self.dispatcher is None:
            log.warning(
                "DISPATCH OFF: no Kubernetes configured (JETFLOW_KUBECONFIG, in-cluster, ~/.kube/config) and no "
                "JETFLOW_MANIFESTS_DIR; due executions stay due"
            )
            meter.create_observable_gauge(GAUGE, [self._observe], description=GAUGE_HELP)
            return
        self._subscriptions += [
            await self._nc.subscribe(subjects.DISPATCH_WAKE, cb=self._woken),
            await self._nc.subscribe(f"{subjects.THROTTLE_COMMAND_PREFIX}.*", cb=self._woken),
        ]
        meter.create_observable_gauge(GAUGE, [self._observe], description=GAUGE_HELP)

    async def _woken(self, _: Msg) -> None:
        if self.dispatcher is not None:
            self.dispatcher.wake()

    async def lead(self) -> None:
        assert self.dispatcher is not None
        assert self.watcher is not None
        assert self.janitor is not None
        await self.dispatcher.start()
        await self.watcher.start()
        await self.janitor.start()

    async def depose(self) -> None:
        if self.dispatcher is None or self.watcher is None or self.janitor is None:
            return
        await self.janitor.stop()
        await self.watcher.stop()
        await self.dispatcher.stop()

    async def stop(self) -> None:
        for subscription in self._subscriptions:
            await subscription.unsubscribe()
        self._subscriptions.clear()

    @property
    def enabled(self) -> bool:
        return self.dispatcher is not None

    async def due(self, event: ExecutionDue) -> None:
        """Queue a due execution for dispatch (it waits as `due` in the store until a slot is free)."""
        assert self.dispatcher is not None
        await self.dispatcher.accept(event.execution)
        await self._nc.publish(subjects.DISPATCH_WAKE, b"")

    async def cancelled(self, event: ExecutionCancelled) -> None:
        """Delete a cancelled execution's workflow; its slot frees."""
        assert self.dispatcher is not None
        await self.dispatcher.cancel(event.execution)
        await self._nc.publish(subjects.DISPATCH_WAKE, b"")

    def _observe(self, _: CallbackOptions) -> list[Observation]:
        from opentelemetry.metrics import Observation

        if self.dispatcher is None or self.watcher is None:
            return [Observation(0, {"kind": "leader"})]
        return [
            Observation(len(self.dispatcher.waiting), {"kind": "waiting"}),
            Observation(len(self.watcher.phases), {"kind": "watched"}),
            Observation(1 if self.dispatcher.active else 0, {"kind": "leader"}),
        ]

    async def status(self, _: Any) -> dict[str, Any]:
        instance = self._runtime.instance
        if self.dispatcher is None or self.watcher is None:
            return {"instance": instance, "enabled": False, "blocked": {}}
        settings = self._settings
        # From the store: any replica answers the same, but only the leader knows the blocked ones.
        decision = await self.dispatcher.decide(exclude=frozenset(self.dispatcher.blocked))
        return {
            "instance": instance,
            "pid": os.getpid(),
            "enabled": True,
            **self.dispatcher.status(),
            "running": decision.running,
            "waiting": [{"execution": e, "reason": r} for e, r in decision.waiting.items()],
            "watched": len(self.watcher.phases),
            "limits": {"overall": settings.max_running, "per_resource": settings.max_per_resource},
        }
