"""The throttle hook of the scheduler: may new work start on these resources now?

The throttle feature implements `ThrottleGate` from node metrics; until then every resource is open.
An execution whose resource is closed is held (state `held`, event `jetflow.execution.held` with the
reason) and fired when the scheduler is told the resource is released, or recorded missed when its
window ends first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Sequence


class ThrottleGate(Protocol):
    def blocked(self, resources: Sequence[str]) -> tuple[str, str] | None:
        """(resource, reason) for the first resource that must not receive new work, or None."""
        ...


class OpenGate:
    def blocked(self, resources: Sequence[str]) -> tuple[str, str] | None:
        return None
