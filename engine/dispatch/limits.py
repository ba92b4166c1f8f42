"""Which due executions may be dispatched now, and why the others wait: a pure decision.

Inputs are values read from the store (due executions oldest first, and the resources of every
execution still dispatched or running), so the waiting queue is never kept anywhere but in MongoDB:
a restarted or new leader derives the same queue. Limits: `max_running` overall, and per resource
`gate.limit(resource, max_per_resource)` (the throttle lowers it for a `limited` node, to 0 for a
`tainted` one); `gate.blocked(resources)` keeps an execution waiting whatever the counts say.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Sequence

    from engine.core.gate import ThrottleGate


class Queued(Protocol):
    """What the decision reads of a due execution (an ExecutionRecord in the engine)."""

    @property
    def id(self) -> str: ...

    @property
    def resources(self) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class Decision[Q: Queued]:
    dispatch: list[Q] = field(default_factory=list)
    waiting: dict[str, str] = field(default_factory=dict)
    """Execution id → why it waits, for logs and `jetflow.ctl.dispatch.status`."""
    running: int = 0
    expired: list[Q] = field(default_factory=list)
    """Due executions whose window ended before they got a slot: to be recorded missed."""


def choose[Q: Queued](
    due: Sequence[Q],
    active: Sequence[Sequence[str]],
    gate: ThrottleGate,
    *,
    max_running: int,
    max_per_resource: int,
) -> Decision[Q]:
    """`active`: the resource lists of executions that hold a slot (dispatched or running)."""
    per_resource: Counter[str] = Counter(resource for resources in active for resource in set(resources))
    running = len(active)
    decision: Decision[Q] = Decision(running=running)
    for record in due:
        if running >= max_running:
            decision.waiting[record.id] = f"{running} executions dispatched, the limit is {max_running}"
            continue
        blocked = gate.blocked(record.resources)
        if blocked is not None:
            decision.waiting[record.id] = f"resource {blocked[0]} is throttled: {blocked[1]}"
            continue
        full = next(
            (
                (resource, limit)
                for resource in record.resources
                if per_resource[resource] >= (limit := gate.limit(resource, max_per_resource))
            ),
            None,
        )
        if full is not None:
            decision.waiting[record.id] = f"resource {full[0]} runs {per_resource[full[0]]} of {full[1]} allowed"
            continue
        decision.dispatch.append(record)
        running += 1
        per_resource.update(set(record.resources))
    return decision
