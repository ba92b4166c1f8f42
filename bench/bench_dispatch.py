"""Dispatch: memory of ONE watcher following 1,000 workflows, next to one monitor process per execution.

Starts kmock (a real HTTP server speaking the Kubernetes API, in this process), nats-server and the
embedded store (or JETFLOW_BENCH_NATS_URL / _MONGO_URL), and the engine as its own process
(`python -m engine run` with a kubeconfig pointing at kmock), so its RSS is its own. Then:

* engine RSS (median of samples) with no workflow, and once `--executions` workflows (with a status
  the size Argo writes for a few steps) are followed by its watcher (`jetflow.ctl.dispatch.status`
  says `watched`): the difference per watched execution;
* the RSS of `--monitors` processes of bench/monitor_one.py (import the kubernetes client, watch one
  workflow: the original system's monitor without its container), median × `--executions`.
  A container adds its runtime's overhead on top (not counted here).

    uv run python bench/bench_dispatch.py [--executions 1000] [--monitors 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_scheduler import rss_mib
from bench.common import bench_servers
from engine.kube import names
from tests.support.kube import declare_kinds, kubeconfig, namespace_aware_parser
from tests.support.streams import request_json

if TYPE_CHECKING:
    from nats.aio.client import Client

HERE = Path(__file__).resolve().parent


def workflow(index: int) -> dict[str, Any]:
    execution = f"bench-{index:05d}"
    namespace = names.namespace(execution)
    nodes = {
        f"{names.workflow(execution)}-{step}": {"phase": "Running", "displayName": step, "type": "Pod"}
        for step in ("fetch", "run", "publish")
    }
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {
            "name": names.workflow(execution),
            "namespace": namespace,
            "labels": {names.MANAGED_BY: names.MANAGER, names.PEER: "local", names.EXECUTION: execution},
            "annotations": {names.EXECUTION: execution, names.BOOKING: "bench"},
        },
        "spec": {"entrypoint": "main", "templates": [{"name": "main", "container": {"image": "alpine:3.20"}}]},
        "status": {"phase": "Pending", "progress": "0/3", "nodes": nodes},
    }


async def sampled_rss(pid: int, samples: int = 7, every: float = 0.3) -> float:
    values = []
    for _ in range(samples):
        values.append(rss_mib(pid))
        await asyncio.sleep(every)
    return statistics.median(values)


async def wait_watched(nc: Client, count: int, timeout: float = 300.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            status = await request_json(nc, "jetflow.ctl.dispatch.status", {})
        except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
            await asyncio.sleep(0.5)  # the engine is still starting
            continue
        if status.get("leader") and status.get("watched", 0) >= count:
            return time.monotonic() - started
        await asyncio.sleep(0.5)
    raise RuntimeError(f"the watcher did not follow {count} workflows within {timeout}s")


async def main(executions: int, monitors: int) -> None:
    import kmock
    from kmock._internal import parsing

    from engine.kube.connect import connect
    from engine.settings import Settings

    parsing.parse_path = namespace_aware_parser()
    async with (
        bench_servers() as (nats_url, mongo_url, database),
        kmock.KubernetesEmulator() as emulator,
        kmock.Server(emulator) as server,
    ):
        declare_kinds(emulator)
        folder = Path(tempfile.mkdtemp())
        config = kubeconfig(folder / "kubeconfig", str(server.url).rstrip("/"))
        env = {
            **os.environ,
            "JETFLOW_NATS_URL": nats_url,
            "JETFLOW_MONGO_URL": mongo_url,
            "JETFLOW_MONGO_DB": database,
            "JETFLOW_KUBECONFIG": str(config),
            "JETFLOW_SCHEDULER_ENABLED": "false",
        }
        engine = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "engine", "run", env=env, stderr=asyncio.subprocess.DEVNULL
        )
        nc = await nats.connect(nats_url)
        try:
            await wait_watched(nc, 0, timeout=60)
            await asyncio.sleep(2)
            idle = await sampled_rss(engine.pid)

            kube = await connect(Settings.load(kubeconfig=config, _env_file=None).kube)
            assert kube is not None
            creating = time.monotonic()
            for index in range(executions):
                await kube.create(workflow(index))
            await kube.close()
            await wait_watched(nc, executions)
            took = time.monotonic() - creating
            await asyncio.sleep(2)
            watching = await sampled_rss(engine.pid)
        finally:
            await nc.close()
            engine.terminate()
            await engine.wait()

        monitor_rss = []
        processes = []
        for index in range(monitors):
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                str(HERE / "monitor_one.py"),
                str(config),
                names.namespace(f"bench-{index:05d}"),
                names.workflow(f"bench-{index:05d}"),
                stdout=asyncio.subprocess.PIPE,
            )
            processes.append(process)
        for process in processes:
            assert process.stdout is not None
            await process.stdout.readline()  # "watching"
        await asyncio.sleep(2)
        for process in processes:
            monitor_rss.append(await sampled_rss(process.pid, samples=3))
            process.terminate()
            await process.wait()

    per_execution_kib = (watching - idle) * 1024 / executions
    one_monitor = statistics.median(monitor_rss)
    print(f"executions watched                     {executions} (created and followed in {took:.1f} s)")
    print(f"engine RSS, no workflow (median)       {idle:.2f} MiB")
    print(f"engine RSS, {executions} watched (median)    {watching:.2f} MiB")
    print(f"  per watched execution                {per_execution_kib:.1f} KiB")
    print(f"one monitor process (median of {monitors})    {one_monitor:.1f} MiB")
    monitors_gib = one_monitor * executions / 1024
    print(f"  x {executions} monitors                     {monitors_gib:.1f} GiB (containers not counted)")
    print(f"ratio monitors / engine                {one_monitor * executions / watching:.0f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--executions", type=int, default=1000)
    parser.add_argument("--monitors", type=int, default=5)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.executions, arguments.monitors))
