"""Fixtures: a fresh nats-server per test (cheap, ~50 ms), one mongoeco server per session with a
fresh database per test, and engines started against both, as `jetflow run` would: `engine` for a test
that needs one with the test's settings, `engines` (the factory) for any other number or settings.

The suite runs in two pytest-xdist workers (pyproject.toml): a session is one worker's, so each worker has
its own store and moto server, on free ports, in its own temporary folder. Against an external NATS or
cluster, which every test would share, it runs in one process."""

from __future__ import annotations

import contextlib
import uuid
from typing import TYPE_CHECKING

import nats
import pytest

from engine.settings import Settings
from engine.streams import STREAMS
from tests import servers
from tests.support.engines import Engines

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

    from nats.aio.client import Client

    from engine.runtime import Runtime


#: Kubernetes (kmock) and S3 (moto) fixtures; registered here so their modules load before any test imports them.
pytest_plugins = ["tests.support.kube", "tests.support.s3"]


#: Modules with tests of 10 s and more (engine processes, fail-overs, real timers), run first: the two workers
#: share them out early, rather than one worker running the last long test alone while the other idles.
#: Only the order depends on this list; a module missing from it still runs, later.
SLOW_FIRST = (
    "test_federation_bookings.py",
    "test_federation_catalog.py",
    "test_federation_e2e.py",
    "test_embedded.py",
    "test_scheduler.py",
    "test_booking_replicas.py",
    "test_lease.py",
    "test_throttle_backlog.py",
    "test_health_bounds.py",
    "test_traces.py",
    "test_logs.py",
    "test_probes.py",
    "test_ops.py",
    "test_throttle_agent.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    first = {name: rank for rank, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: first.get(item.path.name, len(first)))  # stable: the rest keep their order


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """One process against an external NATS (each test deletes jetflow's streams there) or cluster."""
    if (servers.EXTERNAL_NATS or servers.EXTERNAL_KUBECONFIG) and getattr(config.option, "numprocesses", None):
        config.option.numprocesses = 0


@pytest.fixture(scope="session")
def mongo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if servers.EXTERNAL_MONGO:
        yield servers.EXTERNAL_MONGO
        return
    with servers.mongo_server(tmp_path_factory.mktemp("mongo")) as url:
        yield url


@pytest.fixture
async def nats_url(tmp_path: Path) -> AsyncIterator[str]:
    if servers.EXTERNAL_NATS:
        nc = await nats.connect(servers.EXTERNAL_NATS)
        js = nc.jetstream()
        for spec in STREAMS:
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await js.delete_stream(spec.name)
        await nc.close()
        yield servers.EXTERNAL_NATS
        return
    with servers.nats_server(tmp_path / "nats") as url:
        yield url


@pytest.fixture
def settings() -> Settings:
    """Fast retries so redelivery tests finish in seconds; a fresh database per test.

    The lease TTL is long enough that a busy CI machine (2 cores shared by pytest, nats-server and the
    stand-ins) does not lose a lease mid-test: a 1 s TTL was lost there and a dispatch pass was cut short
    and retried. Fail-over tests run replicas as processes with their own short TTL."""
    return Settings.load(
        mongo_db=f"t{uuid.uuid4().hex[:12]}",
        backoff=(0.1, 0.2),
        max_deliver=3,
        ack_wait=5.0,
        handler_timeout=4.0,
        ctl_timeout=5.0,
        lease_ttl=5.0,
        scheduler_refill=0.5,
        _env_file=None,
    )


@pytest.fixture
async def engines(settings: Settings, nats_url: str, mongo_url: str) -> AsyncIterator[Engines]:
    """Starts engines on this test's servers (`await engines.start(settings, gate=...)`) and stops
    those still running when the test ends. Ask for it after `kube`, so engines stop before kmock does."""
    async with Engines(settings, nats_url, mongo_url) as started:
        yield started


@pytest.fixture
async def engine(engines: Engines) -> Runtime:
    """One engine with the test's `settings`: what its features are given."""
    return await engines.runtime()


@pytest.fixture
async def client(nats_url: str) -> AsyncIterator[Client]:
    """Another system: a plain nats-py connection."""
    nc = await nats.connect(nats_url)
    try:
        yield nc
    finally:
        await nc.close()
