"""Two peers racing for one resource of a third (issue 14): confirmed bookings never overlap.

Starts three peers as the README's "Bookings across peers" does: three `jetflow up` processes, each with
its own nats-server and store, linked only by leaf nodes (a listens, b connects to a, c to a and b).
Every peer's catalog lists node-b (capacity 1, owned by b) and a workflow. Then A and C each send
`--bookings` (100) one-shot bookings of node-b at once (`--in-flight` per peer on
`jetflow.ctl.booking.request`), windows drawn on a 10-minute grid over 8 hours, so many collide. B decides
every one of them on its own calendar.

It checks and prints: every request answered; every rejection a `conflict`; every pair of confirmed
bookings (A's and C's together) disjoint; and B's calendar of node-b, read from B's store, holding
exactly the confirmed bookings. Exit 1 if any check fails.

    uv run python bench/bench_federation.py [--bookings 100] [--in-flight 16] [--seed 14]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nats
from pymongo import AsyncMongoClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import STEP, Children, jetflow_command, upsert_catalog, wait_for_line
from engine.claims.calendar import unpacked
from engine.embedded.process import free_port
from tests.servers import linked
from tests.support.overlap import assert_no_overlap

if TYPE_CHECKING:
    from nats.aio.client import Client

PEERS = ("a", "b", "c")
#: Each peer's own node, published on its own server as public: the others see it through the federated catalog.
RESOURCES = {peer: {"id": f"node-{peer}", "capacity": 1, "visibility": "public"} for peer in PEERS}
WORKFLOW: dict[str, object] = {"id": "wf", "steps": [STEP]}


def commands(folder: Path) -> dict[str, list[str]]:
    """The three `jetflow up` of the README, on free ports, with fresh passwords."""
    nats_ports = {peer: free_port() for peer in PEERS}
    leaf_a, leaf_b = free_port(), free_port()
    pw = {pair: os.urandom(8).hex() for pair in ("ab", "ac", "bc")}

    def up(peer: str, *more: str) -> list[str]:
        state = ["--state-dir", str(folder / peer), "--nats-port", str(nats_ports[peer])]
        return [*jetflow_command(), "up", "--peer-id", peer, *state, *more]

    return {
        "a": up("a", "--leaf-port", str(leaf_a), "--leaf-peer", f"b={pw['ab']}", "--leaf-peer", f"c={pw['ac']}"),
        "b": up(
            "b",
            *("--leaf-port", str(leaf_b), "--leaf-peer", f"c={pw['bc']}"),
            *("--leaf", f"a=nats-leaf://b:{pw['ab']}@127.0.0.1:{leaf_a}"),
        ),
        "c": up(
            "c",
            *("--leaf", f"a=nats-leaf://c:{pw['ac']}@127.0.0.1:{leaf_a}"),
            *("--leaf", f"b=nats-leaf://c:{pw['bc']}@127.0.0.1:{leaf_b}"),
        ),
    }


def bookings(peer: str, count: int, rng: random.Random) -> list[dict[str, Any]]:
    base = (datetime.now(UTC) + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    made = []
    for i in range(count):
        start = base + timedelta(minutes=10 * rng.randrange(48))
        end = start + timedelta(minutes=rng.choice([10, 20, 30]))
        window = {"start": start.isoformat(), "end": end.isoformat()}
        made.append({"id": f"{peer}-{i}", "workflow": "wf", "resources": ["node-b"], **window})
    return made


async def send(nc: Client, requests: list[dict[str, Any]], in_flight: int) -> list[dict[str, Any]]:
    gate = asyncio.Semaphore(in_flight)

    async def one(request: dict[str, Any]) -> dict[str, Any]:
        async with gate:
            reply = await nc.request("jetflow.ctl.booking.request", json.dumps(request).encode(), timeout=60)
            answer: dict[str, Any] = json.loads(reply.data)
            return answer

    return await asyncio.gather(*(one(request) for request in requests))


async def federated(nc: Client, ids: set[str], timeout: float = 60) -> None:
    """Wait until this peer's catalog lists `ids`, the other peers' through its federated catalog."""
    deadline = time.monotonic() + timeout
    while True:
        reply = await nc.request("jetflow.ctl.resource.list", json.dumps({"limit": 100}).encode(), timeout=30)
        if not (missing := ids - {item["id"] for item in json.loads(reply.data)["items"]}):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the federated catalog did not show {sorted(missing)} within {timeout:g} s")
        await asyncio.sleep(0.2)


async def race(urls: dict[str, str], store: str, args: argparse.Namespace) -> bool:
    clients = {peer: await nats.connect(url) for peer, url in urls.items()}
    try:
        for peer, nc in clients.items():
            await upsert_catalog(nc, [RESOURCES[peer]], [WORKFLOW])
        for nc in clients.values():
            await federated(nc, {f"node-{peer}" for peer in PEERS})
        rng = random.Random(args.seed)
        asked = {peer: bookings(peer, args.bookings, rng) for peer in ("a", "c")}
        began = time.monotonic()
        answers_a, answers_c = await asyncio.gather(
            *(send(clients[peer], asked[peer], args.in_flight) for peer in ("a", "c"))
        )
        took = time.monotonic() - began
    finally:
        for nc in clients.values():
            await nc.close()
    answers = [*answers_a, *answers_c]
    confirmed = [answer for answer in answers if answer.get("status") == "confirmed"]
    rejected = [answer for answer in answers if answer.get("status") == "rejected"]
    codes = sorted({str(answer.get("code")) for answer in rejected})
    won = {peer: sum(answer["booking"].startswith(f"{peer}-") for answer in confirmed) for peer in ("a", "c")}
    print(
        f"{len(answers)} bookings of node-b ({args.bookings} from a, {args.bookings} from c) in {took:.1f} s "
        f"({len(answers) / took:.1f}/s): {len(confirmed)} confirmed (a {won['a']}, c {won['c']}), "
        f"{len(rejected)} rejected (codes: {', '.join(codes) or 'none'})"
    )
    ok = len(confirmed) + len(rejected) == len(answers) and codes in ([], ["conflict"])
    try:
        pairs = assert_no_overlap(confirmed)
    except AssertionError as error:
        print(f"OVERLAP: {error}")
        ok = False
    else:
        print(f"pairs of confirmed bookings checked: {pairs}, overlapping: 0")
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(store, tz_aware=True)
    try:
        calendar = await mongo["jetflow"]["calendars"].find_one({"_id": "node-b"}) or {}
    finally:
        await mongo.close()
    held = sorted(fields[0] for fields in unpacked(calendar.get("claims")))
    winners = sorted(f"{answer['booking'][0]}:{answer['booking']}" for answer in confirmed)
    print(f"b's calendar of node-b holds {len(held)} reservations; exactly the confirmed ones: {held == winners}")
    return ok and held == winners


async def main(args: argparse.Namespace) -> int:
    print(f"reproduce: uv run python bench/bench_federation.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}", flush=True)
    children = Children()
    env = {k: v for k, v in os.environ.items() if not k.startswith("JETFLOW_")}
    with tempfile.TemporaryDirectory(prefix="bench-federation-") as name:
        folder = Path(name)
        try:
            urls, stores = {}, {}
            for peer, command in commands(folder).items():
                log = folder / f"{peer}.log"
                # Dispatch writes manifests to a folder: no cluster is touched, even with a kubeconfig.
                manifests = {"JETFLOW_MANIFESTS_DIR": str(folder / peer / "manifests")}
                process = await children.start(command, log, env={**env, **manifests}, cwd=folder)
                await wait_for_line(log, "jetflow ready", process, args.timeout)
                ready = log.read_text()
                urls[peer] = re.findall(r"NATS\s+(nats://\S+)", ready)[-1]
                stores[peer] = re.findall(r"MongoDB\s+(mongodb://\S+)", ready)[-1]
                print(f"started {peer}: {' '.join(command).replace(os.fsdecode(folder), '<tmp>')}", flush=True)
            await linked(urls)
            return 0 if await race(urls, stores["b"], args) else 1
        finally:
            await children.stop_all()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bookings", type=int, default=100, help="bookings of node-b sent by each of a and c")
    parser.add_argument("--in-flight", type=int, default=16, help="requests in flight per peer")
    parser.add_argument("--seed", type=int, default=14, help="seed of the windows drawn")
    parser.add_argument("--timeout", type=float, default=180, help="seconds a peer may take to start")
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(asyncio.run(main(parser.parse_args())))
