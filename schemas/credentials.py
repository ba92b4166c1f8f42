"""Storage credentials for an execution: the request and its outcome.

SECRET VALUES NEVER APPEAR IN THESE EVENTS. The engine writes the scoped, expiring keys into a
Kubernetes Secret in the execution's namespace, and `CredentialIssued` carries only a reference to
that Secret. The credential stream is replayable and readable by operators; a key in it would leak.
"""

from typing import Literal

from pydantic import Field

from schemas.base import Instant, Message, Part
from schemas.names import BucketName, KubeName

Access = Literal["read", "write", "read-write"]


class CredentialRequest(Message):
    """Ask for keys that let `compute` reach `bucket/prefix` on `storage` during an execution."""

    execution: str = Field(description="The execution the keys are for; they end with it.")
    storage: KubeName = Field(description="The storage resource (from the catalog).")
    bucket: BucketName = Field(description="The bucket to reach.")
    prefix: str = Field(default="", description="Object key prefix the keys are limited to; the whole bucket if ''.")
    access: Access = Field(description="What the keys may do.")
    compute: KubeName = Field(description="The compute resource the execution runs on.")
    expires_at: Instant | None = Field(default=None, description="When the keys expire; the execution's end if None.")


class SecretRef(Part):
    """Where the keys are: a Kubernetes Secret. A reference, never the values."""

    namespace: KubeName = Field(description="Namespace of the Secret (the execution's).")
    name: KubeName = Field(description="Name of the Secret.")


class CredentialIssued(Message):
    """The keys exist and are in a Secret. This event names the Secret; it never holds the keys."""

    request: str = Field(description="Id of the answered `CredentialRequest`.")
    execution: str = Field(description="The execution the keys are for.")
    storage: KubeName = Field(description="The storage resource.")
    secret: SecretRef = Field(description="The Secret that holds the keys.")
    expires_at: Instant = Field(description="When the keys stop working.")


class CredentialFailed(Message):
    """No keys were issued."""

    request: str = Field(description="Id of the answered `CredentialRequest`.")
    execution: str = Field(description="The execution the keys were for.")
    code: str = Field(description="Why, for programs.")
    reason: str = Field(description="Why, for humans: a sentence naming the problem.")
