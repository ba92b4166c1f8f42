"""The conflict check alone (pure, no store): a booking of 165 windows against a busy calendar.

The calendar holds `--claims` one-minute claims with one-minute gaps; the booking fits in the gaps
(answer: no conflict) or clashes with the very last claim (the worst case: everything is scanned).
Prints p50, p99 and mean of `--repeat` runs for each calendar size, and the ratio between sizes
(near 10 for a tenfold calendar: the sweep is linear after sorting).

    uv run python bench/bench_conflicts.py [--claims 100000] [--repeat 15]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import describe
from engine.claims.conflicts import HeldWindow, find_clash

BASE = datetime(2026, 12, 1, tzinfo=UTC)


def minute(index: int) -> datetime:
    return BASE + timedelta(minutes=index)


def case(claims: int) -> tuple[list[HeldWindow], list[HeldWindow], list[HeldWindow]]:
    existing = [HeldWindow(f"b{i}", minute(2 * i), minute(2 * i + 1)) for i in range(claims)]
    step = max(1, claims // 165)
    fitting = [HeldWindow("new", minute(2 * i + 1), minute(2 * i + 2)) for i in range(0, claims, step)][:165]
    clashing = [*fitting[:-1], HeldWindow("new", minute(2 * (claims - 1)), minute(2 * claims - 1))]
    return existing, fitting, clashing


def timed(existing: list[HeldWindow], booking: list[HeldWindow], repeat: int, *, clash: bool) -> list[float]:
    runs = []
    for _ in range(repeat):
        began = time.perf_counter()
        found = find_clash(existing, booking, 1)
        runs.append(time.perf_counter() - began)
        assert (found is not None) == clash, found
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    medians: dict[int, float] = {}
    for size in (args.claims // 10, args.claims):
        existing, fitting, clashing = case(size)
        for name, booking, clash in (("fits", fitting, False), ("clashes at the end", clashing, True)):
            runs = timed(existing, booking, args.repeat, clash=clash)
            print(f"{size:>8} claims, 165 windows, {name:<18}: {describe(runs)}")
            if clash:
                medians[size] = statistics.median(runs)
    small, large = sorted(medians)
    print(f"ratio of medians, {large} / {small} claims: {medians[large] / medians[small]:.1f}")


if __name__ == "__main__":
    main()
