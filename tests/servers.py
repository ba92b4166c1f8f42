"""Real protocol servers for tests: nats-server and mongoeco's wire server, or external ones.

Set JETFLOW_TEST_NATS_URL / JETFLOW_TEST_MONGO_URL to run the same suite against real servers; the
fixtures then isolate tests by deleting jetflow's streams (NATS) and using a fresh database (MongoDB).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING

from engine.embedded import servers

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from engine.embedded.process import ChildServer

EXTERNAL_NATS = os.environ.get("JETFLOW_TEST_NATS_URL")
EXTERNAL_MONGO = os.environ.get("JETFLOW_TEST_MONGO_URL")
#: A kubeconfig of a real cluster (with Argo's CRDs) to run the Kubernetes tests against instead of kmock.
EXTERNAL_KUBECONFIG = os.environ.get("JETFLOW_TEST_KUBECONFIG")


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
        wait_for_port(child.port, process)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def nats_server(state: Path) -> Iterator[str]:
    child = servers.nats_server(state)
    with running(child):
        yield servers.nats_url(child.port)


@contextmanager
def mongo_server(state: Path) -> Iterator[str]:
    child = servers.mongo_server(state, memory=True)
    with running(child):
        yield servers.mongo_url(child.port)
