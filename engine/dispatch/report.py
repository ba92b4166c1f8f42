"""Move an execution forward by compare-and-set and publish the event that says so, once.

Shared by the dispatcher (failed, missed) and the watcher (running, succeeded, failed, timed_out).
End states release the execution's claims (`Transitions.finish`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.dispatch.events import event_for
from engine.executions.states import FINAL
from engine.executions.store import ExecutionRecord

if TYPE_CHECKING:
    from engine.bus.publisher import Publisher
    from engine.core.clock import Clock
    from engine.executions.store import Transitions
    from schemas.execution import ExecutionState


class Reporter:
    def __init__(self, transitions: Transitions, publisher: Publisher, clock: Clock) -> None:
        self._transitions = transitions
        self._publisher = publisher
        self._clock = clock

    async def report(self, execution: str, booking: str, state: ExecutionState, reason: str = "") -> bool:
        """True when the execution is now in `state` and its event was published (or deduplicated)."""
        now = self._clock.now()
        if state in FINAL:
            moved = await self._transitions.finish(execution, state, at=now, reason=reason)
        else:
            moved = await self._transitions.move(execution, state, at=now, reason=reason)
        if not moved:
            stored = await ExecutionRecord.get(execution)
            # Idempotency guard: reached before but its event may be lost (crash before publish);
            # publishing again is harmless, the deterministic id makes it a duplicate.
            if stored is None or stored.state != state:
                return False
        subject, event = event_for(state, execution=execution, booking=booking, at=now, reason=reason)
        await self._publisher.publish(subject, event, causation=execution)
        return True
