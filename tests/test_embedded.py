"""Starting up: a port someone else already serves, or a NATS that cannot be reached, must fail loudly.

Otherwise the readiness probe connects to the foreign server, `up` reports ready, and the engine joins
another jetflow's NATS (sharing its durable consumers) with its own store: the worst kind of silent split.
"""

from __future__ import annotations

import socket
import time
from typing import TYPE_CHECKING

import pytest

from engine.app import Engine
from engine.connection import NatsUnavailable
from engine.embedded import servers
from engine.embedded.process import free_port

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from engine.settings import Settings


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.mark.timeout(30)
async def test_embedded_nats_on_a_taken_port_fails_with_a_clear_message(tmp_path: Path, taken_port: int) -> None:
    child = servers.nats_server(tmp_path, taken_port)
    with pytest.raises(RuntimeError, match=f"port {taken_port} is already in use"):
        await child.start()
    assert child.pid is None  # nothing left running


@pytest.mark.timeout(30)
async def test_embedded_store_on_a_taken_port_fails_with_a_clear_message(tmp_path: Path, taken_port: int) -> None:
    child = servers.mongo_server(tmp_path, taken_port)
    with pytest.raises(RuntimeError, match=f"port {taken_port} is already in use"):
        await child.start()
    assert child.pid is None


@pytest.mark.timeout(60)
async def test_engine_start_against_unreachable_nats_fails_fast(settings: Settings, mongo_url: str) -> None:
    # `jetflow run` must exit with a clear message, not retry for ever (nor ignore SIGTERM while it does).
    settings = settings.model_copy(update={"nats_connect_timeout": 1.0})
    port = free_port()  # nothing listens there
    began = time.monotonic()
    with pytest.raises(NatsUnavailable, match=f"cannot reach NATS at nats://127.0.0.1:{port}"):
        await Engine(settings, nats_url=f"nats://127.0.0.1:{port}", mongo_url=mongo_url).start()
    assert time.monotonic() - began < 15
