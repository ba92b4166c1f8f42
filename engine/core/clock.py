"""Injectable time, so tests need not sleep through real minutes: every feature reads `clock.now()`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Injectable time, so tests need not sleep through real minutes."""

    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)
