"""The credentials feature: requests, revocation when executions end, the peer endpoints, the expiry sweep.

Requests come from the stream, from `jetflow.ctl` and from dispatched executions (handlers/credentials.py
binds them here). The peer endpoints (core request/reply, one replica of this peer answers each) issue
keys for this peer's storages and store or delete sealed Secrets in this peer's cluster.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.bus.decode import claimed_id
from engine.catalog.store import Catalog
from engine.core.background import Background
from engine.core.emit import Emit
from engine.core.errors import PermanentError
from engine.core.lifecycle import Idle
from engine.credentials.issuing import Issuing
from engine.credentials.lease import CredentialLease
from engine.credentials.sealing import PeerKey
from engine.credentials.secret_store import SecretStore
from engine.credentials.service import Credentials, invalid
from engine.credentials.sweep import sweep_forever
from engine.peers import PeerClient, listen, serve, serve_from
from schemas import subjects
from schemas.peer import DeleteSecret, IssueCredential, StoreSecret

if TYPE_CHECKING:
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription

    from engine.bus.decode import Rejection
    from engine.credentials.settings import CredentialSettings
    from engine.ports import Ports
    from schemas.credentials import CredentialRequest
    from schemas.execution import ExecutionDispatched, ExecutionEvent
    from schemas.queries import Get

OUTCOMES = (subjects.CREDENTIAL_ISSUED, subjects.CREDENTIAL_FAILED)


class CredentialsFeature(Idle):
    def __init__(self, runtime: Ports, settings: CredentialSettings) -> None:
        self._runtime = runtime
        peer = runtime.settings.peer
        self._nc = runtime.publisher.connection
        catalog = Catalog()
        self._outcomes = runtime.telemetry.meter.create_counter(
            "jetflow.credentials", description="Credential requests answered, by outcome."
        )
        self.credentials = Credentials(
            settings, catalog, PeerClient(self._nc, peer.timeout), runtime.transitions, runtime.clock, peer=peer
        )
        self.key = PeerKey(peer)
        self._issuing = Issuing(settings, catalog, runtime.clock, peer=peer)
        self._secrets = SecretStore(peer.id, self.key, runtime.kube)
        kube, clock, every = runtime.kube, runtime.clock, settings.sweep
        self._sweeper = (
            Background("sweep", lambda: sweep_forever(peer.id, kube, clock, every)) if kube is not None else None
        )
        self._subscriptions: list[Subscription] = []

    async def start(self) -> None:
        for outcome in ("issued", "failed"):
            self._outcomes.add(0, {"outcome": outcome})  # both series exist from the start, for rates and alerts
        peer = self._runtime.settings.peer.id
        nc = self._nc
        self._subscriptions = [
            *await serve(nc, peer, "credential", "issue", IssueCredential, self._issuing.issue),
            *await serve_from(nc, peer, "secret", "store", StoreSecret, self._secrets.store),
            *await serve_from(nc, peer, "secret", "delete", DeleteSecret, self._secrets.delete),
            *await listen(nc, peer, "key", "get", self._public_key),
        ]
        if self._sweeper is not None:
            self._sweeper.start()

    async def stop(self) -> None:
        if self._sweeper is not None:
            await self._sweeper.stop()
        for subscription in self._subscriptions:
            await subscription.unsubscribe()
        self._subscriptions.clear()

    async def _public_key(self, msg: Msg) -> None:
        await msg.respond(self.key.public_key.encode())

    async def _publish(self, emits: list[Emit], causation: str | None) -> None:
        for emit in emits:
            published = await self._runtime.publisher.publish(emit.subject, emit.event, causation=causation)
            if emit.subject in OUTCOMES and not published.duplicate:
                self._outcomes.add(1, {"outcome": emit.subject.rsplit(".", 1)[-1]})

    async def request(self, request: CredentialRequest) -> None:
        """Issue scoped keys on the storage's peer and store them as a Secret on the compute's peer."""
        await self._publish(await self.credentials.request(request), request.id)

    async def invalid(self, body: bytes, rejection: Rejection) -> dict[str, Any] | None:
        """A request that fails its schema but names a usable id is answered like any other: `failed`."""
        if (request_id := claimed_id(body)) is None:
            return None
        # Idempotency guard: a bad copy of an answered request does not unsay its outcome.
        if (known := await self.answered(request_id)) is not None:
            return known
        event = invalid(request_id, claimed_id(body, "execution") or "", rejection.reason)
        # No causation header, as for bookings: the ctl path replies with it directly.
        await self._publish([Emit(subjects.CREDENTIAL_FAILED, event)], causation=None)
        return {"status": "failed", **event.model_dump(mode="json")}

    async def dispatched(self, event: ExecutionDispatched) -> None:
        """Request credentials for every storage resource of a dispatched execution."""
        for request in await self.credentials.requests_for(event):
            await self._runtime.publisher.publish(subjects.CREDENTIAL_REQUEST, request, causation=event.id)

    async def ended(self, event: ExecutionEvent) -> None:
        """Delete the credential Secrets of an execution that ended."""
        await self.credentials.revoke(event.execution)

    async def answered(self, request_id: str) -> dict[str, Any] | None:
        lease = await CredentialLease.get(request_id)
        if lease is None or not lease.outcome:
            return None
        return {"status": lease.outcome_subject.rsplit(".", 1)[-1], **lease.outcome}

    async def get(self, query: Get) -> dict[str, Any]:
        lease = await CredentialLease.get(query.id)
        if lease is None:
            raise PermanentError(f"unknown credential request '{query.id}'")
        data: dict[str, Any] = lease.model_dump(mode="json", exclude={"revision_id"})
        return data
