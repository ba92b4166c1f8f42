"""What the engine gives its features and handlers: the settings, the bus, the store, the control service.

engine/app.py builds one `Runtime`, then each feature object from it (`Features`; a feature types it as
engine/ports.py's `Ports`, which `Runtime` satisfies, and is given its own settings group), then lets every
handlers module bind its subjects (`install(runtime)`: durable consumers on `runtime.router`, `jetflow.ctl`
endpoints on `runtime.control`) to the methods of `runtime.features`. Passing one object keeps the wiring
explicit (no globals) while letting features be added without touching the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from engine.core.clock import Clock, SystemClock
from engine.core.gate import OpenGate

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from faststream.nats import NatsRouter
    from nats.js import JetStreamContext

    from engine.booking.feature import BookingFeature
    from engine.bus.consumer import Consumers
    from engine.bus.deadletter import DeadLetters
    from engine.bus.dlq import DeadLetterQueue
    from engine.bus.publisher import Publisher
    from engine.catalog.feature import CatalogFeature
    from engine.census import CensusFeature
    from engine.control.service import ControlService
    from engine.core.gate import ThrottleGate
    from engine.core.store import Store
    from engine.credentials.feature import CredentialsFeature
    from engine.dispatch.feature import Dispatch
    from engine.executions.store import Transitions
    from engine.kube.client import Kube
    from engine.retention.feature import RetentionFeature
    from engine.scheduler.feature import Schedule
    from engine.settings import Settings
    from engine.telemetry import Telemetry
    from engine.throttle.feature import Throttle


@dataclass(slots=True)
class Features:
    """One object per feature, in start order (stopped in reverse)."""

    catalog: CatalogFeature
    booking: BookingFeature
    throttle: Throttle
    """Before the scheduler: the gate knows every node's level before the first execution fires."""
    schedule: Schedule
    dispatch: Dispatch
    credentials: CredentialsFeature
    retention: RetentionFeature
    census: CensusFeature
    dlq: DeadLetterQueue
    """The dead-letter queue's reader and replayer (JETFLOW_DLQ only: no store, no lease, nothing to start)."""

    def all(self) -> tuple[Feature, ...]:
        return (
            self.catalog,
            self.booking,
            self.throttle,
            self.schedule,
            self.dispatch,
            self.credentials,
            self.retention,
            self.census,
        )


class Feature(Protocol):
    """What the app composes: `start` on every replica, `lead`/`depose` under the feature's lease, `stop`."""

    @property
    def lease(self) -> str | None:
        """The name of the feature's leader lease, or None when it has no leader work (here)."""
        ...

    async def start(self) -> None: ...

    async def lead(self) -> None: ...

    async def depose(self) -> None: ...

    async def stop(self) -> None: ...


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
    transitions: Transitions
    """The one compare-and-set mover of executions (it counts the illegal moves it refuses)."""
    clock: Clock = field(default_factory=SystemClock)
    gate: ThrottleGate = field(default_factory=OpenGate)
    kube: Kube | None = None
    """The one Kubernetes client of this process (or the manifests folder); None when no cluster is configured."""
    instance: str = "jetflow"
    """This process's unique name (peer id + random suffix): lease holder, logs."""
    features: Features = field(init=False)
    """Set by the engine once every feature is built from this runtime."""
    stopping: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    """Called in reverse order when the engine stops, before the bus and the store close."""
