"""`jetflow.ctl.health` answers within a bound whatever the store does: frozen (SIGSTOP) or killed, it
replies within about a second with `degraded` and names the part that does not answer."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from typing import TYPE_CHECKING, Any

import pytest

from engine.app import Engine
from engine.embedded import servers as embedded
from tests import servers
from tests.support.streams import request_json

if TYPE_CHECKING:
    from pathlib import Path

    from nats.aio.client import Client

    from engine.settings import Settings

pytestmark = pytest.mark.skipif(bool(servers.EXTERNAL_MONGO), reason="stops and kills a store of its own")

NODE = {"id": "node-a", "kind": "compute", "capacity": 1}


async def health(client: Client) -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    reply = await client.request("jetflow.ctl.health", b"", timeout=2.0)  # `nats req`'s default timeout
    return json.loads(reply.data), time.monotonic() - started


async def applied(client: Client, resource: str, timeout: float = 30.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            reply: dict[str, Any] = await request_json(client, "jetflow.ctl.resource.get", {"id": resource})
            if reply.get("status") != "error":
                return reply
            await asyncio.sleep(0.2)


async def healthy(client: Client, timeout: float = 15.0) -> None:
    async with asyncio.timeout(timeout):
        while True:
            if (await health(client))[0]["status"] == "ok":
                return
            await asyncio.sleep(0.2)


def assert_store_unreachable(report: dict[str, Any], took: float) -> None:
    assert took < 1.5, f"health took {took:.2f}s"
    assert (report["status"], report["unreachable"]) == ("degraded", ["store"]), report
    assert report["store"]["reachable"] is False
    assert report["store"]["error"]
    assert report["nats"] == {"jetstream": True}
    assert "JETFLOW_BOOKINGS" in report["streams"]


@pytest.mark.timeout(90)
async def test_health_answers_within_a_second_while_the_store_is_frozen(
    settings: Settings, nats_url: str, client: Client, tmp_path: Path
) -> None:
    child = embedded.mongo_server(tmp_path / "store", memory=True)
    with servers.running(child) as process:
        jetflow = Engine(settings, nats_url=nats_url, mongo_url=embedded.mongo_url(child.port))
        await jetflow.start()
        try:
            report, _ = await health(client)
            assert (report["status"], report["unreachable"], report["store"]) == ("ok", [], {"reachable": True})
            os.kill(process.pid, signal.SIGSTOP)
            try:
                # Valid traffic meanwhile: the stream takes it; it is applied once the store answers again.
                js = client.jetstream()
                await js.publish("jetflow.resource.upsert", json.dumps(NODE).encode(), headers={"Nats-Msg-Id": "r1"})
                answers = await asyncio.gather(*(health(client) for _ in range(4)))
                for report, took in answers:
                    assert_store_unreachable(report, took)
                    assert "did not answer within 0.8s" in report["store"]["error"]
            finally:
                os.kill(process.pid, signal.SIGCONT)
            assert (await applied(client, "node-a"))["capacity"] == 1
            await healthy(client)
        finally:
            await jetflow.stop()


@pytest.mark.timeout(90)
async def test_health_answers_within_a_second_while_the_store_is_down(
    settings: Settings, nats_url: str, client: Client, tmp_path: Path
) -> None:
    state = tmp_path / "store"
    child = embedded.mongo_server(state)  # SQLite: what it stored survives the kill
    with contextlib.ExitStack() as running:
        process = running.enter_context(servers.running(child))
        jetflow = Engine(settings, nats_url=nats_url, mongo_url=embedded.mongo_url(child.port))
        await jetflow.start()
        try:
            process.kill()
            process.wait()
            js = client.jetstream()
            await js.publish("jetflow.resource.upsert", json.dumps(NODE).encode(), headers={"Nats-Msg-Id": "r1"})
            for _ in range(3):
                assert_store_unreachable(*await health(client))
            running.enter_context(servers.running(embedded.mongo_server(state, port=child.port)))
            assert (await applied(client, "node-a"))["capacity"] == 1
            await healthy(client)
        finally:
            await jetflow.stop()
