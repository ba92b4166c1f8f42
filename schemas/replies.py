"""What the `jetflow.ctl` endpoints answer: one model per reply shape, exported as JSON Schema.

The endpoints reply with JSON built from the engine's records; these models say what that JSON holds, so
the micro service can name each endpoint's response schema (`nats micro info jetflow`) and the AsyncAPI
document can show it. `tests/test_ctl_replies.py` validates the real replies of a running engine against
them, so a field added to a reply without its model fails there.

Replies are not events: they carry no idempotency key and no schema version. Every endpoint may also
answer `CtlError` (a bad request, an unknown id, the store down), as the micro service error headers too.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from schemas.base import Instant
from schemas.booking import BookingCancelled, BookingConfirmed, BookingRejected, BookingRequest
from schemas.catalog import Resource, Workflow
from schemas.credentials import CredentialFailed, CredentialIssued
from schemas.deadletter import DeadLetter, DeadLetterCode
from schemas.execution import ExecutionState


class Reply(BaseModel):
    """A closed reply: a field jetflow does not list here is a bug, caught by the reply tests."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class ErrorDetail(Reply):
    code: str = Field(description="Why, for programs (e.g. schema, malformed_json, permanent, unavailable).")
    reason: str = Field(description="Why, for humans: a sentence naming the problem.")


class CtlError(BaseModel):
    """A request that was refused or could not be answered. A booking request refused by its schema but with
    a usable id also carries its `jetflow.booking.rejected` event's fields (status `rejected`), a credential
    request its `jetflow.credential.failed` event's (status `failed`)."""

    model_config = ConfigDict(frozen=True, extra="allow")

    status: Literal["error", "rejected", "failed"] = Field(
        description="`error`, or `rejected` / `failed` for a booking / credential request refused by its schema."
    )
    error: ErrorDetail


class Accepted(Reply):
    """A command published durably whose outcome did not come within JETFLOW_CTL_TIMEOUT: watch its outcome
    subjects (it is processed all the same)."""

    status: Literal["accepted"]
    id: str = Field(description="The command's id.")
    detail: str = Field(description="Where it was published and which outcome subjects to watch.")


# --- health -----------------------------------------------------------------------------------------


class NatsHealth(Reply):
    jetstream: bool = Field(description="Whether JetStream answered within JETFLOW_HEALTH_TIMEOUT.")
    error: str | None = Field(default=None, description="Why not, when it did not.")


class StoreHealth(Reply):
    reachable: bool = Field(description="Whether the store answered a ping within JETFLOW_HEALTH_TIMEOUT.")
    error: str | None = Field(default=None, description="Why not, when it did not.")


class StreamHealth(Reply):
    messages: int
    bytes: int
    consumers: int


class ConsumerHealth(Reply):
    stream: str = Field(description="The stream the durable consumer reads.")
    pending: int = Field(description="Messages not delivered yet: the consumer's lag.")
    ack_pending: int = Field(description="Delivered, not acknowledged yet.")
    redelivered: int = Field(description="Delivered more than once and not acknowledged yet.")


class Health(Reply):
    """`jetflow.ctl.health`: whether this replica can do its work, and how far behind it is."""

    status: Literal["ok", "degraded"]
    version: str
    peer: str
    unreachable: list[Literal["nats", "store"]] = Field(description="The parts that did not answer.")
    nats: NatsHealth
    store: StoreHealth
    streams: dict[str, StreamHealth | str] = Field(
        description="Stream name → its state; `error` → why JetStream could not be read."
    )
    consumers: dict[str, ConsumerHealth] = Field(description="Durable consumer name → how far behind it is.")
    leaders: dict[str, str] = Field(description="Lease (scheduler, dispatch, throttle, retention) → its holder.")


# --- bookings and executions ------------------------------------------------------------------------


class BookingConfirmedReply(BookingConfirmed):
    status: Literal["confirmed"]


class BookingRejectedReply(BookingRejected):
    status: Literal["rejected"]


class BookingCancelledReply(BookingCancelled):
    status: Literal["cancelled"]


class BookingOutcome(
    RootModel[Annotated[BookingConfirmedReply | BookingRejectedReply | Accepted, Field(discriminator="status")]]
):
    """`jetflow.ctl.booking.request`: the outcome event with its status, or `accepted` while it is decided."""


class CancelOutcome(RootModel[Annotated[BookingCancelledReply | Accepted, Field(discriminator="status")]]):
    """`jetflow.ctl.booking.cancel`: the `cancelled` event with its status, or `accepted`."""


class BookingRecordReply(Reply):
    """`jetflow.ctl.booking.get`: the booking's record as stored."""

    id: str
    request: BookingRequest = Field(description="The request as decided (a cron booking's default duration filled in).")
    status: Literal["confirmed", "rejected", "cancelled"]
    executions: list[str] = Field(description="Ids of its first 1,000 executions.")
    execution_count: int
    next_unstored: Instant | None
    stored_count: int
    settled: bool
    peers: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Other peer → the booking's resources claimed on that peer's calendars (the others are ours).",
    )
    paused: bool
    outcome_subject: str
    outcome: dict[str, Any] = Field(description="The outcome event as published (confirmed or rejected).")
    cancellations: dict[str, dict[str, Any]] = Field(description="Cancel command id → the cancelled event.")
    decided_at: Instant
    decided_by: int | None


class BookingSummary(Reply):
    id: str
    status: Literal["confirmed", "rejected", "cancelled"]
    workflow: str
    resources: list[str]
    start: Instant
    end: Instant
    cron: str | None
    paused: bool
    executions: int = Field(description="How many executions it planned.")
    reason: str = Field(description="Why it was rejected; empty otherwise.")
    decided_at: Instant


class BookingPage(Reply):
    """`jetflow.ctl.booking.list`."""

    items: list[BookingSummary]
    next: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


class ExecutionReply(Reply):
    """`jetflow.ctl.execution.get` (and each item of `execution.list`, `schedule.upcoming`): stored or planned."""

    id: str
    booking: str
    workflow: str
    resources: list[str]
    planned_at: Instant = Field(description="Start of its window: when it fires.")
    window_end: Instant
    state: ExecutionState
    reason: str
    paused: bool
    updated_at: Instant


class ExecutionPage(Reply):
    """`jetflow.ctl.execution.list` and `jetflow.ctl.schedule.upcoming`."""

    items: list[ExecutionReply]
    next: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


class ExecutionCancelReply(Reply):
    """`jetflow.ctl.execution.cancel`."""

    status: Literal["cancelled"]
    execution: str
    booking: str
    previous: ExecutionState = Field(description="Its state before this command.")
    already: bool = Field(description="True when it was cancelled before this command.")


# --- scheduler, dispatch, throttle, retention ---------------------------------------------------------


class PauseReply(Reply):
    """`jetflow.ctl.schedule.pause` and `.resume`."""

    booking: str
    paused: bool
    executions: int = Field(description="Executions this request changed.")
    pending: int = Field(description="Executions the booking still has to fire.")


class ScheduleStatus(Reply):
    """`jetflow.ctl.schedule.status` of the replica that answered."""

    instance: str
    pid: int
    leader: bool
    jobs: int = Field(description="Timer jobs loaded (executions within the horizon).")
    held: list[str] = Field(description="Executions held by a throttled resource.")


class Waiting(Reply):
    execution: str
    reason: str


class DispatchLimits(Reply):
    overall: int
    per_resource: int


class DispatchStatus(Reply):
    """`jetflow.ctl.dispatch.status` (`enabled` false and nothing else when no cluster is configured)."""

    instance: str
    enabled: bool
    blocked: dict[str, str] = Field(description="Execution → why a remote peer is not ready for it.")
    pid: int | None = None
    leader: bool | None = None
    dispatched: int | None = Field(default=None, description="Executions this replica dispatched.")
    running: int | None = None
    waiting: list[Waiting] | None = None
    watched: int | None = Field(default=None, description="Workflows its watcher follows.")
    limits: DispatchLimits | None = None


class NodeLevel(Reply):
    node: str
    level: Literal["normal", "limited", "tainted", "unknown"]
    previous: str | None = None
    since: Instant | None = None
    reason: str | None = None
    metric: str | None = None
    value: float | None = None
    threshold: float | None = None
    last_sample_at: Instant | None = None


class ThrottleStatus(Reply):
    """`jetflow.ctl.throttle.status`."""

    instance: str
    evaluator: bool = Field(description="Whether this replica runs the evaluator (holds the throttle lease).")
    nodes: list[NodeLevel]


class SweepCounts(Reply):
    executions: int
    bookings: int
    credential_leases: int
    peer_claims: int = Field(description="What this peer answered other peers' bookings, after they ended.")


class SweepReply(Reply):
    """`jetflow.ctl.retention.sweep`."""

    instance: str
    deleted: SweepCounts


# --- catalog, credentials, dead letters ----------------------------------------------------------------


class ResourcePage(Reply):
    """`jetflow.ctl.resource.list`."""

    items: list[Resource]
    next: str | None


class WorkflowPage(Reply):
    """`jetflow.ctl.workflow.list`."""

    items: list[Workflow]
    next: str | None


class CredentialIssuedReply(CredentialIssued):
    status: Literal["issued"]


class CredentialFailedReply(CredentialFailed):
    status: Literal["failed"]


class CredentialOutcome(
    RootModel[Annotated[CredentialIssuedReply | CredentialFailedReply | Accepted, Field(discriminator="status")]]
):
    """`jetflow.ctl.credential.request`: the outcome event with its status, or `accepted`."""


class CredentialLeaseReply(Reply):
    """`jetflow.ctl.credential.get`: a request's lease (never the keys)."""

    id: str
    execution: str
    storage: str
    compute: str
    storage_peer: str
    compute_peer: str
    namespace: str
    name: str = Field(description="The Secret's name in `namespace`.")
    state: str
    expires_at: Instant | None
    code: str
    reason: str
    outcome_subject: str
    outcome: dict[str, Any]
    updated_at: Instant


class DeadLetterSummary(Reply):
    seq: int = Field(description="Its sequence in JETFLOW_DLQ: what `dlq.get` and `dlq.replay` take.")
    id: str
    subject: str
    code: DeadLetterCode
    reason: str
    at: Instant
    stream: str | None
    sequence: int | None
    size: int | None
    truncated: bool
    deliveries: int


class DeadLetterPage(Reply):
    """`jetflow.ctl.dlq.list`."""

    items: list[DeadLetterSummary]
    next: str | None


class DeadLetterReply(DeadLetter):
    """`jetflow.ctl.dlq.get`: the whole dead letter, with its sequence in JETFLOW_DLQ."""

    seq: int


class ReplayReply(Reply):
    """`jetflow.ctl.dlq.replay`."""

    seq: int
    subject: str = Field(description="The original subject it was published on again.")
    msg_id: str | None = Field(description="The Nats-Msg-Id it was published with.")
    stream: str
    sequence: int
    duplicate: bool = Field(description="JetStream dropped it as a duplicate (same Nats-Msg-Id within the window).")
    detail: str | None = None
