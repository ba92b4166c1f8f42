"""Every channel of jetflow's NATS contract: what it receives and sends on each subject, and the payloads.

This is the one list the AsyncAPI document (`schemas/asyncapi.py`, checked in as schemas/asyncapi.json) and
the micro service's endpoint metadata are made from. It is held to the running code: the control service
refuses to add a `jetflow.ctl` endpoint that is not listed here with its request model, and
`tests/test_asyncapi.py` checks that the durable consumers an engine starts, the peer endpoints it answers
and the ctl endpoints it serves are exactly the ones listed. Payloads are the models themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from schemas import queries, replies, subjects
from schemas.booking import BookingCancel, BookingCancelled, BookingConfirmed, BookingRejected, BookingRequest
from schemas.catalog import PublicResource, Resource, ResourceRemoval, Workflow
from schemas.credentials import CredentialFailed, CredentialIssued, CredentialRequest
from schemas.deadletter import DeadLetter
from schemas.execution import (
    ExecutionCancelled,
    ExecutionDispatched,
    ExecutionDue,
    ExecutionFailed,
    ExecutionHeld,
    ExecutionMissed,
    ExecutionRunning,
    ExecutionSucceeded,
    ExecutionTimedOut,
)
from schemas.metrics import MetricSample
from schemas.peer import (
    ClaimResources,
    DeleteSecret,
    FreeWindow,
    IssueCredential,
    PeerReply,
    PrepareNamespace,
    ReleaseClaims,
    ReleaseNamespace,
    StoreSecret,
)
from schemas.throttle import ThrottleCommand

if TYPE_CHECKING:
    from pydantic import BaseModel

    from schemas.base import Message

#: The variable tokens of parameterized subjects, and what each stands for.
PARAMETERS: dict[str, str] = {
    "node": "The node's name (a Kubernetes node, or a compute resource's `node`).",
    "subject": "The original subject of the message that could not be processed (several tokens).",
    "peer": "The id of the peer that answers (its JetStream domain); in the federated catalog, the owner's.",
    "resource": "The resource's id (its name in the owner's catalog).",
}


@dataclass(frozen=True, slots=True)
class Stream:
    """A subject a jetflow stream captures: published durably (JetStream acks), consumed by durable consumers."""

    address: str
    payload: type[Message]
    receives: bool
    """jetflow consumes it (a durable consumer, shared by every replica)."""
    sends: bool
    """jetflow publishes it (with a deterministic `Nats-Msg-Id`)."""
    summary: str


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A core-NATS request/reply subject (in no stream): a `jetflow.ctl` endpoint or a peer's."""

    name: str
    """The micro service endpoint's name (`nats micro info jetflow`), or the peer operation's."""
    address: str
    request: type[BaseModel] | None
    """None: the body is ignored (send it empty)."""
    reply: type[BaseModel] | None
    """None: a plain-text reply (`text_reply` says what it is)."""
    summary: str
    asks: bool = False
    """jetflow asks it (of another peer) besides answering it."""
    text_reply: str = ""


STREAMS: tuple[Stream, ...] = (
    Stream(subjects.RESOURCE_UPSERT, Resource, True, False, "Register or update a resource."),
    Stream(subjects.RESOURCE_REMOVE, ResourceRemoval, True, False, "Remove a resource (public: from the peers' too)."),
    Stream(
        f"{subjects.PUBLIC_RESOURCE_PREFIX}.{{resource}}",
        PublicResource,
        False,
        True,
        "Our public catalog, one entry per resource (a tombstone once gone), sourced by the linked peers.",
    ),
    Stream(
        f"{subjects.FEDERATED_PREFIX}.{{peer}}.resource.{{resource}}",
        PublicResource,
        True,
        False,
        "A linked peer's public catalog, copied by stream sourcing (read-only): the federated catalog.",
    ),
    Stream(subjects.WORKFLOW_UPSERT, Workflow, True, False, "Register or update a workflow (its DAG is checked)."),
    Stream(subjects.BOOKING_REQUEST, BookingRequest, True, True, "A booking request (published too by ctl)."),
    Stream(subjects.BOOKING_CANCEL, BookingCancel, True, True, "Cancel a booking (published too by ctl)."),
    Stream(subjects.BOOKING_CONFIRMED, BookingConfirmed, False, True, "A booking was confirmed."),
    Stream(subjects.BOOKING_REJECTED, BookingRejected, False, True, "A booking was rejected, with a code."),
    Stream(subjects.BOOKING_CANCELLED, BookingCancelled, False, True, "A booking was cancelled."),
    Stream(subjects.EXECUTION_DUE, ExecutionDue, True, True, "An execution's time came: dispatch it."),
    Stream(subjects.EXECUTION_HELD, ExecutionHeld, False, True, "An execution waits for a throttled resource."),
    Stream(subjects.EXECUTION_MISSED, ExecutionMissed, False, True, "An execution was not fired, and why."),
    Stream(subjects.EXECUTION_DISPATCHED, ExecutionDispatched, True, True, "Its workflow was created."),
    Stream(subjects.EXECUTION_RUNNING, ExecutionRunning, False, True, "Its workflow runs."),
    Stream(subjects.EXECUTION_SUCCEEDED, ExecutionSucceeded, True, True, "Its workflow succeeded."),
    Stream(subjects.EXECUTION_FAILED, ExecutionFailed, True, True, "Its workflow failed."),
    Stream(subjects.EXECUTION_TIMED_OUT, ExecutionTimedOut, True, True, "Its workflow outlived its window."),
    Stream(subjects.EXECUTION_CANCELLED, ExecutionCancelled, True, True, "It was cancelled."),
    Stream(
        f"{subjects.METRIC_SAMPLE_PREFIX}.{{node}}",
        MetricSample,
        True,
        False,
        "A node's reading (from `jetflow agent` or any system); judged by the throttle evaluator.",
    ),
    Stream(
        f"{subjects.THROTTLE_COMMAND_PREFIX}.{{node}}",
        ThrottleCommand,
        False,
        True,
        "A node's new throttle level (the stream keeps the latest per node).",
    ),
    Stream(subjects.CREDENTIAL_REQUEST, CredentialRequest, True, True, "Issue storage keys for an execution."),
    Stream(subjects.CREDENTIAL_ISSUED, CredentialIssued, False, True, "Keys issued (a Secret reference, no keys)."),
    Stream(subjects.CREDENTIAL_FAILED, CredentialFailed, False, True, "Keys could not be issued, with a code."),
    Stream(
        f"{subjects.DLQ_PREFIX}.{{subject}}",
        DeadLetter,
        False,
        True,
        "A message jetflow could not process, with the reason, the original bytes and headers.",
    ),
)

CTL: tuple[Endpoint, ...] = (
    Endpoint("health", subjects.ctl_health(), None, replies.Health, "Health, leaders, consumers' lag, streams."),
    Endpoint(
        "booking-request",
        subjects.ctl("booking", "request"),
        BookingRequest,
        replies.BookingOutcome,
        "Publish a booking request durably and reply with its outcome.",
    ),
    Endpoint(
        "booking-cancel",
        subjects.ctl("booking", "cancel"),
        BookingCancel,
        replies.CancelOutcome,
        "Publish a booking cancel durably and reply with its outcome.",
    ),
    Endpoint("booking-get", subjects.ctl("booking", "get"), queries.Get, replies.BookingRecordReply, "One booking."),
    Endpoint(
        "booking-list", subjects.ctl("booking", "list"), queries.BookingList, replies.BookingPage, "Bookings by id."
    ),
    Endpoint(
        "execution-list",
        subjects.ctl("execution", "list"),
        queries.ExecutionList,
        replies.ExecutionPage,
        "Executions by id, stored or still planned.",
    ),
    Endpoint("execution-get", subjects.ctl("execution", "get"), queries.Get, replies.ExecutionReply, "One execution."),
    Endpoint(
        "execution-cancel",
        subjects.ctl("execution", "cancel"),
        queries.ExecutionCancel,
        replies.ExecutionCancelReply,
        "Cancel one execution; its booking's others go on.",
    ),
    Endpoint(
        "schedule-pause", subjects.ctl("schedule", "pause"), queries.BookingRef, replies.PauseReply, "Pause a booking."
    ),
    Endpoint(
        "schedule-resume",
        subjects.ctl("schedule", "resume"),
        queries.BookingRef,
        replies.PauseReply,
        "Resume a paused booking.",
    ),
    Endpoint(
        "schedule-upcoming",
        subjects.ctl("schedule", "upcoming"),
        queries.Upcoming,
        replies.ExecutionPage,
        "Pending executions by fire time.",
    ),
    Endpoint(
        "schedule-status",
        subjects.ctl("schedule", "status"),
        None,
        replies.ScheduleStatus,
        "The scheduler of the replica that answered.",
    ),
    Endpoint(
        "dispatch-status",
        subjects.ctl("dispatch", "status"),
        None,
        replies.DispatchStatus,
        "Running, waiting and blocked executions.",
    ),
    Endpoint(
        "throttle-status",
        subjects.ctl("throttle", "status"),
        None,
        replies.ThrottleStatus,
        "Each node's level and the reading behind it.",
    ),
    Endpoint("resource-get", subjects.ctl("resource", "get"), queries.Get, Resource, "One resource."),
    Endpoint(
        "resource-list", subjects.ctl("resource", "list"), queries.ListPage, replies.ResourcePage, "Resources by id."
    ),
    Endpoint("workflow-get", subjects.ctl("workflow", "get"), queries.Get, Workflow, "One workflow."),
    Endpoint(
        "workflow-list", subjects.ctl("workflow", "list"), queries.ListPage, replies.WorkflowPage, "Workflows by id."
    ),
    Endpoint(
        "credential-request",
        subjects.ctl("credential", "request"),
        CredentialRequest,
        replies.CredentialOutcome,
        "Publish a credential request durably and reply with its outcome.",
    ),
    Endpoint(
        "credential-get",
        subjects.ctl("credential", "get"),
        queries.Get,
        replies.CredentialLeaseReply,
        "A credential request's lease (no keys).",
    ),
    Endpoint(
        "dlq-list",
        subjects.ctl("dlq", "list"),
        queries.DeadLetterList,
        replies.DeadLetterPage,
        "Dead letters in the order recorded.",
    ),
    Endpoint(
        "dlq-get", subjects.ctl("dlq", "get"), queries.DeadLetterRef, replies.DeadLetterReply, "One whole dead letter."
    ),
    Endpoint(
        "dlq-replay",
        subjects.ctl("dlq", "replay"),
        queries.DeadLetterReplay,
        replies.ReplayReply,
        "Publish a dead letter's original bytes and headers again on its original subject.",
    ),
    Endpoint(
        "retention-sweep",
        subjects.ctl("retention", "sweep"),
        None,
        replies.SweepReply,
        "One retention sweep, now, by the replica that answered.",
    ),
)


def _peer(family: str, verb: str) -> str:
    return f"{subjects.PEER_PREFIX}.{{peer}}.{family}.{verb}"


PEERS: tuple[Endpoint, ...] = (
    Endpoint(
        "peer-booking-claim",
        _peer("booking", "claim"),
        ClaimResources,
        PeerReply,
        "The owner of resources claims them on its own calendars for every window of another peer's booking, "
        "all or none; asked again, it answers as the first time.",
        asks=True,
    ),
    Endpoint(
        "peer-booking-release",
        _peer("booking", "release"),
        ReleaseClaims,
        PeerReply,
        "The owner drops a booking's claims (cancelled, or not confirmed) and refuses a later claim of it.",
        asks=True,
    ),
    Endpoint(
        "peer-booking-free",
        _peer("booking", "free"),
        FreeWindow,
        PeerReply,
        "The owner gives back one window of a booking it holds, whose execution ended before the window closed.",
        asks=True,
    ),
    Endpoint(
        "peer-credential-issue",
        _peer("credential", "issue"),
        IssueCredential,
        PeerReply,
        "The storage's peer issues scoped keys, sealed to the compute peer's public key.",
        asks=True,
    ),
    Endpoint(
        "peer-secret-store",
        _peer("secret", "store"),
        StoreSecret,
        PeerReply,
        "The compute's peer opens the sealed keys and stores them as a Secret.",
        asks=True,
    ),
    Endpoint("peer-secret-delete", _peer("secret", "delete"), DeleteSecret, PeerReply, "Delete a Secret.", asks=True),
    Endpoint(
        "peer-namespace-prepare",
        _peer("namespace", "prepare"),
        PrepareNamespace,
        PeerReply,
        "Create an execution's namespace and the executor's RBAC on this peer's cluster (Admiralty).",
        asks=True,
    ),
    Endpoint(
        "peer-namespace-release",
        _peer("namespace", "release"),
        ReleaseNamespace,
        PeerReply,
        "Delete a namespace prepared for the asking peer.",
        asks=True,
    ),
    Endpoint(
        "peer-key-get",
        _peer("key", "get"),
        None,
        None,
        "This peer's public key.",
        asks=True,
        text_reply="The peer's X25519 public key, base64.",
    ),
)

_CTL_BY_SUBJECT = {endpoint.address: endpoint for endpoint in CTL}


def ctl_endpoint(subject: str) -> Endpoint | None:
    """The listed `jetflow.ctl` endpoint on `subject`, if any."""
    return _CTL_BY_SUBJECT.get(subject)
