"""The execution event (subject and model) that reports a state reached by dispatch or the watcher.

Ids are `<execution>:<state>`: each state is reached once, so a replayed or duplicated report is
dropped by JetStream's `Nats-Msg-Id` window.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from schemas import subjects
from schemas.execution import (
    ExecutionEvent,
    ExecutionFailed,
    ExecutionMissed,
    ExecutionRunning,
    ExecutionState,
    ExecutionSucceeded,
    ExecutionTimedOut,
)

if TYPE_CHECKING:
    from datetime import datetime

_SUBJECTS = {
    ExecutionState.RUNNING: subjects.EXECUTION_RUNNING,
    ExecutionState.SUCCEEDED: subjects.EXECUTION_SUCCEEDED,
    ExecutionState.FAILED: subjects.EXECUTION_FAILED,
    ExecutionState.TIMED_OUT: subjects.EXECUTION_TIMED_OUT,
    ExecutionState.MISSED: subjects.EXECUTION_MISSED,
}
_MODELS: dict[ExecutionState, type[ExecutionEvent]] = {
    ExecutionState.RUNNING: ExecutionRunning,
    ExecutionState.SUCCEEDED: ExecutionSucceeded,
    ExecutionState.FAILED: ExecutionFailed,
    ExecutionState.TIMED_OUT: ExecutionTimedOut,
    ExecutionState.MISSED: ExecutionMissed,
}
_WITH_REASON = frozenset({ExecutionState.FAILED, ExecutionState.TIMED_OUT, ExecutionState.MISSED})


def event_for(
    state: ExecutionState, *, execution: str, booking: str, at: datetime, reason: str = ""
) -> tuple[str, ExecutionEvent]:
    if state not in _SUBJECTS:
        raise ValueError(f"dispatch does not report {state}")
    common = {"id": f"{execution}:{state}", "execution": execution, "booking": booking, "at": at}
    model = _MODELS[state]
    if state in _WITH_REASON:
        common["reason"] = reason or str(state)
    return _SUBJECTS[state], model.model_validate(common)
