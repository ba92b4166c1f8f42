"""Retention: the replica holding the `retention` lease sweeps the store; `jetflow.ctl.retention.sweep` sweeps now.

One sweeper is enough and several would only race on the same deletions, so the periodic sweep runs
under its own lease. A sweep requested over ctl runs on whichever replica answers: deletions are
conditional, so one that overlaps the periodic sweep deletes nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from engine.core.leader import LeaderLease
from engine.retention.service import Retention
from schemas import subjects

if TYPE_CHECKING:
    from engine.runtime import Runtime

DOCUMENTS = ()


async def install(runtime: Runtime) -> None:
    settings = runtime.settings
    retention = Retention(settings.retention.keep)
    sweeping: list[asyncio.Task[None]] = []

    async def elected() -> None:
        sweeping.append(asyncio.create_task(retention.run(runtime.clock, settings.retention.sweep), name="retention"))

    async def deposed() -> None:
        while sweeping:
            task = sweeping.pop()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    lease = LeaderLease(runtime.js, "retention", runtime.instance, settings.lease.ttl)
    campaign = asyncio.create_task(lease.run(elected, deposed), name="retention-lease")

    async def stop() -> None:
        campaign.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await campaign
        await deposed()
        await lease.stop()

    runtime.stopping.append(stop)

    async def sweep(_: Any) -> dict[str, Any]:
        return {"instance": runtime.instance, "deleted": await retention.sweep(runtime.clock.now())}

    await runtime.control.add_query("retention-sweep", subjects.ctl("retention", "sweep"), None, sweep)
