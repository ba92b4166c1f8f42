"""What a feature is given by the engine: the ports it uses, named here so features never import the engine.

engine/runtime.py's `Runtime` (built once by engine/app.py) has these members and more; it satisfies
`Ports` structurally, and a feature typed against `Ports` can be built from it without importing it, nor
the features beside it that `Runtime` lists. A feature's own settings group is given to it on its own
(`Schedule(runtime, settings.scheduler)`); `settings` here names only the shared groups features read.
The module sits in the layer just below the features (pyproject.toml): it names the publisher, the
transitions and the Kubernetes client, which live above engine/core.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from nats.js import JetStreamContext

    from engine.bus.deadletter import DeadLetters
    from engine.bus.publisher import Publisher
    from engine.core.clock import Clock
    from engine.core.gate import ThrottleGate
    from engine.core.settings import ConsumerSettings, NatsSettings, PeerSettings, TelemetrySettings
    from engine.executions.store import Transitions
    from engine.kube.client import Kube
    from engine.telemetry import Telemetry


class SharedSettings(Protocol):
    """The groups of engine/core/settings.py that features read (engine/settings.py's `Settings` has them)."""

    @property
    def nats(self) -> NatsSettings: ...

    @property
    def consumers(self) -> ConsumerSettings: ...

    @property
    def peer(self) -> PeerSettings: ...

    @property
    def telemetry(self) -> TelemetrySettings: ...


class Ports(Protocol):
    """What features use of the engine's runtime; read-only, so the runtime's own fields satisfy it."""

    @property
    def settings(self) -> SharedSettings: ...

    @property
    def publisher(self) -> Publisher: ...

    @property
    def dead_letters(self) -> DeadLetters: ...

    @property
    def js(self) -> JetStreamContext: ...

    @property
    def telemetry(self) -> Telemetry: ...

    @property
    def transitions(self) -> Transitions:
        """The one compare-and-set mover of executions."""
        ...

    @property
    def clock(self) -> Clock: ...

    @property
    def gate(self) -> ThrottleGate: ...

    @property
    def kube(self) -> Kube | None:
        """The one Kubernetes client of this process (or the manifests folder); None when no cluster is configured."""
        ...

    @property
    def instance(self) -> str:
        """This process's unique name (peer id + random suffix): lease holder, logs."""
        ...
