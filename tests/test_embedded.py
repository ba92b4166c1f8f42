"""Starting up: a port someone else already serves, or a NATS that cannot be reached, must fail loudly.

Otherwise the readiness probe connects to the foreign server, `up` reports ready, and the engine joins
another jetflow's NATS (sharing its durable consumers) with its own store: the worst kind of silent split.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import nats
import psutil
import pytest

from engine.app import Engine
from engine.connection import NatsUnavailable
from engine.embedded import servers
from engine.embedded.process import free_port, recorded
from tests.support.polling import eventually

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from nats.aio.client import Client

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
    settings = settings.replace(nats_connect_timeout=1.0)
    port = free_port()  # nothing listens there
    began = time.monotonic()
    with pytest.raises(NatsUnavailable, match=f"cannot reach NATS at nats://127.0.0.1:{port}"):
        await Engine(settings, nats_url=f"nats://127.0.0.1:{port}", mongo_url=mongo_url).start()
    assert time.monotonic() - began < 15


def _up(state: Path, nats_port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "engine", "up", "--state-dir", str(state), "--nats-port", str(nats_port)],
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "JETFLOW_MANIFESTS_DIR": str(state / "manifests")},
        )


async def _health_once(url: str) -> dict[str, Any] | None:
    """jetflow's health report on `url`, or None while nothing there answers."""
    try:
        nc = await nats.connect(url, connect_timeout=1, max_reconnect_attempts=0)
    except Exception:
        return None
    try:
        reply = await nc.request("jetflow.ctl.health", b"", timeout=2)
        return dict(json.loads(reply.data))
    except Exception:
        return None
    finally:
        await nc.close()


async def _health(url: str, timeout: float = 45.0) -> dict[str, Any]:
    """The first health report that says ok, or the last one read by `timeout` (a report is bounded by
    JETFLOW_HEALTH_TIMEOUT, so a JetStream still recovering just after an adoption answers `degraded`)."""
    health: dict[str, Any] | None = await eventually(
        lambda: _health_once(url),
        lambda health: health is not None and health.get("status") == "ok",
        timeout=timeout,
        interval=0.3,
    )
    if health is None:
        raise AssertionError(f"no jetflow answered on {url} within {timeout:g}s")
    return health


async def _resource(nc: Client, resource: str) -> dict[str, Any]:
    reply = await nc.request("jetflow.ctl.resource.get", json.dumps({"id": resource}).encode(), timeout=5)
    return dict(json.loads(reply.data))


@pytest.mark.timeout(120)
async def test_up_after_sigkill_adopts_its_servers_and_finds_its_data(tmp_path: Path) -> None:
    # SIGKILL leaves the embedded servers running (their own session): the next `up` on the same folder
    # must adopt them, not fail on "port in use", and see what the killed one stored.
    state, port, log = tmp_path / "state", free_port(), tmp_path / "up.log"
    url = f"nats://127.0.0.1:{port}"
    first = _up(state, port, log)
    try:
        await _health(url)
        nc = await nats.connect(url)
        resource = {"id": "node-k", "kind": "compute", "capacity": 3}
        await nc.jetstream().publish("jetflow.resource.upsert", json.dumps(resource).encode())
        await eventually(
            lambda: _resource(nc, "node-k"), lambda reply: reply.get("capacity") == 3, timeout=10.0, interval=0.1
        )
        await nc.close()
        store_before, nats_before = recorded(state / "store.pid"), recorded(state / "nats-server.pid")
        assert store_before is not None
        assert nats_before is not None
        # One `up` per folder: a second one while the first runs is refused, naming it.
        refused = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "engine", "up", "--state-dir", str(state), "--nats-port", str(free_port())],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "JETFLOW_MANIFESTS_DIR": str(state / "manifests")},
        )
        assert refused.returncode == 2
        assert f"in use by another `jetflow up` (pid {first.pid})" in refused.stderr, refused.stderr
        first.send_signal(signal.SIGKILL)
        first.wait()

        second = _up(state, port, log)
        try:
            health = await _health(url)
            assert health["status"] == "ok", health
            nc = await nats.connect(url)
            reply = json.loads((await nc.request("jetflow.ctl.resource.get", b'{"id": "node-k"}', timeout=5)).data)
            await nc.close()
            assert reply["capacity"] == 3, reply
            assert recorded(state / "store.pid") == store_before  # the same store, at the same URL
            assert recorded(state / "nats-server.pid") == nats_before  # and the same nats-server
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(30) == 0
        # A clean stop stops the adopted servers too.
        assert not psutil.pid_exists(store_before["pid"]) or psutil.Process(store_before["pid"]).status() == "zombie"
        assert not (state / "store.pid").exists()
    finally:
        for process in (first,):
            if process.poll() is None:
                process.kill()
        for pid_file in (state / "store.pid", state / "nats-server.pid"):
            if (known := recorded(pid_file)) is not None and psutil.pid_exists(known["pid"]):
                os.kill(known["pid"], signal.SIGKILL)


@pytest.mark.timeout(30)
async def test_a_pid_file_naming_someone_else_is_ignored_not_killed(tmp_path: Path) -> None:
    # After a reboot the recorded pid may belong to anything (here: this very test process).
    child = servers.nats_server(tmp_path, free_port())
    assert child.pid_file is not None
    me = psutil.Process()
    stale = {"pid": me.pid, "started": round(me.create_time(), 2) + 1, "port": child.port, "argv": child.argv}
    child.pid_file.write_text(json.dumps(stale))
    await child.start()
    try:
        assert not child.adopted
        assert child.pid != me.pid
        assert recorded(child.pid_file) == {
            "pid": child.pid,
            "started": round(psutil.Process(child.pid).create_time(), 2),
            "port": child.port,
            "argv": child.argv,
        }
    finally:
        await child.stop()
    assert not child.pid_file.exists()
