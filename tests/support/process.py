"""jetflow as a separate process, started the way an operator would (`jetflow run`)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from nats.aio.client import Client


class EngineProcess:
    def __init__(self, nats_url: str, mongo_url: str, database: str, log: Path, **settings: str) -> None:
        self.env = {
            **os.environ,
            "JETFLOW_NATS_URL": nats_url,
            "JETFLOW_MONGO_URL": mongo_url,
            "JETFLOW_MONGO_DB": database,
            **{f"JETFLOW_{key.upper()}": value for key, value in settings.items()},
        }
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "engine", "run"], env=self.env, stdout=out, stderr=out, stdin=subprocess.DEVNULL
            )

    def kill(self) -> None:
        """SIGKILL: no cleanup, in-flight messages stay unacknowledged."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


async def wait_for_instances(nc: Client, count: int, timeout: float = 30.0) -> None:
    """Until `count` instances of the micro service answer $SRV.PING.jetflow."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        inbox = nc.new_inbox()
        subscription = await nc.subscribe(inbox)
        await nc.publish("$SRV.PING.jetflow", b"", reply=inbox)
        seen = set()
        end = time.monotonic() + 0.3
        while time.monotonic() < end:
            try:
                msg = await subscription.next_msg(timeout=max(0.01, end - time.monotonic()))
            except TimeoutError:
                break
            if msg.data:  # an empty body is the server's "no responders" status
                seen.add(json.loads(msg.data)["id"])
        await subscription.unsubscribe()
        if len(seen) >= count:
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"fewer than {count} jetflow instances answered")
