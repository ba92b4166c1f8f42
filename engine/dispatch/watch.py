"""ONE watcher for every workflow jetflow created: phases become execution events.

A label-selected watch across all namespaces (`app.kubernetes.io/managed-by=jetflow`, this peer),
instead of one monitor per execution: memory per followed execution is one dict entry (its last
seen phase), not a process. The watch resumes where it stopped: after a normal end or a broken
connection from the last resourceVersion seen, after `410 Gone` or a restart from a fresh list. A
server without resourceVersions (kmock) simply replays every object; the last-phase table turns the
replay into nothing, and the store's compare-and-set plus the events' deterministic ids make any
duplicate that slips through (another leader, a restart) harmless. So events come once per phase
change, in order.

It runs on the dispatch leader only: one watch connection per cluster whatever the replica count,
and a standby takes over within the lease TTL, listing first so no phase change is missed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from engine.core.background import Background
from engine.core.errors import TemporaryError
from engine.dispatch.phases import outcome, phase
from engine.executions.states import FINAL
from engine.kube import kinds, names
from engine.kube.client import WatchGone

if TYPE_CHECKING:
    from collections.abc import Callable

    from engine.dispatch.report import Reporter
    from engine.kube.client import Kube

log = logging.getLogger(__name__)


def selector(peer_id: str) -> str:
    return f"{names.MANAGED_BY}={names.MANAGER},{names.PEER}={names.label(peer_id)}"


class Watcher:
    def __init__(
        self,
        kube: Kube,
        reporter: Reporter,
        *,
        peer_id: str,
        timeout: float,
        retry: float = 1.0,
        ended: Callable[[], None] = lambda: None,
    ) -> None:
        self._kube = kube
        self._reporter = reporter
        self._selector = selector(peer_id)
        self._timeout = timeout
        self._retry = retry
        self._ended = ended
        self.phases: dict[str, str] = {}
        """namespace/name → last phase reported: what one followed execution costs."""
        self.version: str | None = None
        self.restarts = 0
        self._runner = Background("workflow-watch", self._loop)

    @property
    def active(self) -> bool:
        return self._runner.running

    async def start(self) -> None:
        if not self._runner.running:
            self.version = None  # a new leadership lists first: nothing missed while standing by
            self._runner.start()

    async def stop(self) -> None:
        await self._runner.stop()

    async def _loop(self) -> None:
        while True:
            try:
                await self.follow()
            except WatchGone:
                log.info("workflow watch expired (410); listing again")
                self.version = None
            except TemporaryError as error:
                log.warning("workflow watch interrupted, resuming in %gs: %s", self._retry, error)
                await asyncio.sleep(self._retry)
            except Exception:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # being stopped: whatever broke while unwinding, stop
                log.exception("workflow watch failed; resuming in %gs", self._retry)
                await asyncio.sleep(self._retry)
            self.restarts += 1

    async def follow(self) -> None:
        """List (when no version is known), then watch until the server ends the stream."""
        api_version, kind = kinds.WORKFLOW.api_version, kinds.WORKFLOW.kind
        if self.version is None:
            items, version = await self._kube.list(api_version, kind, label_selector=self._selector)
            for item in items:
                await self.observe(item)
            self.version = version
        stream = self._kube.watch(
            api_version, kind, label_selector=self._selector, resource_version=self.version, timeout=self._timeout
        )
        async for event in stream:
            workflow: dict[str, Any] = event.get("object") or {}
            if version := (workflow.get("metadata") or {}).get("resourceVersion"):
                self.version = version
            if event.get("type") == "BOOKMARK":
                continue
            if event.get("type") == "DELETED":
                self.phases.pop(_key(workflow), None)
                continue
            await self.observe(workflow)

    async def observe(self, workflow: dict[str, Any]) -> None:
        key = _key(workflow)
        current = phase(workflow)
        if self.phases.get(key) == current:
            return  # no change (a replayed ADDED, a status update within the phase)
        reported = outcome(workflow)
        annotations = (workflow.get("metadata") or {}).get("annotations") or {}
        execution, booking = annotations.get(names.EXECUTION), annotations.get(names.BOOKING)
        if reported is not None and execution and booking:
            state, reason = reported
            # Remember the phase only once reported: if the store or NATS is down this raises,
            # and the next replay of this object reports it again.
            if await self._reporter.report(execution, booking, state, reason) and state in FINAL:
                self._ended()
        self.phases[key] = current


def _key(workflow: dict[str, Any]) -> str:
    meta = workflow.get("metadata") or {}
    return f"{meta.get('namespace')}/{meta.get('name')}"
