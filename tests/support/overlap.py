"""The property no booking may break: confirmed bookings that share a resource never overlap in time."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence


def assert_no_overlap(confirmed: Sequence[dict[str, Any]]) -> int:
    """Every pair of confirmed bookings (their `booking.confirmed` events) sharing a resource is disjoint;
    returns the pairs checked."""
    checked = 0
    for a, b in itertools.combinations(confirmed, 2):
        for resource in set(a["resources"]) & set(b["resources"]):
            checked += 1
            a_start, a_end = datetime.fromisoformat(a["start"]), datetime.fromisoformat(a["end"])
            b_start, b_end = datetime.fromisoformat(b["start"]), datetime.fromisoformat(b["end"])
            assert a_end <= b_start or b_end <= a_start, f"{a['booking']} and {b['booking']} overlap on {resource}"
    return checked
