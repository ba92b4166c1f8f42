"""The requesting side: answer a credential request by asking the storage's peer for sealed keys and
handing them to the compute's peer, and revoke them when the execution ends.

Any replica of any peer may consume a request (they share the durable consumer), and the outcome is
the same whichever does: it reads the shared catalog and routes through `jetflow.peer.<id>.>` even to
itself. It sees only sealed keys. Each request id has one `CredentialLease`: a replay of an answered
request re-publishes the stored outcome (same event id, deduplicated by JetStream) and issues nothing.
A failure publishes `jetflow.credential.failed`, deletes whatever may have been stored, and fails the
execution, whose workflow cannot reach its storage without the keys.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from engine.core.emit import Emit
from engine.core.errors import TemporaryError
from engine.core.store import create_once
from engine.credentials import lease as leases
from engine.credentials.lease import LIVE, CredentialLease
from engine.credentials.sts import IssueError
from engine.executions import planned
from engine.executions.advance import advance
from engine.executions.states import FINAL
from engine.kube import names
from engine.peers import PeerUnavailable
from schemas import subjects
from schemas.credentials import CredentialFailed, CredentialIssued, CredentialRequest, SecretRef
from schemas.execution import ExecutionFailed, ExecutionState
from schemas.peer import DeleteSecret, IssueCredential, StoreSecret

if TYPE_CHECKING:
    from datetime import datetime

    from engine.catalog.store import Catalog
    from engine.core.clock import Clock
    from engine.core.settings import PeerSettings
    from engine.credentials.settings import CredentialSettings
    from engine.executions.store import ExecutionRecord, Transitions
    from engine.peers import PeerClient
    from schemas.catalog import Resource
    from schemas.credentials import Access
    from schemas.execution import ExecutionDispatched

log = logging.getLogger(__name__)

#: Storage resource labels that shape the requests jetflow makes for a dispatched execution.
BUCKET_LABEL = "bucket"
PREFIX_LABEL = "prefix"
ACCESS_LABEL = "access"


class Refused(IssueError):
    """The request cannot be served (catalog, execution, peer or STS says no); `code` names why."""


@dataclass(frozen=True, slots=True)
class Route:
    """Where one request's keys go: issued by `storage_peer`, stored by `compute_peer` as Secret
    `namespace`/`name`, expiring at `expires_at`."""

    storage_peer: str
    compute_peer: str
    namespace: str
    name: str
    expires_at: datetime
    execution: ExecutionRecord | None


class Credentials:
    def __init__(
        self,
        settings: CredentialSettings,
        catalog: Catalog,
        peers: PeerClient,
        transitions: Transitions,
        clock: Clock,
        *,
        peer: PeerSettings,
    ) -> None:
        self._settings = settings
        self._peer = peer
        self._catalog = catalog
        self._peers = peers
        self._transitions = transitions
        self._clock = clock

    def owner(self, resource: Resource) -> str:
        """The peer that owns `resource`; 'local' means the peer handling it."""
        return resource.owner(self._peer.id)

    async def request(self, request: CredentialRequest) -> list[Emit]:
        # Idempotency guard: an answered request gets its stored outcome again, nothing is reissued.
        known = await CredentialLease.get(request.id)
        if known is not None and known.state != "pending":
            return _stored(known)
        if known is not None:
            self._not_in_progress(known)
        try:
            route = await self._route(request)
        except Refused as refusal:
            return await self._fail(request, refusal, None, execution=await planned.stored(request.execution))
        lease, created = await create_once(
            CredentialLease(
                id=request.id,
                execution=request.execution,
                storage=request.storage,
                compute=request.compute,
                storage_peer=route.storage_peer,
                compute_peer=route.compute_peer,
                namespace=route.namespace,
                name=route.name,
                expires_at=route.expires_at,
                updated_at=self._clock.now(),
            )
        )
        if lease.state != "pending":  # another replica answered it meanwhile
            return _stored(lease)
        if not created:
            self._not_in_progress(lease)
        try:
            expires_at = await self._deliver(request, route)
        except Refused as refusal:
            return await self._fail(request, refusal, route, execution=route.execution)
        issued = CredentialIssued(
            id=f"{request.id}:issued",
            request=request.id,
            execution=request.execution,
            storage=request.storage,
            secret=SecretRef(namespace=route.namespace, name=route.name),
            expires_at=expires_at,
        )
        moved = await leases.move(
            request.id,
            ("pending",),
            "issued",
            expires_at=expires_at,
            outcome_subject=subjects.CREDENTIAL_ISSUED,
            outcome=issued.model_dump(mode="json"),
            updated_at=self._clock.now(),
        )
        if not moved:
            stored = await CredentialLease.get(request.id)
            if stored is not None and stored.state in ("revoked", "expired"):
                # The execution ended while we issued: take the Secret back.
                await self._delete(route.compute_peer, request.execution, route.namespace, route.name, strict=False)
            # Otherwise a concurrent attempt answered first: its outcome stands (same Secret, 409).
            return _stored(stored) if stored is not None else []
        return [Emit(subjects.CREDENTIAL_ISSUED, issued)]

    def _not_in_progress(self, lease: CredentialLease) -> None:
        """A duplicate of a request another replica is answering right now waits for its outcome.

        An attempt lasts at most two peer requests; a pending lease older than that is a crashed
        attempt, which this one takes over (the Secret it may have stored is kept: 409).
        """
        attempt = timedelta(seconds=2 * self._peer.timeout + 1)
        if self._clock.now() - lease.updated_at < attempt:
            raise TemporaryError(f"credential request {lease.id} is being answered by another attempt")

    async def _route(self, request: CredentialRequest) -> Route:
        found = await self._catalog.resources([request.storage, request.compute])
        storage, compute = found.get(request.storage), found.get(request.compute)
        if storage is None or storage.kind != "storage":
            raise Refused("unknown_storage", f"'{request.storage}' is not a storage resource in the catalog")
        if compute is None or compute.kind != "compute":
            raise Refused("unknown_compute", f"'{request.compute}' is not a compute resource in the catalog")
        execution = await planned.stored(request.execution)
        if execution is not None and execution.state in FINAL:
            raise Refused("execution_ended", f"execution '{request.execution}' already ended ({execution.state})")
        if request.expires_at is not None:
            expires_at = request.expires_at
        elif execution is not None:
            expires_at = execution.window_end + timedelta(seconds=self._settings.margin)
        else:
            raise Refused(
                "unknown_execution", f"execution '{request.execution}' is unknown and the request has no expires_at"
            )
        if expires_at <= self._clock.now():
            raise Refused("expired", f"the keys would expire at {expires_at.isoformat()}, already past")
        return Route(
            storage_peer=self.owner(storage),
            compute_peer=self.owner(compute),
            namespace=names.namespace(request.execution),
            name=names.storage_secret(request.storage),
            expires_at=expires_at,
            execution=execution,
        )

    async def _deliver(self, request: CredentialRequest, route: Route) -> datetime:
        """Keys from the storage's peer into a Secret on the compute's peer; their expiry."""
        issue = subjects.peer(route.storage_peer, "credential", "issue")
        try:
            issued = await self._peers.ask(
                issue, IssueCredential(id=request.id, request=request, expires_at=route.expires_at)
            )
        except PeerUnavailable as error:
            raise Refused("peer_timeout", f"storage peer {route.storage_peer}: {error}") from None
        if issued.status != "ok" or issued.sealed is None or issued.expires_at is None:
            raise Refused(issued.code or "refused", issued.reason or f"peer {route.storage_peer} issued no keys")
        if issued.recipient != route.compute_peer:
            raise Refused(
                "wrong_recipient",
                f"peer {route.storage_peer} sealed the keys to {issued.recipient}, not to {route.compute_peer}",
            )
        store = StoreSecret(
            id=request.id,
            execution=request.execution,
            storage=request.storage,
            namespace=route.namespace,
            name=route.name,
            sealed=issued.sealed,
            expires_at=issued.expires_at,
        )
        try:
            stored = await self._peers.ask(subjects.peer(route.compute_peer, "secret", "store"), store)
        except PeerUnavailable as error:
            raise Refused("peer_timeout", f"compute peer {route.compute_peer}: {error}") from None
        if stored.status != "ok":
            raise Refused(stored.code or "refused", stored.reason or f"peer {route.compute_peer} stored no Secret")
        return issued.expires_at

    async def _fail(
        self, request: CredentialRequest, refusal: Refused, route: Route | None, *, execution: ExecutionRecord | None
    ) -> list[Emit]:
        log.warning("credential request %s failed (%s): %s", request.id, refusal.code, refusal.reason)
        failed = CredentialFailed(
            id=f"{request.id}:failed",
            request=request.id,
            execution=request.execution,
            code=refusal.code,
            reason=refusal.reason,
        )
        now = self._clock.now()
        fields = {
            "code": refusal.code,
            "reason": refusal.reason,
            "updated_at": now,
            "outcome_subject": subjects.CREDENTIAL_FAILED,
            "outcome": failed.model_dump(mode="json"),
        }
        recorded = False
        if route is None:
            result = await CredentialLease.get_pymongo_collection().update_one(
                {"_id": request.id},
                {
                    "$setOnInsert": {
                        "execution": request.execution,
                        "storage": request.storage,
                        "compute": request.compute,
                        "storage_peer": "",
                        "compute_peer": "",
                        "namespace": names.namespace(request.execution),
                        "name": names.storage_secret(request.storage),
                        "state": "failed",
                        **fields,
                    }
                },
                upsert=True,
            )
            recorded = result.upserted_id is not None
        # Compare-and-set: a concurrent attempt at the same request (a replay on another replica) that
        # succeeded keeps its outcome and its Secret; only the attempt that moves the lease cleans up.
        recorded = recorded or await leases.move(request.id, ("pending",), "failed", **fields)
        stored = await CredentialLease.get(request.id)
        if not recorded:
            return _stored(stored) if stored is not None else []
        if stored is not None and stored.compute_peer:
            # Nothing half-created: a store that timed out may still have created the Secret.
            await self._delete(stored.compute_peer, request.execution, stored.namespace, stored.name, strict=False)
        emits = [Emit(subjects.CREDENTIAL_FAILED, failed)]
        reason = f"storage credentials for '{request.storage}' failed: {refusal.reason}"
        if (
            execution is not None
            and (await advance(self._transitions, execution.id, ExecutionState.FAILED, at=now, reason=reason)).moved
        ):
            emits.append(
                Emit(
                    subjects.EXECUTION_FAILED,
                    ExecutionFailed(
                        id=f"{execution.id}:failed",
                        execution=execution.id,
                        booking=execution.booking,
                        at=now,
                        reason=reason,
                    ),
                )
            )
        return emits

    async def requests_for(self, event: ExecutionDispatched) -> list[CredentialRequest]:
        """One request per storage resource of a dispatched execution, for its first compute resource."""
        execution = await planned.stored(event.execution)
        if execution is None:
            raise TemporaryError(f"execution '{event.execution}' is not in the store (yet)")
        found = await self._catalog.resources(execution.resources)
        resources = [found[r] for r in execution.resources if r in found]
        computes = [r for r in resources if r.kind == "compute"]
        storages = [r for r in resources if r.kind == "storage"]
        if not storages:
            return []
        if not computes:
            log.warning("execution %s uses storage but no compute resource: no credentials", event.execution)
            return []
        return [
            CredentialRequest(
                id=f"{event.execution}:credential:{storage.id}",
                execution=event.execution,
                storage=storage.id,
                bucket=storage.labels.get(BUCKET_LABEL, storage.id),
                prefix=storage.labels.get(PREFIX_LABEL, ""),
                access=_access(storage.labels.get(ACCESS_LABEL, "read-write")),
                compute=computes[0].id,
            )
            for storage in storages
        ]

    async def revoke(self, execution: str) -> int:
        """Delete every Secret of an ended execution; raises TemporaryError when a peer does not answer."""
        live = await CredentialLease.find({"execution": execution, "state": {"$in": list(LIVE)}}).to_list()
        for lease in live:
            await self._delete(lease.compute_peer, execution, lease.namespace, lease.name, strict=True)
            await leases.move(lease.id, LIVE, "revoked", updated_at=self._clock.now())
        return len(live)

    async def _delete(self, peer: str, execution: str, namespace: str, name: str, *, strict: bool) -> None:
        message = DeleteSecret(id=f"{namespace}.{name}:delete", execution=execution, namespace=namespace, name=name)
        try:
            reply = await self._peers.ask(subjects.peer(peer, "secret", "delete"), message)
        except PeerUnavailable as error:
            if strict:
                raise TemporaryError(f"cannot delete Secret {namespace}/{name}: {error}") from None
            log.warning("could not delete Secret %s/%s on %s: %s", namespace, name, peer, error)
            return
        if reply.status != "ok" and strict:
            raise TemporaryError(f"peer {peer} did not delete Secret {namespace}/{name}: {reply.reason}")


def _access(value: str) -> Access:
    """The access a storage label asks for; anything unrecognised means read-write."""
    return "read" if value == "read" else "write" if value == "write" else "read-write"


def invalid(request: str, execution: str, reason: str) -> CredentialFailed:
    """The outcome of a request that fails its schema: nothing issued, nothing stored.

    Its own event id (`:invalid`), so it never takes the place of the outcome of a valid request with the
    same id in JetStream's duplicate window.
    """
    return CredentialFailed(
        id=f"{request}:invalid", request=request, execution=execution, code="invalid", reason=reason
    )


def _stored(lease: CredentialLease) -> list[Emit]:
    """The outcome published for an answered request; none for one revoked before it was answered."""
    if not lease.outcome:
        return []
    model = CredentialIssued if lease.outcome_subject == subjects.CREDENTIAL_ISSUED else CredentialFailed
    return [Emit(lease.outcome_subject, model.model_validate(lease.outcome))]
