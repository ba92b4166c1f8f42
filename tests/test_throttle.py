"""Throttling end to end: samples become commands, every replica obeys them, the scheduler holds and releases."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from engine.throttle.gate import CommandGate
from tests.support.streams import request_json, wait_for_messages
from tests.test_scheduler import EXECUTIONS, catalog, next_second, one_shot
from tests.test_throttle_policy import CONSECUTIVE

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from nats.aio.client import Client
    from nats.aio.msg import Msg

    from engine.bus.publisher import Published, Publisher
    from engine.settings import Settings
    from schemas.base import Message
    from tests.support.engines import Engines
    from tests.support.kube import KubeHarness

RULES = CONSECUTIVE.model_copy(update={"cooldown": 2, "silence": 600})
#: The instant the samples of a test count from: set anew for each test (`_fresh_t0`). Set once at collection,
#: a test running more than `silence` seconds into the suite would find its samples stale already.
T0 = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(autouse=True)
def _fresh_t0(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(globals(), "T0", datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def throttle_settings(settings: Settings) -> Settings:
    return settings.replace(throttle_groups={"default": RULES}, throttle_snapshot=0.3)


class Commands:
    """Every throttle command, as a node agent subscribed to jetflow.throttle.command.* sees them."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()

    async def on_msg(self, msg: Msg) -> None:
        self.seen.append(json.loads(msg.data))
        self.arrived.set()

    async def wait(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        async with asyncio.timeout(timeout):
            while len(self.seen) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.seen

    def levels(self) -> list[tuple[str, str]]:
        return [(command["previous"], command["level"]) for command in self.seen]


@pytest.fixture
async def commands(client: Client) -> AsyncIterator[Commands]:
    watcher = Commands()
    subscription = await client.subscribe("jetflow.throttle.command.*", cb=watcher.on_msg)
    yield watcher
    await subscription.unsubscribe()


def sample(second: int, cpu: float, node: str = "node-a") -> tuple[str, dict[str, Any]]:
    at = T0 + timedelta(seconds=second)
    body = {"id": f"{node}:{second}", "node": node, "at": at.isoformat(), "cpu": cpu, "memory": 10, "disk": 10}
    return f"jetflow.metric.sample.{node}", body | {"load": 0.1}


async def publish_samples(client: Client, readings: list[tuple[int, float]], *, msg_id: bool = True) -> None:
    js = client.jetstream()
    for second, cpu in readings:
        subject, body = sample(second, cpu)
        headers = {"Nats-Msg-Id": body["id"]} if msg_id else None
        await js.publish(subject, json.dumps(body).encode(), headers=headers)


@pytest.mark.timeout(60)
async def test_hot_node_is_limited_then_tainted_holds_work_and_releases_it(
    throttle_settings: Settings, engines: Engines, client: Client, commands: Commands
) -> None:
    await engines.start(throttle_settings)
    await catalog(client)
    quiet_subject, quiet = sample(0, 10, node="node-q")  # reports, never changes level
    await client.jetstream().publish(quiet_subject, json.dumps(quiet).encode())
    await publish_samples(client, [(0, 75), (1, 76)])
    limited = (await commands.wait(1))[0]
    assert (limited["previous"], limited["level"], limited["metric"], limited["threshold"]) == (
        "normal",
        "limited",
        "cpu",
        70,
    )
    assert limited["id"] == "node-a:limited:node-a:1"  # from the sample that tipped it
    await publish_samples(client, [(2, 95), (3, 96)])
    await commands.wait(2)
    assert commands.levels() == [("normal", "limited"), ("limited", "tainted")]

    start = next_second(2)
    reply = await request_json(client, "jetflow.ctl.booking.request", one_shot("hot", start, 60))
    assert reply["status"] == "confirmed"
    held = await wait_for_messages(client, EXECUTIONS, "jetflow.execution.held", 1, timeout=8)
    assert held[0][1]["resource"] == "node-a"
    assert "node node-a is tainted: cpu 95 reached high 90" in held[0][1]["reason"]
    status = await request_json(client, "jetflow.ctl.throttle.status", b"")
    assert [(n["node"], n["level"]) for n in status["nodes"]] == [("node-a", "tainted"), ("node-q", "normal")]
    assert status["nodes"][0]["reason"] == "cpu 95 reached high 90: limited → tainted"
    await asyncio.sleep(1.0)
    assert await wait_for_messages(client, EXECUTIONS, "jetflow.execution.due", 1, timeout=0) == []

    # Calm from second 5 (window of 2), released once calm for the 2 s cool-down: at second 7.
    await publish_samples(client, [(4, 10), (5, 10), (6, 10)])
    await asyncio.sleep(0.5)
    assert len(commands.seen) == 2  # still inside the cool-down: nothing released
    await publish_samples(client, [(7, 10), (8, 10)])
    await commands.wait(3)
    assert commands.levels()[2] == ("tainted", "normal")
    assert commands.seen[2]["id"] == "node-a:normal:node-a:7"
    due = await wait_for_messages(client, EXECUTIONS, "jetflow.execution.due", 1, timeout=5)
    assert [event["execution"] for _, event in due] == reply["executions"]


@pytest.mark.timeout(60)
async def test_replayed_samples_after_a_takeover_make_no_second_command_and_every_replica_knows(
    throttle_settings: Settings, engines: Engines, client: Client, commands: Commands
) -> None:
    first = await engines.start(throttle_settings)
    await publish_samples(client, [(0, 95), (1, 95)])
    await commands.wait(1)
    await first.stop()  # hands the lease over; its state is in NodeThrottle

    await engines.start(throttle_settings)  # the evaluator
    follower = await engines.start(throttle_settings.replace(throttle_enabled=False))
    # The same samples again, stored again by the stream (no Nats-Msg-Id), and once more with it.
    await publish_samples(client, [(0, 95), (1, 95)], msg_id=False)
    await publish_samples(client, [(0, 95), (1, 95)])
    # A sample published on another node's subject is refused, not applied.
    js = client.jetstream()
    _, wrong = sample(2, 10, node="node-b")
    await js.publish("jetflow.metric.sample.node-a", json.dumps(wrong).encode())
    dead = await wait_for_messages(client, "JETFLOW_DLQ", "jetflow.dlq.jetflow.metric.sample.node-a", 1)
    assert "node-b" in dead[0][1]["reason"]
    await asyncio.sleep(0.5)
    assert commands.levels() == [("normal", "tainted")]
    # The follower never evaluated: it read the latest command from JETFLOW_THROTTLE at start.
    assert isinstance(follower.gate, CommandGate)
    assert follower.gate.blocked(["node-a"]) is not None
    assert follower.gate.limit("node-a", 8) == 0
    await publish_samples(client, [(2, 75), (3, 75), (4, 75), (5, 75)])
    await commands.wait(2)
    assert commands.levels() == [("normal", "tainted"), ("tainted", "limited")]
    await asyncio.sleep(0.2)
    assert follower.gate.blocked(["node-a"]) is None
    assert follower.gate.limit("node-a", 8) == 4


async def test_silent_node_is_unknown_with_the_configured_consequence(
    throttle_settings: Settings, engines: Engines, client: Client, commands: Commands
) -> None:
    rules = RULES.model_copy(update={"silence": 1.0})
    settings = throttle_settings.replace(
        throttle_groups={"default": RULES, "edge": rules}, throttle_node_groups={"node-s": "edge"}
    )
    settings = settings.replace(throttle_unknown="tainted")
    jetflow = await engines.start(settings)
    js = client.jetstream()
    subject, body = sample(0, 10, node="node-s")
    body["at"] = datetime.now(UTC).isoformat()
    await js.publish(subject, json.dumps(body).encode())
    (silent,) = await commands.wait(1, timeout=6)
    assert (silent["previous"], silent["level"]) == ("normal", "unknown")
    assert "no sample for 1s" in silent["reason"]
    await asyncio.sleep(0.1)
    assert jetflow.gate.blocked(["node-s"]) is not None


async def test_kube_actions_taint_and_untaint_only_jetflow_s_taint(kube: KubeHarness) -> None:
    from engine.throttle.kube import TAINT_KEY, KubeNodeActions
    from engine.throttle.policy import Change
    from schemas.throttle import ThrottleLevel

    if kube.emulator is None:
        pytest.skip("needs kmock: a real cluster's nodes are not the test's to taint")
    other = {"key": "gpu", "value": "yes", "effect": "NoSchedule"}
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "edge-1"}, "spec": {"taints": [other]}}
    assert await kube.client.create(node)
    actions = KubeNodeActions(kube.client)

    def change(level: ThrottleLevel, previous: ThrottleLevel) -> Change:
        return Change("edge-1", level, previous, T0, "test", "s1")

    await actions.apply(change(ThrottleLevel.TAINTED, ThrottleLevel.LIMITED))
    await actions.apply(change(ThrottleLevel.TAINTED, ThrottleLevel.LIMITED))  # replayed: no second patch
    stored = kube.object("v1", "Node", None, "edge-1")
    assert stored is not None
    assert stored["spec"]["taints"] == [other, {"key": TAINT_KEY, "value": "tainted", "effect": "NoSchedule"}]
    await actions.apply(change(ThrottleLevel.NORMAL, ThrottleLevel.TAINTED))
    stored = kube.object("v1", "Node", None, "edge-1")
    assert stored is not None
    assert stored["spec"]["taints"] == [other]
    assert [method for method, path in kube.requests() if path == "/api/v1/nodes/edge-1"] == ["PATCH", "PATCH"]
    await actions.apply(change(ThrottleLevel.LIMITED, ThrottleLevel.NORMAL))  # limited: no taint, nothing to do
    await actions.apply(Change("not-a-node", ThrottleLevel.TAINTED, ThrottleLevel.NORMAL, T0, "t", "s"))
    assert len(kube.requests(methods=("patch",))) == 2  # neither wrote anything


class FlakyPublisher:
    """Our Publisher, failing its first throttle command as if NATS went away for a moment."""

    def __init__(self, publisher: Publisher) -> None:
        self._publisher = publisher
        self.failures = 0

    async def publish(self, subject: str, event: Message, *, causation: str | None = None) -> Published:
        if subject.startswith("jetflow.throttle.") and self.failures == 0:
            self.failures += 1
            raise TimeoutError("nats: timeout")
        return await self._publisher.publish(subject, event, causation=causation)


@pytest.mark.timeout(30)
async def test_a_failed_command_publish_is_retried_from_the_redelivered_samples(
    throttle_settings: Settings, engines: Engines, client: Client, commands: Commands
) -> None:
    from engine.throttle.evaluator import Evaluator

    runtime = await engines.runtime(throttle_settings.replace(throttle_enabled=False))
    flaky = FlakyPublisher(runtime.publisher)
    evaluator = Evaluator.for_runtime(runtime, runtime.settings.throttle, publisher=flaky)  # type: ignore[arg-type]
    await evaluator.start()
    try:
        await publish_samples(client, [(0, 95), (1, 95)])
        await commands.wait(1, timeout=15)
        await asyncio.sleep(0.3)
        assert flaky.failures == 1
        assert commands.levels() == [("normal", "tainted")]
        assert evaluator.handled >= 3  # the tipping sample came back after the failure
    finally:
        await evaluator.stop()  # not an engine's: the test's own


@pytest.mark.timeout(60)
async def test_a_sample_from_the_future_is_dead_lettered_and_does_not_blind_the_node(
    throttle_settings: Settings, engines: Engines, client: Client, commands: Commands
) -> None:
    await engines.start(throttle_settings)
    js = client.jetstream()
    subject, future = sample(0, 10, node="node-f")
    future |= {"id": "node-f:future", "at": "2099-01-01T00:00:00+00:00"}
    await js.publish(subject, json.dumps(future).encode())
    ((_, dead),) = await wait_for_messages(client, "JETFLOW_DLQ", "jetflow.dlq.jetflow.metric.sample.node-f", 1)
    assert "in the future" in dead["reason"], dead
    now = datetime.now(UTC)
    for second in range(RULES.window):
        body = future | {"id": f"node-f:{second}", "at": (now + timedelta(seconds=second)).isoformat(), "cpu": 99}
        await js.publish(subject, json.dumps(body).encode())
    (command,) = await commands.wait(1)
    assert (command["node"], command["level"]) == ("node-f", "tainted")
