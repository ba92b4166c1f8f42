"""`jetflow agent` publishes real readings of this machine, durably and with deterministic ids."""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING

from engine.streams import ensure_streams
from engine.throttle import agent
from schemas.metrics import MetricSample
from tests.support.streams import stream_messages

if TYPE_CHECKING:
    from nats.aio.client import Client

    from engine.settings import Settings


async def test_agent_publishes_samples_that_the_schema_accepts(
    settings: Settings, nats_url: str, client: Client
) -> None:
    await ensure_streams(client.jetstream(), settings.nats)
    assert await agent.run(nats_url, "node-x", 0.05, count=3) == 3
    found = await stream_messages(client, "JETFLOW_METRICS", "jetflow.metric.sample.node-x")
    assert len(found) == 3
    for headers, body in found:
        sample = MetricSample.model_validate(body)
        assert headers["Nats-Msg-Id"] == sample.id == f"node-x:{int(sample.at.timestamp() * 1000)}"
        assert 0 <= sample.cpu <= 100
        assert 0 < sample.memory <= 100
        assert sample.load >= 0
    # The same reading published again (a retry after a lost ack) is stored once.
    await agent.publish(client.jetstream(), MetricSample.model_validate(found[0][1]))
    assert len(await stream_messages(client, "JETFLOW_METRICS", "jetflow.metric.sample.node-x")) == 3


async def jetflow(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "engine", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    return process.returncode or 0, stderr.decode()


async def test_agent_command_line(settings: Settings, nats_url: str, client: Client) -> None:
    await ensure_streams(client.jetstream(), settings.nats)
    code, stderr = await jetflow(
        "agent", "--node", "node-y", "--nats-url", nats_url, "--interval", "0.1", "--count", "2"
    )
    assert code == 0, stderr
    found = await stream_messages(client, "JETFLOW_METRICS", "jetflow.metric.sample.node-y")
    assert [body["node"] for _, body in found] == ["node-y", "node-y"]
    code, stderr = await jetflow("agent", "--node", "bad.node", "--count", "1")
    assert code == 2
    assert "cannot be a subject token" in stderr
