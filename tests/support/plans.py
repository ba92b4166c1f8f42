"""Sample dispatch inputs shared by the builder, service and render tests: one execution of a
workflow whose steps run on two clusters (a local node and a peer's edge node), with a storage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.dispatch.plan import DispatchConfig, Plan
from schemas.catalog import Resource, Workflow

START = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)

TWO_CLUSTERS = Workflow.model_validate(
    {
        "id": "alpr",
        "steps": [
            {
                "name": "detect",
                "image": "alpine:3.20",
                "command": ["sh", "-c"],
                "args": ["echo detect"],
                "resource": "node-a",
                "resources": {"cpu": "500m", "memory": "256Mi"},
            },
            {
                "name": "recognise",
                "image": "alpine:3.20",
                "env": {"MODEL": "plates-v2"},
                "resource": "edge-b",
                "depends": ["detect"],
            },
            {"name": "report", "image": "alpine:3.20", "resource": "node-a", "depends": ["recognise"]},
        ],
    }
)

RESOURCES = {
    "node-a": Resource(id="node-a"),
    "edge-b": Resource(id="edge-b", peer="peer-b", node="edge-node-1"),
    "store": Resource(id="store", kind="storage", endpoint="http://minio:9000"),
}


def two_cluster_plan(execution: str = "bk-42-20261201t100000", *, workflow: Workflow = TWO_CLUSTERS) -> Plan:
    return Plan(
        execution=execution,
        booking="bk-42",
        workflow=workflow,
        resources=RESOURCES,
        planned_at=START,
        window_end=START + timedelta(hours=1),
        now=START,
        config=DispatchConfig.defaults(),
    )
