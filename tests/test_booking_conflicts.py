"""The capacity check: tables of clashes, and a brute-force reference it must agree with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.claims.conflicts import Clash, HeldWindow, find_clash

BASE = datetime(2026, 12, 1, tzinfo=UTC)


def at(hour: int, minute: int = 0) -> datetime:
    return BASE + timedelta(hours=hour, minutes=minute)


def claim(booking: str, start: datetime, end: datetime) -> HeldWindow:
    return HeldWindow(booking, start, end)


def new(start: datetime, end: datetime) -> HeldWindow:
    return HeldWindow("new", start, end)


@pytest.mark.parametrize(
    ("existing", "windows", "capacity", "expected"),
    [
        pytest.param([], [new(at(10), at(11))], 1, None, id="empty-calendar"),
        pytest.param([claim("a", at(10), at(11))], [], 1, None, id="nothing-new"),
        pytest.param(
            [claim("a", at(10), at(11))],
            [new(at(10, 30), at(11, 30))],
            1,
            Clash(at(10, 30), at(11), "a"),
            id="capacity-1-overlap",
        ),
        pytest.param([claim("a", at(10), at(11))], [new(at(11), at(12))], 1, None, id="touching-after"),
        pytest.param([claim("a", at(10), at(11))], [new(at(9), at(10))], 1, None, id="touching-before"),
        pytest.param(
            [claim("a", at(10), at(11))],
            [new(at(9), at(10)), new(at(11), at(12))],
            1,
            None,
            id="touching-both-sides",
        ),
        pytest.param(
            [claim("a", at(10), at(12)), claim("b", at(10), at(12)), claim("c", at(11), at(12))],
            [new(at(10), at(11))],
            3,
            None,
            id="capacity-3-third-holder-fits",
        ),
        pytest.param(
            [claim("a", at(10), at(12)), claim("b", at(10), at(12)), claim("c", at(11), at(12))],
            [new(at(10, 30), at(11, 30))],
            3,
            Clash(at(11), at(11, 30), "a"),
            id="capacity-3-fourth-holder-clashes",
        ),
        pytest.param(
            [claim("b", at(9), at(12)), claim("a", at(10), at(12))],
            [new(at(11), at(13))],
            2,
            Clash(at(11), at(12), "b"),
            id="blames-the-holder-that-came-first",
        ),
        pytest.param(
            [claim("a", at(10), at(11)), claim("b", at(11), at(12))],
            [new(at(10, 30), at(11, 30))],
            1,
            Clash(at(10, 30), at(11, 30), "a"),
            id="stretch-runs-across-holders",
        ),
        pytest.param(
            [],
            [new(at(10), at(11)), new(at(10, 30), at(11, 30))],
            1,
            Clash(at(10, 30), at(11), None),
            id="self-conflict",
        ),
        pytest.param(
            [claim("a", at(10), at(11))],
            [new(at(9), at(9, 30)), new(at(9, 15), at(9, 45))],
            1,
            Clash(at(9, 15), at(9, 30), None),
            id="self-conflict-before-the-other-booking",
        ),
        pytest.param(
            [],
            [new(at(10), at(11)), new(at(10), at(11)), new(at(10), at(11))],
            2,
            Clash(at(10), at(11), None),
            id="self-conflict-capacity-2",
        ),
        pytest.param(
            [],
            [new(at(10, minute), at(10, minute + 1)) for minute in range(11)],
            1,
            None,
            id="back-to-back-windows-do-not-clash",
        ),
        pytest.param(
            [claim("a", at(8), at(9)), claim("b", at(8), at(9))],
            [new(at(10), at(11))],
            1,
            None,
            id="overfull-elsewhere-does-not-block",
        ),
        pytest.param([], [new(at(10), at(11))], 0, Clash(at(10), at(11), None), id="capacity-0"),
        pytest.param(
            [claim("a", datetime(2026, 12, 1, 12, tzinfo=timezone(timedelta(hours=2))), at(11))],
            [new(at(11), at(12))],
            1,
            None,
            id="offsets-compare-as-instants",
        ),
    ],
)
def test_find_clash(
    existing: list[HeldWindow], windows: list[HeldWindow], capacity: int, expected: Clash | None
) -> None:
    assert find_clash(existing, windows, capacity) == expected


def test_refuses_negative_capacity_and_empty_claims() -> None:
    with pytest.raises(ValueError, match="capacity"):
        find_clash([], [new(at(10), at(11))], -1)
    with pytest.raises(ValueError, match="claim of a"):
        find_clash([claim("a", at(10), at(10))], [new(at(10), at(11))], 1)


def test_busy_calendar_finds_the_gaps_and_the_one_clash_at_its_end() -> None:
    # Its speed is measured by bench/bench_conflicts.py, not here (timed tests flake on a busy machine).
    existing = [claim(f"b{i}", at(0, 2 * i), at(0, 2 * i + 1)) for i in range(100_000)]
    fitting = [new(at(0, 2 * i + 1), at(0, 2 * i + 2)) for i in range(0, 100_000, 607)]
    assert len(fitting) == 165
    assert find_clash(existing, fitting, 1) is None
    clashing = [*fitting[:-1], new(at(0, 2 * 99_999), at(0, 2 * 99_999 + 1))]
    assert find_clash(existing, clashing, 1) == Clash(at(0, 199_998), at(0, 199_999), "b99999")


# Brute-force reference: load is constant between endpoints, so checking every endpoint is enough.


def held_at(claims: list[HeldWindow], instant: datetime) -> list[HeldWindow]:
    return [held for held in claims if held.start <= instant < held.end]


def full_instants(existing: list[HeldWindow], windows: list[HeldWindow], capacity: int) -> list[datetime]:
    everyone = [*existing, *windows]
    endpoints = sorted({moment for held in everyone for moment in (held.start, held.end)})
    return [
        instant for instant in endpoints if held_at(windows, instant) and len(held_at(everyone, instant)) > capacity
    ]


def intervals(booking: st.SearchStrategy[str], most: int) -> st.SearchStrategy[list[HeldWindow]]:
    minutes = st.tuples(st.integers(0, 20), st.integers(1, 6))
    return st.lists(
        st.builds(lambda name, span: claim(name, at(0, span[0]), at(0, span[0] + span[1])), booking, minutes),
        max_size=most,
    )


@given(
    existing=intervals(st.sampled_from(["a", "b", "c", "d"]), most=10),
    windows=intervals(st.just("new"), most=5),
    capacity=st.integers(0, 3),
)
def test_agrees_with_brute_force(existing: list[HeldWindow], windows: list[HeldWindow], capacity: int) -> None:
    conflict = find_clash(existing, windows, capacity)
    full = full_instants(existing, windows, capacity)
    assert (conflict is not None) == bool(full)
    if conflict is None:
        return
    assert conflict.start == full[0]  # the first instant over capacity
    endpoints = sorted({moment for held in [*existing, *windows] for moment in (held.start, held.end)})
    inside = [instant for instant in endpoints if conflict.start <= instant < conflict.end]
    assert all(instant in full for instant in inside)  # over capacity all the way through
    assert conflict.end not in full  # and no further than that stretch
    holders = {held.booking for held in held_at(existing, conflict.start)}
    if conflict.booking is None:
        assert not holders
    else:
        assert conflict.booking in holders
