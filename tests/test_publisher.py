"""Publishing retries an unacknowledged publish with the same id (engine/bus/publisher.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from faststream.nats import NatsBroker
from nats.errors import TimeoutError as NatsTimeoutError

from engine.bus import publisher as module
from engine.bus.publisher import MSG_ID, Publisher
from engine.settings import Settings
from engine.streams import ensure_streams
from schemas import subjects
from schemas.execution import ExecutionCancelled

if TYPE_CHECKING:
    from nats.aio.client import Client

EVENT = ExecutionCancelled(
    id="e-1:cancelled", execution="e-1", booking="b", at=datetime(2026, 12, 1, 10, tzinfo=UTC), reason="t"
)


class Flaky(NatsBroker):
    """A real broker whose first `failures` publishes time out before reaching NATS."""

    def __init__(self, url: str, failures: int) -> None:
        super().__init__(url)
        self.failures = failures
        self.timeouts: list[float | None] = []

    async def publish(self, *args: Any, **kwargs: Any) -> Any:
        self.timeouts.append(kwargs.get("timeout"))
        if self.failures:
            self.failures -= 1
            raise NatsTimeoutError
        return await super().publish(*args, **kwargs)


@pytest.fixture(autouse=True)
def no_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "RETRY_DELAY", 0.0)


async def test_a_timed_out_publish_is_sent_again_with_the_same_id(nats_url: str, client: Client) -> None:
    await ensure_streams(client.jetstream(), Settings.load().nats)
    broker = Flaky(nats_url, failures=2)
    await broker.start()
    try:
        published = await Publisher(broker, timeout=1.5).publish(subjects.EXECUTION_CANCELLED, EVENT)
    finally:
        await broker.stop()
    assert broker.timeouts == [1.5, 1.5, 1.5]
    assert not published.duplicate
    message = await client.jetstream().get_last_msg("JETFLOW_EXECUTIONS", subjects.EXECUTION_CANCELLED)
    assert message.headers is not None
    assert message.headers[MSG_ID] == EVENT.id


async def test_a_publish_that_never_gets_an_ack_fails_after_three_tries(nats_url: str) -> None:
    broker = Flaky(nats_url, failures=5)
    await broker.start()
    try:
        with pytest.raises(NatsTimeoutError):
            await Publisher(broker, timeout=0.1).publish(subjects.EXECUTION_CANCELLED, EVENT)
    finally:
        await broker.stop()
    assert len(broker.timeouts) == module.ATTEMPTS
