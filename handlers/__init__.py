"""Thin NATS handlers, one module per feature: they bind subjects to the feature's methods, nothing more.

`FEATURES` lists every module's `install(runtime)`, which registers durable consumers on `runtime.router`
and `jetflow.ctl` endpoints on `runtime.control`, calling the feature objects in `runtime.features`
(built by engine/app.py). No handler builds a service, holds a lease, subscribes to core NATS or reads
the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from handlers import booking, catalog, credentials, dispatch, dlq, retention, schedule, throttle

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from engine.runtime import Runtime

FEATURES: Sequence[Callable[[Runtime], Awaitable[None]]] = (
    catalog.install,
    booking.install,
    throttle.install,
    schedule.install,
    dispatch.install,
    credentials.install,
    retention.install,
    dlq.install,
)
