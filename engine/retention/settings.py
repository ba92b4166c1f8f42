"""The retention feature's settings group (part of `engine/settings.py`'s `Settings`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from engine.core.settings import GROUP


class RetentionSettings(BaseSettings):
    """How long finished work stays in the store."""

    model_config = GROUP

    keep: float = Field(
        validation_alias="JETFLOW_RETENTION",
        default=7 * 86400.0,
        gt=0,
        description="Seconds finished executions, ended bookings and ended credential leases stay in the store "
        "before the sweep deletes them (the streams keep their history). A deleted booking's id is decided anew "
        "if replayed, so keep it well above duplicate_window.",
    )
    sweep: float = Field(
        validation_alias="JETFLOW_RETENTION_SWEEP",
        default=300.0,
        gt=0,
        description="Seconds between retention sweeps (one replica sweeps, by lease).",
    )
