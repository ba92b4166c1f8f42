"""The Grafana dashboard and the alert rules beside it use only metrics the engine really exports, in
expressions that parse as PromQL."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import promql_parser
import pytest
import yaml
from prometheus_client import generate_latest

from engine.core.errors import TemporaryError
from tests.support.polling import eventually
from tests.support.streams import request_json, wait_for_messages

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from nats.aio.client import Client

    from engine.bus.consumer import Delivery
    from engine.runtime import Runtime
    from tests.support.engines import Engines

GRAFANA = Path(__file__).resolve().parent.parent / "deploy" / "grafana"
DASHBOARD = GRAFANA / "jetflow.json"
ALERTS = GRAFANA / "alerts.yaml"
SUFFIXES = ("_bucket", "_count", "_sum", "_total")
#: `label_values(<selector>, <label>)` of a Grafana template variable.
LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.+),\s*(?P<label>\w+)\)$")


def _names(expression: Any) -> set[str]:
    """The metric names a parsed PromQL expression selects."""
    if isinstance(expression, promql_parser.VectorSelector):
        return {expression.name} if expression.name else set()
    found: set[str] = set()
    for part in ("expr", "lhs", "rhs", "vector_selector", "param"):
        child = getattr(expression, part, None)
        if child is not None:
            found |= _names(child)
    for argument in getattr(expression, "args", None) or ():
        found |= _names(argument)
    return found


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            match = LABEL_VALUES.match(variable["query"]["query"])
            assert match, f"variable {variable['name']}: not label_values(selector, label)"
            expressions.append(match["selector"])
    return expressions


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


def dashboard_metrics() -> set[str]:
    """Every metric a panel, a template variable or an alert rule asks for (each parses as PromQL)."""
    expressions = [*dashboard_expressions(), *(rule["expr"] for rule in alert_rules())]
    return {name for expression in expressions for name in _names(promql_parser.parse(expression))}


def test_the_dashboard_has_peer_and_node_variables_and_the_panels_operators_need() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {variable["name"] for variable in dashboard["templating"]["list"]}
    assert {"peer", "node"} <= variables
    titles = " | ".join(panel["title"] for panel in dashboard["panels"])
    for needed in ("Consumer lag", "Redeliveries", "Leader per replica"):
        assert needed in titles
    # Every panel follows the peer variable; the throttle level follows the node variable too.
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            assert '$peer"' in target["expr"], f"{panel['title']}: not filtered by peer"
    levels = [t["expr"] for p in dashboard["panels"] for t in p["targets"] if "jetflow_throttle_level" in t["expr"]]
    assert levels
    assert all('node=~"$node"' in expr for expr in levels)


def test_alert_rules_cover_dead_letters_lateness_and_lag() -> None:
    rules = alert_rules()
    by_metric = {name: rule["alert"] for rule in rules for name in _names(promql_parser.parse(rule["expr"]))}
    assert "jetflow_dead_letters_total" in by_metric
    assert "jetflow_scheduler_lateness_seconds_bucket" in by_metric
    assert "jetflow_consumer_pending" in by_metric
    for rule in rules:
        assert re.fullmatch(r"Jetflow[A-Za-z]+", rule["alert"])
        assert re.fullmatch(r"\d+[smh]", rule["for"])
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]
        assert "service_namespace" in rule["expr"], f"{rule['alert']}: its alerts should name the peer"


def test_a_metric_name_that_does_not_parse_is_refused() -> None:
    assert _names(promql_parser.parse('sum(rate(jetflow_x_total{a=~"$peer"}[5m])) > 0')) == {"jetflow_x_total"}
    with pytest.raises(ValueError):  # noqa: PT011  (promql_parser raises a bare ValueError with the position)
        promql_parser.parse("sum(rate(jetflow_x_total[5m])")


def flaky_once() -> Callable[[Runtime], Awaitable[None]]:
    """A consumer whose first delivery fails (TemporaryError): one redelivery, counted."""

    async def install(runtime: Runtime) -> None:
        from schemas.catalog import Resource

        @runtime.consumers.durable(runtime.router, name="dash-flaky", subject="jetflow.resource.flaky", model=Resource)
        async def flaky(resource: Resource, delivery: Delivery) -> None:
            if delivery.deliveries == 1:
                raise TemporaryError("not yet")

    return install


async def test_every_dashboard_metric_is_exported(engines: Engines, client: Client) -> None:
    engine = await engines.runtime(extra_features=[flaky_once()])
    js = client.jetstream()
    await js.publish("jetflow.resource.flaky", json.dumps({"id": "node-b"}).encode())  # one redelivery
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
    await eventually(lambda: "jetflow_redeliveries_total{" in generate_latest().decode(), timeout=5)
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
    assert missing == set(), f"dashboard or alerts query metrics the engine does not export: {missing}"
