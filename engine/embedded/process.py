"""A child server process: started, waited for until it accepts connections, stopped cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _accepts(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:port."""
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


class ChildServer:
    def __init__(self, name: str, argv: list[str], port: int, log_path: Path) -> None:
        self.name = name
        self.argv = argv
        self.port = port
        self.log_path = log_path
        self._process: asyncio.subprocess.Process | None = None

    async def start(self, timeout: float = 20.0) -> None:
        # The readiness probe below only checks that something accepts connections on the port: if another
        # server already listens there, our child fails to bind but the probe succeeds, and the engine would
        # silently join that foreign server. Refuse a taken port up front instead.
        if await _accepts(self.port):
            raise RuntimeError(f"{self.name}: port {self.port} is already in use; choose another port")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._process = await asyncio.create_subprocess_exec(
                *self.argv, stdout=log, stderr=log, stdin=asyncio.subprocess.DEVNULL, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.returncode is not None:
                raise RuntimeError(f"{self.name} exited with {self._process.returncode}; see {self.log_path}")
            if await _accepts(self.port):
                return
            await asyncio.sleep(0.05)
        await self.stop()
        raise RuntimeError(f"{self.name} did not accept connections on port {self.port} within {timeout:g}s")

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    async def stop(self, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
