"""Shared set-up for benchmarks: servers (embedded, or real ones from JETFLOW_BENCH_*_URL), an
in-process engine, a PyMongo command counter, and `jetflow up` as a child process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
from pymongo import monitoring

from engine.embedded import servers
from engine.embedded.process import free_port

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


_CHILDREN: dict[str, int | None] = {}
"""Name → pid of the servers bench_servers started."""


def cpu_seconds() -> dict[str, float]:
    """CPU seconds (user + system) used so far by this process and the servers bench_servers started: on a
    shared machine they are steadier than wall time."""
    used = {"this process": psutil.Process()}
    used |= {name: psutil.Process(pid) for name, pid in _CHILDREN.items() if pid is not None and psutil.pid_exists(pid)}
    return {name: sum(process.cpu_times()[:2]) for name, process in used.items()}


def cpu_used(before: dict[str, float], count: int, unit: str) -> str:
    """CPU milliseconds per `unit` since `before`, by process."""
    after = cpu_seconds()
    parts = [f"{name} {(after[name] - before.get(name, 0.0)) * 1000 / count:.1f} ms" for name in after]
    return f"CPU per {unit}: " + ", ".join(parts)


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
                _CHILDREN[nats.name] = nats.pid
                nats_url = servers.nats_url(nats.port)
            if mongo_url is None:
                # JETFLOW_BENCH_STORE=sqlite: the store `jetflow up` runs; the memory engine otherwise.
                memory = os.environ.get("JETFLOW_BENCH_STORE", "memory") != "sqlite"
                mongo = servers.mongo_server(Path(folder), memory=memory)
                await mongo.start()
                started.append(mongo)
                _CHILDREN[mongo.name] = mongo.pid
                mongo_url = servers.mongo_url(mongo.port)
            yield nats_url, mongo_url, database
        finally:
            for child in reversed(started):
                await child.stop()
                _CHILDREN.pop(child.name, None)


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


# --- jetflow up as a child process (bench/vs_temporal.py, bench/bench_large.py) --------------------


def jetflow_command() -> list[str]:
    script = Path(sys.executable).parent / "jetflow"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "engine"]


class Children:
    """Every process a bench started, stopped at the end whatever happens (SIGTERM, then SIGKILL)."""

    def __init__(self) -> None:
        self.processes: list[asyncio.subprocess.Process] = []

    async def start(
        self, command: list[str], log: Path, *, pipe: bool = False, **options: Any
    ) -> asyncio.subprocess.Process:
        with log.open("ab") as out:
            process = await asyncio.create_subprocess_exec(
                *command,
                stdout=asyncio.subprocess.PIPE if pipe else out,
                stderr=out,
                stdin=asyncio.subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C reaches the bench only; it stops them in order
                **options,
            )
        self.processes.append(process)
        return process

    async def stop(self, process: asyncio.subprocess.Process, timeout: float = 30) -> None:
        tree = []
        with contextlib.suppress(psutil.NoSuchProcess):
            root = psutil.Process(process.pid)
            tree = [root, *root.children(recursive=True)]
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), timeout)
        for member in tree:
            with contextlib.suppress(psutil.NoSuchProcess):
                if member.is_running():
                    member.kill()
        if process.returncode is None:
            await process.wait()
        if process in self.processes:
            self.processes.remove(process)

    async def stop_all(self) -> None:
        for process in reversed(list(self.processes)):
            await self.stop(process)


async def wait_for_line(log: Path, text: str, process: asyncio.subprocess.Process, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in (seen := await asyncio.to_thread(log.read_text, errors="replace")):
        if process.returncode is not None or time.monotonic() > deadline:
            tail = "\n".join(seen.splitlines()[-20:])
            raise RuntimeError(f"{text!r} not seen in {log} (exit {process.returncode}):\n{tail}")
        await asyncio.sleep(0.1)


async def start_jetflow_up(
    children: Children, folder: Path, timeout: float = 120
) -> tuple[asyncio.subprocess.Process, int, list[str]]:
    """`jetflow up --state-dir <folder>/jetflow --nats-port <free>`, ready: (process, NATS port, command).

    A clean environment: no JETFLOW_* from the caller's shell, no .env (cwd is `folder`), and dispatch
    writes manifests to a folder, so no cluster is touched even with a kubeconfig. Its log is
    `<folder>/jetflow.log`.
    """
    port = free_port()
    state = folder / "jetflow"
    log = folder / "jetflow.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("JETFLOW_")}
    env["JETFLOW_MANIFESTS_DIR"] = str(state / "manifests")
    command = [*jetflow_command(), "up", "--state-dir", str(state), "--nats-port", str(port)]
    up = await children.start(command, log, env=env, cwd=folder)
    await wait_for_line(log, "jetflow ready", up, timeout)
    return up, port, command
