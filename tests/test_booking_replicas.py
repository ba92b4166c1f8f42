"""Bookings across real engine processes: racing replicas, and a SIGKILL in the middle of a burst."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.overlap import assert_no_overlap
from tests.support.polling import eventually
from tests.support.process import EngineProcess, stop_all, wait_for_instances
from tests.support.streams import request_json, stream_messages

if TYPE_CHECKING:
    from pathlib import Path

    from nats.aio.client import Client
    from nats.aio.msg import Msg

RESOURCES = [f"r{i}" for i in range(4)]


def requests(count: int, seed: int) -> list[dict[str, Any]]:
    """Overlapping one-shot bookings on capacity-1 resources: many must be rejected."""
    rng = random.Random(seed)
    base = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=10)
    made = []
    for i in range(count):
        start = base + timedelta(minutes=rng.randrange(0, 240))
        end = start + timedelta(minutes=rng.randrange(5, 40))
        chosen = rng.sample(RESOURCES, rng.choice([1, 1, 2]))
        made.append(
            {
                "id": f"race-{i}",
                "workflow": "wf",
                "resources": chosen,
                "start": start.isoformat(),
                "end": end.isoformat(),
            }
        )
    return made


async def prepare_catalog(client: Client) -> None:
    js = client.jetstream()
    for name in RESOURCES:
        await js.publish("jetflow.resource.upsert", json.dumps({"id": name, "capacity": 1}).encode())
    workflow = {"id": "wf", "steps": [{"name": "s", "image": "alpine:3.20"}]}
    await js.publish("jetflow.workflow.upsert", json.dumps(workflow).encode())

    async def known() -> bool:
        listed = await request_json(client, "jetflow.ctl.resource.list", {})
        workflow = await request_json(client, "jetflow.ctl.workflow.get", {"id": "wf"})
        return len(listed.get("items", [])) == len(RESOURCES) and workflow.get("status") != "error"

    if not await eventually(known, timeout=10.0):
        raise AssertionError("catalog never appeared")


async def decided(client: Client) -> dict[str, list[dict[str, Any]]]:
    """Booking id → its outcome events (confirmed or rejected), as the stream holds them now."""
    found = [
        *await stream_messages(client, "JETFLOW_BOOKINGS", "jetflow.booking.confirmed"),
        *await stream_messages(client, "JETFLOW_BOOKINGS", "jetflow.booking.rejected"),
    ]
    by_booking: dict[str, list[dict[str, Any]]] = {}
    for _, event in found:
        by_booking.setdefault(event["booking"], []).append(event)
    return by_booking


async def outcomes(client: Client, expected: int, timeout: float) -> dict[str, list[dict[str, Any]]]:
    return await eventually(
        lambda: decided(client), lambda by_booking: len(by_booking) >= expected, timeout=timeout, interval=0.5
    )


@pytest.mark.timeout(240)
async def test_two_replicas_never_confirm_overlapping_bookings(
    nats_url: str, mongo_url: str, client: Client, tmp_path: Path
) -> None:
    database = f"t{uuid.uuid4().hex[:12]}"
    replicas = [EngineProcess(nats_url, mongo_url, database, tmp_path / f"engine-{i}.log") for i in range(2)]
    for replica in replicas:
        replica.start()
    try:
        await wait_for_instances(client, 2)
        await prepare_catalog(client)
        burst = requests(200, seed=7)
        js = client.jetstream()
        # Half durably on the stream, half by request/reply: both doors, all at once.
        await asyncio.gather(
            *(
                js.publish("jetflow.booking.request", json.dumps(r).encode(), headers={"Nats-Msg-Id": r["id"]})
                for r in burst[::2]
            ),
            *(request_json(client, "jetflow.ctl.booking.request", r, timeout=60) for r in burst[1::2]),
        )
        by_booking = await outcomes(client, len(burst), timeout=150)
    finally:
        stop_all(replicas)
    assert sorted(by_booking) == sorted(r["id"] for r in burst), "some request has no outcome"
    assert all(len(events) == 1 for events in by_booking.values()), "some request has two outcomes"
    confirmed = [events[0] for events in by_booking.values() if "executions" in events[0]]
    rejected = [events[0] for events in by_booking.values() if "code" in events[0]]
    assert {event["code"] for event in rejected} == {"conflict"}
    assert confirmed
    assert rejected
    pairs = assert_no_overlap(confirmed)
    assert pairs > 0
    print(f"200 requests, 2 replicas: {len(confirmed)} confirmed, {len(rejected)} rejected, {pairs} pairs checked")


@pytest.mark.timeout(240)
async def test_sigkill_mid_burst_then_restart_gives_one_outcome_each(
    nats_url: str, mongo_url: str, client: Client, tmp_path: Path
) -> None:
    database = f"t{uuid.uuid4().hex[:12]}"
    slow_store = {"ack_wait": "10", "handler_timeout": "8", "pull_batch": "4"}  # the embedded store is slow
    engine = EngineProcess(nats_url, mongo_url, database, tmp_path / "engine.log", **slow_store)
    engine.start()
    await wait_for_instances(client, 1)
    await prepare_catalog(client)
    burst = [{**r, "cron": "*/10 * * * * *", "id": f"kill-{i}"} for i, r in enumerate(requests(200, seed=11))]
    js = client.jetstream()
    heard = asyncio.Event()
    decided = 0

    async def count(_: Msg) -> None:
        nonlocal decided
        decided += 1
        if decided >= 5:
            heard.set()

    watching = [await client.subscribe(f"jetflow.booking.{outcome}", cb=count) for outcome in ("confirmed", "rejected")]
    # All at once, so the engine is still deciding when the kill lands (it decides faster than a loop publishes).
    await asyncio.gather(
        *(
            js.publish("jetflow.booking.request", json.dumps(r).encode(), headers={"Nats-Msg-Id": r["id"]})
            for r in burst
        )
    )
    await asyncio.wait_for(heard.wait(), 60)
    engine.kill()
    for subscription in watching:
        await subscription.unsubscribe()
    decided_before_kill = len(await outcomes(client, 0, 0))
    # The same store-sized timeouts as the first engine: with a 2.5 s handler timeout the stand-in store,
    # busy with 3,000 executions, made some requests time out five times and dead-letter them.
    restarted = EngineProcess(nats_url, mongo_url, database, tmp_path / "engine-2.log", **slow_store)
    restarted.start()
    try:
        await wait_for_instances(client, 1)
        by_booking = await outcomes(client, len(burst), timeout=150)
        executions: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = await request_json(client, "jetflow.ctl.execution.list", {"limit": 1000, "cursor": cursor})
            executions += page["items"]
            cursor = page["next"]
            if cursor is None:
                break
    finally:
        restarted.stop()
    assert decided_before_kill < len(burst), "the kill came too late to test anything"
    print(f"killed after {decided_before_kill}/{len(burst)} outcomes; {len(executions)} executions after restart")
    assert sorted(by_booking) == sorted(r["id"] for r in burst)
    assert all(len(events) == 1 for events in by_booking.values())
    per_booking = Counter(execution["booking"] for execution in executions)
    assert len({execution["id"] for execution in executions}) == len(executions)
    for booking_id, events in by_booking.items():
        expected = len(events[0].get("executions", []))
        assert per_booking.get(booking_id, 0) == expected, booking_id
