"""Storage credentials: `jetflow.credential.request`, dispatched and ended executions, `jetflow.ctl.credential.*`
→ engine/credentials/feature.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.credentials.feature import OUTCOMES
from schemas import subjects
from schemas.credentials import CredentialRequest
from schemas.execution import ENDED, ExecutionDispatched
from schemas.queries import Get

if TYPE_CHECKING:
    from engine.bus.consumer import Delivery
    from engine.runtime import Runtime
    from schemas.execution import ExecutionEvent


async def install(runtime: Runtime) -> None:
    credentials = runtime.features.credentials
    durable = runtime.consumers.durable

    @durable(
        runtime.router,
        name="credential-request",
        subject=subjects.CREDENTIAL_REQUEST,
        model=CredentialRequest,
        on_invalid=credentials.invalid,
    )
    async def on_request(request: CredentialRequest, _: Delivery) -> None:
        """Issue scoped keys on the storage's peer and store them as a Secret on the compute's peer."""
        await credentials.request(request)

    @durable(
        runtime.router, name="credential-dispatched", subject=subjects.EXECUTION_DISPATCHED, model=ExecutionDispatched
    )
    async def on_dispatched(event: ExecutionDispatched, _: Delivery) -> None:
        """Request credentials for every storage resource of a dispatched execution."""
        await credentials.dispatched(event)

    async def on_ended(event: ExecutionEvent, _: Delivery) -> None:
        """Delete the credential Secrets of an execution that ended."""
        await credentials.ended(event)

    # The keys are revoked after each of the end events.
    for subject, model in ENDED.items():
        ending = subject.rsplit(".", 1)[-1].replace("_", "-")
        durable(runtime.router, name=f"credential-revoke-{ending}", subject=subject, model=model)(on_ended)

    control = runtime.control
    await control.add_command(
        "credential-request",
        subjects.ctl("credential", "request"),
        CredentialRequest,
        target=subjects.CREDENTIAL_REQUEST,
        outcomes=OUTCOMES,
        lookup=credentials.answered,
        on_invalid=credentials.invalid,
    )
    await control.add_query("credential-get", subjects.ctl("credential", "get"), Get, credentials.get)
