"""Retention: `jetflow.ctl.retention.sweep` sweeps now → engine/retention/feature.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

from schemas import subjects

if TYPE_CHECKING:
    from engine.runtime import Runtime


async def install(runtime: Runtime) -> None:
    retention = runtime.features.retention
    await runtime.control.add_query("retention-sweep", subjects.ctl("retention", "sweep"), None, retention.sweep)
