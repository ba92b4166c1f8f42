"""The JetStream streams (docs/architecture.md), declared in one place and applied idempotently.

Streams are created when missing and updated in place when their configuration drifted (for example
a new duplicate window), so every replica can run `ensure_streams` at start without coordination.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

if TYPE_CHECKING:
    from nats.js import JetStreamContext

    from engine.core.settings import NatsSettings

HOUR = 3600.0
#: JetStream's error code for "stream name already in use with a different configuration".
_STREAM_CONFIG_MISMATCH = 10058


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """One stream: its name, subjects, and the retention that suits its traffic."""

    name: str
    subjects: tuple[str, ...]
    max_age: float | None = None
    max_msgs_per_subject: int | None = None
    why: str = ""


#: Every stream's name, spelled here once.
CATALOG = "JETFLOW_CATALOG"
BOOKINGS = "JETFLOW_BOOKINGS"
EXECUTIONS = "JETFLOW_EXECUTIONS"
METRICS = "JETFLOW_METRICS"
THROTTLE = "JETFLOW_THROTTLE"
CREDENTIALS = "JETFLOW_CREDENTIALS"
DLQ = "JETFLOW_DLQ"

STREAMS: tuple[StreamSpec, ...] = (
    # Catalog entries arrive on one subject per family, so "last per subject" would keep only the
    # newest resource of all; MongoDB holds the current catalog and this stream the history.
    StreamSpec(CATALOG, ("jetflow.resource.>", "jetflow.workflow.>"), why="what can be booked and run"),
    StreamSpec(BOOKINGS, ("jetflow.booking.>",), why="commands and their outcomes, replayable"),
    StreamSpec(EXECUTIONS, ("jetflow.execution.>",), why="lifecycle of every execution"),
    StreamSpec(
        METRICS,
        ("jetflow.metric.>",),
        max_age=HOUR,
        max_msgs_per_subject=10_000,
        why="high volume, short-lived",
    ),
    StreamSpec(THROTTLE, ("jetflow.throttle.>",), max_msgs_per_subject=1, why="node agents read their latest"),
    StreamSpec(CREDENTIALS, ("jetflow.credential.>",), why="requests and outcomes, never secret values"),
    StreamSpec(DLQ, ("jetflow.dlq.>",), why="poison messages with the reason, for replay"),
)


def stream_for(subject: str) -> StreamSpec | None:
    """The stream that captures `subject`, or None for core-NATS subjects (jetflow.ctl.>, jetflow.peer.>)."""
    for spec in STREAMS:
        for pattern in spec.subjects:
            if subject.startswith(pattern.removesuffix(">")):
                return spec
    return None


def stream_config(spec: StreamSpec, settings: NatsSettings) -> StreamConfig:
    return StreamConfig(
        name=spec.name,
        description=f"jetflow: {spec.why}",
        subjects=list(spec.subjects),
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=spec.max_age,
        max_msgs_per_subject=spec.max_msgs_per_subject or -1,
        duplicate_window=min(settings.duplicate_window, spec.max_age or settings.duplicate_window),
        num_replicas=settings.stream_replicas,
        max_msg_size=settings.max_payload * 4,
    )


async def ensure_streams(js: JetStreamContext, settings: NatsSettings) -> list[str]:
    """Create or update every stream; returns the names of streams that changed."""
    changed: list[str] = []
    for spec in STREAMS:
        config = stream_config(spec, settings)
        try:
            info = await js.stream_info(spec.name)
        except NotFoundError:
            await js.add_stream(config)
            changed.append(spec.name)
            continue
        current = info.config
        if _differs(current, config):
            try:
                await js.update_stream(config)
            except BadRequestError as error:
                if error.err_code != _STREAM_CONFIG_MISMATCH:
                    raise
            changed.append(spec.name)
    return changed


def _differs(current: StreamConfig, wanted: StreamConfig) -> bool:
    fields = ("subjects", "max_age", "max_msgs_per_subject", "duplicate_window", "num_replicas", "max_msg_size")
    return any(
        (getattr(current, name) or None) != (getattr(wanted, name) or None)
        if not isinstance(getattr(wanted, name), list)
        else sorted(getattr(current, name) or []) != sorted(getattr(wanted, name))
        for name in fields
    )
