"""Bookings end to end: confirmed bookings per second, request/reply latency, store commands per booking.

Runs the engine in this process (so PyMongo command monitoring sees its commands) against
nats-server and the embedded MongoDB-wire store (mongoeco's memory engine, or with
JETFLOW_BENCH_STORE=sqlite the SQLite engine `jetflow up` runs), or real servers given by
JETFLOW_BENCH_NATS_URL / JETFLOW_BENCH_MONGO_URL. Prints, for the bookings (all on the same two resources)
and then for vs_temporal.py's job a (one-shot bookings starting now, one resource each, until their
`execution.due`): rate, latency, store commands per booking and CPU milliseconds per booking of this
process (engine and client), the store and nats-server. CPU is steadier than wall time on a shared machine.

    JETFLOW_BENCH_STORE=sqlite uv run python bench/bench_bookings.py [--bookings 200] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
from pymongo import monitoring

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import CommandCounter, bench_servers, cpu_seconds, cpu_used, describe, upsert_catalog
from engine.app import Engine
from engine.settings import Settings


async def request(nc: Any, body: dict[str, Any]) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    reply = await nc.request("jetflow.ctl.booking.request", json.dumps(body).encode(), timeout=60)
    return json.loads(reply.data), time.perf_counter() - started


async def main(bookings: int, concurrency: int) -> None:
    counter = CommandCounter()
    monitoring.register(counter)
    async with bench_servers() as (nats_url, mongo_url, database):
        engine = Engine(Settings.load(mongo_db=database, _env_file=None), nats_url=nats_url, mongo_url=mongo_url)
        await engine.start()
        nc = await nats.connect(nats_url)
        js = nc.jetstream()
        await js.publish("jetflow.resource.upsert", json.dumps({"id": "node-a", "capacity": 100_000}).encode())
        await js.publish("jetflow.resource.upsert", json.dumps({"id": "minio-b", "capacity": 100_000}).encode())
        step = {"name": "s", "image": "alpine:3.20"}
        await js.publish("jetflow.workflow.upsert", json.dumps({"id": "wf", "steps": [step]}).encode())
        await asyncio.sleep(1)
        base = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=10)
        run = f"{int(time.time()):x}"  # ids unique per run: a rerun on the same server is not a replay

        def booking(i: int, cron: bool) -> dict[str, Any]:
            start = base + timedelta(minutes=i)
            body = {
                "id": f"b{'c' if cron else 'o'}-{run}-{i}",
                "workflow": "wf",
                "resources": ["node-a", "minio-b"],
                "start": start.isoformat(),
                "end": (start + timedelta(minutes=1)).isoformat(),
            }
            return {**body, "cron": "0-10 * * * * *"} if cron else body

        print(f"store: {mongo_url.split('?')[0]}  nats: {nats_url}")
        per_kind = {}
        for kind, cron in (("one-shot (1 execution)", False), ("cron (11 executions)", True)):
            counter.counts.clear()
            samples = 20
            for i in range(samples):
                reply, _ = await request(nc, booking(10_000 + i + (500 if cron else 0), cron))
                assert reply["status"] == "confirmed", reply
            commands = dict(counter.counts)
            per_kind[kind] = counter.total() / samples
            detail = ", ".join(f"{name} {count / samples:.1f}" for name, count in sorted(commands.items()))
            print(f"store commands per booking, {kind}: {per_kind[kind]:.1f}  ({detail})")
        one, eleven = per_kind.values()
        print(f"ratio cron-11 / one-shot: {eleven / one:.2f}  (constant cost: 1.00; per-execution cost would be ~11)")

        semaphore = asyncio.Semaphore(concurrency)
        latencies: list[float] = []

        async def one_booking(i: int) -> str:
            async with semaphore:
                reply, latency = await request(nc, booking(i, cron=i % 2 == 1))
                latencies.append(latency)
                return str(reply["status"])

        started, cpu, commands = time.perf_counter(), cpu_seconds(), counter.counts.copy()
        statuses = await asyncio.gather(*(one_booking(i) for i in range(bookings)))
        elapsed = time.perf_counter() - started
        confirmed = statuses.count("confirmed")
        print(
            f"{bookings} bookings (half cron-11), concurrency {concurrency}: {confirmed} confirmed in {elapsed:.1f} s "
            f"= {confirmed / elapsed:.1f} confirmed/s; request/reply {describe(latencies)}"
        )
        print(cpu_used(cpu, bookings, "booking"))
        sent = counter.counts - commands
        print(f"store commands per booking, all features: {sum(sent.values()) / bookings:.1f}  ({dict(sent)})")
        await started_executions(nc, counter, bookings, concurrency, run)
        await nc.close()
        await engine.stop()


async def started_executions(nc: Any, counter: CommandCounter, bookings: int, concurrency: int, run: str) -> None:
    """vs_temporal.py's job a, in this process so its store commands are counted: one-shot bookings starting now,
    each on its own resource, `concurrency` in flight, each slot held until the execution's `due` event arrives."""
    await upsert_catalog(nc, [{"id": f"n-{run}-{i}"} for i in range(bookings)], [])
    due: dict[str, asyncio.Future[None]] = {}

    async def on_due(msg: Any) -> None:
        booking = json.loads(msg.data).get("booking")
        if booking in due and not due[booking].done():
            due[booking].set_result(None)

    subscription = await nc.subscribe("jetflow.execution.due", cb=on_due)
    semaphore = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with semaphore:
            key = f"s-{run}-{i}"
            due[key] = asyncio.get_running_loop().create_future()
            start = datetime.now(UTC)
            body = {"id": key, "workflow": "wf", "resources": [f"n-{run}-{i}"], "start": start.isoformat()}
            body["end"] = (start + timedelta(minutes=1)).isoformat()
            reply, _ = await request(nc, body)
            assert reply["status"] == "confirmed", reply
            await asyncio.wait_for(due[key], 60)

    began, cpu, commands = time.perf_counter(), cpu_seconds(), counter.counts.copy()
    await asyncio.gather(*(one(i) for i in range(bookings)))
    elapsed = time.perf_counter() - began
    await subscription.unsubscribe()
    sent = counter.counts - commands
    print(
        f"{bookings} bookings starting now to due executions (vs_temporal job a), concurrency {concurrency}: "
        f"{bookings / elapsed:.1f} started/s; store commands per started execution {sum(sent.values()) / bookings:.1f}"
        f"  ({dict(sent)})"
    )
    print(cpu_used(cpu, bookings, "started execution"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bookings", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.bookings, arguments.concurrency))
