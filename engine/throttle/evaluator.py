"""The throttle evaluator: the one replica holding the `throttle` lease turns samples into commands.

Why one replica: a policy window is per node and in memory. A durable consumer shared by replicas
would spread one node's samples over them, so no replica would see a whole window. The lease holder
alone pulls from the durable consumer `jetflow-throttle-sample`; a standby that wins the lease
reloads the NodeThrottle states and continues from the consumer's ack floor. Samples not newer than a
node's last one are ignored, so nothing counts twice. After a crash (no final snapshot) the windows
miss the samples since the last snapshot; the next samples refill them, and no level change is lost
because each is stored when it happens.

Why fast: samples arrive every few seconds from every node. They are fetched in batches and the
consumer uses AckAll, so one ack settles a whole batch; the store is written only when a level changes
(before the ack) and in a snapshot of the nodes that changed every `throttle_snapshot` seconds.

Why robust: a sample that fails for good (a deterministic store refusal, a RecursionError, or any failure
`max_deliver` deliveries in a row) is dead-lettered and its node left as it was before it, and the batch
goes on; a state the store refuses to save stays in memory. So one poison sample never stops the
evaluation of every node. Bad samples (NaN, Infinity, deep nesting) are refused at the edge already, by
the schema: only failures nobody foresaw reach this.

Why no flapping on a backlog: silence is judged on sample time. Before each sample, the gap since the
node's previous sample decides whether it was silent in between (dated at the deadline, the command a
real-time stream would have given). The evaluator's own clock only judges a node silent when nothing
of it is left to take: the consumer is caught up (the last sample fetched had none pending behind it)
and no sample of that node was taken for `silence` seconds. So samples older than the silence period,
taken in a burst (an agent sending its buffer after a reconnection, a standby catching up), yield the
commands the same samples would have yielded in real time, not `unknown` and a level in turn.

Order on a change: publish the command (deterministic id from the tipping sample), then store the
new level, then ack. A crash in between replays the sample, which yields the same command id
(JetStream drops the duplicate) and the same level.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from engine import streams
from engine.bus.deadletter import Origin
from engine.bus.decode import Rejection, decode
from engine.core.background import Background
from engine.core.store import refused
from engine.throttle import store
from engine.throttle.actions import NoActions
from engine.throttle.policy import NodeState, check_silence, observe, readings
from engine.throttle.rules import Rules
from schemas import subjects
from schemas.metrics import MetricSample
from schemas.throttle import ThrottleCommand

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

    from nats.aio.msg import Msg
    from nats.js import JetStreamContext
    from opentelemetry.metrics import Counter

    from engine.bus.deadletter import DeadLetters
    from engine.bus.publisher import Publisher
    from engine.core.clock import Clock
    from engine.core.settings import ConsumerSettings
    from engine.ports import Ports
    from engine.throttle.actions import NodeActions
    from engine.throttle.policy import Change
    from engine.throttle.settings import ThrottleSettings

log = logging.getLogger(__name__)

DURABLE = "jetflow-throttle-sample"
SAMPLES = f"{subjects.METRIC_SAMPLE_PREFIX}.*"


@dataclass(frozen=True, slots=True)
class EvaluatorMetrics:
    samples: Counter
    """jetflow_throttle_samples_total{outcome=applied|stale|dead_lettered}"""
    commands: Counter
    """jetflow_throttle_commands_total{level}"""


class Evaluator:
    def __init__(
        self,
        *,
        js: JetStreamContext,
        publisher: Publisher,
        dead_letters: DeadLetters,
        settings: ThrottleSettings,
        consumers: ConsumerSettings,
        max_payload: int,
        clock: Clock,
        actions: NodeActions,
        metrics: EvaluatorMetrics,
        durable: str = DURABLE,
    ) -> None:
        self._js = js
        self._publisher = publisher
        self._dead_letters = dead_letters
        self._settings = settings
        self._consumers = consumers
        self._max_payload = max_payload
        self._clock = clock
        self._actions = actions
        self._metrics = metrics
        self._durable = durable
        self.states: dict[str, NodeState] = {}
        self._dirty: set[str] = set()
        self._undo: dict[str, NodeState | None] = {}
        self._taken: dict[str, datetime] = {}
        """When (this engine's clock) a sample of each node was last taken: a node still delivering is not silent."""
        self._task: Background | None = None
        self.handled = 0
        """Samples taken from the stream by this evaluator (the benchmark reads it)."""

    @classmethod
    def for_runtime(
        cls,
        runtime: Ports,
        settings: ThrottleSettings,
        *,
        actions: NodeActions | None = None,
        durable: str = DURABLE,
        publisher: Publisher | None = None,
    ) -> Evaluator:
        """The evaluator of an engine (the benchmark and tests name another durable or publisher)."""
        meter = runtime.telemetry.meter
        return cls(
            js=runtime.js,
            publisher=publisher or runtime.publisher,
            dead_letters=runtime.dead_letters,
            settings=settings,
            consumers=runtime.settings.consumers,
            max_payload=runtime.settings.nats.max_payload,
            clock=runtime.clock,
            actions=actions or NoActions(),
            metrics=EvaluatorMetrics(
                samples=meter.create_counter("jetflow.throttle.samples", description="Metric samples, by outcome."),
                commands=meter.create_counter("jetflow.throttle.commands", description="Throttle commands, by level."),
            ),
            durable=durable,
        )

    @property
    def active(self) -> bool:
        return self._task is not None

    def rules(self, node: str) -> Rules:
        groups = self._settings.groups
        group = self._settings.node_groups.get(node, "default")
        return groups.get(group) or groups.get("default") or Rules()

    async def start(self) -> None:
        """Won the lease: reload the states and start consuming."""
        self.states = await store.load()
        self._dirty.clear()
        self._taken.clear()
        config = ConsumerConfig(
            ack_policy=AckPolicy.ALL,
            ack_wait=self._consumers.ack_wait,
            deliver_policy=DeliverPolicy.ALL,
            max_ack_pending=self._settings.batch * 4,
        )
        subscription = await self._js.pull_subscribe(
            SAMPLES, durable=self._durable, stream=streams.METRICS, config=config
        )
        self._task = Background("throttle-evaluator", lambda: self._run(subscription))
        self._task.start()
        log.info("throttle evaluator started with %d known nodes", len(self.states))

    async def stop(self) -> None:
        """Lost or gave up the lease: stop consuming and save what the snapshot has not yet."""
        task, self._task = self._task, None
        if task is not None:
            await task.stop()
        with contextlib.suppress(Exception):
            await self._snapshot()

    async def _run(self, subscription: JetStreamContext.PullSubscription) -> None:
        next_snapshot = time.monotonic() + self._settings.snapshot
        next_silence = time.monotonic()
        caught_up = False
        try:
            while True:
                batch = []
                self._undo.clear()
                try:
                    try:
                        batch = await subscription.fetch(self._settings.batch, timeout=1.0)
                    except TimeoutError:
                        batch = []
                    caught_up = not batch or batch[-1].metadata.num_pending == 0
                    outcomes: collections.Counter[str] = collections.Counter()
                    for msg in batch:
                        outcomes[await self._take(msg)] += 1
                    for outcome, count in outcomes.items():  # one instrument call per batch, not per sample
                        self._metrics.samples.add(count, {"outcome": outcome})
                    if batch:
                        await batch[-1].ack()  # AckAll: settles the whole batch
                    if caught_up and time.monotonic() >= next_silence:
                        next_silence = time.monotonic() + 1.0
                        await self._check_silence()
                    if time.monotonic() >= next_snapshot:
                        next_snapshot = time.monotonic() + self._settings.snapshot
                        await self._snapshot()
                except Exception:
                    # NATS or MongoDB failed mid-batch: put the nodes back as they were before the batch
                    # and have it redelivered now (with AckAll, the next batch's ack would settle it too).
                    # Changes already published come again with the same ids: JetStream drops them.
                    log.exception("throttle evaluation failed; the batch will be redelivered")
                    self._rollback()
                    for msg in batch:
                        with contextlib.suppress(Exception):
                            await msg.nak()
                    await asyncio.sleep(1.0)
        finally:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    def _remember(self, node: str) -> None:
        """Keep `node`'s state as it was before this batch, the first time the batch touches it."""
        if node not in self._undo:
            state = self.states.get(node)
            self._undo[node] = None if state is None else replace(state, window=deque(state.window))

    def _rollback(self) -> None:
        for node, before in self._undo.items():
            if before is None:
                self.states.pop(node, None)
            else:
                self.states[node] = before
        self._undo.clear()

    async def _take(self, msg: Msg) -> str:
        """`_handle`, but a sample that fails for good is dead-lettered and its node put back as it was."""
        node = msg.subject.rpartition(".")[2]
        state = self.states.get(node)
        before = None if state is None else replace(state, window=deque(state.window))
        try:
            return await self._handle(msg)
        except Exception as error:
            deliveries = msg.metadata.num_delivered
            deterministic = isinstance(error, RecursionError) or refused(error)
            if not deterministic and deliveries < self._consumers.max_deliver:
                raise  # the batch is redelivered: NATS or the store may be back by then
            if before is None:
                self.states.pop(node, None)
            else:
                self.states[node] = before
            what = "failed for good" if deterministic else f"failed {deliveries} times"
            reason = f"sample {what}: {type(error).__name__}: {error}"
            log.error("throttle sample on %s dead-lettered: %s", msg.subject, reason)
            await self._dead_letters.record(self._origin(msg), "permanent" if deterministic else "exhausted", reason)
            return "dead_lettered"

    def _origin(self, msg: Msg) -> Origin:
        meta = msg.metadata
        return Origin(
            msg.subject, msg.data, msg.headers or {}, meta.stream, meta.sequence.stream, meta.num_delivered, SAMPLES
        )

    async def _handle(self, msg: Msg) -> str:
        self.handled += 1
        headers = msg.headers or {}
        decoded = decode(MetricSample, msg.data, headers, max_payload=self._max_payload)
        node = msg.subject.rpartition(".")[2]
        if not isinstance(decoded, Rejection) and decoded.node != node:
            decoded = Rejection("permanent", f"sample for node '{decoded.node}' published on {msg.subject}")
        if not isinstance(decoded, Rejection):
            ahead, skew = (decoded.at - self._clock.now()).total_seconds(), self._settings.clock_skew
            if ahead > skew:
                reason = f"sample at {decoded.at.isoformat()} is {ahead:.0f}s in the future (tolerance {skew:g}s)"
                decoded = Rejection("permanent", reason)
        if isinstance(decoded, Rejection):
            await self._dead_letters.record(self._origin(msg), decoded.code, decoded.reason)
            return "dead_lettered"
        self._remember(node)
        state = self.states.get(node)
        if state is None:
            state = self.states[node] = NodeState(node)
        before = state.last_at
        # MongoDB keeps milliseconds: compare at that precision, or a sample redelivered after a
        # snapshot would look newer than the stored `last_at` and count twice.
        at = decoded.at.replace(microsecond=decoded.at.microsecond // 1000 * 1000)
        rules = self.rules(node)
        # Silence on sample time: was the gap before this sample a silence? (None for a stale sample.)
        silent = check_silence(state, at, rules)
        change = observe(state, decoded.id, at, readings(decoded), rules)
        if state.last_at == before:
            return "stale"
        self._taken[node] = self._clock.now()
        self._dirty.add(node)
        for happened in (silent, change):
            if happened is not None:
                await self._emit(happened, state)
        return "applied"

    async def _check_silence(self) -> None:
        """Silence on this engine's clock, called only when caught up: every sample there is was taken."""
        now = self._clock.now()
        for node, state in self.states.items():
            taken = self._taken.get(node)
            if taken is not None and (now - taken).total_seconds() < self.rules(node).silence:
                continue  # still delivering (a buffer sent after a reconnection): judged on its samples
            self._remember(node)
            change = check_silence(state, now, self.rules(node))
            if change is not None:
                await self._emit(change, state)

    async def _emit(self, change: Change, state: NodeState) -> None:
        command = ThrottleCommand(
            id=change.command_id,
            node=change.node,
            level=change.level,
            previous=change.previous,
            reason=change.reason,
            metric=change.metric,
            value=change.value,
            threshold=change.threshold,
            since=change.since,
        )
        published = await self._publisher.publish(
            subjects.throttle_command(change.node), command, causation=change.cause
        )
        await self._save([state])
        self._dirty.discard(change.node)
        if not published.duplicate:
            self._metrics.commands.add(1, {"level": str(change.level)})
            log.info("throttle %s: %s", change.node, change.reason)
        try:
            await self._actions.apply(change)
        except Exception:
            log.exception("node actions for %s (%s) failed", change.node, change.level)

    async def _snapshot(self) -> None:
        dirty, self._dirty = self._dirty, set()
        await self._save(self.states[node] for node in dirty if node in self.states)

    async def _save(self, states: Iterable[NodeState]) -> None:
        """Store `states`; one the store refuses for good stays in memory only (the others are written)."""
        try:
            await store.save(states)
        except Exception as error:
            if not refused(error):
                raise
            log.error("the store refuses a throttle state; it is kept in memory only: %s", error)
