"""The catch-up policy, table-driven: fire late while the window is open, or skip, never drop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.scheduler.policy import Fire, Miss, decide

T = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now_offset", "window", "policy", "expected"),
    [
        (0.0, 60, "fire", Fire(0.0)),
        (-0.5, 60, "fire", Fire(0.0)),  # early by the timer's jitter: fires, lateness 0
        (30, 60, "fire", Fire(30.0)),  # late, window open: fire
        (60, 60, "fire", Miss),  # window ended: missed
        (3, 60, "skip", Fire(3.0)),  # within grace
        (30, 60, "skip", Miss),  # late beyond grace: skipped, recorded missed
        (90, 60, "skip", Miss),
    ],
)
def test_catch_up(now_offset: float, window: int, policy: str, expected: object) -> None:
    verdict = decide(T, T + timedelta(seconds=window), T + timedelta(seconds=now_offset), catch_up=policy, grace=5)  # type: ignore[arg-type]
    if expected is Miss:
        assert isinstance(verdict, Miss)
        assert verdict.reason
    else:
        assert verdict == expected
