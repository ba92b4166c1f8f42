"""jetflow as a separate process, started the way an operator would (`jetflow run`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

from tests.support.polling import eventually

if TYPE_CHECKING:
    from collections.abc import Iterable
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

    def terminate(self) -> None:
        """SIGTERM without waiting: `stop` then waits (see `stop_all`)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def stop_all(engines: Iterable[EngineProcess]) -> None:
    """Stop several at once: each drains its in-flight messages while the others do, not one after another."""
    engines = list(engines)
    for engine in engines:
        engine.terminate()
    for engine in engines:
        engine.stop()


async def instances(nc: Client) -> set[str]:
    """Ids of the micro service instances that answer $SRV.PING.jetflow within 0.3 s."""
    inbox = nc.new_inbox()
    subscription = await nc.subscribe(inbox)
    await nc.publish("$SRV.PING.jetflow", b"", reply=inbox)
    seen = set()
    end = time.monotonic() + 0.3
    while time.monotonic() < end:  # every answer to one ping, not a poll
        try:
            msg = await subscription.next_msg(timeout=max(0.01, end - time.monotonic()))
        except TimeoutError:
            break
        if msg.data:  # an empty body is the server's "no responders" status
            seen.add(json.loads(msg.data)["id"])
    await subscription.unsubscribe()
    return seen


async def wait_for_instances(nc: Client, count: int, timeout: float = 90.0) -> None:
    """Until `count` instances of the micro service answer $SRV.PING.jetflow. A `jetflow run` imports the
    whole stack first (~4 s of CPU): several starting at once, beside other tests, may need a minute."""
    if (
        len(await eventually(lambda: instances(nc), lambda seen: len(seen) >= count, timeout=timeout, interval=0.2))
        < count
    ):
        raise TimeoutError(f"fewer than {count} jetflow instances answered")
