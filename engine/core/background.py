"""One named background task that runs while this replica holds the dispatch lease.

The dispatcher, the watcher and the janitor start on election and stop on deposition or shutdown;
starting twice or stopping a stopped one does nothing, and stopping waits until the task is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine


class Background:
    def __init__(self, name: str, run: Callable[[], Coroutine[object, object, None]]) -> None:
        self._name = name
        self._run = run
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
