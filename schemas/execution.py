"""The lifecycle of one execution, one event per transition.

An execution is one run of a booking's workflow (one cron occurrence). Each event names the state it
reports, so consumers can apply them as compare-and-set transitions that only move forward:
scheduled -> due -> dispatched -> running -> succeeded | failed | timed_out | cancelled, with `held`
(waiting for a throttled resource) and `missed` (its window passed) on the side.
"""

from enum import StrEnum

from pydantic import Field

from schemas import subjects
from schemas.base import Instant, Message
from schemas.names import KubeName


class ExecutionState(StrEnum):
    """Where an execution stands."""

    SCHEDULED = "scheduled"
    DUE = "due"
    HELD = "held"
    DISPATCHED = "dispatched"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    MISSED = "missed"


class ExecutionEvent(Message):
    """What every execution event carries; not published by itself."""

    execution: str = Field(description="The execution's id.")
    booking: str = Field(description="The booking the execution belongs to.")
    at: Instant = Field(description="When the transition happened.")


class ExecutionDue(ExecutionEvent):
    """The execution's time has come: dispatch it now."""

    workflow: KubeName = Field(description="Workflow to run.")
    resources: list[KubeName] = Field(description="The booking's resources.")
    planned_at: Instant = Field(description="The fire time the schedule planned; `at` may be later.")
    window_end: Instant = Field(description="Latest instant the execution may run until.")


class ExecutionHeld(ExecutionEvent):
    """Not dispatched yet: a resource it needs is throttled."""

    reason: str = Field(description="Why it waits, for humans.")
    resource: KubeName = Field(description="The resource that holds it back.")


class ExecutionMissed(ExecutionEvent):
    """Never dispatched: its window passed first."""

    reason: str = Field(description="Why it was missed, for humans.")


class ExecutionDispatched(ExecutionEvent):
    """The Argo Workflow was created."""

    namespace: KubeName = Field(description="Kubernetes namespace created for this execution.")
    workflow_name: str = Field(description="Name of the Argo Workflow object.")


class ExecutionRunning(ExecutionEvent):
    """The Argo Workflow started running."""


class ExecutionSucceeded(ExecutionEvent):
    """Every step succeeded."""


class ExecutionFailed(ExecutionEvent):
    """A step failed, or the workflow could not run."""

    reason: str = Field(description="What failed, for humans.")


class ExecutionTimedOut(ExecutionEvent):
    """Stopped because it ran past its duration or window."""

    reason: str = Field(default="", description="Details, for humans.")


class ExecutionCancelled(ExecutionEvent):
    """Stopped or never started because its booking was cancelled."""

    reason: str = Field(default="", description="Why, for audit.")


#: The end events of an execution that ran or was stopped (not `missed`, which never ran), with their models.
ENDED: dict[str, type[ExecutionEvent]] = {
    subjects.EXECUTION_SUCCEEDED: ExecutionSucceeded,
    subjects.EXECUTION_FAILED: ExecutionFailed,
    subjects.EXECUTION_TIMED_OUT: ExecutionTimedOut,
    subjects.EXECUTION_CANCELLED: ExecutionCancelled,
}
