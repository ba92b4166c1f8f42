"""The capacity check behind a claim, pure: would these new windows overfill the resource?

A resource of capacity C may be held by at most C windows at any instant. Windows are half-open
([10:00, 11:00) and [11:00, 12:00) do not overlap). A sweep over the sorted endpoints finds the first
instant where existing plus new holders exceed C, in O((n + m) log(n + m)), so a busy calendar with a
hundred thousand claims is still checked in a fraction of a second. The new windows count against
each other too: a cron booking whose slots overlap on a capacity-1 resource conflicts with itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime


@dataclass(frozen=True, slots=True)
class Claim:
    booking: str
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Conflict:
    """The window where capacity is exceeded, and an existing booking holding it (None: only itself)."""

    start: datetime
    end: datetime
    booking: str | None


def find_conflict(existing: Sequence[Claim], new: Sequence[Claim], capacity: int) -> Conflict | None:
    # Events: (time, +1 opens / -1 closes, is_new, index). Closes sort before opens at the same
    # instant, which is what makes touching half-open windows compatible.
    events: list[tuple[datetime, int, bool, int]] = []
    for is_new, claims in ((False, existing), (True, new)):
        for index, claim in enumerate(claims):
            events.append((claim.start, 1, is_new, index))
            events.append((claim.end, -1, is_new, index))
    events.sort(key=lambda event: (event[0], event[1]))
    open_existing: dict[int, Claim] = {}
    open_new: dict[int, Claim] = {}
    for _moment, delta, is_new, index in events:
        holders = open_new if is_new else open_existing
        if delta < 0:
            holders.pop(index, None)
            continue
        holders[index] = (new if is_new else existing)[index]
        if len(open_existing) + len(open_new) > capacity and open_new:
            return _describe(open_existing, open_new)
    return None


def _describe(open_existing: dict[int, Claim], open_new: dict[int, Claim]) -> Conflict:
    """The clash: where the newest opened windows overlap; blame an existing booking when there is one."""
    everyone = [*open_existing.values(), *open_new.values()]
    start = max(claim.start for claim in everyone)
    end = min(claim.end for claim in everyone)
    holder = next(iter(open_existing.values()), None)
    return Conflict(start=start, end=end, booking=holder.booking if holder else None)
