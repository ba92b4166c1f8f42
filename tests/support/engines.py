"""Engines started in-process, as `jetflow run` starts them, and always stopped.

A test asks for the `engines` fixture (tests/conftest.py) and starts as many as it needs, with the
test's settings or its own; whatever is still running when the test ends is stopped, newest first.
Stopping one mid-test (a restart, a hand-over) is `await engine.stop()`: the fixture then leaves it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Self, TypedDict, Unpack

from engine.app import Engine

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import TracebackType

    from engine.app import Install
    from engine.core.clock import Clock
    from engine.core.gate import ThrottleGate
    from engine.runtime import Runtime
    from engine.settings import Settings


class Options(TypedDict, total=False):
    """What a test may give an engine besides its settings (see `Engine`)."""

    clock: Clock
    gate: ThrottleGate
    extra_features: Sequence[Install]


class Engines:
    def __init__(self, settings: Settings, nats_url: str, mongo_url: str) -> None:
        self.settings = settings
        """What `start` uses when it is given no settings: the test's `settings` fixture."""
        self.nats_url = nats_url
        self.mongo_url = mongo_url
        self._started: list[Engine] = []

    async def start(self, settings: Settings | None = None, **options: Unpack[Options]) -> Engine:
        """A started engine on the test's NATS and MongoDB."""
        engine = Engine(settings or self.settings, nats_url=self.nats_url, mongo_url=self.mongo_url, **options)
        await engine.start()
        self._started.append(engine)
        return engine

    async def runtime(self, settings: Settings | None = None, **options: Unpack[Options]) -> Runtime:
        """`start`, for a test that only needs what the features are given."""
        engine = await self.start(settings, **options)
        assert engine.runtime is not None
        return engine.runtime

    async def stop(self) -> None:
        """Stop every engine still running, newest first."""
        while self._started:
            engine = self._started.pop()
            if engine.runtime is not None:  # not stopped by the test already
                await engine.stop()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.stop()
