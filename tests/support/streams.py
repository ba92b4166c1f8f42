"""Reading what jetflow published, as an outside system would: from the streams, over NATS."""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

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
        while True:
            try:
                batch = await subscription.fetch(256, timeout=0.3)
            except TimeoutError:
                break
            for msg in batch:
                found.append((dict(msg.headers or {}), json.loads(msg.data)))
                await msg.ack()
    finally:
        await subscription.unsubscribe()
    return found


async def wait_for_messages(
    nc: Client, stream: str, subject: str, count: int, timeout: float = 10.0
) -> list[tuple[dict[str, str], dict[str, Any]]]:
    """Poll until at least `count` messages are on `subject`, then return them all."""
    deadline = time.monotonic() + timeout
    while True:
        found = await stream_messages(nc, stream, subject)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.1)


async def settled(nc: Client, stream: str, consumer: str, timeout: float = 15.0) -> None:
    """Until the durable `consumer` has been given, and has acknowledged, every message of its filter
    already in `stream` (publish first: the stream counts a message as pending once it acked it)."""
    js = nc.jetstream()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = await js.consumer_info(stream, consumer)
        if info.num_ack_pending == 0 and info.num_pending == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{consumer} did not settle within {timeout:g}s")


async def request_json(nc: Client, subject: str, body: dict[str, Any] | bytes, timeout: float = 10.0) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    reply = await nc.request(subject, data, timeout=timeout)
    return json.loads(reply.data)
