"""The scheduler seen from outside: due events on time and once, catch-up, holds, pause, fail-over."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from engine.claims.calendar import ResourceCalendar
from tests.support.polling import eventually
from tests.support.process import EngineProcess, stop_all, wait_for_instances
from tests.support.streams import request_json, stream_messages, wait_for_messages

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from nats.aio.client import Client

    from engine.runtime import Runtime
    from engine.settings import Settings
    from tests.support.engines import Engines

EXECUTIONS = "JETFLOW_EXECUTIONS"


async def catalog(client: Client) -> None:
    js = client.jetstream()
    await js.publish("jetflow.resource.upsert", json.dumps({"id": "node-a", "capacity": 1000}).encode())
    await js.publish(
        "jetflow.workflow.upsert", json.dumps({"id": "wf", "steps": [{"name": "s", "image": "alpine"}]}).encode()
    )
    await eventually(
        lambda: request_json(client, "jetflow.ctl.workflow.get", {"id": "wf"}),
        lambda reply: reply.get("status") != "error",
        timeout=5.0,
    )


def every_second(booking: str, start: datetime, seconds: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": booking,
        "workflow": "wf",
        "resources": ["node-a"],
        "cron": "* * * * * *",
        "start": start.isoformat(),
        "end": (start + timedelta(seconds=seconds)).isoformat(),
        **extra,
    }


def one_shot(booking: str, start: datetime, seconds: int) -> dict[str, Any]:
    """One execution at `start`, holding its slot for `seconds`."""
    return {k: v for k, v in every_second(booking, start, seconds).items() if k != "cron"}


def burst(booking: str, start: datetime, count: int, window: float, step: int = 1) -> dict[str, Any]:
    """`count` executions `step` seconds apart from `start`, in a booking window of `window` seconds,
    each execution holding its slot until the window ends (so late firing is still allowed)."""
    moments = [start + timedelta(seconds=i * step) for i in range(count)]
    seconds = ",".join(str(moment.second) for moment in moments)
    minutes = ",".join(sorted({str(moment.minute) for moment in moments}))
    return {
        "id": booking,
        "workflow": "wf",
        "resources": ["node-a"],
        "cron": f"{seconds} {minutes} * * * *",
        "start": start.isoformat(),
        "end": (start + timedelta(seconds=window)).isoformat(),
        "duration": window,
    }


def next_second(after: float) -> datetime:
    return (datetime.now(UTC) + timedelta(seconds=after)).replace(microsecond=0)


async def due_events(client: Client) -> list[dict[str, Any]]:
    return [event for _, event in await stream_messages(client, EXECUTIONS, "jetflow.execution.due")]


@pytest.mark.timeout(90)
async def test_load_scenario_165_executions_fire_once_within_their_second(engine: Runtime, client: Client) -> None:
    await catalog(client)
    start = next_second(4)
    replies = await asyncio.gather(
        *(request_json(client, "jetflow.ctl.booking.request", every_second(f"load-{i}", start, 11)) for i in range(15))
    )
    assert {reply["status"] for reply in replies} == {"confirmed"}
    planned = {execution for reply in replies for execution in reply["executions"]}
    assert len(planned) == 165
    await asyncio.sleep((start - datetime.now(UTC)).total_seconds() + 11)
    found = await wait_for_messages(client, EXECUTIONS, "jetflow.execution.due", 165, timeout=10)
    events = [event for _, event in found]
    per_execution = Counter(event["execution"] for event in events)
    assert set(per_execution) == planned
    assert set(per_execution.values()) == {1}
    lateness = sorted(
        (datetime.fromisoformat(e["at"]) - datetime.fromisoformat(e["planned_at"])).total_seconds() for e in events
    )
    assert lateness[0] >= -0.05, lateness[:3]
    assert lateness[-1] < 1.0, lateness[-3:]
    listed = await request_json(client, "jetflow.ctl.execution.list", {"state": "due", "limit": 1000})
    assert len(listed["items"]) == 165


class Gate:
    """A fake throttle state: resources listed in `closed` receive no new work."""

    def __init__(self) -> None:
        self.closed: set[str] = set()

    def blocked(self, resources: Sequence[str]) -> tuple[str, str] | None:
        for resource in resources:
            if resource in self.closed:
                return resource, f"{resource} is tainted (test)"
        return None

    def limit(self, resource: str, base: int) -> int:
        return 0 if resource in self.closed else base


async def test_throttled_resource_holds_then_releases(engines: Engines, client: Client) -> None:
    gate = Gate()
    gate.closed.add("node-a")
    await engines.start(gate=gate)
    await catalog(client)
    start = next_second(2)
    reply = await request_json(client, "jetflow.ctl.booking.request", one_shot("held", start, 30))
    assert reply["status"] == "confirmed"
    held = await wait_for_messages(client, EXECUTIONS, "jetflow.execution.held", 1, timeout=6)
    assert held[0][1]["resource"] == "node-a"
    assert "tainted" in held[0][1]["reason"]
    assert await due_events(client) == []
    gate.closed.clear()
    due = await wait_for_messages(client, EXECUTIONS, "jetflow.execution.due", 1, timeout=5)
    assert [event["execution"] for _, event in due] == reply["executions"]


async def test_pause_holds_fire_until_resume(engine: Runtime, client: Client) -> None:
    await catalog(client)
    start = next_second(3)
    reply = await request_json(client, "jetflow.ctl.booking.request", burst("paused", start, 2, 50))
    assert reply["status"] == "confirmed"
    paused = await request_json(client, "jetflow.ctl.schedule.pause", {"booking": "paused"})
    assert paused["executions"] == 2
    upcoming = await request_json(client, "jetflow.ctl.schedule.upcoming", {"booking": "paused"})
    assert [item["id"] for item in upcoming["items"]] == reply["executions"]
    await asyncio.sleep((start - datetime.now(UTC)).total_seconds() + 2.5)
    assert await due_events(client) == []
    await request_json(client, "jetflow.ctl.schedule.resume", {"booking": "paused"})
    due = await wait_for_messages(client, EXECUTIONS, "jetflow.execution.due", 2, timeout=5)
    assert sorted(event["execution"] for _, event in due) == sorted(reply["executions"])


async def test_a_window_that_ends_while_paused_is_missed_and_frees_its_slot(engine: Runtime, client: Client) -> None:
    await catalog(client)
    await client.jetstream().publish("jetflow.resource.upsert", json.dumps({"id": "solo", "capacity": 1}).encode())
    start = next_second(2)
    booking = {**burst("short", start, 1, 2), "resources": ["solo"]}
    reply = await eventually(  # the upsert is handled asynchronously
        lambda: request_json(client, "jetflow.ctl.booking.request", booking),
        lambda reply: reply["status"] == "confirmed",
        timeout=5.0,
    )
    [execution] = reply["executions"]
    await request_json(client, "jetflow.ctl.schedule.pause", {"booking": "short"})

    async def claimed() -> list[str]:
        calendar = await ResourceCalendar.get("solo")
        return [] if calendar is None else calendar.held()

    assert await claimed() == [execution]
    [(headers, missed)] = await wait_for_messages(client, EXECUTIONS, "jetflow.execution.missed", 1, timeout=10)
    assert headers["Nats-Msg-Id"] == f"{execution}:missed"
    assert (missed["execution"], missed["reason"]) == (execution, "its window ended while its booking was paused")
    [item] = (await request_json(client, "jetflow.ctl.execution.list", {"booking": "short"}))["items"]
    assert item["state"] == "missed"
    assert await due_events(client) == []
    assert await claimed() == []  # its slot is free for others
    resumed = await request_json(client, "jetflow.ctl.schedule.resume", {"booking": "short"})
    assert resumed["pending"] == 0


async def test_a_pause_that_lands_after_the_job_was_loaded_still_stops_the_fire(
    settings: Settings, engines: Engines, client: Client
) -> None:
    # The timer job holds a copy of the record; the pause reaches the store first (as when it lands
    # milliseconds before the fire time, before a refill has dropped the job): it must still win.
    runtime = await engines.runtime(settings.replace(scheduler_refill=120))
    await catalog(client)
    start = next_second(3)
    reply = await request_json(client, "jetflow.ctl.booking.request", burst("late-pause", start, 1, 30))
    [execution] = reply["executions"]
    status = await eventually(  # the confirmation's nudge loads the job
        lambda: request_json(client, "jetflow.ctl.schedule.status", b""),
        lambda status: status["jobs"] == 1,
        timeout=5.0,
    )
    assert status["jobs"] == 1, "the scheduler never loaded the execution's job"
    await runtime.store.db["executions"].update_one({"_id": execution}, {"$set": {"paused": True}})
    await asyncio.sleep((start - datetime.now(UTC)).total_seconds() + 1.5)
    assert await due_events(client) == []
    [item] = (await request_json(client, "jetflow.ctl.execution.list", {"booking": "late-pause"}))["items"]
    assert (item["state"], item["paused"]) == ("scheduled", True)
    resumed = await request_json(client, "jetflow.ctl.schedule.resume", {"booking": "late-pause"})
    assert (resumed["executions"], resumed["pending"]) == (1, 1)
    due = await wait_for_messages(client, EXECUTIONS, "jetflow.execution.due", 1, timeout=5)
    assert [event["execution"] for _, event in due] == [execution]


async def test_schedule_control_refuses_unknown_bookings_and_pages_upcoming(engine: Runtime, client: Client) -> None:
    await catalog(client)
    for verb in ("pause", "resume"):
        reply = await request_json(client, f"jetflow.ctl.schedule.{verb}", {"booking": "no-such-booking"})
        assert reply["status"] == "error"
        assert "unknown booking 'no-such-booking'" in reply["error"]["reason"]
    start = next_second(600)
    reply = await request_json(client, "jetflow.ctl.booking.request", burst("paged", start, 5, 60))
    twin = await request_json(client, "jetflow.ctl.booking.request", burst("paged-twin", start, 5, 60))
    assert reply["status"] == twin["status"] == "confirmed"

    async def pages(**query: Any) -> list[str]:
        seen: list[str] = []
        while True:
            listed = await request_json(client, "jetflow.ctl.schedule.upcoming", query)
            seen += [item["id"] for item in listed["items"]]
            if listed["next"] is None:
                return seen
            query = {**query, "cursor": listed["next"]}

    assert await pages(booking="paged", limit=2) == reply["executions"]  # in fire-time order, each once
    # Both bookings fire at the same five moments: pages of 3 cut through ties, skipping and repeating nothing.
    both = [id_ for pair in zip(reply["executions"], twin["executions"], strict=True) for id_ in sorted(pair)]
    assert await pages(limit=3) == both
    everything = await request_json(client, "jetflow.ctl.schedule.upcoming", b"")  # no body: the defaults
    assert [item["id"] for item in everything["items"]] == both


class ShiftedClock:
    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.mark.parametrize("policy", ["fire", "skip"])
async def test_restart_after_downtime_applies_catch_up_policy(
    settings: Settings, engines: Engines, client: Client, policy: str
) -> None:
    clock = ShiftedClock()
    first = await engines.start(clock=clock)
    await catalog(client)
    start = next_second(60)
    # Three executions at start, +5 s, +10 s; each holds its slot for 20 s (windows end at +20, +25, +30).
    reply = await request_json(
        client, "jetflow.ctl.booking.request", burst("down", start, 3, 50, step=5) | {"duration": 20}
    )
    assert reply["status"] == "confirmed"
    await first.stop()
    # 22 s after `start` while no engine ran: the first execution's window has ended, the others' not.
    clock.offset = start + timedelta(seconds=22) - datetime.now(UTC)
    second = await engines.start(settings.replace(catch_up=policy), clock=clock)
    missed = "jetflow.execution.missed"
    want_missed = 1 if policy == "fire" else 3
    found = await wait_for_messages(client, EXECUTIONS, missed, want_missed, timeout=8)
    await asyncio.sleep(0.5)
    due = await due_events(client)
    await second.stop()
    first_id, *others = reply["executions"]
    missed_ids = sorted(event["execution"] for _, event in found)
    if policy == "fire":
        assert missed_ids == [first_id]
        assert "window ended" in found[0][1]["reason"]
        assert sorted(event["execution"] for event in due) == sorted(others)
    else:
        assert missed_ids == sorted(reply["executions"])
        assert all("skip" in event["reason"] or "window ended" in event["reason"] for _, event in found)
        assert due == []


@pytest.mark.timeout(120)
async def test_leader_killed_standby_takes_over_nothing_lost_or_doubled(
    nats_url: str, mongo_url: str, client: Client, tmp_path: Path
) -> None:
    database = f"t{uuid.uuid4().hex[:12]}"
    replicas = [
        EngineProcess(nats_url, mongo_url, database, tmp_path / f"e{i}.log", lease_ttl="2", scheduler_refill="1")
        for i in range(2)
    ]
    for replica in replicas:
        replica.start()
    try:
        await wait_for_instances(client, 2)
        await catalog(client)
        start = next_second(3)
        replies = await asyncio.gather(
            *(request_json(client, "jetflow.ctl.booking.request", burst(f"fo-{i}", start, 12, 50)) for i in range(4))
        )
        planned = {execution for reply in replies for execution in reply["executions"]}
        assert len(planned) == 48
        await asyncio.sleep((start - datetime.now(UTC)).total_seconds() + 4)
        leaders = set()
        for _ in range(20):
            status = await request_json(client, "jetflow.ctl.schedule.status", b"")
            if status["leader"]:
                leaders.add(status["pid"])
        assert len(leaders) == 1
        (leader_pid,) = leaders
        victim = next(r for r in replicas if r.process is not None and r.process.pid == leader_pid)
        victim.kill()  # SIGKILL while executions are firing
        fired_before = len(await due_events(client))
        await asyncio.sleep((start - datetime.now(UTC)).total_seconds() + 12 + 4)
        events = await due_events(client)
        listed = await request_json(client, "jetflow.ctl.execution.list", {"state": "due", "limit": 1000})
    finally:
        stop_all(replicas)
    assert 0 < fired_before < 48
    per_execution = Counter(event["execution"] for event in events)
    assert set(per_execution) == planned, f"lost: {sorted(planned - set(per_execution))}"
    assert set(per_execution.values()) == {1}
    assert {item["id"] for item in listed["items"]} == planned


async def test_a_new_leader_announces_what_its_predecessor_fired_but_never_published(
    settings: Settings, engines: Engines, client: Client
) -> None:
    # As a leader leaves it when it dies (or loses its lease) between the compare-and-set and the publish.
    from pymongo import AsyncMongoClient

    fired = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    store: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(engines.mongo_url)
    try:
        await store[settings.mongo.db]["executions"].insert_one(
            {
                "_id": "orphan-20261201t100000",
                "booking": "orphan",
                "workflow": "wf",
                "resources": ["node-a"],
                "planned_at": fired,
                "window_end": fired + timedelta(minutes=10),
                "state": "due",
                "reason": "",
                "paused": False,
                "updated_at": fired,
            }
        )
    finally:
        await store.close()
    await engines.runtime()
    [(_, event)] = await wait_for_messages(client, EXECUTIONS, "jetflow.execution.due", 1, timeout=10)
    assert (event["id"], event["execution"]) == ("orphan-20261201t100000:due", "orphan-20261201t100000")
    assert datetime.fromisoformat(event["at"]) == fired
