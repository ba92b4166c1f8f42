"""One typed settings object for the whole engine, in groups, one per concern (kopf's `OperatorSettings`).

Loaded once (environment variables with the `JETFLOW_` prefix, or a `.env` file) and passed down
explicitly; nothing else in the code base reads the environment. Each group lives beside the code it
configures (`engine/core/settings.py` for the shared machinery, `engine/<feature>/settings.py` for a
feature) and every field says what it is for and which `JETFLOW_*` variable sets it, because operators
read these files. A feature is given its own group, never the whole object.

`Settings()` reads the environment; `Settings.load(**fields)` and `settings.replace(**fields)` take the
flat names of the variables without their prefix (`mongo_db=...` for `JETFLOW_MONGO_DB`), as tests and
the command line do.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import SettingsError

from engine.booking.settings import BookingSettings
from engine.core.settings import (
    ConsumerSettings,
    KubeSettings,
    LeafSettings,
    LeaseSettings,
    MongoSettings,
    NatsSettings,
    PeerSettings,
    TelemetrySettings,
)
from engine.credentials.settings import CredentialSettings, StorageAccess
from engine.dispatch.settings import DispatchSettings
from engine.retention.settings import RetentionSettings
from engine.scheduler.settings import SchedulerSettings
from engine.throttle.settings import ThrottleSettings

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["ENV", "InvalidSettings", "Settings", "StorageAccess"]


class InvalidSettings(ValueError):
    """A setting could not be read; the message is one line that names the variable (`JETFLOW_...`)."""


class Settings(BaseModel):
    """Everything an operator can configure, by concern; `JETFLOW_<NAME>` sets a field (see `ENV`)."""

    model_config = ConfigDict(frozen=True)

    nats: NatsSettings = Field(default_factory=NatsSettings, description="NATS connection and streams.")
    consumers: ConsumerSettings = Field(default_factory=ConsumerSettings, description="Delivery and retries.")
    mongo: MongoSettings = Field(default_factory=MongoSettings, description="The MongoDB store.")
    kube: KubeSettings = Field(default_factory=KubeSettings, description="The cluster that runs workflows.")
    peer: PeerSettings = Field(default_factory=PeerSettings, description="This peer and its local state.")
    leaf: LeafSettings = Field(default_factory=LeafSettings, description="Leaf links to other peers.")
    lease: LeaseSettings = Field(default_factory=LeaseSettings, description="Leader leases.")
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings, description="Metrics, traces, ctl.")
    booking: BookingSettings = Field(default_factory=BookingSettings, description="Booking decisions.")
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings, description="Firing executions.")
    throttle: ThrottleSettings = Field(default_factory=ThrottleSettings, description="Node throttling.")
    credentials: CredentialSettings = Field(default_factory=CredentialSettings, description="Storage credentials.")
    dispatch: DispatchSettings = Field(default_factory=DispatchSettings, description="Argo dispatch.")
    retention: RetentionSettings = Field(default_factory=RetentionSettings, description="Store retention.")

    @classmethod
    def load(cls, *, _env_file: Path | str | None = ".env", **fields: Any) -> Self:
        """Read every group from the environment (and `_env_file`), with `fields` (flat names) on top."""
        grouped: dict[str, dict[str, Any]] = {group: {} for group in cls.model_fields}
        for name, value in fields.items():
            if name not in ENV:
                raise TypeError(f"unknown setting '{name}'")
            group, field = ENV[name]
            grouped[group][field] = value
        return cls.model_validate(
            {
                group: cls.model_fields[group].annotation(_env_file=_env_file, **values)  # type: ignore[misc]
                for group, values in grouped.items()
            }
        )

    @classmethod
    def read(cls, *, _env_file: Path | str | None = ".env", **fields: Any) -> Self:
        """`load`, any problem raised as `InvalidSettings`: one line naming the variables (the command line's way)."""
        try:
            return cls.load(_env_file=_env_file, **fields)
        except (ValidationError, SettingsError) as error:
            raise InvalidSettings(explain(error)) from None

    def replace(self, **fields: Any) -> Self:
        """A copy with `fields` (flat names) changed, validated like any other."""
        grouped: dict[str, dict[str, Any]] = {}
        for name, value in fields.items():
            if name not in ENV:
                raise TypeError(f"unknown setting '{name}'")
            group, field = ENV[name]
            grouped.setdefault(group, {})[field] = value
        changed = {
            group: type(getattr(self, group)).model_validate(getattr(self, group).model_dump() | values)
            for group, values in grouped.items()
        }
        return type(self).model_validate(self.model_dump() | changed)

    @model_validator(mode="after")
    def _retention_outlives_duplicates(self) -> Self:
        if self.retention.keep < self.nats.duplicate_window:
            raise ValueError(
                f"JETFLOW_RETENTION ({self.retention.keep:g}s) must be at least JETFLOW_DUPLICATE_WINDOW "
                f"({self.nats.duplicate_window:g}s): a replay of a booking whose record was deleted is decided anew, "
                "so records must outlive the window in which JetStream drops duplicates"
            )
        return self


def explain(error: ValidationError | SettingsError) -> str:
    """A settings error in one line that names the `JETFLOW_*` variables, never the fields behind them."""
    if isinstance(error, ValidationError):
        groups = [info.annotation for info in Settings.model_fields.values()]
        model = next((group for group in groups if getattr(group, "__name__", None) == error.title), None)
        return _problems(error, model)
    # A value that should be JSON is not: pydantic-settings parses it before any validation.
    field = str(error).split('"')[1] if str(error).count('"') >= 2 else ""
    variable = " or ".join(
        name for name in (_variable(info.annotation, field) for info in Settings.model_fields.values()) if name
    )
    variable = variable or field
    cause = error.__cause__
    if isinstance(cause, json.JSONDecodeError):
        where = f"line {cause.lineno} column {cause.colno} (character {cause.pos})"
        return f"{variable} is not valid JSON: {cause.msg} at {where}"
    return f"{variable}: {cause or error}"


def _variable(model: Any, field: str) -> str | None:
    spec = model.model_fields.get(field) if isinstance(model, type) and issubclass(model, BaseModel) else None
    return spec.validation_alias if spec is not None and isinstance(spec.validation_alias, str) else None


def _problems(error: ValidationError, model: Any) -> str:
    """`JETFLOW_LEASE_TTL: Input should be a valid number (got 'abc')`, problems joined by '; '."""
    problems = []
    for problem in error.errors(include_url=False):
        where = [str(part) for part in problem["loc"]]
        if where:
            where[0] = _variable(model, where[0]) or where[0]
        message = problem["msg"].removeprefix("Value error, ")
        given = problem.get("input")
        shown = f" (got {given!r})" if where and isinstance(given, str | int | float) else ""
        problems.append(f"{'.'.join(where)}: {message}{shown}" if where else message)
    return "; ".join(problems)


def _variables() -> dict[str, tuple[str, str]]:
    """Flat name (the variable without `JETFLOW_`, lower case) → (group, field), for every field."""
    found: dict[str, tuple[str, str]] = {}
    for group, info in Settings.model_fields.items():
        model = info.annotation
        assert isinstance(model, type)
        assert issubclass(model, BaseModel)
        for field, spec in model.model_fields.items():
            alias = spec.validation_alias
            assert isinstance(alias, str), (group, field)
            found[alias.removeprefix("JETFLOW_").lower()] = (group, field)
    return found


#: Every variable jetflow reads, by its flat name: `ENV["mongo_db"] == ("mongo", "db")` (JETFLOW_MONGO_DB).
ENV = _variables()
