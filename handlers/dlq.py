"""The dead-letter queue: `jetflow.ctl.dlq.list|get|replay` → engine/bus/dlq.py (reads JETFLOW_DLQ, no store)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from schemas import subjects
from schemas.queries import DeadLetterList, DeadLetterRef, DeadLetterReplay

if TYPE_CHECKING:
    from engine.runtime import Runtime


async def install(runtime: Runtime) -> None:
    queue = runtime.features.dlq
    control = runtime.control
    await control.add_query("dlq-list", subjects.ctl("dlq", "list"), DeadLetterList, queue.list)
    await control.add_query("dlq-get", subjects.ctl("dlq", "get"), DeadLetterRef, queue.get)
    await control.add_query("dlq-replay", subjects.ctl("dlq", "replay"), DeadLetterReplay, queue.replay)
