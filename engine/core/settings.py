"""Settings of the machinery every feature shares: NATS, consumers, MongoDB, Kubernetes, this peer, its leaf
links, leases, telemetry.

Every group reads its own `JETFLOW_*` variables (each field names its variable in `validation_alias`, so the
names stay flat and stable whatever group a field lives in), from the environment or a `.env` file.
`engine/settings.py` composes the groups into the one `Settings` object the engine is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.subjects import peer

#: The configuration of every settings group: flat `JETFLOW_*` names, `.env` too, frozen once loaded.
GROUP = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True, populate_by_name=True)


class NatsSettings(BaseSettings):
    """The NATS connection and the streams jetflow declares."""

    model_config = GROUP

    url: str | None = Field(
        validation_alias="JETFLOW_NATS_URL",
        default=None,
        description="NATS server URL(s), comma-separated. Unset: `jetflow up` starts an embedded nats-server.",
    )
    user: str | None = Field(
        validation_alias="JETFLOW_NATS_USER", default=None, description="NATS user name (with nats_password)."
    )
    password: SecretStr | None = Field(
        validation_alias="JETFLOW_NATS_PASSWORD", default=None, description="NATS password."
    )
    token: SecretStr | None = Field(
        validation_alias="JETFLOW_NATS_TOKEN", default=None, description="NATS authentication token."
    )
    creds: Path | None = Field(
        validation_alias="JETFLOW_NATS_CREDS", default=None, description="Path to a NATS .creds file (JWT + NKey)."
    )
    tls_ca: Path | None = Field(
        validation_alias="JETFLOW_NATS_TLS_CA",
        default=None,
        description="CA bundle to verify the NATS server (enables TLS).",
    )
    tls_cert: Path | None = Field(
        validation_alias="JETFLOW_NATS_TLS_CERT", default=None, description="Client certificate for mutual TLS."
    )
    tls_key: Path | None = Field(
        validation_alias="JETFLOW_NATS_TLS_KEY", default=None, description="Client key for mutual TLS."
    )
    connect_timeout: float = Field(
        validation_alias="JETFLOW_NATS_CONNECT_TIMEOUT",
        default=5.0,
        gt=0,
        description="Seconds to wait for NATS at start.",
    )
    publish_timeout: float = Field(
        validation_alias="JETFLOW_PUBLISH_TIMEOUT",
        default=5.0,
        gt=0,
        description="Seconds to wait for JetStream's ack of one publish; a publish is tried 3 times.",
    )
    stream_replicas: int = Field(
        validation_alias="JETFLOW_STREAM_REPLICAS",
        default=1,
        ge=1,
        le=5,
        description="Replicas of every JetStream stream (3 on a NATS cluster).",
    )
    duplicate_window: float = Field(
        validation_alias="JETFLOW_DUPLICATE_WINDOW",
        default=600.0,
        gt=0,
        description="Seconds JetStream remembers a Nats-Msg-Id to drop duplicates.",
    )
    max_payload: int = Field(
        validation_alias="JETFLOW_MAX_PAYLOAD",
        default=256 * 1024,
        gt=0,
        description="Largest accepted message body in bytes; larger is dead-lettered.",
    )


class ConsumerSettings(BaseSettings):
    """How durable consumers deliver, retry and give up on messages."""

    model_config = GROUP

    max_deliver: int = Field(
        validation_alias="JETFLOW_MAX_DELIVER",
        default=5,
        ge=2,
        description="Deliveries of one message before it is dead-lettered.",
    )
    backoff: tuple[float, ...] = Field(
        validation_alias="JETFLOW_BACKOFF",
        default=(1.0, 5.0, 15.0, 30.0),
        description="Seconds to wait before each redelivery after a temporary error (last value repeats).",
    )
    ack_wait: float = Field(
        validation_alias="JETFLOW_ACK_WAIT",
        default=30.0,
        gt=0,
        description="Seconds a handler may take before JetStream redelivers the message.",
    )
    handler_timeout: float = Field(
        validation_alias="JETFLOW_HANDLER_TIMEOUT",
        default=25.0,
        gt=0,
        description="Seconds a handler may run before it counts as failed (keep below ack_wait).",
    )

    @model_validator(mode="after")
    def _timeouts_fit(self) -> ConsumerSettings:
        if self.handler_timeout >= self.ack_wait:
            raise ValueError(
                f"JETFLOW_HANDLER_TIMEOUT ({self.handler_timeout:g}s) must be below JETFLOW_ACK_WAIT "
                f"({self.ack_wait:g}s), "
                "or JetStream redelivers a message while its handler still runs"
            )
        return self

    pull_batch: int = Field(
        validation_alias="JETFLOW_PULL_BATCH",
        default=16,
        ge=1,
        le=1024,
        description="Messages fetched per pull request; a batch is handled concurrently, the next fetched after it.",
    )


class MongoSettings(BaseSettings):
    """The MongoDB store."""

    model_config = GROUP

    url: str | None = Field(
        validation_alias="JETFLOW_MONGO_URL",
        default=None,
        description="MongoDB connection string. Unset: `jetflow up` starts the embedded store (SQLite).",
    )
    db: str = Field(validation_alias="JETFLOW_MONGO_DB", default="jetflow", description="Database name.")
    timeout: float = Field(
        validation_alias="JETFLOW_MONGO_TIMEOUT", default=5.0, gt=0, description="Seconds to wait for MongoDB at start."
    )


class KubeSettings(BaseSettings):
    """The Kubernetes cluster that runs workflows (or a folder that stands in for it)."""

    model_config = GROUP

    kubeconfig: Path | None = Field(
        validation_alias="JETFLOW_KUBECONFIG",
        default=None,
        description="Kubeconfig file of the cluster that runs workflows. Unset: in-cluster credentials when "
        "running in a pod, else the kubernetes client's default (~/.kube/config or $KUBECONFIG) if it exists.",
    )
    context: str | None = Field(
        validation_alias="JETFLOW_KUBE_CONTEXT",
        default=None,
        description="Kubeconfig context to use; unset: the current one.",
    )
    in_cluster: bool | None = Field(
        validation_alias="JETFLOW_KUBE_IN_CLUSTER",
        default=None,
        description="Use the pod's service account. Unset: detected (a service-account token is mounted).",
    )
    manifests_dir: Path | None = Field(
        validation_alias="JETFLOW_MANIFESTS_DIR",
        default=None,
        description="Write manifests as YAML files to this folder instead of a cluster (nothing reaches "
        "Kubernetes). `jetflow up` sets it to <state_dir>/manifests when no cluster is configured.",
    )
    timeout: float = Field(
        validation_alias="JETFLOW_KUBE_TIMEOUT",
        default=15.0,
        gt=0,
        description="Seconds one Kubernetes API request may take.",
    )


class PeerSettings(BaseSettings):
    """This peer: its id in a federation, its key, how long it waits for other peers, its local state."""

    model_config = GROUP

    id: str = Field(
        validation_alias="JETFLOW_PEER_ID",
        default="local",
        description="This instance's peer id in a federation of jetflows; also its nats-server's JetStream "
        "domain and a token of the subjects other peers ask it on (jetflow.peer.<id>.>).",
    )
    timeout: float = Field(
        validation_alias="JETFLOW_PEER_TIMEOUT",
        default=5.0,
        gt=0,
        description="Seconds to wait for another peer's reply (booking claim, credential issue, secret store).",
    )
    retry: float = Field(
        validation_alias="JETFLOW_PEER_RETRY",
        default=10.0,
        gt=0,
        description="Seconds between attempts to release a booking's claims on a peer that could not be reached "
        "when the booking was cancelled or not confirmed (every replica retries until the peer answers).",
    )
    private_key: SecretStr | None = Field(
        validation_alias="JETFLOW_PEER_PRIVATE_KEY",
        default=None,
        description="Base64 X25519 private key of this peer (secrets sent to it are sealed to its public key). "
        "Unset: read from, or generated on first use into, <state_dir>/peer.key. Every replica of one peer "
        "needs the same key.",
    )

    @field_validator("id")
    @classmethod
    def _a_subject_token(cls, value: str) -> str:
        peer(value, "leaf", "link")  # refuses '.', wildcards and spaces, which would change the subjects
        return value

    state_dir: Path = Field(
        validation_alias="JETFLOW_STATE_DIR",
        default=Path(".jetflow"),
        description="Folder of the embedded servers' data (`jetflow up`).",
    )


#: URL schemes nats-server accepts for a leaf remote.
LEAF_SCHEMES = ("nats-leaf://", "tls://", "nats://", "ws://", "wss://")


class LeafSettings(BaseSettings):
    """This peer's links to other peers: NATS leaf-node connections, one account per linked peer.

    `jetflow up` writes them into its nats-server's configuration (engine/embedded/natsconf.py);
    `jetflow nats-config` prints the same configuration for servers an operator runs. Each link is
    one peer pair, declared on one side only: the peer that listens names the peer in `peers`, the
    other names the listener in `remotes`.
    """

    model_config = GROUP

    port: int | None = Field(
        validation_alias="JETFLOW_LEAF_PORT",
        default=None,
        ge=0,
        le=65535,
        description="Port on which this peer's nats-server accepts leaf connections of the peers in "
        "JETFLOW_LEAF_PEERS. Unset: it accepts none.",
    )
    host: str = Field(
        validation_alias="JETFLOW_LEAF_HOST",
        default="127.0.0.1",
        min_length=1,
        description="Interface of the leaf port; 0.0.0.0 to accept peers on other machines (use TLS then).",
    )
    peers: dict[str, SecretStr] = Field(
        validation_alias="JETFLOW_LEAF_PEERS",
        default_factory=dict,
        description="JSON: peer id -> password, the peers that may connect to the leaf port (user = their "
        'peer id), e.g. {"b": "..."}. Anyone else, or a wrong password, is refused by nats-server.',
    )
    remotes: dict[str, SecretStr] = Field(
        validation_alias="JETFLOW_LEAF_REMOTES",
        default_factory=dict,
        description="JSON: peer id -> leaf URL of that peer, with this peer's credentials there, e.g. "
        '{"a": "nats-leaf://b:secret@10.0.0.1:7422"}.',
    )
    tls_cert: Path | None = Field(
        validation_alias="JETFLOW_LEAF_TLS_CERT",
        default=None,
        description="Certificate of this peer's leaf connections (served on the leaf port, presented to remotes).",
    )
    tls_key: Path | None = Field(
        validation_alias="JETFLOW_LEAF_TLS_KEY", default=None, description="Key of that certificate."
    )
    tls_ca: Path | None = Field(
        validation_alias="JETFLOW_LEAF_TLS_CA",
        default=None,
        description="CA that signs the other peers' certificates: remotes are verified against it, and peers "
        "connecting to the leaf port must present a certificate it signed (mutual TLS).",
    )

    @model_validator(mode="after")
    def _links_are_sound(self) -> LeafSettings:
        for name in (*self.peers, *self.remotes):
            try:
                peer(name, "leaf", "link")
            except ValueError as error:
                raise ValueError(f"leaf peer id {name!r} cannot name a peer: {error}") from None
        for name, url in self.remotes.items():
            if not url.get_secret_value().startswith(LEAF_SCHEMES):
                raise ValueError(f"leaf remote of {name!r} must be a nats-leaf:// (or tls://, ws://, wss://) URL")
        both = sorted(set(self.peers) & set(self.remotes))
        if both:
            # Two links between one pair of peers form a loop, which nats-server refuses (it drops both).
            raise ValueError(
                f"peer(s) {', '.join(both)} in both JETFLOW_LEAF_PEERS and JETFLOW_LEAF_REMOTES: one link per pair"
            )
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("JETFLOW_LEAF_TLS_CERT and JETFLOW_LEAF_TLS_KEY go together")
        return self

    @property
    def linked(self) -> list[str]:
        """Every peer this peer has a leaf link with, sorted."""
        return sorted({*self.peers, *self.remotes})


class LeaseSettings(BaseSettings):
    """The leader leases (scheduler, dispatch, throttle, retention)."""

    model_config = GROUP

    ttl: float = Field(
        validation_alias="JETFLOW_LEASE_TTL",
        default=6.0,
        ge=1,
        description="Seconds before a dead leader's lease expires and a standby takes over.",
    )
    replicas: int | None = Field(
        validation_alias="JETFLOW_LEASE_REPLICAS",
        default=None,
        ge=1,
        le=5,
        description="Replicas of the NATS KV bucket of the leases (jetflow_leases). Unset: "
        "JETFLOW_STREAM_REPLICAS, so a cluster that keeps the streams also keeps who leads.",
    )


class TelemetrySettings(BaseSettings):
    """Metrics, traces and the operators' request/reply endpoints."""

    model_config = GROUP

    census_interval: float = Field(
        validation_alias="JETFLOW_CENSUS_INTERVAL",
        default=15.0,
        gt=0,
        description="Seconds between counts of executions, bookings and dead letters (gauges).",
    )
    metrics_port: int | None = Field(
        validation_alias="JETFLOW_METRICS_PORT",
        default=None,
        ge=0,
        le=65535,
        description="Port of the Prometheus /metrics endpoint; unset disables it.",
    )
    otlp_endpoint: str | None = Field(
        validation_alias="JETFLOW_OTLP_ENDPOINT",
        default=None,
        description="OTLP/HTTP base URL traces are sent to, e.g. http://127.0.0.1:4318 (spans go to <url>/v1/traces); "
        "the standard OTEL_EXPORTER_OTLP_* variables work too. Unset: no trace leaves the process.",
    )
    ctl_timeout: float = Field(
        validation_alias="JETFLOW_CTL_TIMEOUT",
        default=10.0,
        gt=0,
        description="Seconds a jetflow.ctl request waits for the outcome of its command.",
    )
    log_format: Literal["text", "json"] = Field(
        validation_alias="JETFLOW_LOG_FORMAT",
        default="text",
        description="`text`: a line per record for people; `json`: one JSON object per line (time, level, logger, "
        "message, and trace_id / span_id while a span is active) for log collectors. `--log-format` overrides it.",
    )
    health_timeout: float = Field(
        validation_alias="JETFLOW_HEALTH_TIMEOUT",
        default=0.8,
        gt=0,
        description="Seconds jetflow.ctl.health waits for NATS and for the store; one that does not answer "
        "in time is reported unreachable (status degraded).",
    )
