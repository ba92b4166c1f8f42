"""What peers ask each other on `jetflow.peer.<peer id>.>`: core request/reply, never stored in a stream.

These messages may carry secrets, so secrets are only ever in `sealed` fields: a PyNaCl SealedBox
(X25519) of a JSON document, sealed to the public key of the peer that must open it, as published
in the catalog (`Resource.public_key` of that peer's resources). Whoever relays a sealed field, the
requesting peer included, cannot read it. Every request carries the credential request's id, so a
retried request addresses the same effect.
"""

from datetime import timedelta
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from schemas.base import Instant, Message, Part
from schemas.booking import MAX_RESOURCES, Conflict, in_order
from schemas.credentials import CredentialRequest
from schemas.names import KubeName

#: A peer id, as `JETFLOW_PEER_ID` allows it: a subject token (no '.', wildcard or space).
PeerId = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^.*>\s]+$")]


class IssueCredential(Message):
    """To the storage's owner (`jetflow.peer.<B>.credential.issue`): issue keys for this request.

    `id` is the credential request's id. The keys are sealed to the owner of `request.compute`,
    whose public key the storage's owner reads from its own catalog, not from this message.
    """

    request: CredentialRequest = Field(description="The credential request being answered.")
    expires_at: Instant = Field(description="When the keys must stop working (execution window end + margin).")


class StoreSecret(Message):
    """To the compute's owner (`jetflow.peer.<C>.secret.store`): put the sealed keys into a Secret.

    `id` is the credential request's id. Storing is create-only: an existing Secret is kept.
    """

    execution: str = Field(description="The execution the keys are for.")
    storage: KubeName = Field(description="The storage resource.")
    namespace: KubeName = Field(description="Namespace of the Secret (the execution's).")
    name: KubeName = Field(description="Name of the Secret.")
    sealed: str = Field(description="Base64 SealedBox of the keys, sealed to the compute owner's public key.")
    expires_at: Instant = Field(description="When the keys stop working.")


class DeleteSecret(Message):
    """To the compute's owner (`jetflow.peer.<C>.secret.delete`): the keys are no longer needed."""

    execution: str = Field(description="The execution the Secret belongs to.")
    namespace: KubeName = Field(description="Namespace of the Secret.")
    name: KubeName = Field(description="Name of the Secret.")


class PrepareNamespace(Message):
    """To the owner of a remote compute resource (`jetflow.peer.<C>.namespace.prepare`): make the namespace.

    Admiralty puts the delegate pods of a federated workflow's remote steps in a namespace of the same
    name on C's cluster, running as the workflow's ServiceAccount; it creates neither. C creates the
    namespace, that ServiceAccount, and the executor's Role and RoleBinding; a replay creates nothing.
    `id` is `<execution>:namespace`.
    """

    execution: str = Field(description="The execution whose remote steps C runs.")
    booking: str = Field(description="The execution's booking.")
    namespace: KubeName = Field(description="The execution namespace (the same name on every cluster).")
    requester: KubeName = Field(description="The peer that dispatches the workflow.")


class ReleaseNamespace(Message):
    """To that owner (`jetflow.peer.<C>.namespace.release`): the execution ended; delete its namespace.

    `id` is `<execution>:namespace-release`. Deleting takes the delegate pods and any credential Secrets
    with it; an absent namespace is already released.
    """

    execution: str = Field(description="The execution that ended.")
    namespace: KubeName = Field(description="The execution namespace.")
    requester: KubeName = Field(description="The peer that dispatched the workflow.")


class ClaimResources(Message):
    """To the owner of resources (`jetflow.peer.<X>.booking.claim`): claim them for every window of a booking.

    The windows travel as the booking's schedule (start, end, cron, duration), never expanded, so a claim
    for a cron booking of 100,000 executions is as small as one for a one-shot booking. The owner expands
    it itself (within its own limit per booking) and decides with its own calendars, all of `resources` or
    none. `id` is `<booking>:claim:<owner>`. A claim asked again by the same requester for the same booking
    is answered as the first time; one that arrives after that booking's release is refused.
    """

    booking: KubeName = Field(description="The booking on the requesting peer.")
    requester: PeerId = Field(description="The peer asking: the booking's peer, which runs its executions.")
    resources: list[KubeName] = Field(
        min_length=1, max_length=MAX_RESOURCES, description="The owner's resources the booking names."
    )
    start: Instant = Field(description="Start of the booked window.")
    end: Instant = Field(description="End of the booked window; after `start`.")
    cron: str | None = Field(default=None, description="The booking's cron (as in booking.request).")
    duration: timedelta | None = Field(default=None, description="The booking's duration (as in booking.request).")
    count: int = Field(
        ge=1, description="Windows the requester expanded the schedule to: an owner that counts otherwise refuses."
    )

    @model_validator(mode="after")
    def _window_order(self) -> Self:
        in_order(self.start, self.end)
        return self


class ReleaseClaims(Message):
    """To that owner (`jetflow.peer.<X>.booking.release`): the booking was cancelled, or not confirmed.

    The owner drops the booking's claims on `resources` and remembers the release, so a claim of that
    booking arriving later takes nothing. Releasing what was never claimed is fine. `id` is
    `<booking>:release:<owner>`.
    """

    booking: KubeName = Field(description="The booking on the requesting peer.")
    requester: PeerId = Field(description="The peer that asked for the claims.")
    resources: list[KubeName] = Field(
        min_length=1, max_length=MAX_RESOURCES, description="The owner's resources the booking names."
    )
    end: Instant = Field(description="End of the booking's window: the owner forgets the release some time after.")


class FreeWindow(Message):
    """To that owner (`jetflow.peer.<X>.booking.free`): one window of a booking ended early.

    The execution of the window starting at `start` ended (succeeded, failed, timed out, cancelled alone)
    before the window closed, so the owner gives that window back on `resources` and it can be booked
    again there; the booking's other windows stay claimed. Freeing a window of a booking the owner does
    not hold (never claimed, refused, released) changes nothing, and freeing it again neither. `id` is
    `<execution>:free:<owner>`.
    """

    booking: KubeName = Field(description="The booking on the requesting peer.")
    requester: PeerId = Field(description="The peer that asked for the claims.")
    resources: list[KubeName] = Field(
        min_length=1, max_length=MAX_RESOURCES, description="The owner's resources the booking names."
    )
    start: Instant = Field(description="Start of the window to free: the ended execution's planned time.")
    end: Instant = Field(description="End of that window: after it there is nothing left to free.")

    @model_validator(mode="after")
    def _window_order(self) -> Self:
        in_order(self.start, self.end)
        return self


class PeerReply(Part):
    """Every peer answer: `ok` with what was asked for, or `error` with a code and a reason."""

    status: Literal["ok", "error"] = Field(description="Whether the request was served.")
    code: str = Field(default="", description="Why not, for programs (with status 'error').")
    reason: str = Field(default="", description="Why not, for humans (with status 'error').")
    sealed: str | None = Field(default=None, description="Base64 SealedBox of the keys (credential.issue).")
    recipient: str | None = Field(default=None, description="Peer whose public key `sealed` is sealed to.")
    expires_at: Instant | None = Field(default=None, description="When the issued keys stop working.")
    created: bool | None = Field(default=None, description="secret.store: False when the Secret already existed.")
    conflicts: list[Conflict] | None = Field(
        default=None, description="booking.claim refused with code 'conflict': the clashing windows."
    )
