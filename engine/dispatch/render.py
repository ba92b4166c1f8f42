"""`jetflow render`: every manifest dispatch would create, as YAML, without touching a cluster.

For an execution id, the execution and the catalog come from the store (JETFLOW_MONGO_URL, else the
embedded store of the `jetflow up` running on the state folder: `engine/cli.py`). For a
booking request file, its first execution is rendered the way the scheduler would name and time it,
with the catalog from the store or from a `--catalog` file (`{"resources": [...], "workflows": [...]}`),
so a workflow can be reviewed before it is ever booked.
"""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import yaml

from engine.claims.windows import Schedule, execution_id, instant, with_default_duration
from engine.core.errors import PermanentError
from engine.dispatch.manifests import manifests
from engine.dispatch.plan import DispatchConfig, Plan
from schemas.booking import BookingRequest
from schemas.catalog import Resource, Workflow

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from engine.catalog.store import Catalog
    from engine.core.settings import MongoSettings, PeerSettings
    from engine.dispatch.settings import DispatchSettings


def to_yaml(documents: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(documents, sort_keys=False)


def booking_plan(
    booking: BookingRequest,
    workflow: Workflow,
    resources: dict[str, Resource],
    config: DispatchConfig,
    *,
    limit: int,
    cron_duration: timedelta,
) -> Plan:
    """The first execution of `booking`, as it would be dispatched at its planned time (a cron booking
    without `duration` given its default, as when it is decided)."""
    schedule = Schedule(booking.start, booking.end, booking.cron, booking.duration)
    spans = schedule.spans(limit)
    if not spans:
        raise PermanentError("the booking's cron does not fire within its window")
    first = with_default_duration(schedule, spans, cron_duration).window(instant(spans.starts[0]))
    return Plan(
        execution=execution_id(booking.id, first.start),
        booking=booking.id,
        workflow=workflow,
        resources=resources,
        planned_at=first.start,
        window_end=first.end,
        now=first.start,
        config=config,
    )


def catalog_file(path: Path) -> tuple[dict[str, Workflow], dict[str, Resource]]:
    data = json.loads(path.read_text()) if path.suffix == ".json" else yaml.safe_load(path.read_text())
    workflows = {w.id: w for w in (Workflow.model_validate(item) for item in data.get("workflows", []))}
    resources = {r.id: r for r in (Resource.model_validate(item) for item in data.get("resources", []))}
    return workflows, resources


def render(
    target: str,
    settings: DispatchSettings,
    peer: PeerSettings,
    mongo: MongoSettings,
    *,
    limit: int,
    cron_duration: timedelta,
    catalog: Path | None = None,
) -> str:
    """YAML of every manifest of `target` (an execution id, or a booking request JSON file); a booking is
    expanded as when it is decided: at most `limit` executions, `cron_duration` each for a cron one."""
    import asyncio
    from pathlib import Path

    config = DispatchConfig.from_settings(settings, peer)
    path = Path(target)
    if path.suffix == ".json" and not path.is_file():
        raise PermanentError(f"{target}: no such file (a booking request JSON file, or an execution id)")
    if mongo.url is None and (path.suffix != ".json" or catalog is None):
        raise PermanentError(
            f"no store to read executions and the catalog from: no `jetflow up` runs on {peer.state_dir} "
            "(JETFLOW_STATE_DIR); set JETFLOW_MONGO_URL, or pass --catalog"
        )
    if path.suffix == ".json":
        booking = BookingRequest.model_validate_json(path.read_text())
        if catalog is None:
            workflow, resources = asyncio.run(_booking_catalog(booking, mongo))
        else:
            workflows, resources = catalog_file(catalog)
            if booking.workflow not in workflows:
                raise PermanentError(f"workflow '{booking.workflow}' is not in {catalog}")
            workflow = workflows[booking.workflow]
        plan = booking_plan(
            booking,
            workflow,
            resources,
            config,
            limit=limit,
            cron_duration=cron_duration,
        )
    else:
        plan = asyncio.run(_execution_plan(target, mongo, config))
    return to_yaml(manifests(plan))


async def _booking_catalog(booking: BookingRequest, mongo: MongoSettings) -> tuple[Workflow, dict[str, Resource]]:
    async with _store(mongo) as catalog:
        workflow = await catalog.workflow(booking.workflow)
        if workflow is None:
            raise PermanentError(f"unknown workflow '{booking.workflow}'")
        wanted = set(booking.resources) | {s.resource for s in workflow.steps if s.resource}
        return workflow, await catalog.resources(sorted(wanted))


async def _execution_plan(execution: str, mongo: MongoSettings, config: DispatchConfig) -> Plan:
    from engine.dispatch.service import load_plan
    from engine.executions.store import ExecutionRecord

    async with _store(mongo) as catalog:
        record = await ExecutionRecord.get(execution)
        if record is None:
            raise PermanentError(f"unknown execution '{execution}' (and no booking file of that name)")
        return await load_plan(catalog, record, config, now=max(record.planned_at, _now()))


def _now() -> datetime:
    return datetime.now(UTC)


@asynccontextmanager
async def _store(mongo: MongoSettings) -> AsyncIterator[Catalog]:
    """The catalog (and executions) read from the store, which is closed afterwards."""
    from engine.catalog.store import CATALOG_DOCUMENTS, Catalog
    from engine.core.store import Store
    from engine.executions.store import ExecutionRecord

    if mongo.url is None:
        raise PermanentError("set JETFLOW_MONGO_URL to read executions and the catalog (or pass --catalog)")
    store = await Store.connect(mongo, [*CATALOG_DOCUMENTS, ExecutionRecord], mongo.url)
    try:
        yield Catalog()
    finally:
        await store.close()
