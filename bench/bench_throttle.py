"""Throttle: samples per second through the policy, next to nats-py's raw consume-and-ack rate.

Starts nats-server and the embedded store (or uses JETFLOW_BENCH_NATS_URL / _MONGO_URL) and one
engine in this process (its own evaluator off, so nothing competes). Each round stores `--samples`
samples from `--nodes` nodes in JETFLOW_METRICS, then drains the same messages twice through fresh
durable consumers on the same server:

* raw: nats-py pull (batch 256) and an ack per message, nothing else;
* policy: the engine's throttle evaluator (decode, validate, window, thresholds, AckAll per batch,
  commands on level changes, a snapshot at the end).

It prints the median rate of each over the rounds, their ratio, and the store commands the policy
sent per round (level changes and the final snapshot, never one per sample).

    uv run python bench/bench_throttle.py [--samples 20000] [--nodes 100] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats
from nats.aio.client import Client  # noqa: TC002  (no annotations module in scripts run directly)
from nats.js.api import AckPolicy, ConsumerConfig
from pymongo import monitoring

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import CommandCounter, bench_servers
from engine.app import Engine
from engine.settings import Settings
from engine.throttle.evaluator import SAMPLES, Evaluator

STREAM = "JETFLOW_METRICS"


async def store_samples(nc: Client, round_: int, samples: int, nodes: int) -> None:
    """`samples` samples, round-robin over the nodes, a second apart per node; a few nodes run hot."""
    js = nc.jetstream()
    await js.purge_stream(STREAM)
    start = datetime.now(UTC)
    for i in range(samples):
        node, tick = f"n{round_}-{i % nodes}", i // nodes
        at = start + timedelta(seconds=tick)
        cpu = 97.0 if i % nodes < 3 and tick % 40 < 20 else 20.0 + (i % 7)
        body = {"id": f"{node}:{tick}", "node": node, "at": at.isoformat(), "cpu": cpu, "memory": 40, "disk": 50}
        await nc.publish(f"jetflow.metric.sample.{node}", json.dumps(body | {"load": 0.3}).encode())
    await nc.flush()
    while (await js.stream_info(STREAM)).state.messages < samples:  # noqa: ASYNC110  (server-side count)
        await asyncio.sleep(0.05)


async def raw_rate(nc: Client, round_: int, samples: int) -> float:
    js = nc.jetstream()
    config = ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, max_ack_pending=1024)
    subscription = await js.pull_subscribe(SAMPLES, durable=f"raw-{round_}", stream=STREAM, config=config)
    started, handled = time.perf_counter(), 0
    while handled < samples:
        for msg in await subscription.fetch(256, timeout=5):
            await msg.ack()
            handled += 1
    elapsed = time.perf_counter() - started
    await subscription.unsubscribe()
    await js.delete_consumer(STREAM, f"raw-{round_}")
    return samples / elapsed


async def policy_rate(engine: Engine, round_: int, samples: int, counter: CommandCounter) -> tuple[float, int]:
    runtime = engine.runtime
    assert runtime is not None
    evaluator = Evaluator.for_runtime(runtime, runtime.settings.throttle, durable=f"policy-{round_}")
    before = counter.total()
    started = time.perf_counter()
    await evaluator.start()
    while evaluator.handled < samples:  # noqa: ASYNC110  (a counter of the evaluator's task)
        await asyncio.sleep(0.002)
    elapsed = time.perf_counter() - started
    await evaluator.stop()
    await runtime.js.delete_consumer(STREAM, f"policy-{round_}")
    return samples / elapsed, counter.total() - before


async def main(samples: int, nodes: int, rounds: int) -> None:
    counter = CommandCounter()
    monitoring.register(counter)
    async with bench_servers() as (nats_url, mongo_url, database):
        settings = Settings.load(mongo_db=database, throttle_enabled=False, scheduler_enabled=False, _env_file=None)
        engine = Engine(settings, nats_url=nats_url, mongo_url=mongo_url)
        await engine.start()
        nc = await nats.connect(nats_url)
        raw, policy, writes = [], [], []
        try:
            for round_ in range(rounds):
                await store_samples(nc, round_, samples, nodes)
                raw.append(await raw_rate(nc, round_, samples))
                rate, commands = await policy_rate(engine, round_, samples, counter)
                policy.append(rate)
                writes.append(commands)
                print(f"round {round_}: raw {raw[-1]:,.0f}/s  policy {rate:,.0f}/s  store commands {commands}")
        finally:
            await nc.close()
            await engine.stop()
    raw_median, policy_median = statistics.median(raw), statistics.median(policy)
    print(f"\n{samples:,} samples from {nodes} nodes, {rounds} rounds, one process, same nats-server")
    print(f"raw nats-py pull + ack     median {raw_median:>9,.0f} samples/s")
    print(f"throttle policy (engine)   median {policy_median:>9,.0f} samples/s")
    print(f"ratio policy / raw         {policy_median / raw_median:.2f}")
    print(f"store commands per round   median {statistics.median(writes):.0f} (for {samples:,} samples)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=20_000)
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.samples, arguments.nodes, arguments.rounds))
