"""jetflow's message contract: frozen pydantic models for everything that crosses NATS.

No I/O and no imports from `engine` or `handlers`: other systems may depend on this package alone.
Subjects are in `schemas.subjects`, the name-to-model maps in `schemas.registry`.
"""

from schemas.base import Instant, Message
from schemas.booking import (
    BookingCancel,
    BookingCancelled,
    BookingConfirmed,
    BookingRejected,
    BookingRequest,
    Conflict,
)
from schemas.catalog import PublicResource, Resource, ResourceRemoval, Step, StepResources, Workflow
from schemas.credentials import Access, CredentialFailed, CredentialIssued, CredentialRequest, SecretRef
from schemas.deadletter import DeadLetter, DeadLetterCode
from schemas.execution import (
    ExecutionCancelled,
    ExecutionDispatched,
    ExecutionDue,
    ExecutionEvent,
    ExecutionFailed,
    ExecutionHeld,
    ExecutionMissed,
    ExecutionRunning,
    ExecutionState,
    ExecutionSucceeded,
    ExecutionTimedOut,
)
from schemas.metrics import MetricSample
from schemas.names import BucketName, KubeName
from schemas.throttle import ThrottleCommand, ThrottleLevel

__all__ = [
    "Access",
    "BookingCancel",
    "BookingCancelled",
    "BookingConfirmed",
    "BookingRejected",
    "BookingRequest",
    "BucketName",
    "Conflict",
    "CredentialFailed",
    "CredentialIssued",
    "CredentialRequest",
    "DeadLetter",
    "DeadLetterCode",
    "ExecutionCancelled",
    "ExecutionDispatched",
    "ExecutionDue",
    "ExecutionEvent",
    "ExecutionFailed",
    "ExecutionHeld",
    "ExecutionMissed",
    "ExecutionRunning",
    "ExecutionState",
    "ExecutionSucceeded",
    "ExecutionTimedOut",
    "Instant",
    "KubeName",
    "Message",
    "MetricSample",
    "PublicResource",
    "Resource",
    "ResourceRemoval",
    "SecretRef",
    "Step",
    "StepResources",
    "ThrottleCommand",
    "ThrottleLevel",
    "Workflow",
]
