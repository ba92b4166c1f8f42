"""Which model a message is: by stable schema name, and by the subject it arrives on.

Schema names are the file names of the exported JSON Schemas and never change for a version; the
subject map is what lets one decoder validate any inbound message without knowing its handler.
"""

from schemas import subjects
from schemas.base import Message
from schemas.booking import BookingCancel, BookingCancelled, BookingConfirmed, BookingRejected, BookingRequest
from schemas.catalog import Resource, Workflow
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
    IssueCredential,
    PrepareNamespace,
    ReleaseClaims,
    ReleaseNamespace,
    StoreSecret,
)
from schemas.throttle import ThrottleCommand

MODELS: dict[str, type[Message]] = {
    "resource": Resource,
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
}

#: Inbound stream subjects with one fixed name; metric samples have one subject per node.
INBOUND: dict[str, type[Message]] = {
    subjects.BOOKING_REQUEST: BookingRequest,
    subjects.BOOKING_CANCEL: BookingCancel,
    subjects.RESOURCE_UPSERT: Resource,
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
    return None
