"""Throttle: `jetflow.ctl.throttle.status` → engine/throttle/feature.py (samples are pulled by its evaluator)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from schemas import subjects

if TYPE_CHECKING:
    from engine.runtime import Runtime


async def install(runtime: Runtime) -> None:
    throttle = runtime.features.throttle
    await runtime.control.add_query("throttle-status", subjects.ctl("throttle", "status"), None, throttle.status)
