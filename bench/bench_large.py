"""Large bookings from a user's seat (issue 12): a running `jetflow up`, spoken to only over NATS.

Starts `jetflow up --state-dir <tmp> --nats-port <free>` as a child process (nats-server, the embedded
MongoDB-wire store on SQLite, the engine; dispatch writes manifests to a folder), registers the catalog
as another system would, then:

a. a cron booking of exactly 10,000 executions (`*/30 * * * * *` from the next whole half-minute at
   least 1 min ahead, until 10,000 × 30 s later: the window is [start, end)), published on
   `jetflow.booking.request` with `Nats-Msg-Id`, and right behind it a one-shot booking on another
   resource; time from publish to `jetflow.booking.confirmed` (core subscription) for each.
   Targets: the 10k confirmed within 5 s, the one-shot within 2 s.
b. 10 such bookings, each on its own resource, published at once, a one-shot published after each;
   each confirmation time, and the one-shots' p50 and max.
c. a 100,000-execution booking (the per-booking limit; same cron): time to confirmation; then
   `jetflow.ctl.execution.list` for it: the first page, the second (cursor: the first's `next`), and
   pages in the middle and at the end (cursor: the id of the execution before them, which is what
   `next` holds there; checked against the page's first item); `jetflow.ctl.schedule.upcoming`, for
   all and for that booking; p50 of each.
d. 300 one-shot bookings, 16 in flight, on `jetflow.ctl.booking.request` (request/reply), starting an
   hour ahead (beyond the scheduler's horizon): confirmed/s over the batch, p50/p99 latency. Twice:
   all on one resource of capacity 100,000 (windows a minute apart, as bench_bookings.py), then each
   on a resource of its own.
e. RSS of the engine, nats-server and the store at the end.

The large bookings start a minute ahead, so their first executions enter the scheduler's horizon and
fire (every 30 s each) while the rest runs. Every wait has a timeout; a rejection is printed with its
code and reason; every child is stopped on exit, Ctrl-C or SIGTERM.

    uv run python bench/bench_large.py [--timeout 120] [--oneshots 300] [--in-flight 16]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import STEP, Children, quantile, start_jetflow_up, tree_rss_mib, upsert_catalog
from engine.claims.windows import execution_id

if TYPE_CHECKING:
    from collections.abc import Callable

    from nats.aio.client import Client
    from nats.aio.msg import Msg

CRON = "*/30 * * * * *"
STEP_SECONDS = 30
LARGE = 10_000
HUGE = 100_000
SPREAD = 10  # the large bookings of job b
QUERIES = 10  # requests per listing, for p50


@dataclass
class Outcome:
    """One booking as this bench saw it: perf_counter seconds from publish to its outcome event."""

    submitted: float
    done: asyncio.Event = field(default_factory=asyncio.Event)
    seconds: float | None = None
    status: str = ""
    count: int | None = None
    reason: str = ""


class Watcher:
    """Outcome events of the bookings this bench sent, from core subscriptions."""

    def __init__(self, nc: Client) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.outcomes: dict[str, Outcome] = {}

    async def subscribe(self) -> None:
        await self.nc.subscribe("jetflow.booking.confirmed", cb=self._confirmed)
        await self.nc.subscribe("jetflow.booking.rejected", cb=self._rejected)

    async def _confirmed(self, msg: Msg) -> None:
        event = json.loads(msg.data)
        if (outcome := self.outcomes.get(event["booking"])) is not None and not outcome.done.is_set():
            outcome.seconds, outcome.status = time.perf_counter() - outcome.submitted, "confirmed"
            outcome.count = event.get("count")
            outcome.done.set()

    async def _rejected(self, msg: Msg) -> None:
        event = json.loads(msg.data)
        if (outcome := self.outcomes.get(event["booking"])) is not None and not outcome.done.is_set():
            outcome.seconds, outcome.status = time.perf_counter() - outcome.submitted, "rejected"
            outcome.reason = f"{event['code']}: {event['reason']}"
            print(f"  REJECTED {event['booking']}: {outcome.reason}", flush=True)
            outcome.done.set()

    async def publish(self, body: dict[str, Any]) -> Outcome:
        """Publish a booking durably, as another system does; its outcome arrives on the subscriptions."""
        outcome = self.outcomes[body["id"]] = Outcome(time.perf_counter())
        await self.js.publish(
            "jetflow.booking.request", json.dumps(body).encode(), headers={"Nats-Msg-Id": body["id"]}, timeout=30
        )
        return outcome

    async def settle(self, outcomes: list[Outcome], timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(o.done.wait() for o in outcomes)), timeout)


def seconds(outcome: Outcome, target: float | None = None) -> str:
    if outcome.seconds is None:
        return "NO OUTCOME (timed out)"
    text = f"{outcome.status} in {outcome.seconds:.2f} s"
    if outcome.count is not None:
        text += f" ({outcome.count:,} executions)"
    if outcome.reason:
        text += f" [{outcome.reason}]"
    if target is not None:
        text += f"  target ≤ {target:g} s: {'met' if outcome.seconds <= target else 'NOT met'}"
    return text


def cron_booking(booking: str, resource: str, start: datetime, count: int) -> dict[str, Any]:
    return {
        "id": booking,
        "workflow": "wf",
        "resources": [resource],
        "start": start.isoformat(),
        "end": (start + timedelta(seconds=count * STEP_SECONDS)).isoformat(),
        "cron": CRON,
    }


def one_shot(booking: str, resource: str, start: datetime) -> dict[str, Any]:
    return {
        "id": booking,
        "workflow": "wf",
        "resources": [resource],
        "start": start.isoformat(),
        "end": (start + timedelta(minutes=1)).isoformat(),
    }


def first_slot() -> datetime:
    """The first whole half-minute at least a minute from now: the cron's first occurrence."""
    moment = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)
    return moment + timedelta(seconds=(-moment.second) % STEP_SECONDS)


async def ctl(nc: Client, subject: str, body: dict[str, Any], timeout: float) -> tuple[dict[str, Any], float]:
    began = time.perf_counter()
    reply = await nc.request(subject, json.dumps(body).encode(), timeout=timeout)
    return json.loads(reply.data), time.perf_counter() - began


def ms(values: list[float], q: float) -> str:
    return f"{quantile(values, q) * 1000:.1f} ms" if values else "-"


async def job_a(watcher: Watcher, run: str, timeout: float) -> dict[str, float]:
    print(f"\na) one cron booking of {LARGE:,} executions ({CRON}), then a one-shot on another resource", flush=True)
    start = first_slot()
    large = await watcher.publish(cron_booking(f"a-{run}-large", "big-0", start, LARGE))
    small = await watcher.publish(one_shot(f"a-{run}-one", "one-a", start))
    await watcher.settle([large, small], timeout)
    print(f"  10k booking: {seconds(large, 5)}", flush=True)
    print(f"  one-shot behind it: {seconds(small, 2)}", flush=True)
    return {"a.large": large.seconds or float("nan"), "a.one": small.seconds or float("nan")}


async def job_b(watcher: Watcher, run: str, timeout: float) -> dict[str, float]:
    print(f"\nb) {SPREAD} cron bookings of {LARGE:,} executions at once, a one-shot after each", flush=True)
    start = first_slot()
    larges, smalls = [], []
    for i in range(SPREAD):
        larges.append(await watcher.publish(cron_booking(f"b-{run}-large-{i}", f"big-{i + 1}", start, LARGE)))
        smalls.append(await watcher.publish(one_shot(f"b-{run}-one-{i}", f"one-b-{i}", start)))
    await watcher.settle(larges + smalls, timeout)
    for i, (large, small) in enumerate(zip(larges, smalls, strict=True)):
        print(f"  large {i}: {seconds(large)};  one-shot {i}: {seconds(small)}", flush=True)
    done = [o.seconds for o in smalls if o.seconds is not None]
    last = max((o.seconds for o in larges if o.seconds is not None), default=float("nan"))
    if done:
        print(f"  one-shots: p50 {statistics.median(done):.2f} s, max {max(done):.2f} s", flush=True)
    print(f"  last large confirmed {last:.2f} s after the first publish was sent", flush=True)
    return {
        "b.last": last,
        "b.one.p50": statistics.median(done) if done else float("nan"),
        "b.one.max": max(done, default=float("nan")),
    }


async def job_c(watcher: Watcher, run: str, timeout: float) -> dict[str, float]:
    print(f"\nc) one cron booking of {HUGE:,} executions ({CRON})", flush=True)
    start = first_slot()
    booking = f"c-{run}-huge"
    huge = await watcher.publish(cron_booking(booking, "huge-0", start, HUGE))
    await watcher.settle([huge], timeout)
    print(f"  100k booking: {seconds(huge)}", flush=True)
    figures = {"c.huge": huge.seconds or float("nan")}
    if huge.status != "confirmed":
        return figures
    nc = watcher.nc

    def nth(i: int) -> str:  # the id of its i-th execution: what `next` holds after it (list is in id order)
        return execution_id(booking, start + timedelta(seconds=i * STEP_SECONDS))

    first, _ = await ctl(nc, "jetflow.ctl.execution.list", {"booking": booking}, timeout)
    pages: list[tuple[str, dict[str, Any], int]] = [
        ("execution.list, first page (100)", {"booking": booking}, 0),
        ("execution.list, second page (cursor: next)", {"booking": booking, "cursor": first["next"]}, 100),
        ("execution.list, page at 50,000", {"booking": booking, "cursor": nth(49_999)}, 50_000),
        ("execution.list, last page (at 99,900)", {"booking": booking, "cursor": nth(99_899)}, 99_900),
        ("execution.list, 1,000 at 99,000", {"booking": booking, "cursor": nth(98_999), "limit": 1000}, 99_000),
    ]
    for label, body, position in pages:
        times: list[float] = []
        for _ in range(QUERIES if position < 1000 else 3):  # deep pages take seconds each
            listed, took = await ctl(nc, "jetflow.ctl.execution.list", body, timeout)
            times.append(took)
            got = listed["items"][0]["id"] if listed["items"] else None
            if got != nth(position):
                print(f"  {label}: first item {got}, expected {nth(position)}", flush=True)
                break
        print(f"  {label}: p50 {ms(times, 0.5)}, max {max(times) * 1000:.1f} ms", flush=True)
        figures[f"c.{label}"] = statistics.median(times)
    for label, body in (
        ("schedule.upcoming, all bookings", {}),
        ("schedule.upcoming, this booking", {"booking": booking}),
    ):
        times = [(await ctl(nc, "jetflow.ctl.schedule.upcoming", body, timeout))[1] for _ in range(QUERIES)]
        print(f"  {label}: p50 {ms(times, 0.5)}, max {max(times) * 1000:.1f} ms", flush=True)
        figures[f"c.{label}"] = statistics.median(times)
    return figures


async def job_d(
    nc: Client, run: str, n: int, in_flight: int, timeout: float, resource: Callable[[int], str], label: str
) -> dict[str, float]:
    base = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(hours=1)
    slots = asyncio.Semaphore(in_flight)
    latencies: list[float] = []
    statuses: list[str] = []

    async def one(i: int) -> None:
        async with slots:
            body = one_shot(f"d-{run}-{label}-{i}", resource(i), base + timedelta(minutes=i))
            try:
                reply, took = await ctl(nc, "jetflow.ctl.booking.request", body, timeout)
            except TimeoutError:
                statuses.append("timeout")
                print(f"  TIMEOUT {body['id']} after {timeout:g} s", flush=True)
                return
            latencies.append(took)
            statuses.append(str(reply.get("status")))
            if reply.get("status") != "confirmed":
                why = f"{reply['code']}: {reply['reason']}" if "code" in reply else json.dumps(reply)
                print(f"  REJECTED {body['id']}: {why}", flush=True)

    began = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    elapsed = time.perf_counter() - began
    confirmed = statuses.count("confirmed")
    where = "all on `pool` (capacity 100,000)" if label == "pool" else "each on its own resource `solo-<i>`"
    print(
        f"  {where}: {confirmed}/{n} confirmed in {elapsed:.1f} s = {confirmed / elapsed:.1f} confirmed/s; "
        f"latency p50 {ms(latencies, 0.5)}, p99 {ms(latencies, 0.99)}",
        flush=True,
    )
    return {f"d.{label}.rate": confirmed / elapsed, f"d.{label}.p50": quantile(latencies, 0.5) if latencies else 0}


async def drive(nc: Client, pid: int, args: argparse.Namespace) -> dict[str, float]:
    run = uuid.uuid4().hex[:6]
    watcher = Watcher(nc)
    await watcher.subscribe()
    resources: list[dict[str, object]] = [{"id": f"big-{i}", "capacity": 1} for i in range(SPREAD + 1)]
    resources += [{"id": "huge-0", "capacity": 1}, {"id": "one-a", "capacity": 1}, {"id": "pool", "capacity": 100_000}]
    resources += [{"id": f"one-b-{i}", "capacity": 1} for i in range(SPREAD)]
    resources += [{"id": f"solo-{i}", "capacity": 1} for i in range(args.oneshots)]
    began = time.perf_counter()
    await upsert_catalog(nc, resources, [{"id": "wf", "steps": [STEP]}])
    print(f"catalog: {len(resources)} resources and 1 workflow stored in {time.perf_counter() - began:.1f} s")
    figures = await job_a(watcher, run, args.timeout)
    figures |= await job_b(watcher, run, args.timeout)
    figures |= await job_c(watcher, run, args.timeout)
    print(
        f"\nd) {args.oneshots} one-shot bookings, {args.in_flight} in flight, jetflow.ctl.booking.request", flush=True
    )
    for label, resource in (("pool", lambda _: "pool"), ("solo", lambda i: f"solo-{i}")):
        figures |= await job_d(nc, run, args.oneshots, args.in_flight, args.timeout, resource, label)
    rss = tree_rss_mib(pid, "engine")
    print(
        "\ne) RSS MiB: "
        + ", ".join(f"{name} {size:.0f}" for name, size in rss.items())
        + f"; total {sum(rss.values()):.0f}"
    )
    figures["e.rss"] = sum(rss.values())
    return figures


async def main(args: argparse.Namespace) -> None:
    print(f"reproduce: uv run python bench/bench_large.py {' '.join(sys.argv[1:])}".rstrip())
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    children = Children()
    with tempfile.TemporaryDirectory(prefix="bench-large-") as name:
        folder = Path(name)
        try:
            up, port, command = await start_jetflow_up(children, folder)
            print(f"started: {' '.join(command)}")
            print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}", flush=True)
            nc = await nats.connect(f"nats://127.0.0.1:{port}")
            try:
                await drive(nc, up.pid, args)
            finally:
                await nc.close()
        finally:
            await children.stop_all()
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timeout", type=float, default=120, help="seconds any one wait may take")
    parser.add_argument("--oneshots", type=int, default=300, help="job d size")
    parser.add_argument("--in-flight", type=int, default=16, help="job d requests in flight")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(parser.parse_args()))
