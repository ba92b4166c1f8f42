"""What an Argo Workflow's status means for its execution: a pure mapping.

`Pending` (or no phase yet) is what `dispatched` already says, so it reports nothing. A failed
workflow whose message names a deadline ran past `activeDeadlineSeconds` (the execution window, or
compute-to-data's max job duration): that is `timed_out`, not `failed`.
"""

from __future__ import annotations

from typing import Any

from schemas.execution import ExecutionState

_STATES = {
    "Running": ExecutionState.RUNNING,
    "Succeeded": ExecutionState.SUCCEEDED,
    "Failed": ExecutionState.FAILED,
    "Error": ExecutionState.FAILED,
}


def phase(workflow: dict[str, Any]) -> str:
    return str((workflow.get("status") or {}).get("phase") or "")


def outcome(workflow: dict[str, Any]) -> tuple[ExecutionState, str] | None:
    """(state, reason) the workflow's current phase reports, or None when it reports nothing new."""
    status = workflow.get("status") or {}
    state = _STATES.get(phase(workflow))
    if state is None:
        return None
    message = str(status.get("message") or "")
    if state is ExecutionState.FAILED and "deadline" in message.lower():
        return ExecutionState.TIMED_OUT, message
    if state is ExecutionState.FAILED:
        return state, message or f"workflow {phase(workflow).lower()}"
    return state, ""
