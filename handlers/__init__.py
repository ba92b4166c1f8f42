"""Thin NATS handlers, one module per feature: parse, call one service, publish what happened.

`FEATURES` lists every feature's `install(runtime)`; `DOCUMENTS` every Beanie document the features
store, registered (with their indexes) when the engine starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine import census
from handlers import booking, catalog, credentials, dispatch, retention, schedule, throttle

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from beanie import Document

    from engine.runtime import Runtime

# throttle before schedule: the gate knows every node's level before the first execution fires.
FEATURES: Sequence[Callable[[Runtime], Awaitable[None]]] = (
    catalog.install,
    booking.install,
    throttle.install,
    schedule.install,
    dispatch.install,
    credentials.install,
    retention.install,
    census.install,
)
DOCUMENTS: Sequence[type[Document]] = (
    *catalog.DOCUMENTS,
    *booking.DOCUMENTS,
    *throttle.DOCUMENTS,
    *credentials.DOCUMENTS,
)
