"""Gauges counted from the store and the dead-letter stream: executions by state, bookings, dead letters."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from prometheus_client import generate_latest

from engine import census
from tests.support.streams import request_json, wait_for_messages

if TYPE_CHECKING:
    from nats.aio.client import Client

    from engine.runtime import Runtime


def gauge(name: str, **labels: str) -> float:
    """The exported value of `name` whose labels include `labels`."""
    for line in generate_latest().decode().splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(found.get(key) == value for key, value in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name}{labels} is not exported")


async def test_census_counts_executions_bookings_and_dead_letters(engine: Runtime, client: Client) -> None:
    js = client.jetstream()
    await js.publish("jetflow.resource.upsert", json.dumps({"id": "node-a", "capacity": 5}).encode())
    await js.publish(
        "jetflow.workflow.upsert", json.dumps({"id": "wf", "steps": [{"name": "s", "image": "a"}]}).encode()
    )
    await js.publish("jetflow.resource.upsert", b"{broken")
    await wait_for_messages(client, "JETFLOW_DLQ", "jetflow.dlq.>", 1)
    await asyncio.sleep(0.3)
    start = datetime.now(UTC) + timedelta(hours=1)
    booking = {
        "id": "census",
        "workflow": "wf",
        "resources": ["node-a"],
        "cron": "0,1,2 * * * * *",
        "start": start.replace(second=0, microsecond=0).isoformat(),
        "end": (start.replace(second=0, microsecond=0) + timedelta(seconds=30)).isoformat(),
    }
    assert (await request_json(client, "jetflow.ctl.booking.request", booking))["status"] == "confirmed"
    rejected = {**booking, "id": "census-2", "resources": ["nowhere"]}
    assert (await request_json(client, "jetflow.ctl.booking.request", rejected))["status"] == "rejected"

    current = census._current()
    assert current is not None
    await current.take()
    assert gauge("jetflow_executions", state="scheduled") == 3
    assert gauge("jetflow_executions", state="running") == 0
    assert gauge("jetflow_bookings", status="confirmed") == 1
    assert gauge("jetflow_bookings", status="rejected") == 1
    assert gauge("jetflow_dead_letters_stored") == 1
