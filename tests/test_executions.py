"""The execution state machine: forward only, by compare-and-set, illegal moves counted and ignored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from engine.booking import calendar
from engine.booking.calendar import ClaimEntry, ResourceCalendar
from engine.executions.states import FINAL, PENDING, can_move, predecessors
from engine.executions.store import ExecutionRecord, Transitions, insert_executions
from schemas.execution import ExecutionState as State

if TYPE_CHECKING:
    from engine.runtime import Runtime

FORWARD = [State.SCHEDULED, State.HELD, State.DUE, State.DISPATCHED, State.RUNNING, State.SUCCEEDED]


class Count:
    def __init__(self) -> None:
        self.value = 0

    def add(self, amount: int, attributes: object = None) -> None:
        self.value += amount


@pytest.mark.parametrize(
    ("current", "target", "legal"),
    [
        (State.SCHEDULED, State.DUE, True),
        (State.DUE, State.SCHEDULED, False),
        (State.RUNNING, State.DISPATCHED, False),
        (State.SUCCEEDED, State.RUNNING, False),
        (State.SUCCEEDED, State.FAILED, False),
        (State.CANCELLED, State.DUE, False),
        (State.HELD, State.DUE, True),
        (State.DISPATCHED, State.CANCELLED, True),
        (State.SCHEDULED, State.MISSED, True),
        (State.DUE, State.DUE, False),
    ],
)
def test_transition_table(current: State, target: State, legal: bool) -> None:
    assert can_move(current, target) is legal
    assert (current in predecessors(target)) is legal


def test_end_states_are_final_and_pending_ones_are_not() -> None:
    assert {State.SUCCEEDED, State.FAILED, State.TIMED_OUT, State.CANCELLED, State.MISSED} == FINAL
    assert not any(can_move(end, other) for end in FINAL for other in State)
    assert set(State) - FINAL == PENDING


async def test_moves_only_forward_in_the_store_and_counts_illegal_ones(engine: Runtime) -> None:
    now = datetime.now(UTC)
    record = ExecutionRecord(
        id="bk-1-20261201t100000",
        booking="bk-1",
        workflow="wf",
        resources=["node-a"],
        planned_at=now,
        window_end=now + timedelta(minutes=1),
        updated_at=now,
    )
    assert await insert_executions([record]) == 1
    assert await insert_executions([record]) == 0  # replay: nothing new
    illegal = Count()
    transitions = Transitions(illegal)  # type: ignore[arg-type]
    for state in FORWARD[2:]:
        assert await transitions.move(record.id, state, at=now)
    assert not await transitions.move(record.id, State.RUNNING, at=now)  # late message
    assert not await transitions.move(record.id, State.FAILED, at=now)
    stored = await ExecutionRecord.get(record.id)
    assert stored is not None
    assert stored.state == State.SUCCEEDED
    assert illegal.value == 2


async def test_an_ended_execution_releases_its_claims(engine: Runtime) -> None:
    now = datetime.now(UTC)
    ids = ["bk-2-a", "bk-2-b"]
    await insert_executions(
        [
            ExecutionRecord(
                id=i,
                booking="bk-2",
                workflow="wf",
                resources=["node-a"],
                planned_at=now,
                window_end=now + timedelta(minutes=1),
                updated_at=now,
            )
            for i in ids
        ]
    )
    entries = [ClaimEntry(booking="bk-2", execution=i, start=now, end=now + timedelta(minutes=1)) for i in ids]
    assert await calendar.claim("node-a", 2, entries, prune_before=now - timedelta(hours=1)) is None
    transitions = Transitions(Count())  # type: ignore[arg-type]
    assert await transitions.finish("bk-2-a", State.SUCCEEDED, at=now)
    assert not await transitions.finish("bk-2-a", State.FAILED, at=now)
    stored = await ResourceCalendar.get("node-a")
    assert stored is not None
    assert [claim.execution for claim in stored.claims] == ["bk-2-b"]
