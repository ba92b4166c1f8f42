"""`jetflow up`'s embedded servers: a port someone else already serves must fail loudly.

Otherwise the readiness probe connects to the foreign server, `up` reports ready, and the engine joins
another jetflow's NATS (sharing its durable consumers) with its own store: the worst kind of silent split.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

import pytest

from engine.embedded import servers

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


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
