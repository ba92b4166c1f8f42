"""What to do with an execution whose time has come, pure: fire it, hold it, or record it missed.

Catch-up after downtime is a policy, stated here once:

* `fire` (default): an execution whose planned time passed while no scheduler ran is fired late,
  as long as its window has not ended; one whose window ended is recorded `missed`.
* `skip`: an execution more than `grace` seconds late is recorded `missed` with the reason, even if
  its window is still open.

Nothing is silently dropped: every execution ends `due`, or `missed` with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from datetime import datetime

CatchUp = Literal["fire", "skip"]


@dataclass(frozen=True, slots=True)
class Fire:
    lateness: float


@dataclass(frozen=True, slots=True)
class Miss:
    reason: str


def decide(
    planned_at: datetime, window_end: datetime, now: datetime, *, catch_up: CatchUp, grace: float
) -> Fire | Miss:
    lateness = (now - planned_at).total_seconds()
    if now >= window_end:
        return Miss(f"window ended at {window_end.isoformat()} before it could fire ({lateness:.1f}s late)")
    if catch_up == "skip" and lateness > grace:
        return Miss(f"{lateness:.1f}s late and the catch-up policy is 'skip' (grace {grace:g}s)")
    return Fire(max(lateness, 0.0))
