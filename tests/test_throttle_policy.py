"""The throttle policy, table-driven: samples in, level changes out (no servers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from engine.throttle.policy import NodeState, check_silence, observe
from engine.throttle.rules import Band, Rules
from schemas.throttle import ThrottleLevel

T0 = datetime(2026, 11, 23, tzinfo=UTC)
L, T, N, U = ThrottleLevel.LIMITED, ThrottleLevel.TAINTED, ThrottleLevel.NORMAL, ThrottleLevel.UNKNOWN

CONSECUTIVE = Rules(
    limited={"cpu": Band(high=70, low=50)},
    tainted={"cpu": Band(high=90, low=80)},
    window=2,
    cooldown=10,
    silence=30,
)
MEAN = CONSECUTIVE.model_copy(update={"mode": "mean", "window": 4})


def run(rules: Rules, cpu: list[float]) -> list[tuple[int, ThrottleLevel]]:
    """Feed one sample per second; (sample index, new level) for every change."""
    state = NodeState("node-a")
    changes = []
    for i, value in enumerate(cpu):
        change = observe(state, f"s{i}", T0 + timedelta(seconds=i), {"cpu": value, "memory": 1.0}, rules)
        if change is not None:
            assert change.previous != change.level
            changes.append((i, change.level))
    return changes


@pytest.mark.parametrize(
    ("rules", "cpu", "expected"),
    [
        pytest.param(CONSECUTIVE, [10] * 6, [], id="quiet node stays normal"),
        pytest.param(CONSECUTIVE, [75], [], id="window not full yet"),
        pytest.param(CONSECUTIVE, [75, 75], [(1, L)], id="two samples over limited high"),
        pytest.param(CONSECUTIVE, [75, 10, 75, 10, 75], [], id="isolated spikes do not count"),
        pytest.param(CONSECUTIVE, [75, 75, 95, 95], [(1, L), (3, T)], id="limited then tainted"),
        pytest.param(CONSECUTIVE, [95, 95], [(1, T)], id="straight to tainted"),
        pytest.param(CONSECUTIVE, [69, 71] * 20, [], id="oscillating around high: no flapping"),
        pytest.param(CONSECUTIVE, [75, 75] + [49, 51] * 20, [(1, L)], id="oscillating around low: no release"),
        pytest.param(CONSECUTIVE, [75, 75] + [60, 72] * 20, [(1, L)], id="between low and high: stays limited"),
        pytest.param(CONSECUTIVE, [75, 75] + [40] * 15, [(1, L), (13, N)], id="release after cooldown"),
        pytest.param(CONSECUTIVE, [75, 75] + [40] * 8 + [55] + [40] * 15, [(1, L), (22, N)], id="relapse restarts"),
        pytest.param(CONSECUTIVE, [95, 95] + [60] * 15, [(1, T), (13, L)], id="tainted releases to limited"),
        pytest.param(CONSECUTIVE, [95, 95] + [30] * 15, [(1, T), (13, N)], id="tainted releases to normal"),
        pytest.param(MEAN, [68, 72] * 20, [(3, L)], id="mean mode: mean at the threshold enters once"),
        pytest.param(MEAN, [64, 78] * 20, [(3, L)], id="mean mode: oscillation above never releases"),
        pytest.param(MEAN, [95] * 4 + [70] * 20, [(3, T), (16, L)], id="mean mode: release after cooldown"),
    ],
)
def test_policy_table(rules: Rules, cpu: list[float], expected: list[tuple[int, ThrottleLevel]]) -> None:
    assert run(rules, cpu) == expected


def test_change_names_metric_value_threshold_and_a_deterministic_id() -> None:
    state = NodeState("node-a")
    observe(
        state,
        "s0",
        T0,
        {"cpu": 10, "memory": 97},
        CONSECUTIVE.model_copy(update={"tainted": {"memory": Band(high=95, low=90)}}),
    )
    change = observe(
        state,
        "s1",
        T0 + timedelta(seconds=1),
        {"cpu": 10, "memory": 96},
        CONSECUTIVE.model_copy(update={"tainted": {"memory": Band(high=95, low=90)}}),
    )
    assert change is not None
    assert (change.level, change.previous, change.metric, change.value, change.threshold) == (T, N, "memory", 96, 95)
    assert change.since == T0 + timedelta(seconds=1)
    assert change.command_id == "node-a:tainted:s1"
    assert "memory 96 reached high 95" in change.reason


def test_replayed_or_older_samples_are_ignored() -> None:
    state = NodeState("node-a")
    assert observe(state, "s0", T0, {"cpu": 75}, CONSECUTIVE) is None
    assert observe(state, "s0", T0, {"cpu": 75}, CONSECUTIVE) is None  # same sample again: not a second one
    assert observe(state, "old", T0 - timedelta(seconds=5), {"cpu": 75}, CONSECUTIVE) is None
    assert len(state.window) == 1
    change = observe(state, "s1", T0 + timedelta(seconds=1), {"cpu": 75}, CONSECUTIVE)
    assert change is not None
    assert change.level == L


def test_silent_node_becomes_unknown_then_settles_when_it_reports_again() -> None:
    state = NodeState("node-a")
    for i in range(2):
        observe(state, f"s{i}", T0 + timedelta(seconds=i), {"cpu": 75}, CONSECUTIVE)
    assert state.level == L
    assert check_silence(state, T0 + timedelta(seconds=30), CONSECUTIVE) is None  # 29 s since the last one
    silent = check_silence(state, T0 + timedelta(seconds=45), CONSECUTIVE)
    assert silent is not None
    assert (silent.level, silent.previous) == (U, L)
    assert silent.since == T0 + timedelta(seconds=31)  # the deadline, not the moment we looked
    assert silent.command_id == "node-a:unknown:s1:silent"
    assert check_silence(state, T0 + timedelta(seconds=90), CONSECUTIVE) is None  # said once
    back = T0 + timedelta(seconds=100)
    assert observe(state, "b0", back, {"cpu": 20}, CONSECUTIVE) is None  # the old window was dropped
    change = observe(state, "b1", back + timedelta(seconds=1), {"cpu": 20}, CONSECUTIVE)
    assert change is not None
    assert (change.level, change.previous) == (N, U)


def test_a_node_that_never_reported_is_not_declared_silent() -> None:
    assert check_silence(NodeState("node-a"), T0, CONSECUTIVE) is None


def test_metrics_missing_from_some_samples_cannot_escalate() -> None:
    rules = CONSECUTIVE.model_copy(update={"limited": {"gpu": Band(high=70, low=50)}})
    state = NodeState("node-a")
    observe(state, "s0", T0, {"gpu": 99}, rules)
    assert observe(state, "s1", T0 + timedelta(seconds=1), {"cpu": 1}, rules) is None


def test_band_needs_a_gap() -> None:
    with pytest.raises(ValueError, match="hysteresis"):
        Band(high=50, low=50)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=50.01, max_value=69.99), max_size=60))
def test_a_signal_inside_the_band_never_moves_a_normal_node(cpu: list[float]) -> None:
    assert run(CONSECUTIVE, cpu) == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=100), max_size=80), st.sampled_from([CONSECUTIVE, MEAN]))
@example(cpu=[60.0, 100.0, 100.0, 100.0] + [0.0] * 11, rules=MEAN)  # a mean calms at the next sample
def test_changes_chain_and_releases_wait_for_the_cooldown(cpu: list[float], rules: Rules) -> None:
    state = NodeState("node-a")
    last: tuple[int, ThrottleLevel] = (-1, N)
    for i, value in enumerate(cpu):
        change = observe(state, f"s{i}", T0 + timedelta(seconds=i), {"cpu": value}, rules)
        if change is None:
            continue
        assert change.previous == last[1]
        if change.level == N or (change.level == L and change.previous == T):
            # Calm starts with the first calm window, then the cool-down runs. With `consecutive` that
            # window needs `window` calm samples after the change; a mean can fall under `low` at the very
            # next sample (one 0 after three 100s), so only the cool-down itself is guaranteed there.
            calm_after = rules.window - 1 if rules.mode == "consecutive" else 1
            assert i - last[0] >= rules.cooldown + calm_after or last[0] < 0
        last = (i, change.level)
