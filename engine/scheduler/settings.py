"""The scheduler feature's settings group (part of `engine/settings.py`'s `Settings`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings

from engine.core.settings import GROUP


class SchedulerSettings(BaseSettings):
    """How the leader fires executions."""

    model_config = GROUP

    enabled: bool = Field(
        validation_alias="JETFLOW_SCHEDULER_ENABLED",
        default=True,
        description="Take part in the leader election that fires executions.",
    )
    catch_up: Literal["fire", "skip"] = Field(
        validation_alias="JETFLOW_CATCH_UP",
        default="fire",
        description="After downtime: 'fire' late executions whose window is still open; 'skip' those more "
        "than catch_up_grace late. Either way, executions whose window ended are recorded missed.",
    )
    catch_up_grace: float = Field(
        validation_alias="JETFLOW_CATCH_UP_GRACE",
        default=5.0,
        ge=0,
        description="Seconds late an execution may fire under 'skip'.",
    )
    horizon: float = Field(
        validation_alias="JETFLOW_SCHEDULER_HORIZON",
        default=600.0,
        gt=0,
        description="Seconds ahead that executions are loaded as timer jobs (bounds memory).",
    )
    refill: float = Field(
        validation_alias="JETFLOW_SCHEDULER_REFILL",
        default=30.0,
        gt=0,
        description="Seconds between reloads of the horizon.",
    )
