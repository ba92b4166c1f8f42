"""The engine: one async process that connects, declares its streams, and runs every feature.

Start order matters and is written once here: connect to NATS and MongoDB (fail fast with a clear
message), declare the streams, start the micro service, let each feature install its consumers and
endpoints, then start consuming. Stop runs in reverse, draining in-flight messages first.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING, Any

from faststream.nats import NatsBroker, NatsRouter
from faststream.nats.opentelemetry import NatsTelemetryMiddleware
from nats.errors import Error as NatsError

from engine.booking.feature import BookingFeature
from engine.booking.owner import PeerClaim
from engine.booking.remote import PendingRelease
from engine.bus import quiet
from engine.bus.consumer import Consumers
from engine.bus.deadletter import DeadLetters
from engine.bus.dlq import DeadLetterQueue
from engine.bus.exhausted import watch_exhausted
from engine.bus.publisher import Publisher
from engine.catalog.feature import CatalogFeature
from engine.catalog.store import CATALOG_DOCUMENTS
from engine.census import CensusFeature
from engine.claims.calendar import ResourceCalendar
from engine.connection import NatsUnavailable, broker_options
from engine.connection import connect as connect_nats
from engine.control.health import health_report
from engine.control.outcomes import Outcomes
from engine.control.service import ControlService
from engine.core.clock import SystemClock
from engine.core.leader import Leadership, declare_leader_gauge
from engine.core.store import Store
from engine.credentials.feature import CredentialsFeature
from engine.credentials.lease import CredentialLease
from engine.dispatch.feature import Dispatch
from engine.executions.bookings import BookingRecord
from engine.executions.store import ExecutionRecord, Transitions
from engine.kube.connect import connect as connect_kube
from engine.retention.feature import RetentionFeature
from engine.runtime import Features, Runtime
from engine.scheduler.feature import Schedule
from engine.streams import ensure_streams
from engine.telemetry import setup_telemetry
from engine.throttle.feature import Throttle
from engine.throttle.gate import CommandGate
from engine.throttle.store import NodeThrottle
from engine.version import VERSION
from schemas import subjects

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from beanie import Document
    from nats.aio.subscription import Subscription

    from engine.core.clock import Clock
    from engine.core.gate import ThrottleGate
    from engine.runtime import Feature
    from engine.settings import Settings

log = logging.getLogger("jetflow")

#: Every Beanie document the features store, registered (with their indexes) when the engine starts.
DOCUMENTS: tuple[type[Document], ...] = (
    *CATALOG_DOCUMENTS,
    BookingRecord,
    ExecutionRecord,
    ResourceCalendar,
    PeerClaim,
    PendingRelease,
    NodeThrottle,
    CredentialLease,
)

type Install = Callable[[Runtime], Awaitable[None]]


class Engine:
    def __init__(
        self,
        settings: Settings,
        *,
        nats_url: str,
        mongo_url: str,
        clock: Clock | None = None,
        gate: ThrottleGate | None = None,
        extra_features: Sequence[Install] = (),
    ) -> None:
        self.settings = settings
        self.nats_url = nats_url
        self.mongo_url = mongo_url
        self.clock: Clock = clock or SystemClock()
        # Throttle commands drive the gate by default; tests may inject a gate of their own.
        self.gate: ThrottleGate = gate or CommandGate(settings.throttle)
        self.instance = f"{settings.peer.id}-{uuid.uuid4().hex[:8]}"
        self.telemetry = setup_telemetry(VERSION, settings.telemetry.otlp_endpoint, peer=settings.peer.id)
        self.broker = NatsBroker(
            **broker_options(settings.nats, nats_url, name=f"jetflow:{settings.peer.id}"),
            middlewares=[NatsTelemetryMiddleware(tracer_provider=self.telemetry.tracer_provider)],
            logger=quiet.install(logging.getLogger("jetflow.bus")),
            log_level=logging.DEBUG,
            graceful_timeout=settings.consumers.ack_wait,
        )
        self.extra_features = tuple(extra_features)
        self.runtime: Runtime | None = None
        self._outcomes: Outcomes | None = None
        self._exhausted: Subscription | None = None
        self.health: Callable[[], Awaitable[dict[str, Any]]] | None = None
        """`jetflow.ctl.health`'s report, once started (the HTTP probes ask it too)."""

    async def start(self) -> Runtime:
        from handlers import FEATURES

        # A first plain connection says at once why NATS cannot be reached (refused, unknown host): the
        # broker's own connect retries for ever, and would end only as a bare TimeoutError.
        await (
            await connect_nats(self.settings.nats, self.nats_url, name=f"jetflow:{self.settings.peer.id}:probe")
        ).close()
        store = await Store.connect(self.settings.mongo, DOCUMENTS, self.mongo_url)
        try:
            # nats-py retries an unreachable server for ever at start too (max_reconnect_attempts=-1), and
            # `jetflow run` would hang deaf to SIGTERM: bound the first connect to a few attempts.
            async with asyncio.timeout(3 * self.settings.nats.connect_timeout):
                await self.broker.connect()
        except (NatsError, OSError, TimeoutError) as error:
            await store.close()
            reason = str(error) or type(error).__name__
            raise NatsUnavailable(f"cannot reach NATS at {self.nats_url}: {reason}") from error
        nc = self.broker.connection
        js = nc.jetstream()
        kube = await connect_kube(self.settings.kube)
        changed = await ensure_streams(js, self.settings.nats, self.settings.peer.id, self.settings.leaf.linked)
        if changed:
            log.info("streams created or updated: %s", ", ".join(changed))

        instruments = self.telemetry.instruments
        publisher = Publisher(self.broker, timeout=self.settings.nats.publish_timeout)
        # A dead letter must fit both a NATS message and a message of the DLQ stream (streams.stream_config).
        dead_letters = DeadLetters(
            publisher, instruments, limit=min(nc.max_payload, self.settings.nats.max_payload * 4)
        )
        self._outcomes = Outcomes(nc)
        control = ControlService(
            nc,
            self.settings.telemetry,
            publisher,
            self._outcomes,
            instruments,
            VERSION,
            peer=self.settings.peer.id,
            max_payload=self.settings.nats.max_payload,
        )
        await control.start()
        consumers = Consumers(
            self.settings.consumers, dead_letters, instruments, max_payload=self.settings.nats.max_payload
        )
        self._exhausted = await watch_exhausted(
            nc, js, dead_letters, consumers.exhausted, self.settings.nats.max_payload
        )
        router = NatsRouter()
        illegal = self.telemetry.meter.create_counter(
            "jetflow.executions.illegal_transitions", description="Execution transitions refused (not forward)."
        )
        runtime = Runtime(
            transitions=Transitions(illegal),
            settings=self.settings,
            router=router,
            publisher=publisher,
            consumers=consumers,
            dead_letters=dead_letters,
            control=control,
            store=store,
            js=js,
            telemetry=self.telemetry,
            clock=self.clock,
            gate=self.gate,
            kube=kube,
            instance=self.instance,
        )

        async def health(_: Any) -> dict[str, Any]:
            return await health_report(
                js, store, version=VERSION, peer=self.settings.peer.id, timeout=self.settings.telemetry.health_timeout
            )

        self.health = lambda: health(None)

        await control.add_query("health", subjects.ctl_health(), None, health)
        declare_leader_gauge(self.telemetry.meter)
        runtime.features = features = Features(
            catalog=CatalogFeature(publisher, self.settings.peer.id, self.settings.leaf.linked),
            booking=BookingFeature(runtime, self.settings.booking),
            throttle=Throttle(runtime, self.settings.throttle),
            schedule=Schedule(runtime, self.settings.scheduler),
            dispatch=Dispatch(runtime, self.settings.dispatch),
            credentials=CredentialsFeature(runtime, self.settings.credentials),
            retention=RetentionFeature(runtime, self.settings.retention),
            census=CensusFeature(runtime),
            dlq=DeadLetterQueue(runtime.js),
        )
        features.throttle.on_release(features.schedule.release)
        for feature in features.all():
            await self._start(runtime, feature)
        for install in (*FEATURES, *self.extra_features):
            await install(runtime)
        self.broker.include_router(router)
        await self.broker.start()
        features.census.consumers_started()
        self.runtime = runtime
        log.info("jetflow %s running (peer %s) on %s", VERSION, self.settings.peer.id, self.nats_url)
        return runtime

    async def _start(self, runtime: Runtime, feature: Feature) -> None:
        await feature.start()
        runtime.stopping.append(feature.stop)
        if feature.lease is not None:
            lease = self.settings.lease
            replicas = lease.replicas or self.settings.nats.stream_replicas
            leadership = Leadership(runtime.js, feature.lease, self.instance, lease.ttl, feature, replicas=replicas)
            leadership.start()
            runtime.stopping.append(leadership.stop)

    async def stop(self) -> None:
        runtime, self.runtime = self.runtime, None
        if runtime is not None:
            for stop in reversed(runtime.stopping):
                try:
                    await stop()
                except Exception:
                    log.exception("a feature failed to stop cleanly")
            await runtime.control.stop()
        if self._outcomes is not None:
            await self._outcomes.close()
        if self._exhausted is not None:
            await self._exhausted.unsubscribe()
            self._exhausted = None
        await self.broker.stop()
        await asyncio.to_thread(self.telemetry.tracer_provider.force_flush, 5000)  # the last spans leave first
        if runtime is not None:
            if runtime.kube is not None:
                await runtime.kube.close()
            await runtime.store.close()
