"""Durable pull consumers that turn handler outcomes into ack, delayed redelivery or a dead letter.

Every inbound stream subject gets one durable pull consumer shared by all replicas (a push consumer
with a durable name cannot be shared). Acknowledgement is explicit and decided here, once, for every
handler:

* the body does not decode into its schema → dead letter with the precise reason, ack;
* the handler raises `PermanentError` → dead letter, ack;
* it fails deterministically (the store refuses the command for good, `engine.core.store.refused`, or a
  RecursionError) → dead letter and the command's outcome at once, ack: retrying would fail alike;
* it raises `TemporaryError` or anything unexpected → redeliver after the configured backoff (or the
  error's own `delay`), until
  `max_deliver` deliveries, then dead letter and ack;
* it returns → ack.

So a message is never lost (it is either handled or dead-lettered) and the loop never crashes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from faststream import AckPolicy
from faststream.nats import ConsumerConfig, JStream, NatsMessage, PullSub
from nats.js.api import AckPolicy as NatsAckPolicy
from nats.js.api import DeliverPolicy

from engine.bus.deadletter import Origin
from engine.bus.decode import Rejection, decode
from engine.core.errors import PermanentError, TemporaryError
from engine.core.store import refused
from engine.streams import stream_for

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from faststream.message import StreamMessage
    from faststream.nats import NatsRouter

    from engine.bus.deadletter import DeadLetters
    from engine.bus.decode import OnInvalid
    from engine.core.settings import ConsumerSettings
    from engine.telemetry import Instruments
    from schemas.base import Message

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Delivery:
    """What a handler may know about the message besides its body."""

    subject: str
    headers: Mapping[str, str]
    deliveries: int
    stream_sequence: int | None
    published_at: datetime
    """When JetStream stored the message: the same on every redelivery, so time checks replay alike."""


type Handler[M: Message] = Callable[[M, Delivery], Awaitable[None]]
#: Answers a command given up on after `max_deliver` deliveries, with the reason: its requester still
#: gets an outcome (a booking request is rejected `unavailable`).
type OnExhausted[M: Message] = Callable[[M, str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Exhausted[M: Message]:
    """The `OnExhausted` of one durable consumer, and the schema its messages decode into."""

    model: type[M]
    answer: OnExhausted[M]

    async def __call__(self, body: bytes, headers: Mapping[str, str], reason: str, max_payload: int) -> None:
        decoded = decode(self.model, body, headers, max_payload=max_payload)
        if not isinstance(decoded, Rejection):  # one that never decoded was answered as invalid then
            await self.answer_safely(decoded, reason)

    async def answer_safely(self, message: M, reason: str) -> None:
        try:
            await self.answer(message, reason)
        except Exception:
            log.exception("could not answer %s after giving up on it", message.id)


async def _undecoded(message: StreamMessage[Any]) -> Any:
    """The body as it came: `decode` alone parses it. FastStream's own decoder is the standard json
    parser, which recurses into a deeply nested body until a RecursionError (a failure before any
    handler, so the message would be redelivered until `max_deliver` instead of dead-lettered at once)."""
    return message.body


def backoff_delay(settings: ConsumerSettings, deliveries: int) -> float:
    """Seconds before the next delivery after `deliveries` failed ones (the last value repeats)."""
    steps = settings.backoff or (1.0,)
    return steps[min(deliveries, len(steps)) - 1]


class Consumers:
    """Registers handlers as durable pull consumers on FastStream routers."""

    def __init__(
        self, settings: ConsumerSettings, dead_letters: DeadLetters, instruments: Instruments, *, max_payload: int
    ) -> None:
        self._settings = settings
        self._max_payload = max_payload  # larger bodies are dead-lettered (JETFLOW_MAX_PAYLOAD)
        self._dead_letters = dead_letters
        self._instruments = instruments
        self.exhausted: dict[str, Exhausted[Any]] = {}
        """Durable consumer name → what answers a message given up on (also after the MAX_DELIVERIES advisory)."""

    def durable[M: Message](
        self,
        router: NatsRouter,
        *,
        name: str,
        subject: str,
        model: type[M],
        max_workers: int = 1,
        on_invalid: OnInvalid | None = None,
        on_exhausted: OnExhausted[M] | None = None,
    ) -> Callable[[Handler[M]], Handler[M]]:
        """Decorator: run the handler for every message on `subject`, with the policy of this module.

        `max_workers` messages are handled at once (each settled on its own). `on_invalid` answers a body
        that fails its schema with the command's own outcome event too; `on_exhausted`, one given up on.
        """
        spec = stream_for(subject)
        if spec is None:
            raise ValueError(f"{subject} is not captured by any jetflow stream")
        settings = self._settings
        durable = f"jetflow-{name}"
        exhausted = None if on_exhausted is None else Exhausted(model, on_exhausted)
        if exhausted is not None:
            self.exhausted[durable] = exhausted

        def register(handler: Handler[M]) -> Handler[M]:
            async def consume(message: NatsMessage) -> None:
                await self._consume(message, subject, model, handler, on_invalid, exhausted)

            extra: dict[str, Any] = {"max_workers": max_workers} if max_workers > 1 else {}
            router.subscriber(
                subject,
                stream=JStream(name=spec.name, declare=False),
                durable=durable,
                pull_sub=PullSub(batch_size=settings.pull_batch, timeout=5.0),
                config=ConsumerConfig(
                    ack_policy=NatsAckPolicy.EXPLICIT,
                    ack_wait=settings.ack_wait,
                    max_deliver=settings.max_deliver,
                    deliver_policy=DeliverPolicy.ALL,
                    max_ack_pending=max(1000, settings.pull_batch * 4),
                ),
                ack_policy=AckPolicy.MANUAL,
                decoder=_undecoded,
                description=handler.__doc__,
                **extra,
            )(consume)
            return handler

        return register

    async def _consume[M: Message](
        self,
        message: NatsMessage,
        label: str,
        model: type[M],
        handler: Handler[M],
        on_invalid: OnInvalid | None,
        exhausted: Exhausted[M] | None,
    ) -> None:
        started = time.perf_counter()
        raw = message.raw_message
        meta = raw.metadata
        headers: Mapping[str, str] = raw.headers or {}
        origin = Origin(
            subject=raw.subject,
            body=raw.data,
            headers=headers,
            stream=meta.stream,
            sequence=meta.sequence.stream,
            deliveries=meta.num_delivered,
            label=label,
        )
        if meta.num_delivered > 1:
            self._instruments.redeliveries.add(1, {"subject": label})
        outcome = "ok"
        delay: float | None = None  # a TemporaryError's own delay; None: the backoff
        try:
            decoded = decode(model, raw.data, headers, max_payload=self._max_payload)
            if isinstance(decoded, Rejection):
                await self._dead_letters.record(origin, decoded.code, decoded.reason)
                if on_invalid is not None:
                    await on_invalid(raw.data, decoded)
                outcome = "dead_lettered"
            else:
                published_at = meta.timestamp.astimezone(UTC) if meta.timestamp else datetime.now(UTC)
                delivery = Delivery(raw.subject, headers, meta.num_delivered, meta.sequence.stream, published_at)
                outcome, delay = await self._run(handler, decoded, delivery, origin, exhausted)
            if outcome == "retried":
                await message.nack(delay=backoff_delay(self._settings, meta.num_delivered) if delay is None else delay)
            else:
                await message.ack()
        except Exception:
            # Recording the dead letter itself failed (NATS unreachable?): leave the message
            # unacknowledged so JetStream redelivers it after ack_wait. Nothing is lost.
            log.exception("could not settle %s #%s; it will be redelivered", raw.subject, meta.sequence.stream)
            outcome = "retried"
        finally:
            attributes = {"subject": label}
            self._instruments.latency.record(time.perf_counter() - started, attributes)
            self._instruments.messages.add(1, {**attributes, "outcome": outcome})

    async def _run[M: Message](
        self, handler: Handler[M], event: M, delivery: Delivery, origin: Origin, exhausted: Exhausted[M] | None
    ) -> tuple[str, float | None]:
        """The outcome, and for a retry the delay a `TemporaryError` asked for (None: the backoff)."""
        try:
            # A handler that hangs would stall this consumer: give up before JetStream redelivers.
            async with asyncio.timeout(self._settings.handler_timeout):
                await handler(event, delivery)
        except PermanentError as error:
            await self._dead_letters.record(origin, error.code, error.reason)
            return "dead_lettered", None
        except Exception as error:
            if isinstance(error, RecursionError) or refused(error):
                reason = f"failed for good on delivery {delivery.deliveries}: {type(error).__name__}: {error}"
                log.error("permanent failure on %s: %s", delivery.subject, reason)
                await self._dead_letters.record(origin, "permanent", reason)
                if exhausted is not None:
                    await exhausted.answer_safely(event, reason)
                return "dead_lettered", None
            if isinstance(error, TemporaryError):
                reason = error.reason
            elif isinstance(error, TimeoutError):
                reason = f"handler did not finish within {self._settings.handler_timeout:g}s"
            else:
                reason = f"{type(error).__name__}: {error}"
            if delivery.deliveries >= self._settings.max_deliver:
                gave_up = f"gave up after {delivery.deliveries} deliveries: {reason}"
                await self._dead_letters.record(origin, "exhausted", gave_up)
                if exhausted is not None:
                    await exhausted.answer_safely(event, gave_up)
                return "dead_lettered", None
            if isinstance(error, TemporaryError):
                log.warning("temporary failure on %s (delivery %d): %s", delivery.subject, delivery.deliveries, reason)
                return "retried", error.delay
            log.exception("unexpected failure on %s (delivery %d)", delivery.subject, delivery.deliveries)
            return "retried", None
        return "ok", None
