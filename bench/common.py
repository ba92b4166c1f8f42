"""Shared set-up for benchmarks: servers (embedded, or real ones from JETFLOW_BENCH_*_URL), an
in-process engine, and a PyMongo command counter."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import tempfile
import uuid
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
from pymongo import monitoring

from engine.embedded import servers

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable

    from nats.aio.client import Client

STEP = {"name": "s", "image": "alpine:3.20"}
"""The one step of the benches' workflow: dispatch writes it out, nothing runs it."""


class CommandCounter(monitoring.CommandListener):
    """Counts every command PyMongo sends (command monitoring), by name."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.counts[event.command_name] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def total(self) -> int:
        return sum(count for name, count in self.counts.items() if name not in {"ping", "hello", "isMaster"})


@contextlib.asynccontextmanager
async def bench_servers() -> AsyncIterator[tuple[str, str, str]]:
    """(nats_url, mongo_url, database): external when JETFLOW_BENCH_NATS_URL / _MONGO_URL are set."""
    database = f"bench{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as folder:
        started = []
        nats_url = os.environ.get("JETFLOW_BENCH_NATS_URL")
        mongo_url = os.environ.get("JETFLOW_BENCH_MONGO_URL")
        try:
            if nats_url is None:
                nats = servers.nats_server(Path(folder))
                await nats.start()
                started.append(nats)
                nats_url = servers.nats_url(nats.port)
            if mongo_url is None:
                mongo = servers.mongo_server(Path(folder), memory=True)
                await mongo.start()
                started.append(mongo)
                mongo_url = servers.mongo_url(mongo.port)
            yield nats_url, mongo_url, database
        finally:
            for child in reversed(started):
                await child.stop()


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def describe(values: list[float]) -> str:
    return (
        f"p50 {quantile(values, 0.5) * 1000:.1f} ms, p99 {quantile(values, 0.99) * 1000:.1f} ms, "
        f"mean {statistics.fmean(values) * 1000:.1f} ms"
    )


async def upsert_catalog(
    nc: Client, resources: Iterable[dict[str, object]], workflows: Iterable[dict[str, object]], timeout: float = 120
) -> None:
    """Publish resources and workflows as another system would, then wait until jetflow lists them all."""
    js = nc.jetstream()
    wanted: dict[str, set[str]] = {"resource": set(), "workflow": set()}
    for family, items in (("resource", resources), ("workflow", workflows)):
        for item in items:
            await js.publish(f"jetflow.{family}.upsert", json.dumps(item).encode())
            wanted[family].add(str(item["id"]))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    for family, ids in wanted.items():
        while ids:
            cursor = None
            while ids:
                page = {"limit": 1000} if cursor is None else {"limit": 1000, "cursor": cursor}
                reply = await nc.request(f"jetflow.ctl.{family}.list", json.dumps(page).encode(), timeout=30)
                listed = json.loads(reply.data)
                ids.difference_update(item["id"] for item in listed["items"])
                if (cursor := listed["next"]) is None:
                    break
            if ids and loop.time() > deadline:
                raise TimeoutError(f"jetflow did not store {len(ids)} {family}s within {timeout:g} s")
            if ids:
                await asyncio.sleep(0.2)


def tree_rss_mib(pid: int, root: str) -> dict[str, float]:
    """RSS in MiB of a process (named `root`) and each of its descendants, summed by process name."""
    process = psutil.Process(pid)
    sizes: dict[str, float] = {root: process.memory_info().rss / 2**20}
    for child in process.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            command = child.cmdline()
            # `python -m engine.embedded.mongo` is named by its module, not "python"
            name = command[command.index("-m") + 1] if "-m" in command[:-1] else child.name()
            sizes[name] = sizes.get(name, 0.0) + child.memory_info().rss / 2**20
    return sizes
