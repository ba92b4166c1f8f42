"""Move an execution forward by compare-and-set, and tell whether it is now where it was sent.

Every feature that moves executions (the scheduler fires, dispatch dispatches and reports, credentials
fail) does the same three things: compare-and-set the state (an end state also releases the claims),
and when the move is refused read the record back, because "refused" means either "it is already
there" (a previous attempt died before publishing its event: publish again, the deterministic event id
makes it a duplicate) or "it moved elsewhere" (publish nothing). `Advance` says which.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.executions.states import FINAL
from engine.executions.store import ExecutionRecord

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime
    from typing import Any

    from engine.executions.store import Transitions
    from schemas.execution import ExecutionState


@dataclass(frozen=True, slots=True)
class Advance:
    moved: bool
    """This call moved it."""
    stored: ExecutionRecord | None
    """The record as read back after a refused move (None when moved, or when it is not in the store)."""
    target: ExecutionState

    @property
    def reached(self) -> bool:
        """It is in the target state now, moved by this call or by an earlier one whose event may be lost."""
        return self.moved or (self.stored is not None and self.stored.state == self.target)


async def advance(
    transitions: Transitions,
    execution: str,
    target: ExecutionState,
    *,
    at: datetime,
    reason: str = "",
    unless: Mapping[str, Any] | None = None,
) -> Advance:
    """Compare-and-set `execution` to `target` (`finish` for an end state), reading it back when refused."""
    if target in FINAL and unless is None:
        moved = await transitions.finish(execution, target, at=at, reason=reason)
    else:
        moved = await transitions.move(execution, target, at=at, reason=reason, unless=unless)
    if moved:
        return Advance(moved=True, stored=None, target=target)
    return Advance(moved=False, stored=await ExecutionRecord.get(execution), target=target)
