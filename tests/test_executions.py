"""The execution state machine: forward only, by compare-and-set, illegal moves counted and ignored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from engine.claims.calendar import Calendars, Reservation, ResourceCalendar
from engine.claims.windows import Schedule, execution_id
from engine.executions.advance import advance
from engine.executions.states import FINAL, UNFINISHED, can_move, predecessors
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
    assert set(State) - FINAL == UNFINISHED


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


async def test_finishing_again_in_the_same_end_state_is_a_replay_not_an_illegal_move(engine: Runtime) -> None:
    # The watcher reports every workflow it lists again after a restart: that must not count as illegal.
    now = datetime.now(UTC)
    record = ExecutionRecord(
        id="bk-3-20261201t100000",
        booking="bk-3",
        workflow="wf",
        resources=["node-a"],
        planned_at=now,
        window_end=now + timedelta(minutes=1),
        state=State.DISPATCHED,
        updated_at=now,
    )
    await insert_executions([record])
    illegal = Count()
    transitions = Transitions(illegal)  # type: ignore[arg-type]
    assert await transitions.finish(record.id, State.TIMED_OUT, at=now)
    assert not await transitions.finish(record.id, State.TIMED_OUT, at=now)
    assert illegal.value == 0
    assert (await advance(transitions, record.id, State.TIMED_OUT, at=now)).reached  # its event is sent again
    assert not await transitions.finish(record.id, State.SUCCEEDED, at=now)  # another end state: illegal
    assert illegal.value == 1


async def test_an_ended_execution_releases_its_claims(engine: Runtime) -> None:
    now = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)
    schedule = Schedule(now, now + timedelta(seconds=2), "* * * * * *", timedelta(seconds=1))  # two windows
    windows = schedule.windows(10)
    ids = [execution_id("bk-2", window.start) for window in windows]
    await insert_executions(
        [
            ExecutionRecord(
                id=execution,
                booking="bk-2",
                workflow="wf",
                resources=["node-a"],
                planned_at=window.start,
                window_end=window.end,
                updated_at=now,
            )
            for execution, window in zip(ids, windows, strict=True)
        ]
    )
    reservation = Reservation.of("bk-2", schedule, len(windows))
    assert await Calendars().claim("node-a", 1, reservation, schedule.spans(10), prune_before=now) is None
    transitions = Transitions(Count())  # type: ignore[arg-type]
    assert await transitions.finish(ids[0], State.SUCCEEDED, at=now)
    assert not await transitions.finish(ids[0], State.FAILED, at=now)
    stored = await ResourceCalendar.get("node-a")
    assert stored is not None
    assert stored.held() == [ids[1]]


async def test_a_calendar_stores_its_reservations_as_one_string_and_still_reads_the_older_list(
    engine: Runtime,
) -> None:
    # engine/claims/calendar.py `packed`: one string per calendar, not one per reservation; a calendar stored
    # before (a list of strings) is read as it is and packed at its next write.
    now = datetime.now(UTC).replace(microsecond=0)
    one = Schedule(now + timedelta(hours=1), now + timedelta(hours=2))
    old = Reservation.of("bk-old", one, 1)
    collection = ResourceCalendar.get_pymongo_collection()
    await collection.insert_one({"_id": "node-p", "version": 3, "claims": [old.encode()], "released": {}})
    calendars = Calendars()
    clash = await calendars.claim("node-p", 1, Reservation.of("bk-new", one, 1), one.spans(1), prune_before=now)
    assert clash is not None  # the older form's reservation still holds its window
    later = Schedule(now + timedelta(hours=3), now + timedelta(hours=4))
    fits = Reservation.of("bk-later", later, 1)
    assert await calendars.claim("node-p", 1, fits, later.spans(1), prune_before=now) is None
    stored = await collection.find_one({"_id": "node-p"})
    assert stored is not None
    assert isinstance(stored["claims"], str)
    assert stored["version"] == 4
    calendar = await ResourceCalendar.get("node-p")
    assert calendar is not None
    assert [r.booking for r in calendar.reservations] == ["bk-old", "bk-later"]
    assert calendar.reservations[1] == fits
