"""Waiting for the outcome event of a command, so request/reply clients get an answer.

A command published on a stream subject is processed by whichever replica's durable consumer takes
it; that replica publishes the outcome event with a `Jetflow-Causation-Id` header naming the command.
Each process keeps one core-NATS subscription per outcome family and hands matching events to the
requests waiting for them: no per-request subscription, and no polling.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from engine.bus.decode import parse
from engine.bus.publisher import CAUSATION_ID

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription

type Outcome = dict[str, Any]


class Outcomes:
    def __init__(self, nc: Client) -> None:
        self._nc = nc
        self._waiting: defaultdict[str, list[asyncio.Future[Outcome]]] = defaultdict(list)
        self._subscriptions: dict[str, Subscription] = {}

    async def watch(self, subject: str) -> None:
        """Follow outcome events on `subject` (a wildcard such as jetflow.booking.>); idempotent."""
        if subject not in self._subscriptions:
            self._subscriptions[subject] = await self._nc.subscribe(subject, cb=self._on_event)

    def expect(self, causation: str) -> asyncio.Future[Outcome]:
        """Register interest before publishing the command, so a fast outcome is not missed."""
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiting[causation].append(future)
        return future

    def forget(self, causation: str, future: asyncio.Future[Outcome]) -> None:
        futures = self._waiting.get(causation)
        if futures and future in futures:
            futures.remove(future)
            if not futures:
                del self._waiting[causation]

    async def _on_event(self, msg: Msg) -> None:
        causation = (msg.headers or {}).get(CAUSATION_ID)
        if not causation or causation not in self._waiting:
            return
        event = parse(msg.data)
        if not isinstance(event, dict):
            return
        outcome: Outcome = {"status": msg.subject.rsplit(".", 1)[-1], **event}
        for future in self._waiting.pop(causation, []):
            if not future.done():
                future.set_result(outcome)

    async def close(self) -> None:
        for subscription in self._subscriptions.values():
            await subscription.unsubscribe()
        self._subscriptions.clear()
        for futures in self._waiting.values():
            for future in futures:
                future.cancel()
        self._waiting.clear()
