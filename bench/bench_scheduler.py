"""Scheduler: fire lateness and memory with many executions scheduled at once.

Starts nats-server and the embedded store (or uses JETFLOW_BENCH_NATS_URL / _MONGO_URL), runs the
engine as a separate process (`python -m engine run`) so its RSS is its own, books `--executions`
executions spread over `--spread` seconds starting `--lead` seconds from now, then prints:

* the engine's RSS before booking and once every execution is a timer job (memory per 1,000);
* fire lateness (due event `at` minus `planned_at`) p50 / p99 / max, read from the stream.

The embedded store slows down with large collections, so booking 10,000 executions takes minutes
here; `--lead` must cover that (the script says so if it did not).

    uv run python bench/bench_scheduler.py [--executions 10000] [--spread 180] [--lead 420]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import bench_servers, quantile
from tests.support.streams import request_json


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def main(executions: int, spread: int, lead: int) -> None:
    async with bench_servers() as (nats_url, mongo_url, database):
        env = {
            **os.environ,
            "JETFLOW_NATS_URL": nats_url,
            "JETFLOW_MONGO_URL": mongo_url,
            "JETFLOW_MONGO_DB": database,
            "JETFLOW_SCHEDULER_HORIZON": str(lead + spread + 60),
            "JETFLOW_SCHEDULER_REFILL": "5",
            "JETFLOW_CTL_TIMEOUT": "120",
        }
        log = Path(tempfile.mkdtemp()) / "engine.log"
        with log.open("wb") as out:
            engine = subprocess.Popen(  # noqa: ASYNC220  (started once, before any measurement)
                [sys.executable, "-m", "engine", "run"], env=env, stdout=out, stderr=out
            )
        nc = await nats.connect(nats_url)
        try:
            for _ in range(100):
                try:
                    await request_json(nc, "jetflow.ctl.health", b"", timeout=1)
                    break
                except Exception:
                    await asyncio.sleep(0.2)
            js = nc.jetstream()
            await js.publish("jetflow.resource.upsert", json.dumps({"id": "node-a", "capacity": 100_000}).encode())
            await js.publish(
                "jetflow.workflow.upsert", json.dumps({"id": "wf", "steps": [{"name": "s", "image": "a"}]}).encode()
            )
            await asyncio.sleep(1)
            before = rss_mib(engine.pid)
            start = (datetime.now(UTC) + timedelta(seconds=lead)).replace(microsecond=0)
            per_second = math.ceil(executions / spread)
            bookings = per_second  # each booking fires every second over the spread
            booked = 0
            run = f"{int(time.time()):x}"  # ids unique per run: a rerun on the same server is not a replay
            began = time.perf_counter()
            for i in range(bookings):
                body = {
                    "id": f"s-{run}-{i}",
                    "workflow": "wf",
                    "resources": ["node-a"],
                    "cron": "* * * * * *",
                    "start": start.isoformat(),
                    "end": (start + timedelta(seconds=min(spread, executions - booked))).isoformat(),
                    "duration": 30,
                }
                reply = await request_json(nc, "jetflow.ctl.booking.request", body, timeout=300)
                assert reply["status"] == "confirmed", reply
                booked += len(reply["executions"])
                if booked >= executions:
                    break
            booking_time = time.perf_counter() - began
            jobs = 0
            while jobs < booked and datetime.now(UTC) < start:
                status = await request_json(nc, "jetflow.ctl.schedule.status", b"")
                jobs = status["jobs"]
                await asyncio.sleep(1)
            after = rss_mib(engine.pid)
            print(
                f"booked {booked} executions in {booking_time:.0f} s ({booked / booking_time:.0f}/s); {jobs} timer jobs"
            )
            print(
                f"engine RSS: {before:.1f} MiB before, {after:.1f} MiB with {jobs} scheduled "
                f"= {(after - before) / max(jobs, 1) * 1000:.2f} MiB per 1,000 scheduled executions"
            )
            if datetime.now(UTC) >= start:
                print(f"WARNING: booking took longer than --lead {lead}s; lateness below includes catch-up")
            await asyncio.sleep(max(0.0, (start - datetime.now(UTC)).total_seconds()) + spread + 10)
            sub = await js.pull_subscribe("jetflow.execution.due", stream="JETFLOW_EXECUTIONS")
            lateness: list[float] = []
            while True:
                try:
                    batch = await sub.fetch(1000, timeout=2)
                except TimeoutError:
                    break
                for msg in batch:
                    event = json.loads(msg.data)
                    lateness.append(
                        (
                            datetime.fromisoformat(event["at"]) - datetime.fromisoformat(event["planned_at"])
                        ).total_seconds()
                    )
                    await msg.ack()
            print(
                f"fired {len(lateness)}/{booked}; lateness p50 {quantile(lateness, 0.5) * 1000:.1f} ms, "
                f"p99 {quantile(lateness, 0.99) * 1000:.1f} ms, max {max(lateness) * 1000:.1f} ms; "
                f"engine RSS after firing {rss_mib(engine.pid):.1f} MiB"
            )
        finally:
            await nc.close()
            engine.terminate()
            engine.wait(20)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--executions", type=int, default=10_000)
    parser.add_argument("--spread", type=int, default=180, help="seconds over which the executions fire")
    parser.add_argument("--lead", type=int, default=420, help="seconds from now to the first fire time")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.executions, arguments.spread, arguments.lead))
