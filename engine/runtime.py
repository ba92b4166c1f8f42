"""What a feature gets to install itself: the settings, the bus, the store, the control service.

Handlers modules expose `install(runtime)`; they register their durable consumers on
`runtime.router` and their `jetflow.ctl` endpoints on `runtime.control`. Passing one object keeps
the wiring explicit (no globals) while letting features be added without touching the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.core.clock import Clock, SystemClock
from engine.core.gate import OpenGate

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from faststream.nats import NatsRouter
    from nats.js import JetStreamContext

    from engine.bus.consumer import Consumers
    from engine.bus.deadletter import DeadLetters
    from engine.bus.publisher import Publisher
    from engine.control.service import ControlService
    from engine.core.gate import ThrottleGate
    from engine.core.store import Store
    from engine.kube.client import Kube
    from engine.settings import Settings
    from engine.telemetry import Telemetry


@dataclass(slots=True)
class Runtime:
    settings: Settings
    router: NatsRouter
    publisher: Publisher
    consumers: Consumers
    dead_letters: DeadLetters
    control: ControlService
    store: Store
    js: JetStreamContext
    telemetry: Telemetry
    clock: Clock = field(default_factory=SystemClock)
    gate: ThrottleGate = field(default_factory=OpenGate)
    kube: Kube | None = None
    """The one Kubernetes client of this process (or the manifests folder); None when no cluster is configured."""
    instance: str = "jetflow"
    """This process's unique name (peer id + random suffix): lease holder, logs."""
    stopping: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    """Called in reverse order when the engine stops, before the bus and the store close."""
