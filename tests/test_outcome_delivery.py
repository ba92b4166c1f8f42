"""What a reader of booking outcomes sees when jetflow retries an outcome publish whose ack was lost: the
stream and a durable consumer have it once; a core-NATS subscriber sees every attempt, with one event id
(also its Nats-Msg-Id) to deduplicate on. The README's "Reading outcomes once" shows both readers."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import pytest
from nats.js.api import AckPolicy, ConsumerConfig

from engine.bus.publisher import MSG_ID
from schemas.booking import BookingConfirmed
from tests.support.streams import request_json, stream_messages
from tests.test_scheduler import catalog, next_second, one_shot

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg

    from engine.runtime import Runtime

BOOKINGS = "JETFLOW_BOOKINGS"


@pytest.mark.timeout(60)
async def test_a_retried_outcome_is_once_in_the_stream_and_deduplicated_by_its_id_on_core_nats(
    engine: Runtime, client: Client
) -> None:
    await catalog(client)
    core: list[tuple[str | None, dict[str, Any]]] = []

    async def on_core(msg: Msg) -> None:
        core.append(((msg.headers or {}).get(MSG_ID), json.loads(msg.data)))

    await client.subscribe("jetflow.booking.confirmed", cb=on_core)
    js = client.jetstream()
    config = ConsumerConfig(
        ack_policy=AckPolicy.EXPLICIT, filter_subjects=["jetflow.booking.confirmed", "jetflow.booking.rejected"]
    )
    outcomes = await js.pull_subscribe("", durable="billing", stream=BOOKINGS, config=config)

    reply = await request_json(client, "jetflow.ctl.booking.request", one_shot("bk-once", next_second(60), 10))
    assert reply["status"] == "confirmed"
    ((_, stored),) = await stream_messages(client, BOOKINGS, "jetflow.booking.confirmed")
    # The handler's publish whose ack was lost (a NATS restart) is published again, as a redelivery does.
    again = await engine.publisher.publish("jetflow.booking.confirmed", BookingConfirmed.model_validate(stored))
    assert again.duplicate
    await asyncio.sleep(0.3)

    # Core NATS: both attempts, one id, which is also the Nats-Msg-Id header.
    assert len(core) == 2
    assert {msg_id for msg_id, _ in core} == {event["id"] for _, event in core} == {"bk-once:confirmed"}
    seen: dict[str, dict[str, Any]] = {}
    for _, event in core:
        seen.setdefault(event["id"], event)  # the README's deduplication
    assert list(seen.values()) == [stored]

    # The stream, and a durable consumer on it: once.
    assert len(await stream_messages(client, BOOKINGS, "jetflow.booking.confirmed")) == 1
    read = await outcomes.fetch(10, timeout=1)
    assert [json.loads(msg.data)["booking"] for msg in read] == ["bk-once"]
    for msg in read:
        await msg.ack()
    with pytest.raises(TimeoutError):
        await outcomes.fetch(10, timeout=1)
