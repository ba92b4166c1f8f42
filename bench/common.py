"""Shared set-up for benchmarks: servers (embedded, or real ones from JETFLOW_BENCH_*_URL), an
in-process engine, and a PyMongo command counter."""

from __future__ import annotations

import contextlib
import os
import statistics
import tempfile
import uuid
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from pymongo import monitoring

from engine.embedded import servers

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


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
