"""Messages JetStream stopped redelivering without anyone settling them: dead-lettered, not lost.

A handler that hangs past `ack_wait`, or a process killed while handling, leaves the message
unacknowledged; JetStream redelivers it up to `max_deliver` times and then gives up, publishing a
MAX_DELIVERIES advisory. Listening to that advisory (one replica per advisory, by queue group) and
copying the message to the dead-letter stream closes the last gap where a message could vanish.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from nats.errors import Error as NatsError

from engine import streams
from engine.bus.deadletter import Origin

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription
    from nats.js import JetStreamContext

    from engine.bus.consumer import Exhausted
    from engine.bus.deadletter import DeadLetters

log = logging.getLogger(__name__)

ADVISORY = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>"


async def watch_exhausted(
    nc: Client, js: JetStreamContext, dead_letters: DeadLetters, answers: Mapping[str, Exhausted[Any]], max_payload: int
) -> Subscription:
    """Dead-letter what JetStream gave up on; `answers` (by consumer name) give its command an outcome too."""

    async def on_advisory(advisory: Msg) -> None:
        try:
            body = json.loads(advisory.data)
            stream, sequence = str(body["stream"]), int(body["stream_seq"])
            if not str(body.get("consumer", "")).startswith("jetflow-") or stream == streams.DLQ:
                return  # not one of jetflow's consumers
            stored = await js.get_msg(stream, sequence)
        except (ValueError, KeyError, NatsError) as error:
            log.error("cannot dead-letter an exhausted message (%s): %s", advisory.data[:200], error)
            return
        origin = Origin(
            subject=stored.subject or "",
            body=stored.data or b"",
            headers=dict(stored.headers or {}),
            stream=stream,
            sequence=sequence,
            deliveries=int(body.get("deliveries", 0)),
            label=str(body.get("consumer", "")),
        )
        reason = (
            f"delivered {origin.deliveries} times to consumer {body.get('consumer')} without an acknowledgement "
            "(the handler hung past ack_wait or its process died)"
        )
        try:
            await dead_letters.record(origin, "exhausted", reason)
        except Exception:  # NATS went away meanwhile: the message stays in its stream, at its sequence
            log.exception("could not dead-letter %s #%d after JetStream gave up on it", stream, sequence)
        if (answer := answers.get(origin.label)) is not None:
            await answer(origin.body, origin.headers, reason, max_payload)

    return await nc.subscribe(ADVISORY, queue="jetflow-exhausted", cb=on_advisory)
