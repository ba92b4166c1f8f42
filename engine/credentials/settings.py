"""The credentials feature's settings group (part of `engine/settings.py`'s `Settings`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings

from engine.core.settings import GROUP


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


class CredentialSettings(BaseSettings):
    """Storage credentials this peer issues."""

    model_config = GROUP

    storages: dict[str, StorageAccess] = Field(
        validation_alias="JETFLOW_STORAGES",
        default_factory=dict,
        description="Storage resources this peer issues credentials for (JSON: storage id -> StorageAccess).",
    )
    margin: float = Field(
        validation_alias="JETFLOW_CREDENTIAL_MARGIN",
        default=900.0,
        ge=0,
        description="Seconds credentials outlive the end of their execution's window.",
    )
    max_duration: float = Field(
        validation_alias="JETFLOW_CREDENTIAL_MAX_DURATION",
        default=43200.0,
        ge=3600,
        description="Longest lifetime of issued credentials in seconds (STS caps it; MinIO raises anything "
        "below 3600 to 3600).",
    )
    sweep: float = Field(
        validation_alias="JETFLOW_CREDENTIAL_SWEEP",
        default=60.0,
        gt=0,
        description="Seconds between sweeps that delete this peer's expired credential Secrets.",
    )
