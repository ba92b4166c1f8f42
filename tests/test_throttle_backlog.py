"""A backlog of samples (an agent sending its buffer after a reconnection, a standby catching up) yields
the commands the same samples would have yielded in real time: silence is judged on sample time."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from engine.throttle.policy import NodeState, check_silence, observe
from engine.throttle.rules import Band, Rules
from tests.test_throttle import Commands

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from nats.aio.client import Client

    from engine.settings import Settings
    from engine.throttle.policy import Change
    from tests.support.engines import Engines

RULES = Rules(
    limited={"cpu": Band(high=70, low=50)},
    tainted={"cpu": Band(high=90, low=80)},
    window=3,
    cooldown=20,
    silence=10,
)
NODE = "node-b"
STEP = 2  # seconds between samples: 300 samples are 10 minutes


@dataclass(frozen=True, slots=True)
class Sample:
    id: str
    at: datetime
    cpu: float


def backlog(start: datetime) -> list[Sample]:
    """10 minutes of samples: quiet, limited, tainted, released, a 16 s gap (a real silence), quiet again."""
    profile = [10.0] * 60 + [75.0] * 30 + [95.0] * 20 + [30.0] * 60 + [10.0] * 130
    samples, second = [], 0
    for i, cpu in enumerate(profile):
        second += 16 if i == 200 else STEP
        samples.append(Sample(f"{NODE}:{second}", start + timedelta(seconds=second), cpu))
    return samples


def seen(change: Change) -> tuple[str, str, str, datetime, str]:
    return change.command_id, str(change.previous), str(change.level), change.since, change.reason


def real_time(samples: list[Sample], until: datetime) -> list[tuple[str, str, str, datetime, str]]:
    """What a real-time evaluator says: each sample taken when it is sent, silence checked every second."""
    state, changes = NodeState(NODE), []
    pending = list(samples)
    tick = samples[0].at - timedelta(seconds=0.5)
    while tick <= until:
        while pending and pending[0].at <= tick:
            taken = pending.pop(0)
            changes.append(observe(state, taken.id, taken.at, {"cpu": taken.cpu}, RULES))
        changes.append(check_silence(state, tick, RULES))
        tick += timedelta(seconds=1)
    return [seen(change) for change in changes if change is not None]


def burst(samples: list[Sample], now: datetime) -> list[tuple[str, str, str, datetime, str]]:
    """What the evaluator does with a backlog: silence on sample time before each sample, its clock at the end."""
    state, changes = NodeState(NODE), []
    for taken in samples:
        changes.append(check_silence(state, taken.at, RULES))
        changes.append(observe(state, taken.id, taken.at, {"cpu": taken.cpu}, RULES))
    changes.append(check_silence(state, now, RULES))
    return [seen(change) for change in changes if change is not None]


def expected_levels() -> list[tuple[str, str]]:
    return [
        ("normal", "limited"),
        ("limited", "tainted"),
        ("tainted", "normal"),
        ("normal", "unknown"),  # the 16 s gap
        ("unknown", "normal"),
        ("normal", "unknown"),  # after the last sample
    ]


def test_a_backlog_judged_on_sample_time_gives_the_real_time_commands() -> None:
    start = datetime(2026, 12, 1, tzinfo=UTC)
    samples = backlog(start)
    now = samples[-1].at + timedelta(minutes=5)
    live = real_time(samples, now)
    assert [(previous, level) for _, previous, level, _, _ in live] == expected_levels()
    assert burst(samples, now) == live


@pytest.fixture
async def commands(client: Client) -> AsyncIterator[Commands]:
    watcher = Commands()
    subscription = await client.subscribe(f"jetflow.throttle.command.{NODE}", cb=watcher.on_msg)
    yield watcher
    await subscription.unsubscribe()


def body(sample: Sample) -> bytes:
    fields: dict[str, Any] = {"id": sample.id, "node": NODE, "at": sample.at.isoformat(), "cpu": sample.cpu}
    return json.dumps(fields | {"memory": 10, "disk": 10, "load": 0.1}).encode()


@pytest.mark.timeout(90)
async def test_a_backlog_sent_in_bursts_over_nats_gives_the_real_time_commands_and_no_flapping(
    settings: Settings, engines: Engines, client: Client, commands: Commands
) -> None:
    # Samples from 11 to 1 minutes ago, every one older than the 10 s silence period when it is taken,
    # sent in chunks with pauses longer than the evaluator's 1 s silence check (an agent's buffer).
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=11)
    samples = backlog(start)
    await engines.start(settings.replace(throttle_groups={"default": RULES}, throttle_snapshot=0.3))
    js = client.jetstream()
    for chunk in range(0, len(samples), 50):
        for sample in samples[chunk : chunk + 50]:
            await js.publish(f"jetflow.metric.sample.{NODE}", body(sample), headers={"Nats-Msg-Id": sample.id})
        await asyncio.sleep(1.5)
    await commands.wait(len(expected_levels()), timeout=30)
    await asyncio.sleep(2.0)  # nothing more comes
    got = [(c["id"], c["previous"], c["level"], datetime.fromisoformat(c["since"]), c["reason"]) for c in commands.seen]
    assert got == real_time(samples, datetime.now(UTC))
