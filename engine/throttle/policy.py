"""The throttle policy, pure: a node's recent samples in, its level (and a change, if any) out.

No I/O and no clock of its own: time is the samples' own `at` (and the caller's `now` for silence),
so the same samples always give the same levels and a replay gives the same commands.

* Escalation is immediate once the window is full: `tainted` if a tainted band's `high` is reached,
  else `limited` if a limited band's is. In 'consecutive' mode a threshold counts as reached when every
  sample of the window reaches it (the window's minimum); in 'mean' mode when their mean does.
* Release needs hysteresis and a cool-down: every metric of the current level must be under its
  band's `low` (the window's maximum, or mean) continuously for `cooldown` seconds. The node then drops
  to the highest level whose bands it still reaches the low of (tainted → limited or → normal).
* Silence: no sample for `silence` seconds → `unknown` (what `unknown` means for new work is the
  gate's configured consequence). The first full window after that settles the level again.
  Silence is judged on sample time: `check_silence(state, sample.at)` before each sample says whether
  the gap before it was a silence, dated at the deadline, exactly as a real-time stream would have
  said it. Only the caller knows when it is caught up with a node's samples, so only the caller may
  judge silence on its own clock (see engine/throttle/evaluator.py).
* A sample not newer than the last one seen (a replay, or out of order) is ignored.
"""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from schemas.throttle import ThrottleLevel

if TYPE_CHECKING:
    from collections.abc import Mapping

    from engine.throttle.rules import Band, Rules
    from schemas.metrics import MetricSample

RANK = {ThrottleLevel.NORMAL: 0, ThrottleLevel.LIMITED: 1, ThrottleLevel.TAINTED: 2}
#: Longest command id (schemas.base.ID_PATTERN); longer ones are shortened with a digest.
_MAX_ID = 200


@dataclass(frozen=True, slots=True)
class Change:
    """A level change and its cause: what a throttle command says."""

    node: str
    level: ThrottleLevel
    previous: ThrottleLevel
    since: datetime
    reason: str
    cause: str
    """The id of the sample that tipped it (or of the last sample before a silence)."""
    metric: str | None = None
    value: float | None = None
    threshold: float | None = None

    @property
    def command_id(self) -> str:
        """Deterministic from the cause, so a replayed sample yields the same command id (deduplicated)."""
        raw = f"{self.node}:{self.level}:{self.cause}"
        if len(raw) <= _MAX_ID:
            return raw
        return f"{self.node}:{self.level}:{hashlib.sha256(self.cause.encode()).hexdigest()[:32]}"


@dataclass(slots=True)
class NodeState:
    """What the policy remembers about one node (persisted as a NodeThrottle snapshot)."""

    node: str
    level: ThrottleLevel = ThrottleLevel.NORMAL
    since: datetime | None = None
    last_at: datetime | None = None
    last_sample: str | None = None
    calm_since: datetime | None = None
    """When every metric of the current level first went under its `low` (start of the cool-down)."""
    window: deque[dict[str, float]] = field(default_factory=deque)


def readings(sample: MetricSample) -> dict[str, float]:
    """A sample's gauges by metric name (custom gauges under their own names)."""
    values = {"cpu": sample.cpu, "memory": sample.memory, "load": sample.load, "disk": sample.disk}
    if sample.gpu is not None:
        values["gpu"] = sample.gpu
    values.update(sample.custom)
    return values


def observe(state: NodeState, cause: str, at: datetime, values: Mapping[str, float], rules: Rules) -> Change | None:
    """Add one sample to `state` (in place); return the level change it causes, if any."""
    if state.last_at is not None and at <= state.last_at:
        return None  # Idempotency guard: a replayed or late sample must not count twice.
    state.last_at, state.last_sample = at, cause
    window = state.window
    window.append(dict(values))
    while len(window) > rules.window:
        window.popleft()
    if len(window) < rules.window:
        return None
    up = _escalation(window, rules)
    if state.level == ThrottleLevel.UNKNOWN:
        # Back from silence: the first full window settles the level, no cool-down to wait for.
        if up is not None:
            return _move(state, up[0], at, cause, *up[1:], verb="reached high")
        return _move(state, ThrottleLevel.NORMAL, at, cause, None, None, None, verb="reporting again")
    if up is not None and RANK[up[0]] > RANK[state.level]:
        return _move(state, up[0], at, cause, *up[1:], verb="reached high")
    if state.level == ThrottleLevel.NORMAL:
        return None
    if not _calm(window, rules, state.level):
        state.calm_since = None
        return None
    if state.calm_since is None:
        state.calm_since = at
    if at - state.calm_since < timedelta(seconds=rules.cooldown):
        return None
    target = ThrottleLevel.NORMAL
    if state.level == ThrottleLevel.TAINTED and not _calm(window, rules, ThrottleLevel.LIMITED):
        target = ThrottleLevel.LIMITED
    metric, value, band = _closest(window, rules, state.level)
    return _move(state, target, at, cause, metric, value, band.low if band else None, verb="under low")


def check_silence(state: NodeState, now: datetime, rules: Rules) -> Change | None:
    """`unknown` once no sample came for `silence` seconds before `now`; the change is dated at the deadline.

    `now` is a sample's `at` (was the gap before it a silence?) or, once the caller has taken every
    sample there is, its clock.
    """
    if state.level == ThrottleLevel.UNKNOWN or state.last_at is None:
        return None
    deadline = state.last_at + timedelta(seconds=rules.silence)
    if now < deadline:
        return None
    state.window.clear()
    previous, state.level, state.since, state.calm_since = state.level, ThrottleLevel.UNKNOWN, deadline, None
    return Change(
        node=state.node,
        level=ThrottleLevel.UNKNOWN,
        previous=previous,
        since=deadline,
        reason=f"no sample for {rules.silence:g}s (last at {state.last_at.isoformat()})",
        cause=f"{state.last_sample}:silent",
    )


def _move(
    state: NodeState,
    level: ThrottleLevel,
    at: datetime,
    cause: str,
    metric: str | None,
    value: float | None,
    threshold: float | None,
    *,
    verb: str,
) -> Change | None:
    previous = state.level
    state.calm_since = None
    if level == previous:
        return None
    state.level, state.since = level, at
    if metric is None or value is None or threshold is None:
        reason = f"{verb}: {previous} → {level}"
    else:
        reason = f"{metric} {value:.4g} {verb} {threshold:g}: {previous} → {level}"
    return Change(state.node, level, previous, at, reason, cause, metric, value, threshold)


def _escalation(window: deque[dict[str, float]], rules: Rules) -> tuple[ThrottleLevel, str, float, float] | None:
    """The highest level whose `high` the window reaches, with the metric, its value and the threshold."""
    for level, bands in ((ThrottleLevel.TAINTED, rules.tainted), (ThrottleLevel.LIMITED, rules.limited)):
        for metric, band in bands.items():
            value = _windowed(window, metric, rules, rising=True)
            if value is not None and value >= band.high:
                return level, metric, value, band.high
    return None


def _calm(window: deque[dict[str, float]], rules: Rules, level: ThrottleLevel) -> bool:
    """Every metric of `level` is under its band's `low` (missing metrics count as calm)."""
    bands = rules.tainted if level == ThrottleLevel.TAINTED else rules.limited
    for metric, band in bands.items():
        value = _windowed(window, metric, rules, rising=False)
        if value is not None and value >= band.low:
            return False
    return True


def _closest(
    window: deque[dict[str, float]], rules: Rules, level: ThrottleLevel
) -> tuple[str | None, float | None, Band | None]:
    """For a release's reason: the metric of `level` that stayed closest to its `low`."""
    bands = rules.tainted if level == ThrottleLevel.TAINTED else rules.limited
    best: tuple[str | None, float | None, Band | None] = (None, None, None)
    margin = float("inf")
    for metric, band in bands.items():
        value = _windowed(window, metric, rules, rising=False)
        if value is not None and band.low - value < margin:
            margin, best = band.low - value, (metric, value, band)
    return best


def _windowed(window: deque[dict[str, float]], metric: str, rules: Rules, *, rising: bool) -> float | None:
    """The window's value of `metric`: mean, or (consecutive) min when rising and max when falling.

    Rising needs the metric in every sample of the window; falling takes the samples that have it.
    """
    values = [sample[metric] for sample in window if metric in sample]
    if not values or (rising and len(values) < len(window)):
        return None
    if rules.mode == "mean":
        return sum(values) / len(values)
    return min(values) if rising else max(values)
