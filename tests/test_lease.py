"""The leader lease: a leader whose work fails to start resigns and campaigns again."""

from __future__ import annotations

import asyncio
import contextlib

import nats
import pytest
from pymongo.errors import ServerSelectionTimeoutError

from engine.core.leader import LeaderLease


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
