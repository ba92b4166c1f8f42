"""The Grafana dashboard uses only metrics the engine really exports."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import generate_latest

from tests.support.streams import request_json, wait_for_messages

if TYPE_CHECKING:
    from nats.aio.client import Client

    from engine.runtime import Runtime

DASHBOARD = Path(__file__).resolve().parent.parent / "deploy" / "grafana" / "jetflow.json"
SUFFIXES = ("_bucket", "_count", "_sum", "_total")


def dashboard_metrics() -> set[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    expressions = [target["expr"] for panel in panels for target in panel["targets"]]
    return {name for expr in expressions for name in re.findall(r"\bjetflow_[a-z_]+", expr)}


async def test_every_dashboard_metric_is_exported(engine: Runtime, client: Client) -> None:
    js = client.jetstream()
    await js.publish("jetflow.resource.upsert", b"{broken")  # dead letter, handled, latency
    await js.publish("jetflow.resource.upsert", json.dumps({"id": "node-a"}).encode())
    workflow = {"id": "wf", "steps": [{"name": "s", "image": "alpine"}]}
    await js.publish("jetflow.workflow.upsert", json.dumps(workflow).encode())
    await asyncio.sleep(0.5)
    start = datetime.now(UTC) + timedelta(seconds=1)
    booking = {
        "id": "dash",
        "workflow": "wf",
        "resources": ["node-a"],
        "start": start.isoformat(),
        "end": (start + timedelta(seconds=30)).isoformat(),
    }
    assert (await request_json(client, "jetflow.ctl.booking.request", booking))["status"] == "confirmed"
    await wait_for_messages(client, "JETFLOW_EXECUTIONS", "jetflow.execution.due", 1, timeout=5)
    # An illegal transition: a second cancel finds nothing to move forward.
    from engine.executions.store import Transitions
    from schemas.execution import ExecutionState

    counter = engine.telemetry.meter.create_counter("jetflow.executions.illegal_transitions")
    await Transitions(counter).move("dash-missing", ExecutionState.DUE, at=datetime.now(UTC))
    # A node hot for a whole window (default rules: 3 samples, cpu ≥ 95): samples, a command, a level.
    for second in range(3):
        at = (start + timedelta(seconds=second)).isoformat()
        sample = {"id": f"dash-{second}", "node": "node-a", "at": at, "cpu": 99, "memory": 1, "disk": 1, "load": 0}
        await js.publish("jetflow.metric.sample.node-a", json.dumps(sample).encode())
    await wait_for_messages(client, "JETFLOW_THROTTLE", "jetflow.throttle.command.node-a", 1, timeout=5)
    exported = generate_latest().decode()
    names = {
        re.sub("|".join(f"{s}$" for s in SUFFIXES), "", line.split("{")[0].split(" ")[0])
        for line in exported.splitlines()
        if line.startswith("jetflow_")
    }
    missing = {
        name for name in dashboard_metrics() if re.sub("|".join(f"{s}$" for s in SUFFIXES), "", name) not in names
    }
    assert dashboard_metrics()
    assert missing == set(), f"dashboard queries metrics the engine does not export: {missing}"
