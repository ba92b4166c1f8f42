"""Storage credentials: requests (from the stream, `jetflow.ctl` or dispatched executions), the peer
endpoints that issue and store sealed keys, revocation when executions end, and the expiry sweep."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from engine.catalog.store import Catalog
from engine.core.errors import PermanentError
from engine.credentials.delivery import Delivery
from engine.credentials.issuing import Issuing
from engine.credentials.keys import PeerKey
from engine.credentials.lease import CredentialLease
from engine.credentials.service import Credentials
from engine.credentials.sweep import sweep_forever
from engine.executions.store import Transitions
from engine.peers import PeerClient, queue, serve
from schemas import subjects
from schemas.credentials import CredentialRequest
from schemas.execution import (
    ExecutionCancelled,
    ExecutionDispatched,
    ExecutionEvent,
    ExecutionFailed,
    ExecutionSucceeded,
    ExecutionTimedOut,
)
from schemas.peer import DeleteSecret, IssueCredential, StoreSecret
from schemas.queries import Get

if TYPE_CHECKING:
    from nats.aio.msg import Msg

    from engine.bus.consumer import Delivery as Arrival
    from engine.core.emit import Emit
    from engine.runtime import Runtime

DOCUMENTS = (CredentialLease,)
OUTCOMES = (subjects.CREDENTIAL_ISSUED, subjects.CREDENTIAL_FAILED)
#: The end events after which an execution's keys are revoked, with their models.
ENDED: dict[str, type[ExecutionEvent]] = {
    subjects.EXECUTION_SUCCEEDED: ExecutionSucceeded,
    subjects.EXECUTION_FAILED: ExecutionFailed,
    subjects.EXECUTION_TIMED_OUT: ExecutionTimedOut,
    subjects.EXECUTION_CANCELLED: ExecutionCancelled,
}


async def install(runtime: Runtime) -> None:
    settings, meter = runtime.settings, runtime.telemetry.meter
    nc = runtime.publisher.connection
    catalog = Catalog()
    outcomes = meter.create_counter("jetflow.credentials", description="Credential requests answered, by outcome.")
    for outcome in ("issued", "failed"):
        outcomes.add(0, {"outcome": outcome})  # both series exist from the start, for rates and alerts
    credentials = Credentials(
        settings,
        catalog,
        PeerClient(nc, settings.peer.timeout),
        Transitions(meter.create_counter("jetflow.executions.illegal_transitions")),
        runtime.clock,
    )
    kube = runtime.kube
    key = PeerKey(settings)
    issuing, delivery = Issuing(settings, catalog, runtime.clock), Delivery(settings.peer.id, key, kube)

    async def publish(emits: list[Emit], causation: str) -> None:
        for emit in emits:
            published = await runtime.publisher.publish(emit.subject, emit.event, causation=causation)
            if emit.subject in OUTCOMES and not published.duplicate:
                outcomes.add(1, {"outcome": emit.subject.rsplit(".", 1)[-1]})

    durable = runtime.consumers.durable

    @durable(runtime.router, name="credential-request", subject=subjects.CREDENTIAL_REQUEST, model=CredentialRequest)
    async def on_request(request: CredentialRequest, _: Arrival) -> None:
        """Issue scoped keys on the storage's peer and store them as a Secret on the compute's peer."""
        await publish(await credentials.request(request), request.id)

    @durable(
        runtime.router, name="credential-dispatched", subject=subjects.EXECUTION_DISPATCHED, model=ExecutionDispatched
    )
    async def on_dispatched(event: ExecutionDispatched, _: Arrival) -> None:
        """Request credentials for every storage resource of a dispatched execution."""
        for request in await credentials.requests_for(event):
            await runtime.publisher.publish(subjects.CREDENTIAL_REQUEST, request, causation=event.id)

    async def on_ended(event: ExecutionEvent, _: Arrival) -> None:
        """Delete the credential Secrets of an execution that ended."""
        await credentials.revoke(event.execution)

    for subject, model in ENDED.items():
        ending = subject.rsplit(".", 1)[-1].replace("_", "-")
        durable(runtime.router, name=f"credential-revoke-{ending}", subject=subject, model=model)(on_ended)

    # Peer endpoints: one replica of this peer answers each request (queue group per peer).
    peer = settings.peer.id
    group = queue(peer)

    async def public_key(msg: Msg) -> None:
        await msg.respond(key.public_key.encode())

    subscriptions = [
        await serve(nc, subjects.peer(peer, "credential", "issue"), group, IssueCredential, issuing.issue),
        await serve(nc, subjects.peer(peer, "secret", "store"), group, StoreSecret, delivery.store),
        await serve(nc, subjects.peer(peer, "secret", "delete"), group, DeleteSecret, delivery.delete),
        await nc.subscribe(subjects.peer(peer, "key", "get"), queue=group, cb=public_key),
    ]
    sweeper = (
        asyncio.create_task(sweep_forever(peer, kube, runtime.clock, settings.credentials.sweep), name="sweep")
        if kube is not None
        else None
    )

    async def stop() -> None:
        if sweeper is not None:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
        for subscription in subscriptions:
            await subscription.unsubscribe()

    runtime.stopping.append(stop)

    async def answered(request_id: str) -> dict[str, Any] | None:
        lease = await CredentialLease.get(request_id)
        if lease is None or not lease.outcome:
            return None
        return {"status": lease.outcome_subject.rsplit(".", 1)[-1], **lease.outcome}

    async def get_lease(query: Get) -> dict[str, Any]:
        lease = await CredentialLease.get(query.id)
        if lease is None:
            raise PermanentError(f"unknown credential request '{query.id}'")
        data: dict[str, Any] = lease.model_dump(mode="json", exclude={"revision_id"})
        return data

    control = runtime.control
    await control.add_command(
        "credential-request",
        subjects.ctl("credential", "request"),
        CredentialRequest,
        target=subjects.CREDENTIAL_REQUEST,
        outcomes=OUTCOMES,
        lookup=answered,
    )
    await control.add_query("credential-get", subjects.ctl("credential", "get"), Get, get_lease)
