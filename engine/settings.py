"""One typed settings object for the whole engine.

Loaded once (environment variables with the `JETFLOW_` prefix, or a `.env` file) and passed down
explicitly; nothing else in the code base reads the environment. Fields are grouped by the server they
configure, and every field says what it is for, because operators read this file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from engine.throttle.rules import Rules


class StorageAccess(BaseModel):
    """How this peer issues credentials for one storage resource it owns (an S3/MinIO server with STS).

    Given as JSON in `JETFLOW_STORAGES`, keyed by storage resource id, for example
    `{"minio-b": {"access_key": "jetflow", "secret_key": "...", "buckets": ["data"]}}`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    endpoint: str | None = Field(
        default=None,
        description="S3/STS URL this peer reaches the storage at, e.g. https://minio.b:9000; the catalog "
        "Resource.endpoint when unset.",
    )
    access_key: str = Field(min_length=1, description="Identity that assumes roles (a MinIO user or service account).")
    secret_key: SecretStr = Field(description="Its secret key.")
    role_arn: str | None = Field(default=None, description="Role to assume; MinIO ignores it, AWS-style STS needs it.")
    region: str = Field(default="us-east-1", description="Region the STS request is signed for.")
    verify_tls: bool = Field(default=True, description="Verify the server's TLS certificate (https endpoints).")
    ca_bundle: Path | None = Field(default=None, description="CA bundle to verify the server with, if not a public CA.")
    buckets: tuple[str, ...] = Field(
        min_length=1, description="Buckets this storage exports; a request for any other bucket is refused."
    )


class Settings(BaseSettings):
    """Everything an operator can configure. `JETFLOW_<FIELD>` sets a field, e.g. `JETFLOW_NATS_URL`."""

    model_config = SettingsConfigDict(env_prefix="JETFLOW_", env_file=".env", extra="ignore", frozen=True)

    # --- NATS ---------------------------------------------------------------------------------
    nats_url: str | None = Field(
        default=None,
        description="NATS server URL(s), comma-separated. Unset: `jetflow up` starts an embedded nats-server.",
    )
    nats_user: str | None = Field(default=None, description="NATS user name (with nats_password).")
    nats_password: SecretStr | None = Field(default=None, description="NATS password.")
    nats_token: SecretStr | None = Field(default=None, description="NATS authentication token.")
    nats_creds: Path | None = Field(default=None, description="Path to a NATS .creds file (JWT + NKey).")
    nats_tls_ca: Path | None = Field(default=None, description="CA bundle to verify the NATS server (enables TLS).")
    nats_tls_cert: Path | None = Field(default=None, description="Client certificate for mutual TLS.")
    nats_tls_key: Path | None = Field(default=None, description="Client key for mutual TLS.")
    nats_connect_timeout: float = Field(default=5.0, gt=0, description="Seconds to wait for NATS at start.")
    stream_replicas: int = Field(
        default=1, ge=1, le=5, description="Replicas of every JetStream stream (3 on a NATS cluster)."
    )
    duplicate_window: float = Field(
        default=600.0, gt=0, description="Seconds JetStream remembers a Nats-Msg-Id to drop duplicates."
    )
    max_payload: int = Field(
        default=256 * 1024, gt=0, description="Largest accepted message body in bytes; larger is dead-lettered."
    )

    # --- consumers ----------------------------------------------------------------------------
    max_deliver: int = Field(default=5, ge=2, description="Deliveries of one message before it is dead-lettered.")
    backoff: tuple[float, ...] = Field(
        default=(1.0, 5.0, 15.0, 30.0),
        description="Seconds to wait before each redelivery after a temporary error (last value repeats).",
    )
    ack_wait: float = Field(
        default=30.0, gt=0, description="Seconds a handler may take before JetStream redelivers the message."
    )
    handler_timeout: float = Field(
        default=25.0, gt=0, description="Seconds a handler may run before it counts as failed (keep below ack_wait)."
    )
    pull_batch: int = Field(
        default=16,
        ge=1,
        le=1024,
        description="Messages fetched per pull request; a batch is handled concurrently, the next fetched after it.",
    )

    # --- MongoDB ------------------------------------------------------------------------------
    mongo_url: str | None = Field(
        default=None,
        description="MongoDB connection string. Unset: `jetflow up` starts the embedded store (SQLite).",
    )
    mongo_db: str = Field(default="jetflow", description="Database name.")
    mongo_timeout: float = Field(default=5.0, gt=0, description="Seconds to wait for MongoDB at start.")

    # --- bookings -----------------------------------------------------------------------------
    max_executions_per_booking: int = Field(
        default=100_000, ge=1, description="A booking whose cron yields more executions is rejected (code limit)."
    )
    booking_workers: int = Field(
        default=16,
        ge=1,
        description="Booking commands one replica decides at once: one slow booking never holds up the others "
        "(the calendars' compare-and-set keeps overlapping ones safe).",
    )
    max_booking_window: float = Field(
        default=366 * 86400.0, gt=0, description="Longest booking window in seconds (end - start)."
    )
    past_tolerance: float = Field(
        default=300.0, ge=0, description="Seconds a booking may start in the past (clock skew, queueing)."
    )

    # --- scheduler ----------------------------------------------------------------------------
    scheduler_enabled: bool = Field(default=True, description="Take part in the leader election that fires executions.")
    catch_up: Literal["fire", "skip"] = Field(
        default="fire",
        description="After downtime: 'fire' late executions whose window is still open; 'skip' those more "
        "than catch_up_grace late. Either way, executions whose window ended are recorded missed.",
    )
    catch_up_grace: float = Field(default=5.0, ge=0, description="Seconds late an execution may fire under 'skip'.")
    scheduler_horizon: float = Field(
        default=600.0, gt=0, description="Seconds ahead that executions are loaded as timer jobs (bounds memory)."
    )
    scheduler_refill: float = Field(default=30.0, gt=0, description="Seconds between reloads of the horizon.")
    lease_ttl: float = Field(
        default=6.0, ge=1, description="Seconds before a dead leader's lease expires and a standby takes over."
    )

    # --- throttle -----------------------------------------------------------------------------
    throttle_enabled: bool = Field(
        default=True, description="Take part in the lease election that evaluates node samples into throttle levels."
    )
    throttle_groups: dict[str, Rules] = Field(
        default_factory=lambda: {"default": Rules()},
        description="Thresholds per node group, as JSON: {group: {limited: {metric: {high, low}}, tainted: {...}, "
        "window, mode: consecutive|mean, cooldown, silence}}. Nodes without a group use 'default'.",
    )
    throttle_node_groups: dict[str, str] = Field(
        default_factory=dict, description="Node name → group name in throttle_groups, as JSON."
    )
    throttle_limited_fraction: float = Field(
        default=0.5, gt=0, le=1, description="Share of a node's concurrent execution limit kept while `limited`."
    )
    throttle_unknown: Literal["open", "limited", "tainted"] = Field(
        default="open",
        description="What a silent (`unknown`) node means for new work: no limit, the limited fraction, or none.",
    )
    throttle_clock_skew: float = Field(
        default=60.0,
        ge=0,
        description="Seconds a sample's `at` may be ahead of this engine's clock; later ones are dead-lettered "
        "(one sample from the future would make every real sample look stale).",
    )
    throttle_snapshot: float = Field(
        default=30.0, gt=0, description="Seconds between snapshots of the evaluator's state to MongoDB."
    )
    throttle_batch: int = Field(
        default=256, ge=1, le=4096, description="Metric samples fetched (and acknowledged at once) per pull."
    )
    throttle_kube_taint: bool = Field(
        default=False,
        description="Also taint a `tainted` node NoSchedule in Kubernetes (key jetflow.io/throttle); "
        "the taint is removed on release.",
    )
    throttle_kube_suspend: bool = Field(
        default=False,
        description="Also suspend the running Argo Workflows jetflow placed on a `tainted` node (no new steps "
        "start; running pods finish), and resume them on release.",
    )

    # --- Kubernetes ---------------------------------------------------------------------------
    kubeconfig: Path | None = Field(
        default=None,
        description="Kubeconfig file of the cluster that runs workflows. Unset: in-cluster credentials when "
        "running in a pod, else the kubernetes client's default (~/.kube/config or $KUBECONFIG) if it exists.",
    )
    kube_context: str | None = Field(default=None, description="Kubeconfig context to use; unset: the current one.")
    kube_in_cluster: bool | None = Field(
        default=None,
        description="Use the pod's service account. Unset: detected (a service-account token is mounted).",
    )
    manifests_dir: Path | None = Field(
        default=None,
        description="Write manifests as YAML files to this folder instead of a cluster (nothing reaches "
        "Kubernetes). `jetflow up` sets it to <state_dir>/manifests when no cluster is configured.",
    )
    kube_timeout: float = Field(default=15.0, gt=0, description="Seconds one Kubernetes API request may take.")

    # --- storage credentials ------------------------------------------------------------------
    storages: dict[str, StorageAccess] = Field(
        default_factory=dict,
        description="Storage resources this peer issues credentials for (JSON: storage id -> StorageAccess).",
    )
    credential_margin: float = Field(
        default=900.0, ge=0, description="Seconds credentials outlive the end of their execution's window."
    )
    credential_max_duration: float = Field(
        default=43200.0,
        ge=3600,
        description="Longest lifetime of issued credentials in seconds (STS caps it; MinIO raises anything "
        "below 3600 to 3600).",
    )
    peer_timeout: float = Field(
        default=5.0, gt=0, description="Seconds to wait for another peer's reply (credential issue, secret store)."
    )
    peer_private_key: SecretStr | None = Field(
        default=None,
        description="Base64 X25519 private key of this peer (secrets sent to it are sealed to its public key). "
        "Unset: read from, or generated on first use into, <state_dir>/peer.key. Every replica of one peer "
        "needs the same key.",
    )
    credential_sweep: float = Field(
        default=60.0, gt=0, description="Seconds between sweeps that delete this peer's expired credential Secrets."
    )

    # --- dispatch ---------------------------------------------------------------------------
    dispatch_max_running: int = Field(
        default=100, ge=1, description="Executions dispatched (not yet ended) at once, overall; more wait as due."
    )
    dispatch_max_per_resource: int = Field(
        default=10, ge=1, description="Executions dispatched at once per resource (the throttle may lower it)."
    )
    dispatch_refill: float = Field(
        default=5.0, gt=0, description="Seconds between passes over the waiting executions (also woken by events)."
    )
    dispatch_retries: int = Field(default=2, ge=0, description="Retries of a failed step (Argo retryStrategy.limit).")
    namespace_delete_delay: float = Field(
        default=3600.0, ge=0, description="Seconds a finished execution's namespace is kept (logs) before deletion."
    )
    watch_timeout: float = Field(
        default=300.0, gt=0, description="Seconds one workflow watch request lasts before it is renewed."
    )
    c2d_image: str = Field(
        default="amazon/aws-cli:2.17.0", description="Image of compute-to-data's fetch and publish steps (aws s3 cp)."
    )
    c2d_max_jobs: int = Field(
        default=1, ge=1, description="Compute-to-data: steps of one execution running at once (Argo parallelism)."
    )
    c2d_max_job_duration: float = Field(
        default=3600.0, gt=0, description="Compute-to-data: seconds one algorithm step may run (activeDeadlineSeconds)."
    )
    c2d_volume_size: str = Field(default="1Gi", description="Compute-to-data: size of the shared /data volume.")

    # --- local state --------------------------------------------------------------------------
    state_dir: Path = Field(
        default=Path(".jetflow"), description="Folder of the embedded servers' data (`jetflow up`)."
    )

    # --- identity and telemetry ---------------------------------------------------------------
    peer_id: str = Field(default="local", description="This instance's peer id in a federation of jetflows.")
    census_interval: float = Field(
        default=15.0, gt=0, description="Seconds between counts of executions, bookings and dead letters (gauges)."
    )
    metrics_port: int | None = Field(
        default=None, ge=0, le=65535, description="Port of the Prometheus /metrics endpoint; unset disables it."
    )
    otlp_endpoint: str | None = Field(
        default=None, description="OTLP endpoint for traces (optional; traces stay in-process otherwise)."
    )
    ctl_timeout: float = Field(
        default=10.0, gt=0, description="Seconds a jetflow.ctl request waits for the outcome of its command."
    )
    health_timeout: float = Field(
        default=0.8,
        gt=0,
        description="Seconds jetflow.ctl.health waits for NATS and for the store; one that does not answer "
        "in time is reported unreachable (status degraded).",
    )

    # --- retention ----------------------------------------------------------------------------
    retention: float = Field(
        default=7 * 86400.0,
        gt=0,
        description="Seconds finished executions, ended bookings and ended credential leases stay in the store "
        "before the sweep deletes them (the streams keep their history). A deleted booking's id is decided anew "
        "if replayed, so keep it well above duplicate_window.",
    )
    retention_sweep: float = Field(
        default=300.0, gt=0, description="Seconds between retention sweeps (one replica sweeps, by lease)."
    )

    @model_validator(mode="after")
    def _timeouts_fit(self) -> Settings:
        if self.handler_timeout >= self.ack_wait:
            raise ValueError(
                f"handler_timeout ({self.handler_timeout:g}s) must be below ack_wait ({self.ack_wait:g}s), "
                "or JetStream redelivers a message while its handler still runs"
            )
        return self

    @model_validator(mode="after")
    def _retention_outlives_duplicates(self) -> Settings:
        if self.retention < self.duplicate_window:
            raise ValueError(
                f"JETFLOW_RETENTION ({self.retention:g}s) must be at least JETFLOW_DUPLICATE_WINDOW "
                f"({self.duplicate_window:g}s): a replay of a booking whose record was deleted is decided anew, "
                "so records must outlive the window in which JetStream drops duplicates"
            )
        return self
