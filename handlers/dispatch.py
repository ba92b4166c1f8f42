"""Dispatch: `jetflow.execution.due` and `.cancelled` → engine/dispatch/feature.py; `jetflow.ctl.dispatch.status`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from schemas import subjects
from schemas.execution import ExecutionCancelled, ExecutionDue

if TYPE_CHECKING:
    from engine.bus.consumer import Delivery
    from engine.runtime import Runtime


async def install(runtime: Runtime) -> None:
    dispatch = runtime.features.dispatch
    durable = runtime.consumers.durable
    if dispatch.enabled:

        @durable(runtime.router, name="dispatch-due", subject=subjects.EXECUTION_DUE, model=ExecutionDue)
        async def on_due(event: ExecutionDue, delivery: Delivery) -> None:
            """Queue a due execution for dispatch (it waits as `due` in the store until a slot is free)."""
            await dispatch.due(event)

        @durable(
            runtime.router, name="dispatch-cancelled", subject=subjects.EXECUTION_CANCELLED, model=ExecutionCancelled
        )
        async def on_cancelled(event: ExecutionCancelled, delivery: Delivery) -> None:
            """Delete a cancelled execution's workflow; its slot frees."""
            await dispatch.cancelled(event)

    await runtime.control.add_query("dispatch-status", subjects.ctl("dispatch", "status"), None, dispatch.status)
