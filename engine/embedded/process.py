"""A child server process: started, waited for until it accepts connections, stopped cleanly.

Children run in their own session, so a `jetflow up` killed with SIGKILL leaves them running: the
replicas that share them keep working, and nothing is half-written. Each child records itself in a
pid file under the state folder right after it is spawned; the next `jetflow up` on that folder
adopts a recorded server that still runs the same command (same data, same port, so URLs handed to
other replicas stay valid) and stops one it started differently before starting its own. A process
counts as recorded only if its pid, start time and command line all match: a pid alone may belong
to anything after a reboot.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import socket
import time
from typing import TYPE_CHECKING, Any

import psutil

if TYPE_CHECKING:
    from pathlib import Path

log = logging.getLogger(__name__)


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


def recorded(pid_file: Path) -> dict[str, Any] | None:
    """What a pid file says ({"pid", "started", "port", "argv"}), or None when it is missing or unreadable."""
    try:
        data = json.loads(pid_file.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("pid"), int) else None


def still_running(known: dict[str, Any]) -> psutil.Process | None:
    """The process a pid file recorded, if it still runs: same pid, same start time, same command."""
    process = runs_command(known)
    try:
        return process if process is not None and round(process.create_time(), 2) == known.get("started") else None
    except psutil.Error:
        return None


def runs_command(known: dict[str, Any]) -> psutil.Process | None:
    """The process of a pid file's pid, if it runs the recorded command line. Its start time is not compared:
    psutil derives it from the boot time, which a step of the wall clock moves (20 s seen here)."""
    try:
        process = psutil.Process(known["pid"])
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return process if process.cmdline() == known.get("argv") else None
    except psutil.Error:
        return None


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(text)
    partial.replace(path)


class ChildServer:
    def __init__(
        self,
        name: str,
        argv: list[str],
        port: int,
        log_path: Path,
        pid_file: Path | None = None,
        *,
        start_timeout: float = 20.0,
    ) -> None:
        self.name = name
        self.start_timeout = start_timeout
        self.argv = argv
        self.port = port
        self.log_path = log_path
        self.pid_file = pid_file
        self._process: asyncio.subprocess.Process | None = None
        self._adopted: psutil.Process | None = None

    async def start(self, timeout: float | None = None) -> None:
        timeout = self.start_timeout if timeout is None else timeout
        if await self._adopt_or_clear():
            return
        # The readiness probe below only checks that something accepts connections on the port: if another
        # server already listens there, our child fails to bind but the probe succeeds, and the engine would
        # silently join that foreign server. Refuse a taken port up front instead.
        if await _accepts(self.port):
            raise RuntimeError(f"{self.name}: port {self.port} is already in use; choose another port")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log_file:
            self._process = await asyncio.create_subprocess_exec(
                *self.argv, stdout=log_file, stderr=log_file, stdin=asyncio.subprocess.DEVNULL, start_new_session=True
            )
        self._record()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.returncode is not None:
                raise RuntimeError(f"{self.name} exited with {self._process.returncode}; see {self.log_path}")
            if await _accepts(self.port):
                return
            await asyncio.sleep(0.05)
        await self.stop()
        raise RuntimeError(f"{self.name} did not accept connections on port {self.port} within {timeout:g}s")

    async def _adopt_or_clear(self) -> bool:
        """Adopt the server a killed `jetflow up` left running on this state folder, or stop a stale one."""
        if self.pid_file is None or (known := recorded(self.pid_file)) is None:
            return False
        process = still_running(known)
        if process is not None and known["argv"] == self.argv and await _accepts(self.port):
            log.warning(
                "%s: adopting pid %d, left running on port %d by an earlier jetflow", self.name, process.pid, self.port
            )
            self._adopted = process
            return True
        if process is not None:
            # Started from this folder, but differently (another port) or never ready: it holds the data.
            log.warning("%s: stopping pid %d, left by an earlier jetflow with other options", self.name, process.pid)
            await _terminate(process)
        self.pid_file.unlink(missing_ok=True)
        return False

    def _record(self) -> None:
        """Right after the spawn, so a `jetflow up` killed while its child starts still leaves a trace."""
        if self.pid_file is None or self._process is None:
            return
        with contextlib.suppress(psutil.Error):  # the child died at once: start() reports it
            started = round(psutil.Process(self._process.pid).create_time(), 2)
            record = {"pid": self._process.pid, "started": started, "port": self.port, "argv": self.argv}
            _write_atomically(self.pid_file, json.dumps(record))

    @property
    def adopted(self) -> bool:
        """Running a server an earlier `jetflow up` started (not our child)."""
        return self._adopted is not None

    @property
    def pid(self) -> int | None:
        if self._adopted is not None:
            return self._adopted.pid
        return self._process.pid if self._process else None

    async def stop(self, timeout: float = 10.0) -> None:
        adopted, self._adopted = self._adopted, None
        process, self._process = self._process, None
        if adopted is not None:
            await _terminate(adopted, timeout)
        elif process is not None and process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout)
            except TimeoutError:
                process.kill()
                await process.wait()
        else:
            return
        if self.pid_file is not None:
            self.pid_file.unlink(missing_ok=True)


async def _terminate(process: psutil.Process, timeout: float = 10.0) -> None:
    """SIGTERM a process that is not our child, then SIGKILL it if it does not go within `timeout`."""
    with contextlib.suppress(psutil.Error):
        process.terminate()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(psutil.Error):
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                await asyncio.sleep(0.05)
                continue
        return
    with contextlib.suppress(psutil.Error):
        process.kill()
        await asyncio.to_thread(process.wait, timeout)
