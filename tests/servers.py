"""Real protocol servers for tests: nats-server and mongoeco's wire server, or external ones.

Set JETFLOW_TEST_NATS_URL / JETFLOW_TEST_MONGO_URL to run the same suite against real servers; the
fixtures then isolate tests by deleting jetflow's streams (NATS) and using a fresh database (MongoDB).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from engine.core.settings import LeafSettings
from engine.embedded import servers
from schemas import subjects

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from nats.aio.msg import Msg

    from engine.embedded.process import ChildServer

EXTERNAL_NATS = os.environ.get("JETFLOW_TEST_NATS_URL")
EXTERNAL_MONGO = os.environ.get("JETFLOW_TEST_MONGO_URL")
#: A kubeconfig of a real cluster (with Argo's CRDs) to run the Kubernetes tests against instead of kmock.
EXTERNAL_KUBECONFIG = os.environ.get("JETFLOW_TEST_KUBECONFIG")
#: A real S3 server with STS (MinIO) instead of moto, and the identity allowed to assume roles there.
EXTERNAL_S3 = os.environ.get("JETFLOW_TEST_S3_URL")
EXTERNAL_S3_ACCESS_KEY = os.environ.get("JETFLOW_TEST_S3_ACCESS_KEY", "minioadmin")
EXTERNAL_S3_SECRET_KEY = os.environ.get("JETFLOW_TEST_S3_SECRET_KEY", "minioadmin")
#: Seconds moto's server may take to listen: it imports moto and Flask first, slow on a busy machine.
MOTO_START = 60.0


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listens on {port} after {timeout}s")


@contextmanager
def running(child: ChildServer) -> Iterator[subprocess.Popen[bytes]]:
    """Run a ChildServer's command synchronously (fixtures are not tied to one event loop)."""
    child.log_path.parent.mkdir(parents=True, exist_ok=True)
    with child.log_path.open("ab") as log:
        process = subprocess.Popen(child.argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    try:
        # The child's own start budget: the store is a Python process, slow to import on a busy machine.
        wait_for_port(child.port, process, child.start_timeout)
        yield process
    finally:
        _stop(process)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def moto_server(log: Path, **env: str) -> Iterator[str]:
    """moto's S3/STS/IAM server as a subprocess on a free port; `env` e.g. INITIAL_NO_AUTH_ACTION_COUNT."""
    port = free_port()
    binary = Path(sys.executable).with_name("moto_server")
    with log.open("ab") as out:
        process = subprocess.Popen(
            [str(binary), "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **env},
        )
    try:
        wait_for_port(port, process, MOTO_START)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(process)


@contextmanager
def nats_server(state: Path) -> Iterator[str]:
    child = servers.nats_server(state)
    with running(child):
        yield servers.nats_url(child.port)


@contextmanager
def nats_cluster(root: Path, size: int = 3) -> Iterator[list[tuple[str, subprocess.Popen[bytes]]]]:
    """`size` nats-servers with JetStream routed into one cluster; yields (client URL, process) per node."""
    ports = [(free_port(), free_port()) for _ in range(size)]
    routes = ",".join(f"nats://127.0.0.1:{route}" for _, route in ports)
    binary = servers.nats_server_binary()
    with ExitStack() as stack:
        nodes = []
        for i, (port, route) in enumerate(ports):
            store, log = root / f"n{i}", root / f"n{i}.log"
            store.mkdir(parents=True, exist_ok=True)
            argv = [binary, "-js", "-sd", str(store), "-a", "127.0.0.1", "-p", str(port), "-n", f"n{i}"]
            argv += ["--cluster_name", "jetflow", "--cluster", f"nats://127.0.0.1:{route}", "--routes", routes]
            with log.open("ab") as out:
                process = subprocess.Popen(argv, stdout=out, stderr=out, stdin=subprocess.DEVNULL)
            stack.callback(_stop, process)
            nodes.append((servers.nats_url(port), process))
        for (port, _), (_, process) in zip(ports, nodes, strict=True):
            wait_for_port(port, process)
        yield nodes


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def mongo_server(state: Path) -> Iterator[str]:
    child = servers.mongo_server(state, memory=True)
    with running(child):
        yield servers.mongo_url(child.port)


class Federation:
    """One nats-server per peer (its own JetStream domain and store folder), every pair linked by one leaf
    connection with its own password, as `jetflow up --leaf-port/--leaf-peer/--leaf` configures them: the
    first of a pair listens, the second connects. `stop(peer)` and `start(peer)` take one peer's server
    away and bring it back on the same port and store folder, as an operator would."""

    def __init__(self, root: Path, peers: Sequence[str]) -> None:
        secrets_of = {(a, b): secrets.token_urlsafe(12) for i, a in enumerate(peers) for b in peers[i + 1 :]}
        leaf_ports = {peer: free_port() for peer in peers}
        self._children: dict[str, ChildServer] = {}
        self.leaves: dict[str, LeafSettings] = {}
        """Peer → its leaf links, for an engine that must know its linked peers (the federated catalog's sources)."""
        self._running: dict[str, ExitStack] = {}
        for i, peer in enumerate(peers):
            earlier, later = peers[:i], peers[i + 1 :]
            leaf = LeafSettings.model_validate(
                {
                    "port": leaf_ports[peer] if later else None,
                    "peers": {other: secrets_of[(peer, other)] for other in later},
                    "remotes": {
                        other: f"nats-leaf://{peer}:{secrets_of[(other, peer)]}@127.0.0.1:{leaf_ports[other]}"
                        for other in earlier
                    },
                }
            )
            self._children[peer] = servers.nats_server(root / peer, peer_id=peer, leaf=leaf)
            self.leaves[peer] = leaf
        self.urls = {peer: servers.nats_url(child.port) for peer, child in self._children.items()}
        """Peer → client URL."""

    def start(self, peer: str) -> None:
        if peer not in self._running:
            stack = ExitStack()
            stack.enter_context(running(self._children[peer]))
            self._running[peer] = stack

    def stop(self, peer: str) -> None:
        if (stack := self._running.pop(peer, None)) is not None:
            stack.close()

    def stop_all(self) -> None:
        for peer in reversed(list(self._running)):
            self.stop(peer)


@contextmanager
def federation(root: Path, peers: Sequence[str]) -> Iterator[Federation]:
    """Every peer's server of a `Federation`, started; `await linked(federation.urls)` before using the links."""
    started = Federation(root, peers)
    try:
        for peer in peers:
            started.start(peer)
        yield started
    finally:
        started.stop_all()


async def linked(urls: dict[str, str], timeout: float = 20.0) -> None:
    """Until a request from every peer's server reaches every other peer's (leaf links come up in ~1 s)."""
    import nats

    clients = {peer: await nats.connect(url) for peer, url in urls.items()}
    try:

        async def pong(msg: Msg) -> None:
            await msg.respond(b"pong")

        for peer, nc in clients.items():
            await nc.subscribe(subjects.peer_from(peer, "fixture", "ping"), cb=pong)  # as it arrives over a link
        deadline = time.monotonic() + timeout
        pending = {(a, b) for a in urls for b in urls if a != b}
        while pending:
            for a, b in sorted(pending):
                with contextlib.suppress(nats.errors.Error, TimeoutError):
                    await clients[a].request(subjects.peer(b, "fixture", "ping"), b"", timeout=0.5)
                    pending.discard((a, b))
            if pending and time.monotonic() > deadline:
                raise RuntimeError(f"leaf links not up after {timeout:g}s: {sorted(pending)}")
            await asyncio.sleep(0.05)
    finally:
        for nc in clients.values():
            await nc.close()
