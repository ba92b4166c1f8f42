"""The embedded store alone: per-operation latency as a collection of executions grows.

Starts `python -m engine.embedded.mongo` as `jetflow up` does (SQLite first, then memory), fills one
collection shaped like jetflow's executions (its indexes too) with insert_many in batches of 1,000 (SQLite: in
process, the store stopped), and at each size times, one at a time through PyMongo's AsyncMongoClient, the
commands jetflow sends: insert_one, insert_many of 10, replace_one, update_one ($set of one field by _id), a
transition (update_one on `{_id, state: {$in}}` with $set, as engine/executions/store.py's `Transitions.move`:
each follows a write, so it never finds the engine's per-collection caches warm from an unchanged store),
find_one_and_update on `{_id, booking}` with $set and $inc, find_one by _id, find `{_id: {$in: [10 ids]}}`,
find by state sorted by planned_at with a limit of 100 (the dispatcher's queue), and count_documents by
booking and planned_at (engine/booking/planned.py). Prints p50 and p90 per operation and size, and the ratio
of medians between the largest and the smallest size (near 1 when an operation does not slow down as the store
fills). With `--unpatched` mongoeco's own engines (without engine/embedded/engines.py) are measured too and
printed side by side: on SQLite on the same file (restarted with `--unpatched` at each size), on memory in a
store they fill themselves, up to `--unpatched-memory-max` documents (their fill is quadratic, see
run_sqlite). An operation is timed `--ops` times, or for about `--seconds`, whichever comes first.

    uv run python bench/bench_store.py [--sizes 1000,10000,100000] [--ops 200] [--unpatched]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mongoeco import AsyncMongoClient as InProcessClient
from pymongo import ASCENDING, AsyncMongoClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import quantile
from engine.embedded import servers
from engine.embedded.engines import PatchedSQLiteEngine

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from pymongo.asynchronous.collection import AsyncCollection

OPERATIONS = (
    "insert_one",
    "insert_many",
    "replace_one",
    "update_one",
    "transition",
    "find_one_and_update",
    "find_one",
    "find_in_ids",
    "find_sorted",
    "count",
)
BATCH = 1_000
#: jetflow's indexes on executions (engine/executions/store.py).
INDEXES = ([("booking", ASCENDING)], [("state", ASCENDING), ("planned_at", ASCENDING)], [("resources", ASCENDING)])
BASE = datetime(2026, 12, 1, 10, 30, tzinfo=UTC)
#: (engine, variant, size, operation) -> latencies in seconds
Results = dict[tuple[str, str, int, str], list[float]]


def execution(index: int) -> dict[str, Any]:
    planned = BASE + timedelta(minutes=index)
    return {
        "_id": f"bk-{index}-{planned:%Y%m%dt%H%M%S}",
        "booking": f"bk-{index}",
        "workflow": f"wf-{index % 20}",
        "resources": [f"node-{index % 7}", f"minio-{index % 3}"],
        "planned_at": planned,
        "state": "planned",
        "updated_at": BASE,
    }


async def timed(operation: Callable[[int], Awaitable[Any]], ops: int, seconds: float) -> list[float]:
    runs: list[float] = []
    deadline = time.monotonic() + seconds
    while len(runs) < ops and (len(runs) < 5 or time.monotonic() < deadline):
        began = time.perf_counter()
        await operation(len(runs))
        runs.append(time.perf_counter() - began)
    return runs


async def measure(
    executions: AsyncCollection[dict[str, Any]], stored: int, ops: int, seconds: float
) -> tuple[int, dict[str, list[float]]]:
    """Latencies at `stored` documents; returns how many are stored afterwards (insert_one adds some)."""
    pick = random.Random(stored)
    inserted = 0

    async def insert_one(_: int) -> None:
        nonlocal inserted
        await executions.insert_one(execution(stored + inserted))
        inserted += 1

    async def replace_one(i: int) -> None:
        document = execution(pick.randrange(stored))
        await executions.replace_one({"_id": document["_id"]}, {**document, "state": "running", "attempt": i})

    async def update_one(i: int) -> None:
        at = BASE + timedelta(seconds=i)
        await executions.update_one({"_id": execution(pick.randrange(stored))["_id"]}, {"$set": {"updated_at": at}})

    async def insert_many(_: int) -> None:
        nonlocal inserted
        await executions.insert_many([execution(stored + inserted + i) for i in range(10)])
        inserted += 10

    async def transition(i: int) -> None:
        target = execution(pick.randrange(stored))["_id"]
        state = "running" if i % 2 else "due"
        # The state filter makes it a compare-and-set: any state but the target's own may precede it.
        others = ["planned", "due", "running", "done"]
        others.remove(state)
        await executions.update_one(
            {"_id": target, "state": {"$in": others}},
            {"$set": {"state": state, "updated_at": BASE + timedelta(seconds=i), "reason": ""}},
        )

    async def find_one_and_update(i: int) -> None:
        document = execution(pick.randrange(stored))
        found = await executions.find_one_and_update(
            {"_id": document["_id"], "booking": document["booking"]},
            {"$set": {"updated_at": BASE + timedelta(seconds=i)}, "$inc": {"version": 1}},
        )
        assert found is not None

    async def find_one(_: int) -> None:
        found = await executions.find_one({"_id": execution(pick.randrange(stored))["_id"]})
        assert found is not None

    async def find_in_ids(_: int) -> None:
        ids = [execution(pick.randrange(stored))["_id"] for _ in range(10)]
        assert len(await executions.find({"_id": {"$in": ids}}).to_list()) == len(set(ids))

    async def find_sorted(_: int) -> None:
        await (
            executions.find({"state": "due"}).sort([("planned_at", ASCENDING), ("_id", ASCENDING)]).limit(100).to_list()
        )

    async def count(_: int) -> None:
        index = pick.randrange(stored)
        since = BASE + timedelta(minutes=index)
        assert await executions.count_documents({"booking": f"bk-{index}", "planned_at": {"$gte": since}}) == 1

    steps = {
        "insert_one": insert_one,
        "insert_many": insert_many,
        "replace_one": replace_one,
        "update_one": update_one,
        "transition": transition,
        "find_one_and_update": find_one_and_update,
        "find_one": find_one,
        "find_in_ids": find_in_ids,
        "find_sorted": find_sorted,
        "count": count,
    }
    latencies = {name: await timed(step, ops, seconds) for name, step in steps.items()}
    return stored + inserted, latencies


@contextlib.asynccontextmanager
async def store(folder: Path, engine: str, variant: str) -> AsyncIterator[AsyncCollection[dict[str, Any]]]:
    """The executions collection on a store child started as `jetflow up` starts it."""
    child = servers.mongo_server(folder, memory=engine == "memory")
    if variant == "unpatched":
        child.argv.append("--unpatched")
    await child.start()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(servers.mongo_url(child.port))
    try:
        executions = client["bench"]["executions"]
        for keys in INDEXES:
            await executions.create_index(keys)
        yield executions
    finally:
        await client.close()
        await child.stop()


async def fill(executions: AsyncCollection[dict[str, Any]], stored: int, size: int) -> int:
    began = time.perf_counter()
    while stored < size:
        batch = min(BATCH, size - stored)
        await executions.insert_many([execution(stored + i) for i in range(batch)])
        stored += batch
    print(f"  filled to {size} documents in {time.perf_counter() - began:.1f} s", flush=True)
    return stored


async def fill_file(folder: Path, stored: int, size: int) -> int:
    """SQLite with the store child stopped: mongoeco's in-process client uses the engine's batch insert, where
    the wire `insert` command stores one document at a time (100k documents: minutes instead of an hour)."""
    client = InProcessClient(PatchedSQLiteEngine(str(folder / "store.sqlite3")))
    async with client:
        executions = client["bench"]["executions"]
        for keys in INDEXES:
            await executions.create_index(keys)
        began = time.perf_counter()
        while stored < size:
            batch = min(BATCH, size - stored)
            await executions.insert_many([execution(stored + i) for i in range(batch)])
            stored += batch
    print(f"  filled to {size} documents in {time.perf_counter() - began:.1f} s (in process)", flush=True)
    return stored


async def record(
    executions: AsyncCollection[dict[str, Any]], key: tuple[str, str, int], stored: int, args: Options
) -> int:
    stored, latencies = await measure(executions, stored, args.ops, args.seconds)
    engine, variant, size = key
    for name, runs in latencies.items():
        args.results[engine, variant, size, name] = runs
    line = ", ".join(f"{name} {statistics.median(runs) * 1000:.1f} ms" for name, runs in latencies.items())
    print(f"  {engine:<6} {variant:<9} {size:>7} docs: p50 {line}", flush=True)
    return stored


async def run_sqlite(args: Options) -> None:
    """Both variants on one file, filled in process (the library's own engine could not fill it over the wire:
    each document inserted alone, each with the whole-collection scan, so a fill is quadratic)."""
    with tempfile.TemporaryDirectory() as name:
        folder, stored = Path(name), 0
        for size in args.sizes:
            stored = await fill_file(folder, stored, size)
            for variant in ("patched", "unpatched") if args.unpatched else ("patched",):
                async with store(folder, "sqlite", variant) as executions:  # each from a fresh start
                    stored = await record(executions, ("sqlite", variant, size), stored, args)


async def run_memory(args: Options) -> None:
    """Each variant fills its own store; the library's own only up to --unpatched-memory-max (quadratic fill)."""
    for variant in ("patched", "unpatched") if args.unpatched else ("patched",):
        sizes = [size for size in args.sizes if variant == "patched" or size <= args.unpatched_memory_max]
        with tempfile.TemporaryDirectory() as name:
            stored = 0
            async with store(Path(name), "memory", variant) as executions:
                for size in sizes:
                    stored = await fill(executions, stored, size)
                    stored = await record(executions, ("memory", variant, size), stored, args)


def ms(runs: list[float] | None, q: float) -> str:
    return "-" if not runs else f"{quantile(runs, q) * 1000:.1f}"


def report(results: Results, engines: list[str], variants: list[str], sizes: list[int]) -> None:
    header = f"{'engine':<7}{'docs':>8}  {'operation':<20}"
    for variant in variants:
        header += f"{variant + ' p50':>16}{'p90':>8}{'n':>5}"
    print("\nlatency in ms")
    print(header)
    for engine in engines:
        for size in sizes:
            for name in OPERATIONS:
                row = f"{engine:<7}{size:>8}  {name:<20}"
                for variant in variants:
                    runs = results.get((engine, variant, size, name))
                    row += f"{ms(runs, 0.5):>16}{ms(runs, 0.9):>8}{len(runs or []):>5}"
                print(row)
    small, large = min(sizes), max(sizes)
    print(f"\nratio of medians, {large} / {small} documents")
    print(f"{'engine':<7}{'operation':<20}" + "".join(f"{variant:>12}" for variant in variants))
    for engine in engines:
        for name in OPERATIONS:
            row = f"{engine:<7}{name:<20}"
            for variant in variants:
                low, high = results.get((engine, variant, small, name)), results.get((engine, variant, large, name))
                row += f"{statistics.median(high) / statistics.median(low):>12.1f}" if low and high else f"{'-':>12}"
            print(row)


@dataclass
class Options:
    engines: list[str]
    sizes: list[int]
    ops: int
    seconds: float
    unpatched: bool
    unpatched_memory_max: int
    results: Results = field(default_factory=dict)


async def bench(args: Options) -> None:
    for engine in args.engines:
        await (run_sqlite if engine == "sqlite" else run_memory)(args)
    variants = ["patched", "unpatched"] if args.unpatched else ["patched"]
    report(args.results, args.engines, variants, args.sizes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="sqlite,memory", help="comma-separated: sqlite, memory")
    parser.add_argument("--sizes", default="1000,10000,100000", help="documents stored before each measurement")
    parser.add_argument("--ops", type=int, default=200, help="timed operations per operation kind and size")
    parser.add_argument("--seconds", type=float, default=10.0, help="or stop timing an operation after this long")
    parser.add_argument("--unpatched", action="store_true", help="also measure mongoeco's own engines")
    # Beyond ~2,000 documents one insert_many of 1,000 blocks the unpatched memory store's event loop for
    # longer than PyMongo's monitor waits (the scan runs on the loop): the client drops the connection.
    parser.add_argument("--unpatched-memory-max", type=int, default=1_000, help="largest size for memory, unpatched")
    args = parser.parse_args()
    options = Options(
        engines=args.engines.split(","),
        sizes=sorted(int(size) for size in args.sizes.split(",")),
        ops=args.ops,
        seconds=args.seconds,
        unpatched=args.unpatched,
        unpatched_memory_max=args.unpatched_memory_max,
    )
    asyncio.run(bench(options))


if __name__ == "__main__":
    main()
