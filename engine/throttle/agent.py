"""`jetflow agent`: the node side. Samples this machine with psutil and publishes MetricSample durably.

One command makes a node report: `jetflow agent --node $(hostname) --nats-url nats://…`. Each sample's
id is the node plus its timestamp in milliseconds, sent as Nats-Msg-Id, so a publish retried after a
lost ack is stored once. Publishing waits for JetStream's ack (durable); a NATS outage is logged and
the agent keeps sampling, it does not queue old readings (they would only describe the past).
"""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import psutil

from engine.bus.publisher import MSG_ID, SCHEMA
from engine.core.settings import NatsSettings
from schemas import subjects
from schemas.metrics import MetricSample

if TYPE_CHECKING:
    from nats.js import JetStreamContext


log = logging.getLogger(__name__)


def read(node: str, *, disk_path: str = "/") -> MetricSample:
    """One reading of this machine. CPU is measured since the previous call (the first one primes it)."""
    at = datetime.now(UTC)
    load = os.getloadavg()[0] / (psutil.cpu_count() or 1)
    return MetricSample(
        id=f"{node}:{int(at.timestamp() * 1000)}",
        node=node,
        at=at,
        cpu=min(100.0, psutil.cpu_percent(interval=None)),
        memory=psutil.virtual_memory().percent,
        disk=psutil.disk_usage(disk_path).percent,
        load=load,
    )


async def publish(js: JetStreamContext, sample: MetricSample) -> None:
    headers = {MSG_ID: sample.id, SCHEMA: f"MetricSample/v{sample.schema_version}", "content-type": "application/json"}
    await js.publish(subjects.metric_sample(sample.node), sample.model_dump_json().encode(), headers=headers)


async def run(
    nats_url: str, node: str, interval: float, *, count: int | None = None, settings: NatsSettings | None = None
) -> int:
    """Sample every `interval` seconds (forever, or `count` times); returns how many were published.

    An unreachable NATS at start ends the agent at once with `NatsUnavailable` (one line); once connected,
    it reconnects for ever and logs each failed attempt as one line.
    """
    import nats

    from engine.connection import connect

    nc = await connect(settings or NatsSettings(), nats_url, name=f"jetflow-agent-{node}", reconnect=True)
    js = nc.jetstream()
    psutil.cpu_percent(interval=None)  # prime: the first call has no previous reading to compare with
    published = 0
    try:
        while count is None or published < count:
            await asyncio.sleep(interval)
            sample = read(node)
            try:
                await publish(js, sample)
            except (nats.errors.Error, OSError, TimeoutError) as error:
                log.warning("sample %s not published: %s", sample.id, error)
                continue
            published += 1
            log.info(
                "cpu %.1f%% memory %.1f%% load %.2f disk %.1f%%", sample.cpu, sample.memory, sample.load, sample.disk
            )
    finally:
        await nc.close()
    return published
