"""Executions by state, bookings by status, dead letters kept and each durable consumer's lag: counted from
the store and the streams, exported as gauges.

These are facts of the shared store and stream, not of one process, so every replica reports the same
values (dashboards take `max`). They are counted every `census_interval` seconds with one aggregation per
collection and one stream-info request, never per event, so the hot paths pay nothing for them. The gauges'
callbacks run on the exporter's thread and cannot await: they read the last census taken.

Telemetry is process-wide (tests start many engines in one process) and OpenTelemetry keeps the first
callback registered under a name, so the gauges are created once per meter and read the census of the
most recently started engine that still runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from nats.errors import Error as NatsError
from pymongo.errors import PyMongoError

from engine import streams
from engine.core.background import Background
from engine.core.lifecycle import Idle
from engine.executions.bookings import BookingRecord
from engine.executions.store import ExecutionRecord
from schemas.execution import ExecutionState

if TYPE_CHECKING:
    from collections.abc import Callable

    from nats.js import JetStreamContext
    from opentelemetry.metrics import CallbackOptions, Meter, Observation

    from engine.ports import Ports

log = logging.getLogger(__name__)
BOOKING_STATUSES = ("confirmed", "rejected", "cancelled")


class Census:
    def __init__(self, js: JetStreamContext) -> None:
        self._js = js
        self.executions: dict[str, int] = {}
        self.bookings: dict[str, int] = {}
        self.dead_letters: int | None = None
        self.consumers: dict[tuple[str, str], tuple[int, int, int]] = {}
        """(stream, consumer) → messages pending (the lag), delivered but not acknowledged, redelivered."""
        self._again = asyncio.Event()

    async def take(self) -> None:
        """Count again: one consumer listing per stream and one stream-info request first (a store that
        refuses its aggregations leaves the consumers' lag counted), then two aggregations."""
        consumers: dict[tuple[str, str], tuple[int, int, int]] = {}
        for spec in streams.STREAMS:
            for info in await self._js.consumers_info(spec.name):
                consumers[spec.name, info.name] = (
                    info.num_pending or 0,
                    info.num_ack_pending or 0,
                    info.num_redelivered or 0,
                )
        self.consumers = consumers
        self.dead_letters = (await self._js.stream_info(streams.DLQ)).state.messages
        executions = await _count_by(ExecutionRecord, "state")
        for state, planned in (await _planned()).items():
            executions[state] = executions.get(state, 0) + planned
        self.executions = {str(state): executions.get(str(state), 0) for state in ExecutionState}
        bookings = await _count_by(BookingRecord, "status")
        self.bookings = {status: bookings.get(status, 0) for status in BOOKING_STATUSES}

    async def run(self, interval: float) -> None:
        while True:
            try:
                await self.take()
            except (PyMongoError, NatsError, OSError, TimeoutError) as error:
                log.warning("census skipped: %s", error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._again.wait(), interval)
            self._again.clear()

    def again(self) -> None:
        """Count again now, not at the end of the interval."""
        self._again.set()


async def _count_by(document: type[ExecutionRecord] | type[BookingRecord], field: str) -> dict[str, int]:
    pipeline = [{"$group": {"_id": f"${field}", "n": {"$sum": 1}}}]
    cursor = await document.get_pymongo_collection().aggregate(pipeline)
    return {str(row["_id"]): int(row["n"]) for row in await cursor.to_list()}


async def _planned() -> dict[str, int]:
    """Executions bookings planned but the scheduler has not stored yet, by the state they are listed in."""
    counts: dict[str, int] = {}
    documents = BookingRecord.get_pymongo_collection().find(
        {"next_unstored": {"$ne": None}}, {"status": 1, "execution_count": 1, "stored_count": 1}
    )
    async for document in documents:
        state = str(ExecutionState.CANCELLED if document["status"] == "cancelled" else ExecutionState.SCHEDULED)
        unstored = int(document.get("execution_count", 0)) - int(document.get("stored_count", 0))
        counts[state] = counts.get(state, 0) + max(0, unstored)
    return counts


_running: list[Census] = []
_meters: set[int] = set()


def _current() -> Census | None:
    return _running[-1] if _running else None


def _executions(_: CallbackOptions) -> list[Observation]:
    from opentelemetry.metrics import Observation

    census = _current()
    return [Observation(n, {"state": state}) for state, n in census.executions.items()] if census else []


def _bookings(_: CallbackOptions) -> list[Observation]:
    from opentelemetry.metrics import Observation

    census = _current()
    return [Observation(n, {"status": status}) for status, n in census.bookings.items()] if census else []


def _dead_letters(_: CallbackOptions) -> list[Observation]:
    from opentelemetry.metrics import Observation

    census = _current()
    return [Observation(census.dead_letters)] if census and census.dead_letters is not None else []


def _consumers(index: int) -> Callable[[CallbackOptions], list[Observation]]:
    def observe(_: CallbackOptions) -> list[Observation]:
        from opentelemetry.metrics import Observation

        census = _current()
        if census is None:
            return []
        return [
            Observation(counts[index], {"stream": stream, "consumer": consumer})
            for (stream, consumer), counts in census.consumers.items()
        ]

    return observe


def _declare(meter: Meter) -> None:
    if id(meter) in _meters:
        return
    _meters.add(id(meter))
    meter.create_observable_gauge("jetflow.executions", [_executions], description="Executions in the store, by state.")
    meter.create_observable_gauge("jetflow.bookings", [_bookings], description="Bookings in the store, by status.")
    meter.create_observable_gauge(
        "jetflow.dead_letters.stored", [_dead_letters], description="Messages kept in the dead-letter stream."
    )
    for index, (name, description) in enumerate(CONSUMER_GAUGES):
        meter.create_observable_gauge(name, [_consumers(index)], description=description)


#: The gauges of each durable consumer, in the order of `Census.consumers`' counts.
CONSUMER_GAUGES = (
    ("jetflow.consumer.pending", "Messages of the consumer's subjects not delivered yet: its lag."),
    ("jetflow.consumer.ack_pending", "Messages delivered to the consumer and not acknowledged yet."),
    ("jetflow.consumer.redelivered", "Messages delivered more than once and not acknowledged yet."),
)


class CensusFeature(Idle):
    """Counts on every replica, from the start of the engine to its stop."""

    def __init__(self, runtime: Ports) -> None:
        self._runtime = runtime
        self.census = Census(runtime.js)
        self._counting = Background("census", lambda: self.census.run(runtime.settings.telemetry.census_interval))

    def consumers_started(self) -> None:
        """The engine created its durable consumers (after every feature started, so after the first count,
        which found none of them): count again now, so their gauges do not wait a whole interval."""
        self.census.again()

    async def start(self) -> None:
        _declare(self._runtime.telemetry.meter)
        # Counted at once by the loop, whose failures never stop the engine: the embedded store refuses
        # to `$group` more than 50,000 documents, and an engine must start whatever its store holds.
        _running.append(self.census)
        self._counting.start()

    async def stop(self) -> None:
        await self._counting.stop()
        if self.census in _running:
            _running.remove(self.census)
