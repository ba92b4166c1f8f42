"""The leader lease: a leader whose work fails to start resigns and campaigns again; on a NATS cluster
its bucket has the streams' replicas and survives the loss of a node."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import nats
import pytest
from nats.js.errors import Error as JetStreamError
from pymongo.errors import ServerSelectionTimeoutError

from engine.core.leader import BUCKET, LeaderLease, bucket_config
from engine.settings import Settings
from tests import servers

if TYPE_CHECKING:
    from pathlib import Path

    from nats.js import JetStreamContext
    from nats.js.kv import KeyValue


@pytest.mark.timeout(30)
async def test_a_failed_election_releases_the_lease_and_campaigns_again(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    lease = LeaderLease(nc.jetstream(), "test", "replica-a", ttl=1.0)
    elections = 0
    deposed = 0
    serving = asyncio.Event()

    async def elected() -> None:
        nonlocal elections
        elections += 1
        if elections == 1:
            raise ServerSelectionTimeoutError("store unreachable while loading state")
        serving.set()

    async def lose() -> None:
        nonlocal deposed
        deposed += 1

    task = asyncio.create_task(lease.run(elected, lose))
    try:
        await asyncio.wait_for(serving.wait(), 10)
        assert elections == 2
        assert deposed == 1  # the failed start was cleaned up before campaigning again
        assert lease.held
        assert not task.done()
    finally:
        await lease.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await nc.close()


async def _cluster_ready(js: JetStreamContext, timeout: float = 30.0) -> None:
    """JetStream on a fresh cluster answers once its meta leader is elected."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            await js.account_info()
            return
        except (JetStreamError, TimeoutError):
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.3)


@pytest.mark.timeout(90)
async def test_the_lease_bucket_follows_the_stream_replicas_and_survives_a_lost_node(tmp_path: Path) -> None:
    with servers.nats_cluster(tmp_path) as nodes:
        nc = await nats.connect([url for url, _ in nodes], max_reconnect_attempts=-1, reconnect_time_wait=0.2)
        js = nc.jetstream(timeout=5)
        await _cluster_ready(js)
        # An older version created the bucket with one replica: it is updated to the streams' three.
        await js.create_key_value(bucket_config(2.0, 1))
        lease = LeaderLease(js, "test", "replica-a", ttl=2.0, replicas=3)
        serving = asyncio.Event()

        async def elected() -> None:
            serving.set()

        async def deposed() -> None:
            serving.clear()

        task = asyncio.create_task(lease.run(elected, deposed))
        try:
            await asyncio.wait_for(serving.wait(), 20)
            info = await js.stream_info(f"KV_{BUCKET}")
            assert info.config.num_replicas == 3
            assert info.cluster is not None
            assert info.cluster.replicas is not None
            assert len(info.cluster.replicas) == 2
            # Lose the node that leads the bucket: the other two keep it, and a leader holds the lease again
            # (with one replica on the lost node, no leader could be elected until it came back).
            before = (await js.key_value(BUCKET)).get
            revision = (await before("test")).revision or 0
            leader = int((info.cluster.leader or "n0").removeprefix("n"))
            nodes[leader][1].kill()
            nodes[leader][1].wait()
            entry = await _refreshed(js, revision, within=45)
            assert entry.value == b"replica-a"
            await asyncio.wait_for(serving.wait(), 10)
            assert lease.held
        finally:
            await lease.stop()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await nc.close()


async def _refreshed(js: JetStreamContext, revision: int, within: float) -> KeyValue.Entry:
    """The lease's entry once written again after `revision` (the stream elects a new leader first)."""
    async with asyncio.timeout(within):
        while True:
            try:
                entry = await (await js.key_value(BUCKET)).get("test")
                if entry.revision is not None and entry.revision > revision:
                    return entry
            except (JetStreamError, TimeoutError):
                pass
            await asyncio.sleep(0.3)


def test_lease_replicas_follow_the_stream_replicas_unless_set() -> None:
    assert Settings.load(stream_replicas=3).lease.replicas is None
    assert bucket_config(6.0, 3).replicas == 3
