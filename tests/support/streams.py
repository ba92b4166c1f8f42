"""Reading what jetflow published, as an outside system would: from the streams, over NATS."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from tests.support.polling import eventually

if TYPE_CHECKING:
    from nats.aio.client import Client


async def stream_messages(nc: Client, stream: str, subject: str) -> list[tuple[dict[str, str], dict[str, Any]]]:
    """Every message currently stored in `stream` on `subject` (wildcards allowed): (headers, body)."""
    js = nc.jetstream()
    info = await js.stream_info(stream)
    if info.state.messages == 0:
        return []
    subscription = await js.pull_subscribe(subject, stream=stream)
    found: list[tuple[dict[str, str], dict[str, Any]]] = []
    try:
        # The new consumer counts what matches when it is created: fetch exactly that many, rather than
        # until a fetch times out (which cost every call its whole timeout).
        remaining = (await subscription.consumer_info()).num_pending or 0
        while remaining > 0:
            try:
                batch = await subscription.fetch(min(remaining, 256), timeout=2.0)
            except TimeoutError:
                break
            for msg in batch:
                found.append((dict(msg.headers or {}), json.loads(msg.data)))
                await msg.ack()
            remaining -= len(batch)
    finally:
        await subscription.unsubscribe()
    return found


async def wait_for_messages(
    nc: Client, stream: str, subject: str, count: int, timeout: float = 10.0
) -> list[tuple[dict[str, str], dict[str, Any]]]:
    """Poll until at least `count` messages are on `subject`, then return them all."""
    return await eventually(
        lambda: stream_messages(nc, stream, subject), lambda found: len(found) >= count, timeout=timeout, interval=0.1
    )


async def settled(nc: Client, stream: str, consumer: str, timeout: float = 15.0) -> None:
    """Until the durable `consumer` has been given, and has acknowledged, every message of its filter
    already in `stream` (publish first: the stream counts a message as pending once it acked it)."""
    info = await eventually(
        lambda: nc.jetstream().consumer_info(stream, consumer),
        lambda info: info.num_ack_pending == 0 and info.num_pending == 0,
        timeout=timeout,
    )
    if info.num_ack_pending or info.num_pending:
        raise AssertionError(f"{consumer} did not settle within {timeout:g}s")


async def request_json(nc: Client, subject: str, body: dict[str, Any] | bytes, timeout: float = 10.0) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    reply = await nc.request(subject, data, timeout=timeout)
    return json.loads(reply.data)
