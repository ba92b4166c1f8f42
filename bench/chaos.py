"""The chaos suite: faults and bad input against jetflow as separate processes, over NATS only.

Each scenario starts its own nats-server and store (the embedded ones, as this process's children, so it
can kill, freeze and restart them) and `jetflow up` pointed at them (JETFLOW_NATS_URL / JETFLOW_MONGO_URL,
so it embeds nothing), sends bookings as another system would, injects its fault, and counts from the
stream once every outcome had time to come:

* lost: an acknowledged booking request with no outcome (`confirmed` / `rejected`) in JETFLOW_BOOKINGS;
* duplicated: an outcome stored more than once for one booking, or a booking with more executions than it
  asked for;
* unanswered: a request jetflow must answer that got nothing (a ctl request retried until its deadline,
  a health probe, a bad input without its dead letter or error reply, a publish never acknowledged);
* wrong: answered, but not as documented (a bad input of the corpus, tests/corpus/, with another
  dead-letter code, a reason that does not name the problem, or no outcome event for its usable id).

Core-NATS copies of outcomes (a retried publish whose ack was lost, README "Reading outcomes once") are
printed as `core copies`: documented, not a fault. `lost-node` runs on a three-node NATS cluster instead
(R3 streams and leases) and loses one node for good.

    uv run python bench/chaos.py [--scenario engine-kill ...] [--kills 10] [--bookings 60]

Not part of the test run: it takes minutes and SIGKILLs processes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nats
from nats.js.api import ConsumerConfig, DeliverPolicy

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import STEP, Children, jetflow_command, upsert_catalog, wait_for_line
from engine.embedded import servers
from engine.embedded.process import ChildServer, free_port
from tests.servers import nats_cluster

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Awaitable, Callable

    from nats.aio.client import Client
    from nats.aio.msg import Msg

BOOKINGS = "JETFLOW_BOOKINGS"
OUTCOMES = ["jetflow.booking.confirmed", "jetflow.booking.rejected"]


@dataclass
class Result:
    scenario: str
    sent: int = 0
    lost: int = 0
    duplicated: int = 0
    unanswered: int = 0
    wrong: int = 0
    """Answered, but not as documented (a bad input with the wrong dead-letter code or reason, say)."""
    core_copies: int = 0
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


class Cluster:
    """nats-server, the store and `jetflow up` of one scenario, each killable on its own."""

    def __init__(self, folder: Path, ack_wait: float, env: dict[str, str] | None = None) -> None:
        self.folder = folder
        self.ack_wait = ack_wait
        self.env = env or {}
        """Settings of this scenario's engine (JETFLOW_*), on top of the suite's."""
        self.nats_port = free_port()
        self.nats: ChildServer | None = None
        self.store: ChildServer | None = None
        self.store_port = free_port()
        self.children = Children()
        self.engine: asyncio.subprocess.Process | None = None
        self.starts = 0

    @property
    def nats_url(self) -> str:
        return servers.nats_url(self.nats_port)

    async def start_nats(self) -> None:
        self.nats = servers.nats_server(self.folder / "nats", self.nats_port)
        await self.nats.start()

    async def start_store(self) -> None:
        self.store = servers.mongo_server(self.folder / "store", self.store_port)
        await self.store.start()

    async def start_engine(self) -> None:
        self.starts += 1
        log = self.folder / f"jetflow-{self.starts}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("JETFLOW_")}
        env |= {
            "JETFLOW_NATS_URL": self.nats_url,
            "JETFLOW_MONGO_URL": servers.mongo_url(self.store_port),
            "JETFLOW_MONGO_DB": "chaos",
            "JETFLOW_MANIFESTS_DIR": str(self.folder / "manifests"),
            "JETFLOW_ACK_WAIT": str(self.ack_wait),
            "JETFLOW_HANDLER_TIMEOUT": str(self.ack_wait * 0.8),
            "JETFLOW_LEASE_TTL": "3",
        } | self.engine_env()
        command = [*jetflow_command(), "up", "--state-dir", str(self.folder / "jetflow")]
        self.engine = await self.children.start(command, log, env=env, cwd=self.folder)
        await wait_for_line(log, "jetflow ready", self.engine, 120)

    def engine_env(self) -> dict[str, str]:
        return self.env

    async def start(self) -> None:
        await self.start_nats()
        await self.start_store()
        await self.start_engine()

    async def kill_engine(self) -> None:
        if self.engine is not None and self.engine.returncode is None:
            self.engine.kill()
            await self.engine.wait()
            self.children.processes.remove(self.engine)

    @staticmethod
    def signal(child: ChildServer | None, sig: signal.Signals) -> None:
        if child is not None and child.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, sig)

    async def stop(self) -> None:
        await self.children.stop_all()
        for child in (self.store, self.nats):
            if child is not None:
                self.signal(child, signal.SIGCONT)
                with contextlib.suppress(Exception):
                    await child.stop()


class ThreeNodes(Cluster):
    """A three-node NATS cluster (R3 streams and leases) instead of one nats-server."""

    def __init__(self, folder: Path, ack_wait: float, env: dict[str, str] | None = None) -> None:
        super().__init__(folder, ack_wait, env)
        self.nodes: list[tuple[str, subprocess.Popen[bytes]]] = []
        self._stack = contextlib.ExitStack()

    @property
    def nats_url(self) -> str:
        return ",".join(url for url, _ in self.nodes)

    async def start_nats(self) -> None:
        self.nodes = self._stack.enter_context(nats_cluster(self.folder / "cluster"))
        nc = await connect(self.nats_url)
        try:
            for _ in range(100):  # JetStream answers once the cluster has elected its meta leader
                try:
                    await nc.jetstream(timeout=2).account_info()
                    break
                except Exception:
                    await asyncio.sleep(0.3)
        finally:
            await nc.close()

    def engine_env(self) -> dict[str, str]:
        return self.env | {"JETFLOW_STREAM_REPLICAS": "3"}

    async def stop(self) -> None:
        await super().stop()
        self._stack.close()


# --- what another system does ------------------------------------------------------------------------


def booking(booking_id: str, offset: int) -> dict[str, Any]:
    """One execution an hour or more ahead, in its own minute (no conflicts: every outcome is `confirmed`)."""
    base = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(hours=1)
    start = base + timedelta(minutes=offset)
    return {
        "id": booking_id,
        "workflow": "wf",
        "resources": ["node-a"],
        "start": start.isoformat(),
        "end": (start + timedelta(seconds=30)).isoformat(),
    }


async def publish_until_acked(nc: Client, subject: str, body: bytes, msg_id: str | None, deadline: float) -> bool:
    """A well-behaved client: publish durably, and again (same id) until JetStream acknowledges it."""
    js = nc.jetstream(timeout=2)
    headers = {"Nats-Msg-Id": msg_id} if msg_id else None
    while time.monotonic() < deadline:
        try:
            await js.publish(subject, body, headers=headers)
            return True
        except Exception:
            await asyncio.sleep(0.3)
    return False


async def request_until_answered(nc: Client, subject: str, body: bytes, deadline: float) -> dict[str, Any] | None:
    """A ctl request, sent again (it is idempotent by its id) until answered or `deadline`."""
    while time.monotonic() < deadline:
        try:
            reply = await nc.request(subject, body, timeout=12)
            return dict(json.loads(reply.data))
        except Exception:
            await asyncio.sleep(0.3)
    return None


async def stored_outcomes(nc: Client) -> Counter[str]:
    """Outcomes per booking id, as the stream holds them (an ephemeral consumer reads all)."""
    js = nc.jetstream(timeout=5)
    config = ConsumerConfig(filter_subjects=OUTCOMES, deliver_policy=DeliverPolicy.ALL, inactive_threshold=30)
    counts: Counter[str] = Counter()
    sub = await js.pull_subscribe("", stream=BOOKINGS, config=config)
    try:
        while True:
            try:
                batch = await sub.fetch(500, timeout=1)
            except TimeoutError:
                break
            for msg in batch:
                counts[json.loads(msg.data)["booking"]] += 1
                await msg.ack()
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
    return counts


async def settle(nc: Client, expected: set[str], timeout: float) -> Counter[str]:
    """Wait until every expected booking has an outcome in the stream (or `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            counts = await stored_outcomes(nc)
        except Exception:
            counts = Counter()
        if expected <= counts.keys() or time.monotonic() > deadline:
            return counts
        await asyncio.sleep(1)


class CoreWatch:
    """A core-NATS subscriber on the outcome subjects: how many copies it received per booking."""

    def __init__(self) -> None:
        self.copies: Counter[str] = Counter()

    async def on_msg(self, msg: Msg) -> None:
        with contextlib.suppress(Exception):
            self.copies[json.loads(msg.data)["booking"]] += 1

    def extra(self) -> int:
        return sum(count - 1 for count in self.copies.values() if count > 1)


async def _quiet(_: Exception) -> None:
    """Reconnection errors are the point of the faults here: not printed."""


async def connect(url: str) -> Client:
    return await nats.connect(
        url.split(","), max_reconnect_attempts=-1, reconnect_time_wait=0.2, connect_timeout=5, error_cb=_quiet
    )


async def prepared(cluster: Cluster) -> tuple[Client, CoreWatch]:
    nc = await connect(cluster.nats_url)
    await upsert_catalog(nc, [{"id": "node-a", "capacity": 100_000}], [{"id": "wf", "steps": [STEP]}])
    watch = CoreWatch()
    for subject in OUTCOMES:
        await nc.subscribe(subject, cb=watch.on_msg)
    return nc, watch


async def burst(
    nc: Client, result: Result, run: str, count: int, fault: Callable[[], Awaitable[None]], spacing: float = 0.05
) -> set[str]:
    """`count` bookings on the stream while `fault` runs; returns the ids JetStream acknowledged."""
    acked: set[str] = set()
    deadline = time.monotonic() + 120

    async def send() -> None:
        for i in range(count):
            body = booking(f"{run}-{i}", i)
            if await publish_until_acked(
                nc, "jetflow.booking.request", json.dumps(body).encode(), body["id"], deadline
            ):
                acked.add(body["id"])
            else:
                result.unanswered += 1
                result.notes.append(f"{body['id']}: never acknowledged")
            await asyncio.sleep(spacing)

    await asyncio.gather(send(), fault())
    result.sent += count
    return acked


async def account(nc: Client, result: Result, acked: set[str], watch: CoreWatch, timeout: float = 180) -> None:
    counts = await settle(nc, acked, timeout)
    missing = acked - counts.keys()
    result.lost += len(missing)
    if missing:
        result.notes.append(f"no outcome: {sorted(missing)[:5]}")
    result.duplicated += sum(count - 1 for booking_id, count in counts.items() if booking_id in acked and count > 1)
    result.core_copies += watch.extra()


# --- scenarios --------------------------------------------------------------------------------------


async def engine_kill(cluster: Cluster, args: argparse.Namespace, result: Result) -> None:
    """The engine SIGKILLed `--kills` times during a burst of bookings, restarted at once each time."""
    nc, watch = await prepared(cluster)

    async def fault() -> None:
        for _ in range(args.kills):
            await asyncio.sleep(args.kill_every)
            await cluster.kill_engine()
            await cluster.start_engine()

    acked = await burst(nc, result, "ek", args.bookings, fault, spacing=args.kills * args.kill_every / args.bookings)
    await account(nc, result, acked, watch)
    result.notes.append(f"{args.kills} engine SIGKILLs")
    await nc.close()


async def nats_kill(cluster: Cluster, args: argparse.Namespace, result: Result) -> None:
    """nats-server SIGKILLed 3 times, down 3 s each, during bookings; restarted on the same store folder."""
    nc, watch = await prepared(cluster)

    async def fault() -> None:
        for _ in range(3):
            await asyncio.sleep(2)
            cluster.signal(cluster.nats, signal.SIGKILL)
            await asyncio.sleep(3)
            await cluster.start_nats()

    acked = await burst(nc, result, "nk", args.bookings, fault, spacing=15 / args.bookings)
    await account(nc, result, acked, watch)
    result.notes.append("3 nats-server SIGKILLs, 3 s down each")
    await nc.close()


async def store_fault(cluster: Cluster, args: argparse.Namespace, result: Result) -> None:
    """The store frozen (SIGSTOP) for `--freeze` s while health is probed, then SIGKILLed and restarted."""
    nc, watch = await prepared(cluster)
    probes = Counter[str]()

    async def probe_health(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                reply = json.loads((await nc.request("jetflow.ctl.health", b"", timeout=2)).data)
                probes[reply.get("status", "?")] += 1
            except Exception:
                probes["no reply"] += 1
            await asyncio.sleep(1)

    async def fault() -> None:
        await asyncio.sleep(2)
        cluster.signal(cluster.store, signal.SIGSTOP)
        await probe_health(args.freeze)
        cluster.signal(cluster.store, signal.SIGCONT)
        await asyncio.sleep(2)
        cluster.signal(cluster.store, signal.SIGKILL)
        await probe_health(3)
        await cluster.start_store()

    acked = await burst(nc, result, "st", args.bookings, fault, spacing=(args.freeze + 8) / args.bookings)
    await account(nc, result, acked, watch)
    result.unanswered += probes["no reply"]
    result.notes.append(f"health during the faults: {dict(probes)}")
    await nc.close()


async def lost_node(cluster: Cluster, args: argparse.Namespace, result: Result) -> None:
    """A three-node NATS cluster (R3 streams and leases) loses the node leading JETFLOW_BOOKINGS for good."""
    assert isinstance(cluster, ThreeNodes)
    nc, watch = await prepared(cluster)

    async def fault() -> None:
        await asyncio.sleep(3)
        info = await nc.jetstream(timeout=5).stream_info(BOOKINGS)
        leader = info.cluster.leader if info.cluster else None
        index = int((leader or "n0").removeprefix("n"))
        leases = await nc.jetstream(timeout=5).stream_info("KV_jetflow_leases")
        cluster.nodes[index][1].kill()
        result.notes.append(
            f"killed {leader}, leader of {BOOKINGS} (R{info.config.num_replicas}; leases R{leases.config.num_replicas})"
        )

    acked = await burst(nc, result, "ln", args.bookings, fault, spacing=10 / args.bookings)
    await account(nc, result, acked, watch)
    await nc.close()


#: JETFLOW_DUPLICATE_WINDOW of the `duplicates` scenario's engine: short, so copies can come after it.
DUPLICATE_WINDOW = 1.0


async def duplicate_storm(cluster: Cluster, args: argparse.Namespace, result: Result) -> None:
    """One booking 20 times with one Nats-Msg-Id, 20 times with other ids, 20 times over ctl, then 20 times
    with its Nats-Msg-Id again, each after the stream's duplicate window (JetStream stores every one)."""
    nc, watch = await prepared(cluster)
    body = booking("dup-1", 0)
    data = json.dumps(body).encode()
    deadline = time.monotonic() + 120
    for _ in range(20):
        await publish_until_acked(nc, "jetflow.booking.request", data, "dup-1", deadline)
    for i in range(20):
        await publish_until_acked(nc, "jetflow.booking.request", data, f"dup-1-copy-{i}", deadline)
    replies = await asyncio.gather(
        *(request_until_answered(nc, "jetflow.ctl.booking.request", data, deadline) for _ in range(20))
    )
    result.sent += 60
    result.unanswered += sum(1 for reply in replies if reply is None)
    statuses = Counter(str(reply.get("status")) for reply in replies if reply is not None)
    result.notes.append(f"ctl replies: {dict(statuses)}")
    # After the window: JetStream no longer knows the id, so each copy is a new message only jetflow can
    # recognise (answered from the store, not announced again, no second set of executions).
    js = nc.jetstream(timeout=5)
    stored = 0
    for _ in range(20):
        await asyncio.sleep(DUPLICATE_WINDOW + 0.3)
        ack = await js.publish("jetflow.booking.request", data, headers={"Nats-Msg-Id": "dup-1"})
        stored += not ack.duplicate
    result.sent += 20
    result.notes.append(f"after the {DUPLICATE_WINDOW:g} s window: {stored} of 20 copies stored as new messages")
    if stored == 0:
        result.notes.append("the duplicate window did not pass: nothing was checked after it")
        result.wrong += 1
    await asyncio.sleep(5)  # time for the late copies to be handled before the outcomes are counted
    await account(nc, result, {"dup-1"}, watch, timeout=30)
    listed = await request_until_answered(
        nc, "jetflow.ctl.execution.list", json.dumps({"booking": "dup-1"}).encode(), deadline
    )
    executions = len(listed["items"]) if listed else 0
    result.duplicated += max(0, executions - 1)
    result.notes.append(f"executions of dup-1: {executions}")
    await nc.close()


async def bad_input(cluster: Cluster, args: argparse.Namespace, result: Result) -> None:
    """The bad-input corpus (tests/corpus/), every case from this process, a valid booking after each."""
    from tests.corpus.bad_inputs import corpus
    from tests.corpus.drive import drive, prepare

    nc = await connect(cluster.nats_url)
    now = datetime.now(UTC)
    await prepare(nc, now)
    cases = corpus(now)
    # Redeliveries take the engine's backoff (1 + 5 + 15 + 30 s): time enough for any that are retried.
    report = await drive(nc, cases, now, settle=90)
    result.sent += len(cases) + len(report.valid)
    result.unanswered += len(report.unanswered)
    result.wrong += len(report.wrong)
    result.lost += len(report.unconfirmed)
    result.notes.append(report.summary())
    if failures := report.failures():
        result.notes.append(failures.replace("\n", "; ")[:2000])
    await nc.close()


#: Settings a scenario's engine runs with besides the suite's.
ENV = {"duplicates": {"JETFLOW_DUPLICATE_WINDOW": str(DUPLICATE_WINDOW)}}

SCENARIOS = {
    "engine-kill": engine_kill,
    "nats-kill": nats_kill,
    "store": store_fault,
    "duplicates": duplicate_storm,
    "bad-input": bad_input,
    "lost-node": lost_node,
}


async def run(name: str, args: argparse.Namespace) -> Result:
    result = Result(name)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"chaos-{name}-") as folder:
        kind = ThreeNodes if name == "lost-node" else Cluster
        cluster = kind(Path(folder), args.ack_wait, ENV.get(name))
        try:
            await cluster.start()
            await SCENARIOS[name](cluster, args, result)
        except Exception as error:
            result.notes.append(f"scenario failed: {type(error).__name__}: {error}")
            result.unanswered += 1
        finally:
            await cluster.stop()
    result.seconds = time.monotonic() - started
    return result


def report(results: list[Result]) -> None:
    header = f"{'scenario':<12} {'sent':>5} {'lost':>5} {'dup':>5} {'unans':>6} {'wrong':>6} {'core copies':>12}"
    print(f"{header} {'s':>6}  notes")
    for r in results:
        print(
            f"{r.scenario:<12} {r.sent:>5} {r.lost:>5} {r.duplicated:>5} {r.unanswered:>6} {r.wrong:>6} "
            f"{r.core_copies:>12} {r.seconds:>6.0f}  {'; '.join(r.notes)}"
        )
    bad = sum(faults(r) for r in results)
    print("all held" if bad == 0 else f"FAULTS: {bad}")


async def main(args: argparse.Namespace) -> int:
    results = [await run(name, args) for name in args.scenario or list(SCENARIOS)]
    report(results)
    return 0 if all(faults(r) == 0 for r in results) else 1


def faults(result: Result) -> int:
    return result.lost + result.duplicated + result.unanswered + result.wrong


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", action="append", choices=list(SCENARIOS), help="repeatable; default: all")
    parser.add_argument("--kills", type=int, default=10, help="engine SIGKILLs in engine-kill")
    parser.add_argument("--kill-every", type=float, default=2.0, help="seconds between engine kills")
    parser.add_argument("--bookings", type=int, default=60, help="bookings per fault scenario")
    parser.add_argument("--freeze", type=float, default=10.0, help="seconds the store is frozen")
    parser.add_argument("--ack-wait", type=float, default=10.0, help="JETFLOW_ACK_WAIT of the engine")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
