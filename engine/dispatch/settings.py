"""The dispatch feature's settings group (part of `engine/settings.py`'s `Settings`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from engine.core.settings import GROUP


class DispatchSettings(BaseSettings):
    """How due executions become Argo Workflows."""

    model_config = GROUP

    max_running: int = Field(
        validation_alias="JETFLOW_DISPATCH_MAX_RUNNING",
        default=100,
        ge=1,
        description="Executions dispatched (not yet ended) at once, overall; more wait as due.",
    )
    max_per_resource: int = Field(
        validation_alias="JETFLOW_DISPATCH_MAX_PER_RESOURCE",
        default=10,
        ge=1,
        description="Executions dispatched at once per resource (the throttle may lower it).",
    )
    refill: float = Field(
        validation_alias="JETFLOW_DISPATCH_REFILL",
        default=5.0,
        gt=0,
        description="Seconds between passes over the waiting executions (also woken by events).",
    )
    retries: int = Field(
        validation_alias="JETFLOW_DISPATCH_RETRIES",
        default=2,
        ge=0,
        description="Retries of a failed step (Argo retryStrategy.limit).",
    )
    namespace_delete_delay: float = Field(
        validation_alias="JETFLOW_NAMESPACE_DELETE_DELAY",
        default=3600.0,
        ge=0,
        description="Seconds a finished execution's namespace is kept (logs) before deletion.",
    )
    watch_timeout: float = Field(
        validation_alias="JETFLOW_WATCH_TIMEOUT",
        default=300.0,
        gt=0,
        description="Seconds one workflow watch request lasts before it is renewed.",
    )
    c2d_image: str = Field(
        validation_alias="JETFLOW_C2D_IMAGE",
        default="amazon/aws-cli:2.17.0",
        description="Image of compute-to-data's fetch and publish steps (aws s3 cp).",
    )
    c2d_max_jobs: int = Field(
        validation_alias="JETFLOW_C2D_MAX_JOBS",
        default=1,
        ge=1,
        description="Compute-to-data: steps of one execution running at once (Argo parallelism).",
    )
    c2d_max_job_duration: float = Field(
        validation_alias="JETFLOW_C2D_MAX_JOB_DURATION",
        default=3600.0,
        gt=0,
        description="Compute-to-data: seconds one algorithm step may run (activeDeadlineSeconds).",
    )
    c2d_volume_size: str = Field(
        validation_alias="JETFLOW_C2D_VOLUME_SIZE",
        default="1Gi",
        description="Compute-to-data: size of the shared /data volume.",
    )
