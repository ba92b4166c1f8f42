"""Which model a message is: by stable schema name, and by the subject it arrives on.

Schema names are the file names of the exported JSON Schemas and never change for a version; the
subject map is what lets one decoder validate any inbound message without knowing its handler.
"""

from pydantic import BaseModel

from schemas import queries, replies, subjects
from schemas.base import Message
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

MODELS: dict[str, type[Message]] = {
    "resource": Resource,
    "resource.remove": ResourceRemoval,
    "public.resource": PublicResource,
    "workflow": Workflow,
    "booking.request": BookingRequest,
    "booking.cancel": BookingCancel,
    "booking.confirmed": BookingConfirmed,
    "booking.rejected": BookingRejected,
    "booking.cancelled": BookingCancelled,
    "execution.due": ExecutionDue,
    "execution.held": ExecutionHeld,
    "execution.missed": ExecutionMissed,
    "execution.dispatched": ExecutionDispatched,
    "execution.running": ExecutionRunning,
    "execution.succeeded": ExecutionSucceeded,
    "execution.failed": ExecutionFailed,
    "execution.timed_out": ExecutionTimedOut,
    "execution.cancelled": ExecutionCancelled,
    "metric.sample": MetricSample,
    "throttle.command": ThrottleCommand,
    "credential.request": CredentialRequest,
    "credential.issued": CredentialIssued,
    "credential.failed": CredentialFailed,
    "dead_letter": DeadLetter,
    "peer.credential.issue": IssueCredential,
    "peer.secret.store": StoreSecret,
    "peer.secret.delete": DeleteSecret,
    "peer.namespace.prepare": PrepareNamespace,
    "peer.namespace.release": ReleaseNamespace,
    "peer.booking.claim": ClaimResources,
    "peer.booking.release": ReleaseClaims,
    "peer.booking.free": FreeWindow,
}

#: Inbound stream subjects with one fixed name; metric samples have one subject per node.
INBOUND: dict[str, type[Message]] = {
    subjects.BOOKING_REQUEST: BookingRequest,
    subjects.BOOKING_CANCEL: BookingCancel,
    subjects.RESOURCE_UPSERT: Resource,
    subjects.RESOURCE_REMOVE: ResourceRemoval,
    subjects.WORKFLOW_UPSERT: Workflow,
    subjects.CREDENTIAL_REQUEST: CredentialRequest,
}


def model_for_subject(subject: str) -> type[Message] | None:
    """The model of messages arriving on `subject`, or None when jetflow does not consume it."""
    if model := INBOUND.get(subject):
        return model
    prefix, _, node = subject.rpartition(".")
    if prefix == subjects.METRIC_SAMPLE_PREFIX and node:
        return MetricSample
    if subject.startswith(f"{subjects.FEDERATED_PREFIX}.") and node:
        return PublicResource
    return None


#: The `jetflow.ctl` requests, exported beside the messages (they are not events: no id, no version).
QUERIES: dict[str, type[BaseModel]] = {
    "query.get": queries.Get,
    "query.list_page": queries.ListPage,
    "query.booking_list": queries.BookingList,
    "query.booking_ref": queries.BookingRef,
    "query.execution_list": queries.ExecutionList,
    "query.execution_cancel": queries.ExecutionCancel,
    "query.upcoming": queries.Upcoming,
    "query.dead_letter_list": queries.DeadLetterList,
    "query.dead_letter_ref": queries.DeadLetterRef,
    "query.dead_letter_replay": queries.DeadLetterReplay,
}

#: What the `jetflow.ctl` endpoints and the peers answer.
REPLIES: dict[str, type[BaseModel]] = {
    "reply.error": replies.CtlError,
    "reply.health": replies.Health,
    "reply.booking_outcome": replies.BookingOutcome,
    "reply.cancel_outcome": replies.CancelOutcome,
    "reply.booking_record": replies.BookingRecordReply,
    "reply.booking_page": replies.BookingPage,
    "reply.execution": replies.ExecutionReply,
    "reply.execution_page": replies.ExecutionPage,
    "reply.execution_cancel": replies.ExecutionCancelReply,
    "reply.pause": replies.PauseReply,
    "reply.schedule_status": replies.ScheduleStatus,
    "reply.dispatch_status": replies.DispatchStatus,
    "reply.throttle_status": replies.ThrottleStatus,
    "reply.sweep": replies.SweepReply,
    "reply.resource_page": replies.ResourcePage,
    "reply.workflow_page": replies.WorkflowPage,
    "reply.credential_outcome": replies.CredentialOutcome,
    "reply.credential_lease": replies.CredentialLeaseReply,
    "reply.dead_letter_page": replies.DeadLetterPage,
    "reply.dead_letter": replies.DeadLetterReply,
    "reply.replay": replies.ReplayReply,
    "peer.reply": PeerReply,
}

#: Every exported schema by name (the file name in schemas/json/, without `.json`).
SCHEMAS: dict[str, type[BaseModel]] = {**MODELS, **QUERIES, **REPLIES}
_NAMES: dict[type[BaseModel], str] = {model: name for name, model in SCHEMAS.items()}


def schema_name(model: type[BaseModel]) -> str:
    """The exported name of `model` (`booking.request`, `query.get`, `reply.health`, ...)."""
    try:
        return _NAMES[model]
    except KeyError:
        raise ValueError(f"{model.__name__} is not an exported schema (schemas.registry)") from None


def schema_id(name: str) -> str:
    """The `$id` of the exported schema `name`: a URN, stable for the schema's version."""
    return f"urn:jetflow:schema:{name}"
