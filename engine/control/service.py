"""The `jetflow` micro service and the two kinds of endpoint every feature adds to it.

* A query (`add_query`) decodes its request, calls a function, replies with JSON.
* A command (`add_command`) is the request/reply way into a stream subject: it validates the
  command, publishes it durably with its own id as `Nats-Msg-Id` (so it is processed exactly like a
  command published on the stream, by whichever replica), waits for the outcome event and replies
  with it. A repeated command (same id) is deduplicated by JetStream and answered from the store.

Bad requests get a JSON error reply naming the problem (also sent as the micro service error
headers, which `nats req` shows) and are counted as rejected (`jetflow_ctl_rejected_total{endpoint,
code}`). They are not dead-lettered: the requester has the answer, and there is nothing to replay (a
dead letter would fire the DLQ alert for an operator's typo).

Every endpoint is one of `schemas.contract.CTL`, with the request model listed there: the micro service
advertises its request and response schemas in the endpoint's metadata (`request_schema`,
`response_schema`, `error_schema`: the `$id`s of schemas/json/), and an endpoint the contract does not list,
or lists with another request model, is refused when it is added, so the AsyncAPI document and the
metadata cannot drift from what is served.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any

from nats.micro import add_service
from nats.micro.service import ServiceConfig
from opentelemetry import trace

from engine.bus.decode import Rejection, decode
from engine.core.errors import PermanentError
from engine.telemetry import context_of
from schemas.contract import ctl_endpoint
from schemas.registry import schema_id, schema_name
from schemas.replies import CtlError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine, Sequence

    from nats.aio.client import Client
    from nats.micro.request import Request
    from nats.micro.service import Service
    from pydantic import BaseModel

    from engine.bus.decode import OnInvalid
    from engine.bus.publisher import Publisher
    from engine.control.outcomes import Outcome, Outcomes
    from engine.core.errors import DeadLetterCode
    from engine.core.settings import TelemetrySettings
    from engine.telemetry import Instruments
    from schemas.base import Message

log = logging.getLogger(__name__)
type Endpoint = Callable[[Request], Coroutine[Any, Any, None]]
_tracer = trace.get_tracer(__name__)

#: Requests one replica answers at once; more wait for a slot (NATS buffers them meanwhile).
IN_FLIGHT = 256

type Query[M: BaseModel] = Callable[[M], Awaitable[dict[str, Any]]]
type Lookup = Callable[[str], Awaitable[Outcome | None]]
#: Refuses a command that cannot succeed, before it is published, by raising a `PermanentError`.
type Check[M: Message] = Callable[[M], Awaitable[None]]


class InvalidRequest(PermanentError):
    """A request that failed its schema, with the outcome event it was answered with, if any."""

    def __init__(self, reason: str, *, code: DeadLetterCode, outcome: dict[str, Any] | None) -> None:
        super().__init__(reason, code=code)
        self.outcome = outcome


def _json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, default=str, separators=(",", ":")).encode()


def endpoint_metadata(name: str, subject: str, model: type[BaseModel] | None) -> dict[str, str]:
    """The micro endpoint metadata of a contract endpoint; `ValueError` if the contract does not list it so."""
    listed = ctl_endpoint(subject)
    if listed is None or listed.name != name or listed.request is not model:
        raise ValueError(
            f"jetflow.ctl endpoint {name} on {subject} (request {getattr(model, '__name__', None)}) is not the one "
            "schemas/contract.py lists: add it there (the AsyncAPI document and the metadata are made from it)"
        )
    metadata = {"summary": listed.summary, "error_schema": schema_id(schema_name(CtlError))}
    if listed.request is not None:
        metadata["request_schema"] = schema_id(schema_name(listed.request))
    if listed.reply is not None:
        metadata["response_schema"] = schema_id(schema_name(listed.reply))
    return metadata


class ControlService:
    def __init__(
        self,
        nc: Client,
        settings: TelemetrySettings,
        publisher: Publisher,
        outcomes: Outcomes,
        instruments: Instruments,
        version: str,
        *,
        peer: str,
        max_payload: int,
    ) -> None:
        self._nc = nc
        self._settings = settings
        self._peer = peer
        self._max_payload = max_payload
        self._publisher = publisher
        self._outcomes = outcomes
        self._instruments = instruments
        self._version = version
        self._service: Service | None = None
        self._slots = asyncio.Semaphore(IN_FLIGHT)
        self._inflight: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._service = await add_service(
            self._nc,
            ServiceConfig(
                name="jetflow",
                version=self._version,
                description="jetflow workflow engine: queries and operator commands on jetflow.ctl.>",
                metadata={"peer": self._peer},
                queue_group="jetflow",
            ),
        )

    async def stop(self) -> None:
        if self._service is not None:
            await self._service.stop()
            self._service = None
        if self._inflight:  # requests already taken are answered, within their own timeouts
            await asyncio.wait(set(self._inflight))

    async def add_query[M: BaseModel](self, name: str, subject: str, model: type[M] | None, fn: Query[M]) -> None:
        """`fn` answers requests on `subject`; with `model` None the body is ignored (e.g. health)."""

        async def handle(request: Request) -> None:
            async def answer() -> dict[str, Any]:
                if model is None:
                    return await fn(None)  # type: ignore[arg-type]
                parsed = await self._parse(request, model, empty_is_defaults=True)
                return await fn(parsed)

            await self._respond(name, request, answer)

        await self._endpoint(name, subject, handle, model)

    async def add_command[M: Message](
        self,
        name: str,
        subject: str,
        model: type[M],
        *,
        target: str,
        outcomes: Sequence[str],
        lookup: Lookup,
        on_invalid: OnInvalid | None = None,
        check: Check[M] | None = None,
    ) -> None:
        """Requests on `subject` publish `model` durably on `target` and reply with its outcome.

        `outcomes` are the subjects the outcome events are published on; `lookup` finds the outcome
        of an already processed command in the store; `on_invalid` gives a command that fails its
        schema its own outcome event (the reply then carries it, with the error). `check` refuses a
        command that cannot succeed (its handler would only dead-letter it) with an error reply at once,
        instead of a wait for an outcome that never comes.
        """
        for outcome_subject in outcomes:
            await self._outcomes.watch(outcome_subject)

        async def handle(request: Request) -> None:
            async def answer() -> dict[str, Any]:
                command = await self._parse(request, model, on_invalid)
                # Waiting first: an outcome announced between the lookup and the publish is not missed.
                waiting = self._outcomes.expect(command.id)
                try:
                    # Idempotency guard: a command decided before (even beyond JetStream's duplicate
                    # window) is answered from the store; its handler would not announce it again.
                    if (known := await lookup(command.id)) is not None:
                        return known
                    if check is not None:
                        await check(command)
                    published = await self._publisher.publish(target, command)
                    if published.duplicate:
                        known = await lookup(command.id)
                        if known is not None:
                            return known
                    return await asyncio.wait_for(asyncio.shield(waiting), self._settings.ctl_timeout)
                except TimeoutError:
                    return {
                        "status": "accepted",
                        "id": command.id,
                        "detail": f"published on {target}; "
                        f"no outcome within {self._settings.ctl_timeout:g}s, "
                        f"watch {', '.join(outcomes)}",
                    }
                finally:
                    self._outcomes.forget(command.id, waiting)

            await self._respond(name, request, answer)

        await self._endpoint(name, subject, handle, model)

    async def _endpoint(self, name: str, subject: str, handler: Endpoint, model: type[BaseModel] | None) -> None:
        if self._service is None:
            raise RuntimeError("control service not started")
        metadata = endpoint_metadata(name, subject, model)

        async def concurrently(request: Request) -> None:
            # nats-py calls an endpoint's handler for one request at a time: a command waiting for its
            # outcome would hold up every request behind it. Each gets its own task, up to a bound.
            await self._slots.acquire()
            task = asyncio.create_task(self._traced(name, handler, request), name=f"ctl-{name}")
            self._inflight.add(task)
            task.add_done_callback(self._done)

        await self._service.add_endpoint(name=name, subject=subject, handler=concurrently, metadata=metadata)

    async def _traced(
        self, name: str, handler: Callable[[Request], Coroutine[Any, Any, None]], request: Request
    ) -> None:
        """Answer `request` in a span of the caller's trace (its `traceparent` header), or of a new one."""
        with _tracer.start_as_current_span(
            f"jetflow.ctl {name}",
            context=context_of(request.headers),
            kind=trace.SpanKind.SERVER,
            attributes={"messaging.system": "nats", "messaging.destination.name": request.subject},
        ):
            await handler(request)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._slots.release()

    async def _parse[M: BaseModel](
        self, request: Request, model: type[M], on_invalid: OnInvalid | None = None, *, empty_is_defaults: bool = False
    ) -> M:
        # `nats req jetflow.ctl.schedule.upcoming ''`: a query without a body asks with its defaults.
        body = b"{}" if empty_is_defaults and not request.data.strip() else request.data
        decoded = decode(model, body, request.headers, max_payload=self._max_payload)
        if isinstance(decoded, Rejection):
            outcome = await on_invalid(request.data, decoded) if on_invalid is not None else None
            raise InvalidRequest(decoded.reason, code=decoded.code, outcome=outcome)
        return decoded

    async def _respond(self, name: str, request: Request, answer: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        try:
            body = await answer()
        except PermanentError as error:
            self._instruments.ctl_requests.add(1, {"endpoint": name, "outcome": "rejected"})
            self._instruments.ctl_rejected.add(1, {"endpoint": name, "code": error.code})
            outcome = error.outcome if isinstance(error, InvalidRequest) and error.outcome else {"status": "error"}
            payload = {**outcome, "error": {"code": error.code, "reason": error.reason}}
            await request.respond_error("400", error.reason, data=_json(payload))
            return
        except Exception as error:
            log.exception("jetflow.ctl %s failed", name)
            self._instruments.ctl_requests.add(1, {"endpoint": name, "outcome": "error"})
            payload = {
                "status": "error",
                "error": {"code": "unavailable", "reason": f"{type(error).__name__}: {error}"},
            }
            await request.respond_error("503", str(error) or type(error).__name__, data=_json(payload))
            return
        self._instruments.ctl_requests.add(1, {"endpoint": name, "outcome": "ok"})
        await request.respond(_json(body))
