"""The JetStream streams (docs/architecture.md), declared in one place and applied idempotently.

Streams are created when missing and updated in place when their configuration drifted (for example
a new duplicate window), so every replica can run `ensure_streams` at start without coordination.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    ExternalStream,
    RetentionPolicy,
    StorageType,
    StreamConfig,
    StreamConsumerSource,
    StreamSource,
    SubjectTransform,
)
from nats.js.errors import BadRequestError, NotFoundError

from schemas import subjects

if TYPE_CHECKING:
    from collections.abc import Sequence

    from nats.js import JetStreamContext

    from engine.core.settings import NatsSettings

HOUR = 3600.0
#: How often an idle public-stream consumer tells its reader it is alive (and lets it ack by flow control).
SOURCE_HEARTBEAT = 1.0
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
#: The read-only copy of the linked peers' public catalogs (sources only, no subjects of its own).
FEDERATED = "JETFLOW_FEDERATED"

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


def public_stream(peer_id: str) -> str:
    """The stream of `peer_id`'s public catalog, named after its owner.

    Named per owner because a reader answers the flow control of every source it has on
    `$JS.FC.<stream>.>`, imported from that owner's link: two owners' streams of one name would need
    the same subject imported from two accounts.
    """
    return f"JETFLOW_PUBLIC_{peer_id}"


def public_consumer(reader: str) -> str:
    """The durable consumer of our public stream that `reader`'s source uses, created by us, never by the reader."""
    return f"reader-{reader}"


def public_consumer_config(owner: str, reader: str) -> ConsumerConfig:
    """The consumer of `owner`'s public stream that `reader`'s source uses (ADR-58's durable sourcing).

    The owner creates it, so the reader chooses nothing: it pushes to the one deliver subject that `owner`'s
    nats-server exports to `reader`'s account only, and the reader may only reset it (after a gap) and answer its
    flow control. Flow control, a heartbeat and unlimited redelivery are what a sourcing consumer must have.
    """
    return ConsumerConfig(
        durable_name=public_consumer(reader),
        description=f"jetflow: {owner}'s public catalog, for {reader}'s federated catalog",
        deliver_subject=subjects.public_deliver(owner, reader),
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.FLOW_CONTROL,
        flow_control=True,
        idle_heartbeat=SOURCE_HEARTBEAT,
        max_deliver=-1,
    )


def _public(peer_id: str) -> StreamSpec:
    return StreamSpec(
        public_stream(peer_id),
        (f"{subjects.PUBLIC_RESOURCE_PREFIX}.>",),
        max_msgs_per_subject=1,
        why="our public resources, the view linked peers source",
    )


#: What JETFLOW_FEDERATED's messages carry (its sources' subjects, transformed to name their owner).
FEDERATED_SPEC = StreamSpec(FEDERATED, (f"{subjects.FEDERATED_PREFIX}.>",), max_msgs_per_subject=1)


def stream_for(subject: str, peer_id: str | None = None) -> StreamSpec | None:
    """The stream that holds `subject`, or None for core-NATS subjects (jetflow.ctl.>, jetflow.peer.>).

    The public catalog's stream is named after its owner: it is found only given `peer_id`.
    """
    extra: tuple[StreamSpec, ...] = (FEDERATED_SPEC,) if peer_id is None else (FEDERATED_SPEC, _public(peer_id))
    for spec in (*STREAMS, *extra):
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


def federation_configs(settings: NatsSettings, peer_id: str, linked: Sequence[str]) -> list[StreamConfig]:
    """Our public catalog, and the federated catalog sourcing every linked peer's across its domain.

    Each source uses the durable consumer the owner keeps for us (`public_consumer_config`): it only resets it
    through the owner's JetStream API (`jetflow.public.api.<owner>`, which our nats-server routes over that owner's
    leaf link: engine/embedded/natsconf.py), and the owner pushes to the deliver subject of our pair; its subjects
    are rewritten to name the owner, so an entry's owner is the link it came over, never what its body says.
    """
    public = stream_config(_public(peer_id), settings)
    sources = [
        StreamSource(
            name=public_stream(owner),
            external=ExternalStream(api=subjects.public_api(owner)),
            consumer=StreamConsumerSource(
                name=public_consumer(peer_id), deliver_subject=subjects.public_deliver(owner, peer_id)
            ),
            subject_transforms=[
                SubjectTransform(
                    src=f"{subjects.PUBLIC_RESOURCE_PREFIX}.*",
                    dest=f"{subjects.FEDERATED_PREFIX}.{owner}.resource.{{{{wildcard(1)}}}}",
                )
            ],
        )
        for owner in linked
    ]
    federated = stream_config(FEDERATED_SPEC, settings)
    # No subjects: nothing published on this server is stored here. (Without sources, a lone peer's, nats-server
    # gives it its own name as subject, which no jetflow message carries.)
    federated.subjects = None
    federated.sources = sources or None
    federated.description = "jetflow: the linked peers' public catalogs, read-only"
    return [public, federated]


async def ensure_streams(
    js: JetStreamContext, settings: NatsSettings, peer_id: str | None = None, linked: Sequence[str] = ()
) -> list[str]:
    """Create or update every stream (with `peer_id`, the federation's too, and the consumer of our public stream
    that each linked reader's source uses); returns the streams that changed."""
    changed: list[str] = []
    configs = [stream_config(spec, settings) for spec in STREAMS]
    if peer_id is not None:
        configs += federation_configs(settings, peer_id, linked)
    for config in configs:
        assert config.name is not None
        try:
            info = await js.stream_info(config.name)
        except NotFoundError:
            await js.add_stream(config)
            changed.append(config.name)
            continue
        current = info.config
        if _differs(current, config):
            try:
                await js.update_stream(config)
            except BadRequestError as error:
                if error.err_code != _STREAM_CONFIG_MISMATCH:
                    raise
            changed.append(config.name)
    if peer_id is not None:
        # After our public stream exists: the consumers our linked readers' sources use.
        for reader in linked:
            await js.add_consumer(public_stream(peer_id), public_consumer_config(peer_id, reader))
    return changed


def _differs(current: StreamConfig, wanted: StreamConfig) -> bool:
    if [_given(source.as_dict()) for source in current.sources or []] != [
        _given(source.as_dict()) for source in wanted.sources or []
    ]:
        return True
    fields = ("subjects", "max_age", "max_msgs_per_subject", "duplicate_window", "num_replicas", "max_msg_size")
    return any(
        (getattr(current, name) or None) != (getattr(wanted, name) or None)
        if not isinstance(getattr(wanted, name), list)
        else sorted(getattr(current, name) or []) != sorted(getattr(wanted, name))
        for name in fields
    )


def _given(value: object) -> object:
    """`value` without its empty fields: the server reports a source's unset `external.deliver` as ""."""
    if isinstance(value, dict):
        return {key: _given(item) for key, item in value.items() if item not in ("", None)}
    if isinstance(value, list):
        return [_given(item) for item in value]
    return value
