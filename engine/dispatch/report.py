"""Move an execution forward by compare-and-set and publish the event that says so, once.

Shared by the dispatcher (failed, missed) and the watcher (running, succeeded, failed, timed_out).
End states release the execution's claims (engine/executions/advance.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.dispatch.events import event_for
from engine.executions.advance import advance

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
        # Idempotency guard: reached before but its event may be lost (crash before publish);
        # publishing again is harmless, the deterministic id makes it a duplicate.
        if not (await advance(self._transitions, execution, state, at=now, reason=reason)).reached:
            return False
        subject, event = event_for(state, execution=execution, booking=booking, at=now, reason=reason)
        await self._publisher.publish(subject, event, causation=execution)
        return True
