"""`jetflow_throttle_level{node}`: one observable gauge per process, fed by every running engine.

Telemetry is process-wide (tests start many engines in one process), and OpenTelemetry keeps the
first callback registered under a name, so the gauge is created once and reads whichever level
sources are registered now; an engine removes its source when it stops.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from schemas.throttle import ThrottleLevel

if TYPE_CHECKING:
    from collections.abc import Callable

    from opentelemetry.metrics import CallbackOptions, Meter, Observation

type Source = Callable[[], dict[str, ThrottleLevel]]

#: The gauge's value per level.
LEVEL_VALUE = {ThrottleLevel.NORMAL: 0, ThrottleLevel.LIMITED: 1, ThrottleLevel.TAINTED: 2, ThrottleLevel.UNKNOWN: 3}
_sources: list[Source] = []
_meters: set[int] = set()


def _observe(_: CallbackOptions) -> list[Observation]:
    from opentelemetry.metrics import Observation

    levels: dict[str, ThrottleLevel] = {}
    for source in _sources:
        levels.update(source())
    return [Observation(LEVEL_VALUE[level], {"node": node}) for node, level in sorted(levels.items())]


def observe_levels(meter: Meter, source: Source) -> Callable[[], None]:
    """Report `source`'s levels until the returned function is called."""
    if id(meter) not in _meters:
        _meters.add(id(meter))
        meter.create_observable_gauge(
            "jetflow.throttle.level",
            [_observe],
            description="Throttle level per node: 0 normal, 1 limited, 2 tainted, 3 unknown.",
        )
    _sources.append(source)
    return lambda: _sources.remove(source)
