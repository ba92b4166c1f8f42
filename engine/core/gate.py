"""The throttle hook of the scheduler and the dispatcher: may new work start on these resources now?

The throttle feature implements `ThrottleGate` from node metrics; until then every resource is open.
The scheduler asks `blocked`: an execution whose resource is closed is held (state `held`, event
`jetflow.execution.held` with the reason) and fired when the resource is released, or recorded missed
when its window ends first. The dispatcher asks `limit`: a `limited` node takes fewer concurrent
executions than its configured limit, a `tainted` one none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Sequence


class ThrottleGate(Protocol):
    def blocked(self, resources: Sequence[str]) -> tuple[str, str] | None:
        """(resource, reason) for the first resource that must not receive new work, or None."""
        ...

    def limit(self, resource: str, base: int) -> int:
        """How many executions may run on `resource` at once, given its unthrottled limit `base`."""
        ...


class OpenGate:
    def blocked(self, resources: Sequence[str]) -> tuple[str, str] | None:
        return None

    def limit(self, resource: str, base: int) -> int:
        return base
