"""Retention: the replica holding the `retention` lease sweeps the store; a ctl request sweeps now.

One sweeper is enough and several would only race on the same deletions, so the periodic sweep runs
under its own lease. A sweep requested over ctl runs on whichever replica answers: deletions are
conditional, so one that overlaps the periodic sweep deletes nothing twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.core.background import Background
from engine.core.lifecycle import Idle
from engine.retention.service import Retention

if TYPE_CHECKING:
    from engine.ports import Ports
    from engine.retention.settings import RetentionSettings


class RetentionFeature(Idle):
    lease = "retention"

    def __init__(self, runtime: Ports, settings: RetentionSettings) -> None:
        self._runtime = runtime
        self.retention = Retention(settings.keep)
        self._sweeping = Background("retention", lambda: self.retention.run(runtime.clock, settings.sweep))

    async def lead(self) -> None:
        self._sweeping.start()

    async def depose(self) -> None:
        await self._sweeping.stop()

    async def sweep(self, _: Any) -> dict[str, Any]:
        return {"instance": self._runtime.instance, "deleted": await self.retention.sweep(self._runtime.clock.now())}
