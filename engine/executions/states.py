"""The execution state machine, pure: which transitions move forward.

    scheduled → held → due → dispatched → running → succeeded | failed | timed_out
    (any state before an end)                      → cancelled | missed

Each state has a rank; a transition is legal only to a higher rank, and the end states have the
highest rank so nothing leaves them. Late or concurrent messages (a `running` after `succeeded`, a
second `due`) therefore cannot move an execution back: the store applies a transition with a
compare-and-set on the states allowed to precede it.
"""

from __future__ import annotations

from schemas.execution import ExecutionState as State

RANK: dict[State, int] = {
    State.SCHEDULED: 0,
    State.HELD: 1,
    State.DUE: 2,
    State.DISPATCHED: 3,
    State.RUNNING: 4,
    State.SUCCEEDED: 5,
    State.FAILED: 5,
    State.TIMED_OUT: 5,
    State.CANCELLED: 5,
    State.MISSED: 5,
}
FINAL = frozenset(state for state, rank in RANK.items() if rank == max(RANK.values()))
#: States that still hold a claim on their resources and may be cancelled.
UNFINISHED = frozenset(state for state in State if state not in FINAL)
#: States of an execution the scheduler has yet to fire: planned, or held back by the throttle.
UNFIRED = frozenset({State.SCHEDULED, State.HELD})
#: The same, as stored (the `$in` of a query).
UNFIRED_NAMES = sorted(str(state) for state in UNFIRED)


def can_move(current: State, target: State) -> bool:
    return RANK[target] > RANK[current]


def predecessors(target: State) -> frozenset[State]:
    """The states from which `target` may be reached: the compare-and-set condition."""
    return frozenset(state for state in State if can_move(state, target))
