"""Every event jetflow publishes goes through here, so every publish carries a deterministic id.

The event's `id` is sent as `Nats-Msg-Id`; JetStream drops a second publish with the same id inside
the stream's duplicate window, which is what makes a retried handler harmless. `Jetflow-Causation-Id`
names the command an event answers, so `jetflow.ctl` requests can wait for their outcome.

A publish that JetStream does not acknowledge within `timeout` (FastStream's default is 0.5 s, short for a
loaded server or a stream leader election) is sent again, up to ATTEMPTS times: the same id makes a resend
that JetStream did store a duplicate it drops, so resending is always safe.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError

from engine.streams import stream_for

if TYPE_CHECKING:
    from faststream.nats import NatsBroker
    from nats.aio.client import Client
    from nats.js.api import PubAck

    from schemas.base import Message

MSG_ID = "Nats-Msg-Id"
CAUSATION_ID = "Jetflow-Causation-Id"
SCHEMA = "Jetflow-Schema"
#: Tries of one publish before its failure reaches the caller.
ATTEMPTS = 3
#: Seconds between two tries (no responders: the stream is being elected or NATS reconnects).
RETRY_DELAY = 0.2

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Published:
    subject: str
    sequence: int
    duplicate: bool


class Publisher:
    def __init__(self, broker: NatsBroker, *, timeout: float = 5.0) -> None:
        self._broker = broker
        self._timeout = timeout

    @property
    def connection(self) -> Client:
        """The underlying nats-py client, for core-NATS subscriptions and nudges."""
        return self._broker.connection

    async def publish(
        self, subject: str, event: Message, *, causation: str | None = None, peer_id: str | None = None
    ) -> Published:
        """Publish `event` durably on `subject`; the subject must belong to a jetflow stream (the public
        catalog's, named after its owner, given `peer_id`)."""
        spec = stream_for(subject, peer_id)
        if spec is None:
            raise ValueError(f"{subject} is not captured by any jetflow stream")
        headers = {MSG_ID: event.id, SCHEMA: f"{type(event).__name__}/v{event.schema_version}"}
        if causation is not None:
            headers[CAUSATION_ID] = causation
        for attempt in range(1, ATTEMPTS + 1):
            try:
                ack: PubAck = await self._broker.publish(
                    event, subject, headers=headers, stream=spec.name, timeout=self._timeout
                )
                break
            except (TimeoutError, NatsTimeoutError, NoRespondersError) as error:
                if attempt == ATTEMPTS:
                    raise
                log.warning("publish of %s on %s not acknowledged (%r); sending it again", event.id, subject, error)
                await asyncio.sleep(RETRY_DELAY * attempt)
        return Published(subject=subject, sequence=ack.seq, duplicate=bool(ack.duplicate))
