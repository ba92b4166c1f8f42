"""Every event jetflow publishes goes through here, so every publish carries a deterministic id.

The event's `id` is sent as `Nats-Msg-Id`; JetStream drops a second publish with the same id inside
the stream's duplicate window, which is what makes a retried handler harmless. `Jetflow-Causation-Id`
names the command an event answers, so `jetflow.ctl` requests can wait for their outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.streams import stream_for

if TYPE_CHECKING:
    from faststream.nats import NatsBroker
    from nats.aio.client import Client
    from nats.js.api import PubAck

    from schemas.base import Message

MSG_ID = "Nats-Msg-Id"
CAUSATION_ID = "Jetflow-Causation-Id"
SCHEMA = "Jetflow-Schema"


@dataclass(frozen=True, slots=True)
class Published:
    subject: str
    sequence: int
    duplicate: bool


class Publisher:
    def __init__(self, broker: NatsBroker) -> None:
        self._broker = broker

    @property
    def connection(self) -> Client:
        """The underlying nats-py client, for core-NATS subscriptions and nudges."""
        return self._broker.connection

    async def publish(self, subject: str, event: Message, *, causation: str | None = None) -> Published:
        """Publish `event` durably on `subject`; the subject must belong to a jetflow stream."""
        spec = stream_for(subject)
        if spec is None:
            raise ValueError(f"{subject} is not captured by any jetflow stream")
        headers = {MSG_ID: event.id, SCHEMA: f"{type(event).__name__}/v{event.schema_version}"}
        if causation is not None:
            headers[CAUSATION_ID] = causation
        ack: PubAck = await self._broker.publish(event, subject, headers=headers, stream=spec.name)
        return Published(subject=subject, sequence=ack.seq, duplicate=bool(ack.duplicate))
