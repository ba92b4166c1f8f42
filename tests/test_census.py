"""Gauges counted from the store and the dead-letter stream: executions by state, bookings, dead letters."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from prometheus_client import generate_latest

from engine import census
from tests.support.polling import eventually
from tests.support.streams import request_json, wait_for_messages

if TYPE_CHECKING:
    from nats.aio.client import Client

    from engine.runtime import Runtime
    from engine.settings import Settings
    from tests.support.engines import Engines


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


async def test_each_consumers_lag_and_each_replicas_leases_are_exported(
    engines: Engines, settings: Settings, client: Client
) -> None:
    engine = await engines.start(settings.replace(census_interval=0.2))
    js = client.jetstream()
    # A consumer nobody reads: its lag is what was published since.
    await js.add_consumer("JETFLOW_CATALOG", durable_name="lagging", filter_subject="jetflow.resource.upsert")
    for name in ("node-a", "node-b"):
        await js.publish("jetflow.resource.upsert", json.dumps({"id": name}).encode())

    def lag() -> float:
        try:
            return gauge("jetflow_consumer_pending", stream="JETFLOW_CATALOG", consumer="lagging")
        except AssertionError:
            return -1

    assert await eventually(lag, lambda value: value == 2) == 2
    # jetflow's own consumer took both.
    assert (
        await eventually(
            lambda: gauge("jetflow_consumer_pending", consumer="jetflow-resource-upsert"), lambda v: v == 0
        )
        == 0
    )
    assert gauge("jetflow_consumer_ack_pending", consumer="jetflow-resource-upsert") == 0
    assert gauge("jetflow_consumer_redelivered", consumer="jetflow-resource-upsert") == 0

    def leading(lease: str) -> float:
        return gauge("jetflow_leader", lease=lease, replica=engine.instance)

    assert await eventually(lambda: leading("scheduler"), lambda held: held == 1) == 1
    await engine.stop()
    with pytest.raises(AssertionError, match="is not exported"):
        leading("scheduler")  # a stopped replica campaigns no more
