"""Waiting for something that happens asynchronously: one polling loop for every test.

`eventually` returns the last value it read whether or not the condition came to hold, so the test's
own assertion, written once after it, says what was found. A helper that must fail on a timeout
(`settled`, `wait_for_instances`) checks the returned value itself.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from typing import TYPE_CHECKING, Any, overload

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable


@overload
async def eventually[T](
    probe: Callable[[], Awaitable[T]],
    until: Callable[[T], object] = bool,
    *,
    timeout: float = 10.0,
    interval: float = 0.05,
) -> T: ...


@overload
async def eventually[T](
    probe: Callable[[], T],
    until: Callable[[T], object] = bool,
    *,
    timeout: float = 10.0,
    interval: float = 0.05,
) -> T: ...


async def eventually(
    probe: Callable[[], Any],
    until: Callable[[Any], object] = bool,
    *,
    timeout: float = 10.0,
    interval: float = 0.05,
) -> Any:
    """Read `probe()` (awaited when it is a coroutine) every `interval` seconds until `until` holds of
    it or `timeout` seconds have passed; the last value read, either way. It reads at least once."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if inspect.isawaitable(value):
            value = await value
        if until(value) or time.monotonic() >= deadline:
            return value
        await asyncio.sleep(interval)
