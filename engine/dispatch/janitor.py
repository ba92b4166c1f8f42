"""Deletes the namespace of a finished execution once `namespace_delete_delay` has passed.

Derived from the cluster and the store, never from timers in memory: every pass lists jetflow's
namespaces (this peer's), and deletes those whose execution ended (succeeded, failed, timed out,
cancelled, missed) long enough ago. A restart therefore forgets nothing, and the delay keeps logs
and pods around for inspection. Deleting the namespace takes the workflow, its pods and the
credential Secrets with it. A federated execution's namespace lists the peers holding a copy on
their clusters; they are asked to delete theirs first, and ours stays until all have.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC
from typing import TYPE_CHECKING, Any

from engine.core.background import Background
from engine.dispatch.remote import remote_peers
from engine.dispatch.watch import selector
from engine.executions.states import FINAL
from engine.executions.store import ExecutionRecord
from engine.kube import kinds, names

if TYPE_CHECKING:
    from engine.core.clock import Clock
    from engine.dispatch.remote import RemoteNamespaces
    from engine.kube.client import Kube

log = logging.getLogger(__name__)
#: Executions read per query (the embedded store refuses very long `$in` lists).
READ_CHUNK = 200


def execution_of(namespace: dict[str, Any]) -> str | None:
    """The execution a namespace was made for, from its annotation."""
    meta = namespace.get("metadata") or {}
    execution = (meta.get("annotations") or {}).get(names.EXECUTION)
    return str(execution) if execution and meta.get("name") else None


async def finished_executions(ids: list[str]) -> dict[str, ExecutionRecord]:
    """Those of `ids` that ended, READ_CHUNK to a query (not one read per namespace)."""
    ended = [str(state) for state in FINAL]
    found: dict[str, ExecutionRecord] = {}
    for first in range(0, len(ids), READ_CHUNK):
        query = {"_id": {"$in": ids[first : first + READ_CHUNK]}, "state": {"$in": ended}}
        found.update((record.id, record) for record in await ExecutionRecord.find(query).to_list())
    return found


class Janitor:
    def __init__(self, kube: Kube, clock: Clock, remote: RemoteNamespaces, *, peer_id: str, delay: float) -> None:
        self._kube = kube
        self._remote = remote
        self._clock = clock
        self._selector = selector(peer_id)
        self._delay = delay
        self._runner = Background("namespace-janitor", self._loop)
        self.deleted = 0

    async def sweep(self) -> list[str]:
        """Delete the namespaces due for deletion; returns their names."""
        api_version, kind = kinds.NAMESPACE.api_version, kinds.NAMESPACE.kind
        items, _ = await self._kube.list(api_version, kind, label_selector=self._selector)
        now = self._clock.now()
        gone: list[str] = []
        of = {item["metadata"]["name"]: execution for item in items if (execution := execution_of(item))}
        finished = await finished_executions(sorted(set(of.values())))
        for item in items:
            meta = item.get("metadata") or {}
            record = finished.get(of.get(meta.get("name"), ""))
            if record is None:
                continue
            execution = record.id
            ended = record.updated_at if record.updated_at.tzinfo else record.updated_at.replace(tzinfo=UTC)
            if (now - ended).total_seconds() >= self._delay:
                peers = remote_peers(item)
                if peers and not await self._remote.release(record.id, meta["name"], peers):
                    continue  # a remote copy is still there: ours keeps listing it until the next pass
                if await self._kube.delete(api_version, kind, None, meta["name"]):
                    log.info("deleted namespace %s of finished execution %s", meta["name"], execution)
                    self.deleted += 1
                gone.append(meta["name"])
        return gone

    async def start(self) -> None:
        self._runner.start()

    async def stop(self) -> None:
        await self._runner.stop()

    async def _loop(self) -> None:
        period = min(60.0, max(0.5, self._delay / 4))
        while True:
            try:
                await self.sweep()
            except Exception as error:
                log.warning("namespace cleanup pass failed (retried in %gs): %s", period, error)
            await asyncio.sleep(period)
