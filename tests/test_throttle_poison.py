"""One poison metric sample never stops throttling: bad samples are refused at the edge, a sample that
fails for good is dead-lettered on its own, and fresh samples of every node are still judged at once."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from pymongo.errors import OperationFailure

from engine.app import Engine
from engine.throttle import evaluator, policy, store
from engine.throttle.rules import Band, Rules
from tests.support.streams import request_json, wait_for_messages
from tests.test_throttle import Commands

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable

    from nats.aio.client import Client

    from engine.settings import Settings
    from engine.throttle.policy import NodeState

RULES = Rules(
    limited={"cpu": Band(high=70, low=50)},
    tainted={"load": Band(high=2, low=1.5), "temp": Band(high=80, low=70)},
    window=2,
    cooldown=2,
    silence=600,
)
SAMPLE_DLQ = "jetflow.dlq.jetflow.metric.sample.*"
START = datetime.now(UTC)


@pytest.fixture(autouse=True)
def recent(monkeypatch: pytest.MonkeyPatch) -> None:
    """Samples of each test start a minute before it: recent (within `silence`), never in the future."""
    monkeypatch.setitem(globals(), "START", datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1))


@pytest.fixture
async def jetflow(settings: Settings, nats_url: str, mongo_url: str) -> AsyncIterator[Engine]:
    engine = Engine(
        settings.replace(throttle_groups={"default": RULES}, throttle_snapshot=0.3),
        nats_url=nats_url,
        mongo_url=mongo_url,
    )
    await engine.start()
    try:
        yield engine
    finally:
        await engine.stop()


@pytest.fixture
async def commands(client: Client) -> AsyncIterator[Commands]:
    watcher = Commands()
    subscription = await client.subscribe("jetflow.throttle.command.*", cb=watcher.on_msg)
    yield watcher
    await subscription.unsubscribe()


def sample(node: str, second: int, *, cpu: float = 10, load: float = 0.1, **extra: Any) -> bytes:
    at = (START + timedelta(seconds=second)).isoformat()
    body = {"id": f"{node}:{second}", "node": node, "at": at, "cpu": cpu, "memory": 10, "disk": 10, "load": load}
    return json.dumps(body | extra).encode()


def raw(node: str, second: int, fields: bytes) -> bytes:
    """A sample whose last fields are written by hand (NaN, Infinity and the like are not JSON)."""
    return sample(node, second)[:-1] + b", " + fields + b"}"


async def publish(client: Client, node: str, *bodies: bytes) -> None:
    js = client.jetstream()
    for body in bodies:
        await js.publish(f"jetflow.metric.sample.{node}", body)


async def hot(client: Client, node: str, first: int) -> float:
    """Two samples that make `node` limited; returns when they were published."""
    await publish(client, node, sample(node, first, cpu=75), sample(node, first + 1, cpu=76))
    return time.monotonic()


async def judged(commands: Commands, nodes: set[str], since: float, within: float) -> None:
    async with asyncio.timeout(10):
        while not nodes <= {command["node"] for command in commands.seen}:
            await commands.wait(len(commands.seen) + 1)
    assert time.monotonic() - since < within, f"judged after {time.monotonic() - since:.2f}s"


POISON: list[tuple[str, bytes, str]] = [
    ("load-infinity", raw("node-p", 1, b'"load": Infinity'), "malformed_json"),
    ("load-nan", raw("node-p", 2, b'"load": NaN'), "malformed_json"),
    ("load-minus-infinity", raw("node-p", 3, b'"load": -Infinity'), "malformed_json"),
    ("load-1e999", raw("node-p", 4, b'"load": 1e999'), "schema"),
    ("custom-nan", raw("node-p", 5, b'"custom": {"temp": NaN}'), "malformed_json"),
    ("custom-1e999", raw("node-p", 6, b'"custom": {"temp": 1e999}'), "schema"),
    ("nested-50000", raw("node-p", 7, b'"custom": ' + b"[" * 50_000 + b"]" * 50_000), "malformed_json"),
]


@pytest.mark.timeout(60)
async def test_poison_samples_are_refused_and_every_node_is_still_judged_within_a_second(
    jetflow: Engine, client: Client, commands: Commands
) -> None:
    for _, body, _ in POISON:  # three of the same first, as in the report: they would taint the node
        await publish(client, "node-p", body)
    await publish(client, "node-p", raw("node-p", 8, b'"load": Infinity'), raw("node-p", 9, b'"load": Infinity'))
    since = await hot(client, "node-a", 10)
    await hot(client, "node-b", 10)
    await judged(commands, {"node-a", "node-b"}, since, within=1.5)

    letters = await wait_for_messages(client, "JETFLOW_DLQ", SAMPLE_DLQ, len(POISON) + 2)
    assert sorted(letter["code"] for _, letter in letters) == sorted(
        [code for _, _, code in POISON] + ["malformed_json", "malformed_json"]
    )
    reasons = " ".join(letter["reason"] for _, letter in letters)
    assert "NaN and Infinity are not JSON numbers" in reasons
    assert "finite number" in reasons
    assert "nests deeper than 200 levels" in reasons
    assert all(letter["deliveries"] == 1 for _, letter in letters)

    # node-p itself is judged on its valid samples, and later samples of the others are too.
    await publish(client, "node-p", sample("node-p", 20, load=3), sample("node-p", 21, load=3))
    since = await hot(client, "node-c", 20)
    await judged(commands, {"node-p", "node-c"}, since, within=1.5)
    assert {(c["node"], c["level"]) for c in commands.seen} == {
        ("node-a", "limited"),
        ("node-b", "limited"),
        ("node-c", "limited"),
        ("node-p", "tainted"),
    }
    assert (await request_json(client, "jetflow.ctl.health", b""))["status"] == "ok"


@pytest.mark.timeout(60)
async def test_a_sample_that_fails_for_good_does_not_wedge_the_others(
    jetflow: Engine, client: Client, commands: Commands, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_observe, real_save = policy.observe, store.save

    def observe(state: NodeState, *args: Any) -> Any:
        if state.node == "node-p":
            raise RecursionError("maximum recursion depth exceeded")  # deterministic: dead-lettered at once
        if state.node == "node-q":
            raise ValueError("something nobody foresaw")  # unknown: retried, then dead-lettered
        return real_observe(state, *args)

    async def save(states: Iterable[NodeState]) -> int:
        states = list(states)
        if any(state.node == "node-r" for state in states):
            raise OperationFailure("malformed JSON")  # the store refuses this state for good
        return await real_save(states)

    monkeypatch.setattr(evaluator, "observe", observe)
    monkeypatch.setattr(store, "save", save)

    await publish(client, "node-p", sample("node-p", 1))
    await hot(client, "node-r", 1)
    since = await hot(client, "node-a", 1)
    await judged(commands, {"node-a", "node-r"}, since, within=1.5)
    [(_, letter)] = await wait_for_messages(client, "JETFLOW_DLQ", SAMPLE_DLQ, 1)
    assert (letter["subject"], letter["code"], letter["deliveries"]) == ("jetflow.metric.sample.node-p", "permanent", 1)
    assert "RecursionError" in letter["reason"]

    await publish(client, "node-q", sample("node-q", 1))
    await hot(client, "node-b", 1)
    letters = await wait_for_messages(client, "JETFLOW_DLQ", SAMPLE_DLQ, 2, timeout=15)
    [exhausted] = [letter for _, letter in letters if letter["subject"].endswith("node-q")]
    assert exhausted["code"] == "exhausted"
    assert "something nobody foresaw" in exhausted["reason"]
    await judged(commands, {"node-b"}, time.monotonic(), within=10)

    status = await request_json(client, "jetflow.ctl.throttle.status", b"")
    levels = {node["node"]: node["level"] for node in status["nodes"]}
    assert {node: levels.get(node) for node in ("node-a", "node-b", "node-r")} == {
        "node-a": "limited",
        "node-b": "limited",
        "node-r": "limited",  # kept in memory although the store refused it
    }
    # node-p and node-q are judged again on their next samples.
    monkeypatch.setattr(evaluator, "observe", real_observe)
    await hot(client, "node-p", 10)
    since = await hot(client, "node-q", 10)
    await judged(commands, {"node-p", "node-q"}, since, within=1.5)
