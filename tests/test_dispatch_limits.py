"""The pure limit decision: overall and per-resource slots, the throttle gate, oldest first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.core.gate import OpenGate
from engine.dispatch.limits import choose

if TYPE_CHECKING:
    from collections.abc import Sequence


@dataclass
class Due:
    id: str
    resources: list[str]


def due(execution: str, *resources: str) -> Due:
    return Due(execution, list(resources))


class Throttled:
    """node-b limited to one execution, node-c tainted (as the throttle feature will answer)."""

    def blocked(self, resources: Sequence[str]) -> tuple[str, str] | None:
        return ("node-c", "tainted: cpu 97%") if "node-c" in resources else None

    def limit(self, resource: str, base: int) -> int:
        return {"node-b": 1, "node-c": 0}.get(resource, base)


def test_overall_limit_keeps_the_rest_waiting_in_order() -> None:
    decision = choose(
        [due("e1", "a"), due("e2", "b"), due("e3", "c")], [["x"]], OpenGate(), max_running=2, max_per_resource=5
    )
    assert [r.id for r in decision.dispatch] == ["e1"]
    assert decision.waiting == {
        "e2": "2 executions dispatched, the limit is 2",
        "e3": "2 executions dispatched, the limit is 2",
    }


def test_per_resource_limit_counts_running_and_newly_dispatched() -> None:
    decision = choose(
        [due("e1", "a", "store"), due("e2", "a"), due("e3", "b")],
        [["b"]],
        OpenGate(),
        max_running=10,
        max_per_resource=1,
    )
    assert [r.id for r in decision.dispatch] == ["e1"]
    assert decision.waiting == {"e2": "resource a runs 1 of 1 allowed", "e3": "resource b runs 1 of 1 allowed"}


def test_throttle_gate_lowers_limits_and_blocks_tainted_nodes() -> None:
    decision = choose(
        [due("e1", "node-b"), due("e2", "node-b"), due("e3", "node-c"), due("e4", "node-d")],
        [],
        Throttled(),
        max_running=10,
        max_per_resource=4,
    )
    assert [r.id for r in decision.dispatch] == ["e1", "e4"]
    assert decision.waiting == {
        "e2": "resource node-b runs 1 of 1 allowed",
        "e3": "resource node-c is throttled: tainted: cpu 97%",
    }
